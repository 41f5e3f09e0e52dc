"""Shape ops: reshapes (squeeze, unsqueeze), a square matrix's diagonal, and the diagonal matrix of a vector.

Each is linear: its rule moves the cotangent back to the input's shape (a
reshape's back to the input's, a diagonal's into a diagonal matrix).
"""

from __future__ import annotations

import sympy as sp
from sympy import Integer
from sympy.matrices.expressions.diagonal import DiagMatrix as SympyDiagMatrix

from ..errors import ShapeError
from .card import (
    AXIS,
    DIAGONAL,
    MATRIX,
    SHAPE,
    MatrixOp,
    atom,
    language,
    register,
    require_matrix,
    shape_text,
    written_out,
)
from .constants import shape_args, split_coeff
from .linear import broadcast, matmul, require_square, scale, transpose
from .products import hadamard


class Reshape(MatrixOp):
    """The same entries in row-major order with a new shape (squeeze / unsqueeze)."""

    def __new__(cls, arg, rows, cols):
        arg = require_matrix(arg, "reshape")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        if sp.simplify(arg.shape[0] * arg.shape[1] - rows * cols).is_zero is False:  # sympy.cse may name dims
            raise ShapeError(f"cannot reshape a {shape_text(arg)} matrix to {rows} x {cols}")
        return super().__new__(cls, arg, rows, cols)

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.args[1], self.args[2]))

    def _entry(self, i, j, **kwargs):
        flat = i * self.shape[1] + j
        cols = self.arg.shape[1]
        return self.arg[flat // cols, flat % cols]

    def _sympystr(self, printer):
        return f"reshape({printer._print(self.arg)}, {shape_args(printer, self)})"

    def _numpycode(self, printer):
        return f"{atom(printer, self.arg)}.reshape{shape_args(printer, self)}"

    _torchcode = _numpycode

    def _latex(self, printer):
        rows, cols = printer._print(self.shape[0]), printer._print(self.shape[1])
        return rf"\operatorname{{reshape}}_{{{rows} \times {cols}}}\left({printer._print(self.arg)}\right)"


@language("reshape", ("x", "shape"), kinds={"x": MATRIX, "shape": SHAPE})
def _reshape_to(x, shape):
    return reshape(x, *shape)


def reshape(m, rows, cols):
    """Row-major reshape; between a column and a row vector it is a transpose."""
    rows, cols = sp.sympify(rows), sp.sympify(cols)
    if tuple(m.shape) == (rows, cols):
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, reshape(core, rows, cols))
    if isinstance(m, Reshape):
        return reshape(m.arg, rows, cols)
    if 1 in m.shape and (rows, cols) == tuple(reversed(m.shape)):
        return transpose(m)
    return Reshape(m, rows, cols)


def grad_reshape(ans, g, a, rows, cols):
    r"""$Y = \operatorname{reshape}(A)$: $\bar A = \operatorname{reshape}(\bar Y)$ to $A$'s shape."""
    return reshape(g, *a.shape), None, None


register(Reshape, "Reshape", "reshape(A, (r, c)), squeeze(v, 0), unsqueeze(x, 0)", reshape, grad_reshape)


@language("squeeze", ("x", "axis"), kinds={"x": MATRIX, "axis": AXIS})
def _squeeze(x, axis):
    if x.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of a {shape_text(x)} matrix is not 1")
    return reshape(x, x.shape[1 - axis], 1)


@language("unsqueeze", ("x", "axis"), kinds={"x": MATRIX, "axis": AXIS})
def _unsqueeze(x, axis):
    if x.shape[1] != 1:
        raise ShapeError(f"unsqueeze needs a column vector, got {shape_text(x)}")
    return reshape(x, *((1, x.shape[0]) if axis == 0 else (x.shape[0], 1)))


class Diagonal(MatrixOp):
    """The diagonal of a square matrix, as a column (n x 1)."""

    def __new__(cls, arg):
        return super().__new__(cls, require_square(arg, "diagonal"))

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.arg.shape[0], Integer(1)))

    def _entry(self, i, j, **kwargs):
        return self.arg[i, i]

    def _sympystr(self, printer):
        return f"diagonal({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.diagonal')}({printer._print(self.arg)}).reshape(-1, 1)"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.diagonal')}({printer._print(self.arg)}).reshape(-1, 1)"

    def _latex(self, printer):
        return rf"\operatorname{{diagonal}}\left({printer._print(self.arg)}\right)"


@language("diagonal", kinds={"x": MATRIX})
def diagonal(m):
    """The diagonal of a square matrix m, as a column."""
    if isinstance(m, SympyDiagMatrix):
        v = m.args[0]
        return v if v.shape[1] == 1 else transpose(v)
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, diagonal(core))
    if isinstance(m, sp.Transpose):
        return diagonal(m.arg)
    if isinstance(m, sp.MatMul) and len(m.args) == 2 and m.args[0].shape[1] == 1:  # diagonal(u v^T) = u * v
        return hadamard(m.args[0], transpose(m.args[1]))
    return Diagonal(m)


def grad_diagonal(ans, g, a):
    r"""$y = \operatorname{diagonal}(A)$: $\bar A = \operatorname{diag}(\bar y)$."""
    return (diag(g),)


register(Diagonal, "Diagonal", "diagonal(A)", diagonal, grad_diagonal)


class DiagMatrix(SympyDiagMatrix):
    """diag(v) for a vector v (SymPy's class, whose ``doit`` also evaluates the vector)."""

    def doit(self, **hints):
        vector = written_out(self.args[0].doit(**hints)) if hints.get("deep", True) else self.args[0]
        return SympyDiagMatrix.doit(type(self)(vector), **hints)


@language("diag", ("v",), kinds={"v": MATRIX})
def diag(v):
    """The diagonal matrix with the entries of the vector v."""
    if 1 not in v.shape:
        raise ShapeError(f"diag needs a vector, got {shape_text(v)}")
    c, core = split_coeff(v)
    if c != 1:
        return scale(c, diag(core))
    return DiagMatrix(v)


def lower_diagonal_product(e):
    r"""$\operatorname{diag}(v) B = v \odot B$ and $A \operatorname{diag}(v) = A \odot v^T$ (v broadcast): a product
    never builds the m x m diagonal matrix, as $X^T \operatorname{diag}(w) X$ (a Hessian) would at m = 65536."""
    if not isinstance(e, sp.MatMul):
        return None
    coeff, mats = e.as_coeff_matrices()
    k = next((k for k, m in enumerate(mats) if isinstance(m, SympyDiagMatrix)), None)
    if k is None or len(mats) < 2:
        return None
    v = diagonal(mats[k])  # its vector, as a column
    if k + 1 < len(mats):
        right = mats[k + 1]
        scaled = [hadamard(broadcast(v, *right.shape), right)]
        return matmul(coeff, *mats[:k], *scaled, *mats[k + 2 :])
    left = mats[k - 1]
    return matmul(coeff, *mats[: k - 1], hadamard(left, broadcast(transpose(v), *left.shape)))


def grad_diag(ans, g, v):
    r"""$Y = \operatorname{diag}(v)$: $\bar v = \operatorname{diagonal}(\bar Y)$, in the shape of $v$."""
    column = diagonal(g)
    return (column if v.shape[1] == 1 else transpose(column),)


register(
    DiagMatrix,
    "Diagonal matrix",
    "diag(v)",
    diag,
    grad_diag,
    spell={
        "text": lambda printer, e: f"diag({printer._print(e.args[0])})",
        "numpy": lambda printer, e: f"{printer._module_format('numpy.diagflat')}({printer._print(e.args[0])})",
        "torch": lambda printer, e: f"{printer._module_format('torch.diagflat')}({printer._print(e.args[0])})",
        "latex": lambda printer, e: rf"\operatorname{{diag}}\left({printer._print(e.args[0])}\right)",
    },
    lower=lower_diagonal_product,
    also=(SympyDiagMatrix,),
    structure=lambda e: DIAGONAL,
)
