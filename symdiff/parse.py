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
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import sympy as sp
from sympy import Lambda
from sympy.matrices.expressions import (
    Determinant,
    Identity,
    Inverse,
    OneMatrix,
    Trace,
    ZeroMatrix,
)
from sympy.matrices.expressions.diagonal import DiagMatrix

from . import ops
from .errors import ParseError, ShapeError
from .ops import is_matrix, shape_text


@dataclass(frozen=True)
class Fn:
    """A function of the language: its builder, parameter names and defaults."""

    build: Callable
    params: tuple[str, ...]
    defaults: dict
    kinds: dict  # parameter -> M, A or S below; E (a scalar) when absent


def _elementwise(f):
    """A scalar function that maps over matrices entry by entry."""

    def build(x, *params):
        if not is_matrix(x):
            return f(x, *params)
        return ops.elementwise(Lambda(ops.VAR, f(ops.VAR, *params)), x)

    return build


def _square(x, name):
    if not is_matrix(x) or x.shape[0] != x.shape[1]:
        raise ShapeError(f"{name} needs a square matrix, got {shape_text(x)}")
    return x


def _sum(x, axis=None):
    if not is_matrix(x):
        return x
    return ops.sum_all(x) if axis is None else ops.axis_sum(x, axis)


def _mean(x, axis=None):
    if not is_matrix(x):
        return x
    if axis is None:
        return ops.sum_all(x) / (x.shape[0] * x.shape[1])
    return ops.scale(1 / x.shape[axis], ops.axis_sum(x, axis))


def _softmax_axis(x, axis, name):
    if not is_matrix(x):
        raise ShapeError(f"{name} needs a matrix or vector, got a scalar")
    if axis is None:
        if x.shape[1] == 1:
            return 0
        if x.shape[0] == 1:
            return 1
        raise ParseError(f"{name} of a {shape_text(x)} matrix needs an axis: {name}(E, axis=1) normalizes each row")
    return axis


def _squeeze(x, axis):
    if x.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of a {shape_text(x)} matrix is not 1")
    n = x.shape[1 - axis]
    return ops.reshape(x, n, 1)


def _unsqueeze(x, axis):
    if x.shape[1] != 1:
        raise ShapeError(f"unsqueeze needs a column vector, got {shape_text(x)}")
    return ops.reshape(x, *((1, x.shape[0]) if axis == 0 else (x.shape[0], 1)))


def _broadcast_to(x, shape):
    if not is_matrix(x):
        return ops.scale(x, OneMatrix(*shape))
    return ops.broadcast(x, *shape)


def _matrix_power(x, n):
    _square(x, "matrix_power")
    if not (isinstance(n, sp.Integer)):
        raise ParseError(f"matrix_power needs an integer exponent, got {n}")
    return ops.matpow(x, n)


E, M, A, S = "scalar", "matrix", "axis", "shape"  # how to read an argument; "x" takes either

FUNCTIONS: dict[str, Fn] = {
    "sum": Fn(_sum, ("x", "axis"), {"axis": None}, {"axis": A}),
    "mean": Fn(_mean, ("x", "axis"), {"axis": None}, {"axis": A}),
    "trace": Fn(lambda x: Trace(_square(x, "trace")), ("x",), {}, {}),
    "det": Fn(lambda x: Determinant(_square(x, "det")), ("x",), {}, {}),
    "logdet": Fn(lambda x: sp.log(Determinant(_square(x, "logdet"))), ("x",), {}, {}),
    "inv": Fn(lambda x: Inverse(_square(x, "inv")), ("x",), {}, {}),
    "matrix_power": Fn(_matrix_power, ("x", "n"), {}, {}),
    "exp": Fn(_elementwise(sp.exp), ("x",), {}, {}),
    "log": Fn(_elementwise(sp.log), ("x",), {}, {}),
    "tanh": Fn(_elementwise(sp.tanh), ("x",), {}, {}),
    "sqrt": Fn(_elementwise(sp.sqrt), ("x",), {}, {}),
    "abs": Fn(_elementwise(sp.Abs), ("x",), {}, {}),
    "sign": Fn(_elementwise(sp.sign), ("x",), {}, {}),
    "sigmoid": Fn(_elementwise(ops.sigmoid), ("x",), {}, {}),
    "relu": Fn(_elementwise(ops.relu), ("x",), {}, {}),
    "step": Fn(_elementwise(ops.step), ("x",), {}, {}),
    "leaky_relu": Fn(_elementwise(ops.leaky_relu), ("x", "a"), {"a": sp.Rational(1, 100)}, {}),
    "leaky_step": Fn(_elementwise(ops.leaky_step), ("x", "a"), {"a": sp.Rational(1, 100)}, {}),
    "softplus": Fn(_elementwise(ops.softplus), ("x", "beta"), {"beta": sp.S.One}, {}),
    "softmax": Fn(
        lambda x, axis=None: ops.Softmax(x, _softmax_axis(x, axis, "softmax")),
        ("x", "axis"),
        {"axis": None},
        {"axis": A},
    ),
    "log_softmax": Fn(
        lambda x, axis=None: ops.LogSoftmax(x, _softmax_axis(x, axis, "log_softmax")),
        ("x", "axis"),
        {"axis": None},
        {"axis": A},
    ),
    "batchnorm": Fn(
        ops.BatchNorm, ("x", "gamma", "beta", "eps"), {"eps": sp.Rational(1, 100000)}, {"gamma": M, "beta": M}
    ),
    "batch_normalize": Fn(ops.BatchNormalize, ("x", "eps"), {"eps": sp.Rational(1, 100000)}, {}),
    "batch_std": Fn(ops.BatchStd, ("x", "eps"), {"eps": sp.Rational(1, 100000)}, {}),
    "squeeze": Fn(_squeeze, ("x", "axis"), {}, {"axis": A}),
    "unsqueeze": Fn(_unsqueeze, ("x", "axis"), {}, {"axis": A}),
    "broadcast_to": Fn(_broadcast_to, ("x", "shape"), {}, {"shape": S}),
    "reshape": Fn(lambda x, shape: ops.reshape(x, *shape), ("x", "shape"), {}, {"shape": S}),
    "ones": Fn(lambda shape: OneMatrix(*shape), ("shape",), {}, {"shape": S}),
    "zeros": Fn(lambda shape: ZeroMatrix(*shape), ("shape",), {}, {"shape": S}),
    "eye": Fn(lambda n: Identity(n), ("n",), {}, {}),
    "diag": Fn(lambda v: DiagMatrix(v), ("v",), {}, {"v": M}),
}


def parse(text: str, **symbols):
    """Parse ``text`` into a SymPy expression over ``symbols`` (name -> SymPy object).

    >>> q, n = dims("q n"); X = matrix("X", q, n)
    >>> parse("sum(X**2) / q", X=X, q=q)
    """
    if not isinstance(text, str):
        raise ParseError(f"parse() needs a string, got {type(text).__name__}")
    for name, value in symbols.items():
        if name in FUNCTIONS:
            raise ParseError(f"{name!r} is a function of the expression language and cannot name a symbol")
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
                args.append(self._argument(name, param, fn.kinds.get(param, E), given[param]))
            elif param in fn.defaults:
                args.append(fn.defaults[param])
            else:
                self.fail(node, f"{name}() is missing its argument {param!r}")
        return fn.build(*args)

    def _argument(self, name, param, kind, node):
        if isinstance(node, ast.Starred):
            self.fail(node, f"* arguments are not allowed in {name}()")
        if kind == A:
            if not (isinstance(node, ast.Constant) and node.value in (0, 1)) and not (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.USub)
                and getattr(node.operand, "value", None) in (1, 2)
            ):
                self.fail(node, f"{name}(): {param} must be 0, 1, -1 or -2")
            if isinstance(node, ast.UnaryOp):
                return 2 - node.operand.value
            return node.value
        if kind == S:
            if not isinstance(node, ast.Tuple) or len(node.elts) != 2:
                self.fail(node, f"{name}(): {param} must be a (rows, cols) tuple")
            dims = [self.read(e) for e in node.elts]
            for d in dims:
                if is_matrix(d) or not (d.is_integer and d.is_positive):
                    self.fail(node, f"{name}(): the dimensions of {param} must be positive integers or dims")
            return tuple(dims)
        value = self.read(node)
        if param != "x" and is_matrix(value) != (kind == M):
            wanted = "a matrix" if kind == M else "a scalar"
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
    return name.isidentifier() and not keyword.iskeyword(name) and name not in FUNCTIONS
