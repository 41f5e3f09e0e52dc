r"""Selections: comparisons as 0/1 masks, ``where(mask, A, B)``, and ``logsigmoid``.

A comparison of two expressions (``A > B``, ``A <= B``, ``A == B``; the
parser reads them) is a constant mask of their difference, written with the
step card: $[A > B] = \operatorname{step}(A - B)$, $[A \ge B] = 1 -
\operatorname{step}(B - A)$, $[A = B] = 1 - \operatorname{step}(A - B) -
\operatorname{step}(B - A)$. Its derivative is 0 wherever it exists, as
PyTorch treats a comparison, and at ties it is what PyTorch's comparison
gives (``>`` false, ``>=`` true).

``where(mask, A, B)`` takes A's entries where the mask is nonzero and B's
elsewhere (``torch.where(mask != 0, A, B)``): the gradient goes to A where
the mask is set and to B elsewhere, and an infinite or huge entry of the
branch not taken never reaches the other (a causal attention mask of -1e30
scores).
"""

from __future__ import annotations

import sympy as sp

from ..errors import ShapeError
from .activations import elementary, step
from .card import EITHER, FUNCTIONS, MATRIX, MatrixOp, is_matrix, language, register, shape_text
from .constants import OneMatrix, ZeroMatrix
from .entrywise import applied
from .linear import broadcast, scale

# comparison (Python's ast operator name) -> the mask, as a function of the difference x = left - right
COMPARISONS = {
    "Gt": lambda x: step(x),
    "Lt": lambda x: step(-x),
    "GtE": lambda x: 1 - step(-x),
    "LtE": lambda x: 1 - step(x),
    "Eq": lambda x: 1 - step(x) - step(-x),
    "NotEq": lambda x: step(x) + step(-x),
}


def comparison(op: str, difference, same: bool = False):
    """The 0/1 mask of ``left op right`` from ``difference`` = left - right (a matrix or a scalar); ``same``: the
    two sides are one expression, so the mask is the constant of a tie (rounding, which two ways of computing one
    value may differ in, then decides nothing)."""
    mask = COMPARISONS[op]
    if same:
        tie = elementary(mask(sp.S.Zero))
        return scale(tie, OneMatrix(*difference.shape)) if is_matrix(difference) else tie
    return applied(mask, difference) if is_matrix(difference) else mask(difference)


class Where(MatrixOp):
    """A's entries where the mask is nonzero, B's elsewhere (one shape for all three)."""

    def __new__(cls, mask, a, b):
        if not (tuple(mask.shape) == tuple(a.shape) == tuple(b.shape)):
            shapes = ", ".join(shape_text(x) for x in (mask, a, b))
            raise ShapeError(f"where: the mask, A and B must have one shape, got {shapes}")
        return super().__new__(cls, mask, a, b)

    mask = property(lambda self: self.args[0])
    shape = property(lambda self: self.args[0].shape)

    def _entry(self, i, j, **kwargs):
        mask, a, b = self.args
        return sp.Piecewise((a[i, j], sp.Ne(mask[i, j], 0)), (b[i, j], True))

    def _sympystr(self, printer):
        return f"where({', '.join(printer._print(a) for a in self.args)})"

    def _array(self, printer):
        module = "numpy" if printer.printmethod == "_numpycode" else "torch"
        mask, a, b = (printer._print(x) for x in self.args)
        return f"{printer._module_format(f'{module}.where')}({mask} != 0, {a}, {b})"

    _numpycode = _torchcode = _array

    def _latex(self, printer):
        mask, a, b = (printer._print(x) for x in self.args)
        return rf"\begin{{cases}} {a} & \text{{where }} {mask} \neq 0 \\ {b} & \text{{elsewhere}} \end{{cases}}"


def _shaped(value, shape, what: str):
    """``value`` as a matrix of ``shape``: a scalar fills it, a row or column broadcasts."""
    if not is_matrix(value):
        return scale(value, OneMatrix(*shape))
    if tuple(value.shape) != tuple(shape) and not all(d in (1, s) for d, s in zip(value.shape, shape)):
        raise ShapeError(f"where: {what} is {shape_text(value)}, which does not broadcast to {shape[0]} x {shape[1]}")
    return broadcast(value, *shape)


@language("where", ("mask", "a", "b"), kinds={"mask": MATRIX, "a": EITHER, "b": EITHER})
def where(mask, a, b):
    """A's entries where ``mask`` is nonzero, else B's; A and B may be scalars, rows or columns that broadcast
    to the mask's shape."""
    if not is_matrix(mask):
        raise ShapeError("where: the mask must be a matrix (a comparison of matrices, e.g. X > 0)")
    a, b = _shaped(a, mask.shape, "A"), _shaped(b, mask.shape, "B")
    if a == b:
        return a
    return Where(mask, a, b)


def grad_where(ans, g, mask, a, b):
    r"""$Y = \operatorname{where}(M, A, B)$: $\bar A = \operatorname{where}(M, \bar Y, 0)$,
    $\bar B = \operatorname{where}(M, 0, \bar Y)$; no gradient to the mask."""
    zero = ZeroMatrix(*ans.shape)
    return None, where(mask, g, zero), where(mask, zero, g)


register(Where, "Selection", "where(M, A, B)", where, grad_where)


@language("logsigmoid")
def logsigmoid(x):
    """log sigmoid(x) = -softplus(-x), in the stable form the softplus card computes."""
    softplus = FUNCTIONS["softplus"].build
    negated = scale(-1, x) if is_matrix(x) else -x
    value = softplus(negated, sp.S.One)
    return scale(-1, value) if is_matrix(value) else -value
