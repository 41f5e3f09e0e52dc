"""The safe expression-string parser.

Strings follow numpy conventions (see DESIGN.md): ``@`` is the matrix product,
``*``, ``/`` and ``**`` are elementwise, ``.T`` transposes, a row or column
broadcasts against a matrix. The string is parsed with Python's ``ast`` module
and walked against a whitelist of node types, names and functions; nothing is
ever evaluated (no eval, exec or sympify). Anything else raises ParseError
naming what was rejected and where.
"""

from __future__ import annotations

import ast
import keyword
from fractions import Fraction

import sympy as sp
from sympy import Lambda

from . import ops
from .errors import ParseError, ShapeError
from .ops import FUNCTIONS, OneMatrix, is_matrix, shape_text
from .ops.card import AXIS, CHOICE, EITHER, MATRIX, SHAPE

CONSTANTS = {"pi": sp.pi, "e": sp.E}  # names the language reserves for constants


def parse(text: str, **symbols):
    """Parse ``text`` into a SymPy expression over ``symbols`` (name -> SymPy object).

    >>> q, n = dims("q n"); X = matrix("X", q, n)
    >>> parse("sum(X**2) / q", X=X, q=q)
    """
    if not isinstance(text, str):
        raise ParseError(f"parse() needs a string, got {type(text).__name__}")
    for name, value in symbols.items():
        if name in FUNCTIONS or name in CONSTANTS:
            what = "a function" if name in FUNCTIONS else "a constant"
            raise ParseError(f"{name!r} is {what} of the expression language and cannot name a symbol")
        if not isinstance(value, sp.Basic):
            raise ParseError(
                f"symbol {name!r} must be a SymPy object (use symdiff.matrix / dims), got {type(value).__name__}"
            )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ParseError(f"syntax error in {text!r} at column {err.offset}: {err.msg}") from None
    return _Reader(text, symbols).read(tree.body)


class _Reader:
    """Walks a whitelisted ``ast`` tree and builds the expression."""

    def __init__(self, text: str, symbols: dict):
        self.text = text
        self.symbols = symbols

    def fail(self, node, message: str):
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        snippet = ast.get_source_segment(self.text.strip(), node) if col is not None else None
        what = f" ({snippet!r})" if snippet else ""
        raise ParseError(f"{message}{what}{where} in {self.text!r}")

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
            return sp.Integer(value)
        frac = Fraction(repr(value))
        return sp.Rational(frac.numerator, frac.denominator)

    def read_Name(self, node):
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            self.fail(node, f"{node.id} is a function: call it, as in {node.id}(...)")
        self.fail(node, f"unknown name {node.id!r} (known: {', '.join(sorted(self.symbols)) or 'none'})")

    def read_Attribute(self, node):
        if node.attr != "T":
            self.fail(node, f"attribute .{node.attr} is not allowed (only .T, the transpose)")
        value = self.read(node.value)
        return ops.transpose(value) if is_matrix(value) else value

    # -- operators -----------------------------------------------------------
    def read_UnaryOp(self, node):
        value = self.read(node.operand)
        if isinstance(node.op, ast.USub):
            return ops.scale(-1, value) if is_matrix(value) else -value
        if isinstance(node.op, ast.UAdd):
            return value
        self.fail(node, f"the operator {type(node.op).__name__} is not allowed")

    def read_BinOp(self, node):
        op = type(node.op).__name__
        handler = getattr(self, f"binop_{op}", None)
        if handler is None:
            self.fail(node, f"the operator {op} is not allowed (use + - * / ** @)")
        return handler(node, self.read(node.left), self.read(node.right))

    def binop_MatMult(self, node, a, b):
        if not (is_matrix(a) and is_matrix(b)):
            self.fail(node, f"@ needs two matrices, got {shape_text(a)} @ {shape_text(b)}; use * with a scalar")
        if a.shape[1] != b.shape[0]:
            raise ShapeError(
                f"matrix product {ast.get_source_segment(self.text.strip(), node)!r}: shapes "
                f"{shape_text(a)} and {shape_text(b)} do not align ({a.shape[1]} != {b.shape[0]})"
            )
        return ops.matmul(a, b)

    def _pair(self, node, a, b, what):
        """Broadcast two operands of an elementwise operation to a common shape."""
        if not is_matrix(a) or not is_matrix(b):
            return a, b
        shape = []
        for da, db in zip(a.shape, b.shape):
            if da == db or db == 1:
                shape.append(da)
            elif da == 1:
                shape.append(db)
            else:
                raise ShapeError(
                    f"{what} {ast.get_source_segment(self.text.strip(), node)!r}: shapes {shape_text(a)} and "
                    f"{shape_text(b)} do not broadcast"
                )
        return ops.broadcast(a, *shape), ops.broadcast(b, *shape)

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
        if is_matrix(b):
            return self.binop_Mult(node, a, ops.hpow(b, -1))
        return self.binop_Mult(node, a, 1 / b)

    def binop_Pow(self, node, a, b):
        if is_matrix(b):
            if is_matrix(a):
                self.fail(node, "a matrix raised to a matrix power is not supported")
            return ops.elementwise(Lambda(ops.VAR, a**ops.VAR), b)
        return ops.hpow(a, b) if is_matrix(a) else a**b

    # -- calls ---------------------------------------------------------------
    def read_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else _describe(node.func)
            self.fail(node, f"unknown function {name} (known: {', '.join(sorted(FUNCTIONS))})")
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
        return fn.build(*args)

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
        if kind == SHAPE:
            if not isinstance(node, ast.Tuple) or len(node.elts) != 2:
                self.fail(node, f"{name}(): {param} must be a (rows, cols) tuple")
            dims = [self.read(e) for e in node.elts]
            for d in dims:
                if is_matrix(d) or not (d.is_integer and d.is_positive):
                    self.fail(node, f"{name}(): the dimensions of {param} must be positive integers or dims")
            return tuple(dims)
        value = self.read(node)
        if param in fn.constants and not value.is_number:
            self.fail(node, f"{name}(): {param} must be a number")
        if kind != EITHER and is_matrix(value) != (kind == MATRIX):
            wanted = "a matrix" if kind == MATRIX else "a scalar"
            raise ShapeError(f"{name}(): {param} must be {wanted}, got {shape_text(value)}")
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


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a symbol in the expression language."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in FUNCTIONS and name not in CONSTANTS
