r"""The entrywise maximum and minimum of two matrices; at ties each side gets half the gradient, as
``torch.maximum`` and ``torch.minimum`` give it."""

from __future__ import annotations

import sympy as sp

from ..errors import ShapeError
from .activations import tie_step
from .card import EITHER, MATRIX, MatrixOp, is_matrix, language, register, shape_text
from .constants import OneMatrix
from .entrywise import applied
from .linear import add, scale
from .products import hadamard


class Maximum(MatrixOp):
    """The entrywise maximum of two same-shape matrices; ``Minimum`` the minimum."""

    pick, name, latex_name = sp.Max, "maximum", r"\max"

    def __new__(cls, a, b):
        if not (is_matrix(a) and is_matrix(b)) or a.shape != b.shape:
            raise ShapeError(f"{cls.name} needs two matrices of one shape, got {shape_text(a)} and {shape_text(b)}")
        return super().__new__(cls, a, b)

    shape = property(lambda self: self.args[0].shape)

    def _entry(self, i, j, **kwargs):
        return self.pick(self.args[0][i, j], self.args[1][i, j])

    def _sympystr(self, printer):
        return f"{self.name}({printer._print(self.args[0])}, {printer._print(self.args[1])})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.' + self.name)}({printer._print(self.args[0])}, {printer._print(self.args[1])})"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.' + self.name)}({printer._print(self.args[0])}, {printer._print(self.args[1])})"

    def _latex(self, printer):
        return rf"{self.latex_name}\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"


class Minimum(Maximum):
    pick, name, latex_name = sp.Min, "minimum", r"\min"


def _extremum(cls):
    def build(a, b):
        a, b = (x if is_matrix(x) else scale(x, OneMatrix(*y.shape)) for x, y in ((a, b), (b, a)))
        if a == b:
            return a
        return cls(a, b)

    return build


def grad_maximum(ans, g, a, b):
    r"""$Y = \max(A, B)$ entrywise: $\bar A = \bar Y \odot s(A - B)$, $\bar B = \bar Y \odot s(B - A)$,
    $s(x) = [x > 0] + \frac{1}{2}[x = 0]$ (ties split evenly, as torch.maximum)."""
    return tuple(hadamard(g, applied(tie_step, add(x, scale(-1, y)))) for x, y in ((a, b), (b, a)))


def grad_minimum(ans, g, a, b):
    r"""$Y = \min(A, B)$ entrywise: $\bar A = \bar Y \odot s(B - A)$, $\bar B = \bar Y \odot s(A - B)$ (ties split evenly)."""
    return tuple(hadamard(g, applied(tie_step, add(y, scale(-1, x)))) for x, y in ((a, b), (b, a)))


maximum, minimum = _extremum(Maximum), _extremum(Minimum)
register(Maximum, "Elementwise maximum", "maximum(A, B)", maximum, grad_maximum)
register(Minimum, "Elementwise minimum", "minimum(A, B)", minimum, grad_minimum)
language("maximum", ("x", "y"), kinds={"x": MATRIX, "y": EITHER})(maximum)
language("minimum", ("x", "y"), kinds={"x": MATRIX, "y": EITHER})(minimum)
