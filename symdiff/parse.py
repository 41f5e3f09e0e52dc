"""The safe expression-string parser.

Strings follow numpy conventions (see DESIGN.md): ``@`` is the matrix product,
``*``, ``/`` and ``**`` are elementwise, ``.T`` transposes, a row or column
broadcasts against a matrix. The string is parsed with Python's ``ast`` module
and walked against a whitelist of node types, names and functions; nothing is
ever evaluated (no eval, exec or sympify). Anything else raises ParseError
naming what was rejected and where.

Every string gets a result or a ParseError, quickly, whatever its size: the
limits (``limits.py``) are checked before Python's parser sees the string (its own
recursion gives out near 3,000 levels), the reader walks chains of ``+ - * /
@`` and of unary signs in a loop rather than by recursion, and constant
arithmetic is bounded before SymPy evaluates it (``2 ** 10 ** 10`` would
otherwise compute a number of ten billion bits).
"""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

import sympy as sp
from sympy import Lambda

from . import ops
from .errors import ParseError, ShapeError, SymdiffError
from .limits import (
    CHAIN,
    FLOAT_RANGE,
    MAX_CONSTANT_BITS,
    MAX_DEPTH,
    MAX_EXPONENT,
    brief,
    check_constants,
    continues,
    log2_size,
    out_of_range,
    quoted,
    short,
    span,
    syntax_tree,
)
from .ops import FUNCTIONS, OneMatrix, is_matrix, shape_text
from .ops.card import AXIS, CHOICE, EITHER, MATRICES, MATRIX, OFFSETS, SHAPE, SIZES
from .ops.selections import COMPARISONS, comparison
from .reserved import CONSTANTS, did_you_mean, is_dimension, reserved


def parse(text: str, **symbols):
    """Parse ``text`` into a SymPy expression over ``symbols`` (name -> SymPy object).

    >>> q, n = dims("q n"); X = matrix("X", q, n)
    >>> parse("sum(X**2) / q", X=X, q=q)
    """
    if not isinstance(text, str):
        raise ParseError(f"parse() needs a string, got {type(text).__name__}")
    for name, value in symbols.items():
        if name in FUNCTIONS or name in CONSTANTS and not is_dimension(value):
            only = " (only a dimension, made with sd.dims, may take its name)" if name in CONSTANTS else ""
            raise ParseError(f"{name!r} is {reserved(name)} and cannot name a symbol{only}")
        if not isinstance(value, sp.Basic):
            raise ParseError(
                f"symbol {name!r} must be a SymPy object (use symdiff.matrix / dims), got {type(value).__name__}"
            )
    tree = syntax_tree(text)
    _refuse_dunders(tree, text)
    expr = _read(text, symbols, tree.body)
    check_constants(expr, text)
    return expr


def _read(text: str, symbols: dict, node, parts=None):
    """``node`` of ``text``'s tree read into an expression (``parts``: the split call that may give its parts)."""
    try:
        return _Reader(text, symbols, parts).read(node)
    except RecursionError:  # only when the caller's own stack is already deep
        raise ParseError(f"{quoted(text)} is nested too deeply to build here (the limit is {MAX_DEPTH})") from None


def dimension_expression(text: str, dimension) -> sp.Expr:
    """A shape entry such as ``3*h`` or ``n + 1``: positive integers and dims (``dimension(name)`` gives a name's
    symbol) under + - *; a positive integer expression, or a ParseError naming what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ParseError(f"{text!r} is not a dimension (an integer, a name, or an expression such as 3*h)") from None
    operators = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}

    def build(node):
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value > 0:
            return sp.Integer(node.value)
        if isinstance(node, ast.Name):
            return dimension(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return operators[type(node.op)](build(node.left), build(node.right))
        raise ParseError(f"{text!r}: a dimension is made of positive integers and names under + - * only")

    value = build(tree)
    if not (value.is_integer and value.is_positive):
        raise ParseError(f"{text!r} is not a positive integer for every size of its dims")
    return value


def _refuse_dunders(tree, text: str):
    """A name with double underscores (__import__, x.__class__) reaches into Python: refused, whatever else."""
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("__"):
            raise ParseError(
                f"{name!r} in {quoted(text)} is refused: names with double underscores reach into Python, "
                "which the expression language does not",
                span(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset),
            )


def parse_outputs(text: str, **symbols) -> list:
    """``text`` as the outputs of a target: one expression, or several written as a tuple, "h, c"."""
    tree = syntax_tree(text)
    if isinstance(tree.body, ast.Call) and getattr(tree.body.func, "id", None) == "split":  # its parts, as outputs
        parse(text.replace(text.strip(), "0", 1), **symbols)  # the symbols checked as parse checks them
        _refuse_dunders(tree, text)
        parts = _read(text, symbols, tree.body, parts=tree.body)
        for part in parts:
            check_constants(part, text)
        return list(parts)
    if not isinstance(tree.body, ast.Tuple):
        return [parse(text, **symbols)]
    if len(tree.body.elts) < 2:
        what = "an empty tuple" if not tree.body.elts else "a tuple of one"
        raise ParseError(f"{quoted(text)} is {what}: write the expression alone, or several outputs as h, c")
    stripped = text.strip()
    return [_parse_part(ast.get_source_segment(stripped, elt) or "", elt, symbols) for elt in tree.body.elts]


def _parse_part(text: str, node, symbols: dict):
    """One output of a tuple target; an error's span counted in the whole target."""
    try:
        return parse(text, **symbols)
    except ParseError as err:
        if err.span is not None and node.lineno == 1:
            err.span = (err.span[0] + node.col_offset, err.span[1] + node.col_offset)
        raise


class _Reader:
    """Walks a whitelisted ``ast`` tree and builds the expression."""

    def __init__(self, text: str, symbols: dict, parts=None):
        self.text = text
        self.symbols = symbols
        self.parts = parts  # the split call whose parts may be taken whole (a target's) or indexed

    def fail(self, node, message: str):
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        snippet = self.segment(node) if col is not None else None
        what = f" ({snippet})" if snippet else ""
        at = span(node.lineno, col, node.end_lineno, node.end_col_offset) if col is not None else None
        raise ParseError(f"{message}{what}{where} in {quoted(self.text)}", at)

    def segment(self, node) -> str | None:
        """The source of ``node``, quoted (its middle cut out when long)."""
        segment = ast.get_source_segment(self.text.strip(), node)
        return quoted(segment, 30) if segment else None

    def read(self, node):
        method = getattr(self, f"read_{type(node).__name__}", None)
        if method is None:
            self.fail(node, f"{_describe(node)} is not allowed in expressions")
        return method(node)

    # -- leaves --------------------------------------------------------------
    def read_Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(node, f"the constant {value!r} is not a number")
        if isinstance(value, int):
            if value.bit_length() > 1024:
                self.fail(node, f"the integer has {len(str(value))} digits, beyond {FLOAT_RANGE}")
            return sp.Integer(value)
        if not math.isfinite(value):
            self.fail(node, f"the number overflows float64, beyond {FLOAT_RANGE}")
        written = (ast.get_source_segment(self.text.strip(), node) or "").replace("_", "")
        if value == 0 and re.search("[1-9]", re.split("[eE]", written)[0]):
            self.fail(node, f"the number underflows float64 to 0, beyond {FLOAT_RANGE}")
        frac = Fraction(written or repr(value))  # the decimal as typed, every digit (printing writes them back)
        return sp.Rational(frac.numerator, frac.denominator)

    def read_Name(self, node):
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            self.fail(node, f"{node.id} is a function: call it, as in {node.id}(...)")
        known = ", ".join(sorted(self.symbols)) or "none"
        self.fail(node, f"unknown name {node.id!r}{did_you_mean(node.id, self.symbols)} (known: {known})")

    def read_Attribute(self, node):
        if node.attr != "T":
            self.fail(node, f"attribute .{node.attr} is not allowed (only .T, the transpose)")
        value = self.read(node.value)
        return ops.transpose(value) if is_matrix(value) else value

    # -- operators -----------------------------------------------------------
    def read_UnaryOp(self, node):
        signs = []  # - - + -x: a loop, not a recursion
        while isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
            signs.append(node.op)
            node = node.operand
        value = self.read(node)
        if sum(isinstance(op, ast.USub) for op in signs) % 2:
            return ops.scale(-1, value) if is_matrix(value) else -value
        return value

    def read_Subscript(self, node):
        """``E[r0:r1, c0:c1]``: a block, its bounds integers or expressions of dims (``W[:, h:2*h]``); a part of a
        split, ``split(W, (h, h), axis=1)[k]``."""
        if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "split":
            self.parts = node.value
            parts = self.read(node.value)
            k = node.slice.value if isinstance(node.slice, ast.Constant) and type(node.slice.value) is int else None
            if k is None or not 0 <= k < len(parts):
                self.fail(node, f"a part of a split is split(...)[k], k one of 0..{len(parts) - 1}")
            return parts[k]
        value = self.read(node.value)
        if not is_matrix(value):
            self.fail(node, "only a matrix can be sliced")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(parts) > 2 or not all(isinstance(p, ast.Slice) for p in parts):
            self.fail(node, "a slice takes ranges of rows and columns, as E[0:2, :] (an index i is E[i:i+1, :])")
        parts = parts + [ast.Slice(None, None, None)] * (2 - len(parts))
        bounds = []
        for axis, (part, size) in enumerate(zip(parts, value.shape)):
            if part.step is not None:
                self.fail(node, "a slice with a step is not allowed")
            start = sp.S.Zero if part.lower is None else self._bound(part.lower)
            stop = size if part.upper is None else self._bound(part.upper)
            inside = [(stop - start).is_positive, start.is_nonnegative, (size - stop).is_nonnegative]
            if not all(inside):
                what = "rows" if axis == 0 else "columns"
                self.fail(
                    node,
                    f"{what} {start}:{stop} do not lie within the {size} {what} of the matrix (or cannot be told to)",
                )
            bounds += [start, stop]
        return ops.slice_of(value, *bounds)

    def _bound(self, node):
        value = self.read(node)
        if is_matrix(value) or not value.is_integer or not all(map(is_dimension, value.free_symbols)):
            self.fail(node, "a slice's bound must be an integer or an expression of dims (h, 2*h)")
        return value

    def read_Compare(self, node):
        """``a > b`` (< <= >= == != too): the 0/1 mask of the comparison (``ops.selections``); one at a time."""
        if len(node.ops) != 1:
            self.fail(node, "a chained comparison is not allowed: compare two at a time (and multiply the masks)")
        op = type(node.ops[0]).__name__
        if op not in COMPARISONS:
            self.fail(node, f"the comparison {op} is not allowed (use < <= > >= == !=)")
        left, right = self.read(node.left), self.read(node.comparators[0])
        return comparison(op, self.binop_Sub(node, left, right), same=left == right)

    def read_BinOp(self, node):
        """A chain a - b + c (or a * b / c @ d) in one loop, from the left; other operators one at a time."""
        chain, first = [node], node.left
        while isinstance(first, ast.BinOp) and continues(chain[-1], first):
            chain.append(first)
            first = first.left
        chain.reverse()
        handlers = []
        for step in chain:
            op = type(step.op).__name__
            handler = getattr(self, f"binop_{op}", None)
            if handler is None:
                self.fail(step, f"the operator {op} is not allowed (use + - * / ** @)")
            handlers.append(handler)
        value = self.read(first)
        if CHAIN.get(type(node.op)) == "sum":
            return self._sum(value, chain)
        if CHAIN.get(type(node.op)) == "product":
            return self._product(value, chain, handlers)
        return self._number(node, handlers[0](node, value, self.read(node.right)))

    # A chain is built as the pairwise fold ((a + b) + c) + ... would build it, but
    # runs of one kind go to one n-ary call: ops.add(a, b, c) is ops.add(ops.add(a, b), c),
    # and a fold of a thousand terms costs a thousand ever longer sums (seconds).
    def _sum(self, value, chain):
        terms = [value]  # the sum so far is ops.add(*terms)
        for step in chain:
            term = self.read(step.right)
            if isinstance(step.op, ast.Sub):
                term = ops.scale(-1, term) if is_matrix(term) else -term
            so_far = terms[0]
            if not is_matrix(term) and not is_matrix(so_far):
                terms.append(term)
            elif is_matrix(so_far) and not is_matrix(term):  # binop_Add: s -> s * ones
                terms.append(ops.scale(term, OneMatrix(*so_far.shape)))
            elif is_matrix(so_far) and self._broadcast_shape(step, so_far, term) == tuple(so_far.shape):
                terms.append(ops.broadcast(term, *so_far.shape))  # the sum keeps its shape
            else:  # the sum changes kind or shape: at most three times
                terms = [self.binop_Add(step, ops.add(*terms), term)]
        return self._number(chain[-1], ops.add(*terms))

    def _product(self, value, chain, handlers):
        factors, kind = [value], None  # the product so far: ops.matmul(*factors) ("@") or ops.hadamard ("*")
        for step, handler in zip(chain, handlers):
            factor = self.read(step.right)
            first, last = factors[0], factors[-1]
            both = is_matrix(first) and is_matrix(factor)
            if isinstance(step.op, ast.MatMult) and kind != "*" and both and last.shape[1] == factor.shape[0]:
                factors, kind = [*factors, factor], "@"
                continue
            if isinstance(step.op, (ast.Mult, ast.Div)) and kind != "@" and both and first.shape == factor.shape:
                if isinstance(step.op, ast.Div):
                    factor = self._reciprocal(step, factor)
                factors, kind = [*factors, factor], "*"
                continue
            value = self._collect(factors, kind)
            factors, kind = [self._number(step, handler(step, value, factor))], None
        return self._collect(factors, kind)

    @staticmethod
    def _collect(factors, kind):
        if len(factors) == 1:
            return factors[0]
        return ops.matmul(*factors) if kind == "@" else ops.hadamard(*factors)

    def _number(self, node, value):
        """A constant is checked as soon as it is computed, so that it cannot grow step by step."""
        if isinstance(value, sp.Rational) and out_of_range(value):
            self.fail(node, f"{short(value)} is outside {FLOAT_RANGE}")
        return value

    def binop_MatMult(self, node, a, b):
        if not (is_matrix(a) and is_matrix(b)):
            named = [n for n in (node.left, node.right) if self._scalar_name(n)]
            why = "; ".join(self._no_shape(n) for n in named) or "use * with a scalar"
            self.fail(node, f"@ needs two matrices, got {shape_text(a)} @ {shape_text(b)}: {why}")
        if a.shape[1] != b.shape[0]:
            raise ShapeError(
                f"matrix product {self.segment(node)}: shapes "
                f"{shape_text(a)} and {shape_text(b)} do not align ({a.shape[1]} != {b.shape[0]})"
            )
        return ops.matmul(a, b)

    def _scalar_name(self, node) -> bool:
        """Whether ``node`` is a name that stands for a scalar symbol (not a number or a dimension)."""
        value = self.symbols.get(node.id) if isinstance(node, ast.Name) else None
        return isinstance(value, sp.Symbol) and not is_dimension(value)

    def _no_shape(self, node) -> str:
        """``W2 is a scalar (it has no shape; did you mean W?)``: a matrix name mistyped is a scalar's."""
        matrices = [name for name, value in self.symbols.items() if is_matrix(value)]
        return f"{node.id} is a scalar (it has no shape{did_you_mean(node.id, matrices)})"

    def _pair(self, node, a, b, what):
        """Broadcast two operands of an elementwise operation to a common shape."""
        if not is_matrix(a) or not is_matrix(b):
            return a, b
        shape = self._broadcast_shape(node, a, b, what)
        return ops.broadcast(a, *shape), ops.broadcast(b, *shape)

    def _broadcast_shape(self, node, a, b, what="sum"):
        shape = []
        for da, db in zip(a.shape, b.shape):
            if da == db or db == 1:
                shape.append(da)
            elif da == 1:
                shape.append(db)
            else:
                raise ShapeError(
                    f"{what} {self.segment(node)}: shapes {shape_text(a)} and {shape_text(b)} do not broadcast"
                )
        return tuple(shape)

    def binop_Add(self, node, a, b):
        a, b = self._pair(node, a, b, "sum")
        if is_matrix(a) != is_matrix(b):
            m, s = (a, b) if is_matrix(a) else (b, a)
            return ops.add(m, ops.scale(s, OneMatrix(*m.shape)))
        return ops.add(a, b)

    def binop_Sub(self, node, a, b):
        return self.binop_Add(node, a, ops.scale(-1, b) if is_matrix(b) else -b)

    def binop_Mult(self, node, a, b):
        a, b = self._pair(node, a, b, "elementwise product")
        if is_matrix(a) and is_matrix(b):
            return ops.hadamard(a, b)
        if is_matrix(a) or is_matrix(b):
            m, s = (a, b) if is_matrix(a) else (b, a)
            return ops.scale(s, m)
        return a * b

    def binop_Div(self, node, a, b):
        return self.binop_Mult(node, a, self._reciprocal(node, b))

    def _reciprocal(self, node, b):
        if isinstance(b, sp.ZeroMatrix) or b == 0:
            self.fail(node, "division by zero")
        return ops.hpow(b, -1) if is_matrix(b) else 1 / b

    def binop_Pow(self, node, a, b):
        if is_matrix(b):
            if is_matrix(a):
                self.fail(node, "a matrix raised to a matrix power is not supported")
            return ops.elementwise(Lambda(ops.VAR, a**ops.VAR), b)
        self._check_power(node, a, b)
        return ops.hpow(a, b) if is_matrix(a) else a**b

    def _check_power(self, node, a, p):
        """Refuse ``a ** p`` before SymPy evaluates it: a numeric ``p`` in -MAX_EXPONENT..MAX_EXPONENT,
        and the numbers SymPy would raise to it (``a``'s numeric factors) within MAX_CONSTANT_BITS.

        SymPy multiplies out numbers: ``2 ** 10 ** 10`` computes ten billion bits,
        ``(3 * x) ** 99999999`` computes 3 ** 99999999. (Whether the result is in
        float64's range is checked once it is computed.)
        """
        if not p.is_number:
            return  # a symbolic exponent: nothing to evaluate
        if not isinstance(p, sp.Rational):  # pi, sqrt(2): SymPy leaves the power unevaluated
            if p.is_extended_real and abs(p) > MAX_EXPONENT:
                self.fail(node, f"the exponent {brief(p)} is outside -{MAX_EXPONENT:,}..{MAX_EXPONENT:,}")
            return
        if abs(p) > MAX_EXPONENT:
            self.fail(node, f"the exponent {brief(p)} is outside -{MAX_EXPONENT:,}..{MAX_EXPONENT:,}")
        if p.is_integer and p < 0 and (a == 0 or isinstance(a, sp.ZeroMatrix)):
            self.fail(node, "division by zero (0 to a negative power)")
        coeff = ops.split_coeff(a)[0] if is_matrix(a) else a
        numeric = [f for f in sp.Mul.make_args(coeff) if f.is_number]
        if sum(log2_size(f) for f in numeric) * abs(p) > MAX_CONSTANT_BITS:  # before SymPy computes it
            self.fail(node, f"the power would give a constant outside {FLOAT_RANGE}")

    # -- calls ---------------------------------------------------------------
    def read_Call(self, node):
        if isinstance(node.func, ast.Attribute):
            self.fail(
                node,
                f"calling .{node.func.attr}(...) is not part of the expression language: the only attribute is .T "
                "(the transpose), and functions are called by name, as in sum(X)",
            )
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only the language's functions can be called, by name, as in sum(X)")
        if node.func.id not in FUNCTIONS:
            name = node.func.id
            self.fail(
                node, f"unknown function {name}{did_you_mean(name, FUNCTIONS)} (known: {', '.join(sorted(FUNCTIONS))})"
            )
        name, fn = node.func.id, FUNCTIONS[node.func.id]
        if len(node.args) > len(fn.params):
            self.fail(node, f"{name}() takes at most {len(fn.params)} arguments ({', '.join(fn.params)})")
        given = dict(zip(fn.params, node.args))
        for kw in node.keywords:
            if kw.arg is None:
                self.fail(node, f"** arguments are not allowed in {name}()")
            if kw.arg not in fn.params:
                self.fail(node, f"{name}() has no keyword argument {kw.arg!r} (it takes {', '.join(fn.params)})")
            if kw.arg in given:
                self.fail(node, f"{name}() got {kw.arg!r} twice")
            given[kw.arg] = kw.value
        args = []
        for param in fn.params:
            if param in given:
                args.append(self._argument(fn, param, given[param]))
            elif param in fn.defaults:
                args.append(fn.defaults[param])
            else:
                self.fail(node, f"{name}() is missing its argument {param!r}")
        try:
            built = fn.build(*args)
        except SymdiffError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, KeyError, ZeroDivisionError) as err:
            # A builder that does not check its arguments (a scalar given to reshape, eye(0.5)):
            # still the input's fault, so still a ParseError that names the call.
            given_ = ", ".join(shape_text(a) if isinstance(a, sp.Basic) else repr(a) for a in args)
            self.fail(node, f"{name}() cannot take ({given_}): {type(err).__name__}: {err}")
        if isinstance(built, tuple) and node is not self.parts:
            self.fail(node, f"{name}() gives {len(built)} parts: take one, {name}(...)[k], or make it the whole target")
        return built

    def _argument(self, fn, param, node):
        name, kind = fn.name, fn.kind(param)
        if isinstance(node, ast.Starred):
            self.fail(node, f"* arguments are not allowed in {name}()")
        if kind == CHOICE:
            allowed = fn.choices[param]
            if not (isinstance(node, ast.Constant) and node.value in allowed):
                self.fail(node, f"{name}(): {param} must be one of {', '.join(map(repr, allowed))}")
            return node.value
        if kind == AXIS:
            if not (isinstance(node, ast.Constant) and node.value in (0, 1)) and not (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.USub)
                and getattr(node.operand, "value", None) in (1, 2)
            ):
                self.fail(node, f"{name}(): {param} must be 0, 1, -1 or -2")
            if isinstance(node, ast.UnaryOp):
                return 2 - node.operand.value
            return node.value
        if kind == MATRICES:
            if not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
                self.fail(node, f"{name}(): {param} must be a list of matrices, as [A, B]")
            parts = [self.read(e) for e in node.elts]
            if not all(map(is_matrix, parts)):
                self.fail(node, f"{name}(): every entry of {param} must be a matrix")
            return parts
        if kind == SIZES:
            if not isinstance(node, (ast.Tuple, ast.List)) or not node.elts:
                self.fail(node, f"{name}(): {param} must be a tuple of sizes, as (h, h) or (2, 3)")
            sizes = [self.read(e) for e in node.elts]
            if not all(not is_matrix(s) and s.is_integer and s.is_positive for s in sizes):
                self.fail(node, f"{name}(): the entries of {param} must be positive integers or dims")
            return sizes
        if kind in (SHAPE, OFFSETS):
            if not isinstance(node, ast.Tuple) or len(node.elts) != 2:
                self.fail(node, f"{name}(): {param} must be a (rows, cols) tuple")
            dims = [self.read(e) for e in node.elts]
            for d in dims:
                if is_matrix(d) or not (d.is_integer and (d.is_positive if kind == SHAPE else d.is_nonnegative)):
                    what = "positive" if kind == SHAPE else "nonnegative"
                    self.fail(node, f"{name}(): the entries of {param} must be {what} integers or dims")
            return tuple(dims)
        value = self.read(node)
        if param in fn.constants and not value.is_number:
            self.fail(node, f"{name}(): {param} must be a number")
        if kind != EITHER and is_matrix(value) != (kind == MATRIX):
            wanted = "a matrix" if kind == MATRIX else "a scalar"
            why = f": {self._no_shape(node)}" if kind == MATRIX and self._scalar_name(node) else ""
            raise ShapeError(f"{name}(): {param} must be {wanted}, got {shape_text(value)}{why}")
        return value


def _describe(node) -> str:
    names = {
        "Lambda": "a lambda",
        "ListComp": "a list comprehension",
        "GeneratorExp": "a generator expression",
        "DictComp": "a dict comprehension",
        "SetComp": "a set comprehension",
        "Subscript": "indexing / subscripting",
        "Compare": "a comparison",
        "BoolOp": "a boolean operator",
        "IfExp": "a conditional expression",
        "NamedExpr": "an assignment expression",
        "Await": "await",
        "JoinedStr": "an f-string",
        "Tuple": "a tuple",
        "List": "a list",
        "Dict": "a dict",
        "Set": "a set",
        "Starred": "a starred expression",
    }
    return names.get(type(node).__name__, type(node).__name__)
