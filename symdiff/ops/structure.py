r"""Structured matrices: variables declared symmetric, spd, diagonal, lower or upper triangular, and the
projections onto those subspaces (sym, tril, triu), each with its card.

A structured variable S lives in a subspace of the n x n matrices. The
gradient of f with respect to S is the representative of the derivative in
that subspace under the Frobenius inner product: the orthogonal projection
$P(G)$ of the gradient $G$ that f has as a function of a general matrix,
evaluated at S (any extension of f off the subspace gives the same $P(G)$):

* symmetric and spd: $\operatorname{sym}(G) = (G + G^T)/2$;
* diagonal: $\operatorname{diag}(\operatorname{diagonal}(G))$;
* lower / upper triangular: $\operatorname{tril}(G)$ / $\operatorname{triu}(G)$.

Only this one satisfies $\langle \nabla f, D \rangle = Df[D]$ for every
direction D of the subspace, so only it makes a gradient step that stays in
the subspace and follows steepest descent there (Srinivasan and Panda, "What
is the gradient of a scalar function of a symmetric matrix?",
arXiv:1911.06491). The *coordinates* convention is a different object: the
derivative with respect to the free entries (for a symmetric S, the upper
triangle) laid out as a matrix, $G + G^T - \operatorname{diag}(\operatorname{diagonal}(G))$ (The Matrix
Cookbook's rule for symmetric matrices); for the other structures each free entry occurs once and
it equals the projection.
"""

from __future__ import annotations

import sympy as sp
from sympy import Basic, MatAdd, MatrixSymbol, Transpose
from sympy.core.symbol import Str

from ..errors import InputError, ShapeError, SymdiffError
from .card import (
    DIAGONAL,
    LOWER,
    MATRIX,
    SPD,
    SYMMETRIC,
    UPPER,
    MatrixOp,
    call,
    is_matrix,
    is_symmetric,
    language,
    properties,
    register,
)
from .constants import split_coeff
from .linear import add, require_square, scale, transpose
from .shapes import diag, diagonal

# structure -> what a matrix of it is (``card.properties``)
STRUCTURES = {
    "symmetric": frozenset({SYMMETRIC}),
    "spd": frozenset({SYMMETRIC, SPD}),
    "diagonal": DIAGONAL,
    "lower": frozenset({LOWER}),
    "upper": frozenset({UPPER}),
}
CONVENTIONS = ("structured", "coordinates")


class StructuredMatrix(MatrixSymbol):
    """A square matrix variable declared symmetric, spd (symmetric positive definite), diagonal, lower or upper
    (triangular); equal only to a variable of the same name, shape and structure."""

    def __new__(cls, name, rows, cols, structure):
        structure = str(structure)
        if structure not in STRUCTURES:
            raise InputError(f"unknown structure {structure!r} for {name}: use one of {', '.join(STRUCTURES)}")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        if rows != cols:
            raise ShapeError(f"{name} is declared {structure}, which needs a square matrix, but it is {rows} x {cols}")
        return Basic.__new__(cls, Str(str(name)), rows, cols, Str(structure))

    structure = property(lambda self: self.args[3].name)
    declared = property(lambda self: STRUCTURES[self.structure])

    def doit(self, **hints):
        return self

    def _eval_transpose(self):
        return self if SYMMETRIC in self.declared else Transpose(self)


def structure_of(symbol) -> str | None:
    """The declared structure of a variable, or None."""
    return symbol.structure if isinstance(symbol, StructuredMatrix) else None


def like(symbol, name: str, shape=None):
    """A matrix symbol named ``name`` with ``symbol``'s structure (and shape, unless ``shape`` is given)."""
    shape = tuple(symbol.shape) if shape is None else tuple(shape)
    structure = structure_of(symbol)
    return MatrixSymbol(name, *shape) if structure is None else StructuredMatrix(name, *shape, structure)


# --------------------------------------------------------------------------
# sym(A) = (A + A^T) / 2
# --------------------------------------------------------------------------


class Sym(MatrixOp):
    r"""$\operatorname{sym}(A) = (A + A^T)/2$, the symmetric part of a square matrix."""

    def __new__(cls, arg):
        return super().__new__(cls, require_square(arg, "sym"))

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: self.arg.shape)

    def _entry(self, i, j, **kwargs):
        return (self.arg[i, j] + self.arg[j, i]) / 2

    def _sympystr(self, printer):
        return f"sym({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "sym", printer._print(self.arg))

    def _torchcode(self, printer):
        return call(printer, "torch", "sym", printer._print(self.arg))

    def _latex(self, printer):
        return rf"\operatorname{{sym}}\left({printer._print(self.arg)}\right)"


def _fewer_transposes(m):
    """m or m^T, whichever has fewer transposes (sym(A^T) is sym(A))."""
    flipped = transpose(m)
    return flipped if flipped.count(Transpose) < m.count(Transpose) else m


@language("sym", kinds={"x": MATRIX})
def sym(m):
    """(m + m^T) / 2; a symmetric m is its own, symmetric terms of a sum come out, scalars too."""
    require_square(m, "sym")
    if is_symmetric(m):
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, sym(core))
    if isinstance(m, MatAdd):
        kept = [t for t in m.args if is_symmetric(t)]
        if kept:
            return add(*kept, sym(add(*[t for t in m.args if not is_symmetric(t)])))
    if isinstance(m, Sym):
        return m
    return Sym(_fewer_transposes(m))


def grad_sym(ans, g, a):
    r"""$Y = \operatorname{sym}(A)$: $\bar A = \operatorname{sym}(\bar Y)$ (the projection is self-adjoint)."""
    return (sym(g),)


register(
    Sym,
    "Symmetric part",
    "sym(A)",
    sym,
    grad_sym,
    helpers={
        "numpy": {"sym": "def sym(a):\n    return (a + a.T) / 2"},  # exactly symmetric: a + b is b + a
        "torch": {"sym": "def sym(a):\n    return (a + a.mT) / 2"},
    },
    structure=lambda e: frozenset({SYMMETRIC}),
)


# --------------------------------------------------------------------------
# tril(A, k), triu(A, k): the entries on and below (above) the k-th diagonal
# --------------------------------------------------------------------------


class Triangle(MatrixOp):
    """The entries of A on and below (tril) or above (triu) its k-th diagonal, the others 0."""

    name = ""

    def __new__(cls, arg, k=0):
        k = sp.sympify(k)
        if not k.is_Integer:
            raise SymdiffError(f"{cls.name}: the diagonal offset k must be an integer, got {k}")
        return super().__new__(cls, arg, k)

    arg = property(lambda self: self.args[0])
    k = property(lambda self: int(self.args[1]))
    shape = property(lambda self: self.arg.shape)

    def keeps(self, i, j):
        """Whether entry (i, j) is kept (a SymPy condition for symbolic indices)."""
        return sp.Le(j - i, self.k) if self.name == "tril" else sp.Ge(j - i, self.k)

    def _entry(self, i, j, **kwargs):
        return sp.Piecewise((self.arg[i, j], self.keeps(i, j)), (0, True))

    def _sympystr(self, printer):
        k = f", {self.k}" if self.k else ""
        return f"{self.name}({printer._print(self.arg)}{k})"

    def _array(self, printer):
        module = "numpy" if printer.printmethod == "_numpycode" else "torch"
        k = f", {self.k}" if self.k else ""
        return f"{printer._module_format(f'{module}.{self.name}')}({printer._print(self.arg)}{k})"

    _numpycode = _torchcode = _array

    def _latex(self, printer):
        k = f"_{{{self.k}}}" if self.k else ""
        return rf"\operatorname{{{self.name}}}{k}\left({printer._print(self.arg)}\right)"


class Tril(Triangle):
    name = "tril"


class Triu(Triangle):
    name = "triu"


def _triangle(cls, kept: str):
    def build(m, k=0):
        m, k = require_square(m, cls.name), int(k)
        if kept in properties(m) and (k >= 0 if cls is Tril else k <= 0):
            return m
        c, core = split_coeff(m)
        if c != 1:
            return scale(c, build(core, k))
        return cls(m, k)

    build.__name__ = cls.name
    build.__doc__ = f"{cls.name}(m, k): {cls.__doc__ or Triangle.__doc__}"
    return build


tril = _triangle(Tril, LOWER)
triu = _triangle(Triu, UPPER)
language("tril", ("x", "k"), defaults={"k": 0}, kinds={"x": MATRIX}, constants=("k",))(tril)
language("triu", ("x", "k"), defaults={"k": 0}, kinds={"x": MATRIX}, constants=("k",))(triu)


def _grad_triangle(ans, g, a, k):
    r"""$Y = \operatorname{tril}_k(A)$: $\bar A = \operatorname{tril}_k(\bar Y)$ (triu alike): a projection
    onto entries, self-adjoint."""
    return CONSTRUCTORS[type(ans)](g, int(k)), None


def _triangle_structure(e) -> frozenset:
    """tril_k with k <= 0 is lower triangular, triu_k with k >= 0 upper."""
    if isinstance(e, Tril):
        return frozenset({LOWER}) if e.k <= 0 else frozenset()
    return frozenset({UPPER}) if e.k >= 0 else frozenset()


CONSTRUCTORS = {Tril: tril, Triu: triu}
for _cls in (Tril, Triu):
    register(
        _cls,
        f"{'Lower' if _cls is Tril else 'Upper'} triangle",
        f"{_cls.name}(A), {_cls.name}(A, k)",
        CONSTRUCTORS[_cls],
        _grad_triangle,
        structure=_triangle_structure,
    )


# --------------------------------------------------------------------------
# Gradients in a convention
# --------------------------------------------------------------------------


def project(g, structure: str):
    """The Frobenius-orthogonal projection of the square matrix ``g`` onto ``structure``'s subspace."""
    if structure in ("symmetric", "spd"):
        return sym(g)
    if structure == "diagonal":
        return g if DIAGONAL <= properties(g) else diag(diagonal(g))
    return (tril if structure == "lower" else triu)(g)


def in_convention(g, symbol, convention: str = "structured"):
    """The gradient of a variable, ``g`` being its gradient as a general matrix: projected onto the variable's
    structure ("structured"), or as the derivative with respect to its free entries laid out as a matrix
    ("coordinates"); ``g`` itself for a variable without structure."""
    if convention not in CONVENTIONS:
        raise InputError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    structure = structure_of(symbol)
    if structure is None or not is_matrix(g):
        return g
    projected = project(g, structure)
    if convention == "coordinates" and structure in ("symmetric", "spd"):  # term by term: 2 sym(G) - diag(G)
        doubled = [scale(2, t) for t in _terms(projected)]
        return add(*doubled, *[scale(-1, diag(diagonal(t))) for t in _terms(g)])
    return projected


def _terms(m) -> tuple:
    return m.args if isinstance(m, MatAdd) else (m,)


PROJECTION_TEXT = {
    "symmetric": "sym(G) = (G + G.T)/2",
    "spd": "sym(G) = (G + G.T)/2",
    "diagonal": "diag(diagonal(G))",
    "lower": "tril(G)",
    "upper": "triu(G)",
}
STRUCTURE_NAMES = {
    "symmetric": "symmetric",
    "spd": "symmetric positive definite",
    "diagonal": "diagonal",
    "lower": "lower triangular",
    "upper": "upper triangular",
}  # how messages and documents name a structure
SUBSPACE = {  # where a structured variable's gradient lies (an spd matrix's tangent space is the symmetric ones)
    "symmetric": "symmetric matrices",
    "spd": "symmetric matrices",
    "diagonal": "diagonal matrices",
    "lower": "lower triangular matrices",
    "upper": "upper triangular matrices",
}
FREE_ENTRIES = {
    "symmetric": "its upper triangle",
    "spd": "its upper triangle",
    "diagonal": "its diagonal",
    "lower": "its lower triangle",
    "upper": "its upper triangle",
}


def convention_text(symbol, convention: str) -> str | None:
    """What the gradient of a structured variable is, in words, for the command line; None without structure."""
    structure = structure_of(symbol)
    if structure is None:
        return None
    if convention == "coordinates":
        form = "G + G.T - diag(diagonal(G))" if structure in ("symmetric", "spd") else PROJECTION_TEXT[structure]
        return (
            f"{symbol.name} is {structure}; coordinates convention: the derivative in {FREE_ENTRIES[structure]} "
            f"laid out as a matrix, {form} for G the gradient as if {symbol.name} were general (not a direction "
            "of steepest descent: step with the structured gradient)"
        )
    return (
        f"{symbol.name} is {structure}; structured convention: the gradient in the {SUBSPACE[structure]} under the "
        f"Frobenius inner product, {PROJECTION_TEXT[structure]} for G the gradient as if {symbol.name} were general"
    )


def exactly(g, structure: str):
    """``g`` projected once more, as generated code computes it: whatever a symmetric closed form's rounding
    (inv(S) in floating point is not exactly symmetric), the result then is exactly in the subspace. Built from
    the op classes, which keep the projection that the constructors would drop as already known."""
    if not is_matrix(g) or isinstance(g, sp.ZeroMatrix):
        return g
    c, core = split_coeff(g)  # c sym(A) is as exactly symmetric as sym(A): the scalar waits outside
    if c != 1:
        return scale(c, exactly(core, structure))
    if structure in ("symmetric", "spd"):
        return Sym(g)
    if structure == "diagonal":
        return diag(diagonal(g))
    return (Tril if structure == "lower" else Triu)(g, 0)
