"""Constant matrices (ones, zeros, the identity) with their cards, and the scalar factor of a product.

symdiff's constants are SymPy's, equal to them, but write themselves out
under ``doit`` once their shape is concrete; ``split_coeff`` separates the
scalar of a matrix product, which every smart constructor asks for.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import MatMul

from ..errors import ShapeError
from .card import CARDS, DIAGONAL, SHAPE, SPD, SYMMETRIC, call, is_matrix, language, register


class _Constant:
    """A constant matrix that ``doit`` writes out once its shape is concrete (SymPy's own stay symbolic,
    so ``(1 - X).subs(X, M).doit()`` would not evaluate); equal to SymPy's constant of the same shape."""

    sympy_class: type

    def doit(self, **hints):
        return self.as_explicit() if all(sp.sympify(d).is_Integer for d in self.shape) else self

    def __eq__(self, other):
        return isinstance(other, self.sympy_class) and self.args == other.args

    def __hash__(self):
        return sp.Basic.__hash__(self)

    def _numpycode(self, printer):  # SymPy's numpy printer refuses a symbolic identity
        return CARDS[type(self)].spell["numpy"](printer, self)

    def _torchcode(self, printer):
        return CARDS[type(self)].spell["torch"](printer, self)


class OneMatrix(_Constant, sp.OneMatrix):
    """The matrix of ones."""

    sympy_class = sp.OneMatrix


class ZeroMatrix(_Constant, sp.ZeroMatrix):
    """The zero matrix."""

    sympy_class = sp.ZeroMatrix


class Identity(_Constant, sp.Identity):
    """The identity matrix."""

    sympy_class = sp.Identity


def zero_like(e):
    """The zero of ``e``'s shape, as SymPy spells it (a result on its own, never inside an expression)."""
    return sp.ZeroMatrix(*e.shape) if is_matrix(e) else sp.S.Zero


def is_zero(e) -> bool:
    return isinstance(e, sp.ZeroMatrix) or (not is_matrix(e) and e == 0)


def split_coeff(m):
    """``(c, M)`` with m = c M, c a scalar and M free of scalar factors."""
    if isinstance(m, MatMul):
        coeff, mats = m.as_coeff_matrices()
        if not mats:
            return coeff, Identity(1)
        return coeff, mats[0] if len(mats) == 1 else MatMul(*mats)
    return sp.S.One, m


def shape_args(printer, e) -> str:
    return f"({printer._print(e.shape[0])}, {printer._print(e.shape[1])})"


def _register_constant(op, title: str, name: str, latex: str, structure: frozenset):
    """The card of a constant matrix: ``name((rows, cols))`` (``eye(n)``), numpy.name, a torch helper."""
    dims = ("rows", "cols") if name != "eye" else ("n",)

    def shape(printer, e):
        printed = [printer._print(d) for d in e.shape[: len(dims)]]
        return f"({', '.join(printed)})" if len(dims) == 2 else printed[0]

    def torch_code(printer, e):
        return call(printer, "torch", name, *(printer._print(d) for d in e.shape[: len(dims)]), "like")

    helper = f"def {name}({', '.join(dims)}, like):\n    return torch.{name}({', '.join(dims)}, dtype=like.dtype, device=like.device)"
    register(
        op,
        title,
        f"{name}((q, n))" if len(dims) == 2 else f"{name}(n)",
        op,
        spell={
            "text": lambda printer, e: f"{name}({shape(printer, e)})",
            "numpy": lambda printer, e: f"{printer._module_format('numpy.' + name)}({shape(printer, e)})",
            "torch": torch_code,
            "latex": lambda printer, e: latex,
        },
        helpers={"torch": {name: helper}},
        also=(op.sympy_class,),
        structure=lambda e: structure,
    )


_register_constant(OneMatrix, "Ones", "ones", r"\mathbf{1}", frozenset({SYMMETRIC}))
_register_constant(ZeroMatrix, "Zeros", "zeros", r"\mathbf{0}", DIAGONAL)
_register_constant(Identity, "Identity", "eye", r"\mathbb{I}", DIAGONAL | {SPD})
language("ones", ("shape",), kinds={"shape": SHAPE})(lambda shape: OneMatrix(*shape))
language("zeros", ("shape",), kinds={"shape": SHAPE})(lambda shape: ZeroMatrix(*shape))


@language("eye", ("n",))
def _eye(n):
    if not (n.is_integer and n.is_positive):
        raise ShapeError(f"eye(n) needs a positive integer or a dim, got {n}")
    return Identity(n)
