"""What every op card declares, and the registries built from the cards.

An op is defined in one place, its card (one ``register`` call in a family
module, next to the op's class):

* ``op``: the node class the engine meets. symdiff's own classes carry their
  meaning as SymPy's ``_entry`` and print themselves through SymPy's hooks
  (``_sympystr``, ``_latex``, ``_numpycode``, ``_torchcode``); SymPy's classes
  get the same spellings from the card's ``spell`` table;
* ``construct``: the smart constructor, which keeps expressions canonical;
* ``rule``: the VJP ``rule(ans, g, *args) -> tuple`` (one share per argument,
  ``None`` where there is no gradient), its formula in LaTeX in its docstring;
* ``title``: how documents name the rule;
* ``syntax``: how the op is written in the expression language;
* ``helpers``: source of the numpy / torch functions its spellings call;
* ``lower``: its rewrite to a numerically stable form, where there is one;
* ``reuse``: for a node of the op that the forward pass computes, what the backward may compute from it
  instead ({backward node: expression of the forward node}), where that is cheaper: softmax from a
  saved log-softmax;
* ``expand``: the op written through pieces a backward may share with the forward (batchnorm as
  gamma x_hat + beta, x_hat as the centered X over sigma), for generated code to compute them once;
* ``structure``: what a node of the op is known to be, from what its arguments are (``properties``): the
  inverse of a symmetric matrix is symmetric, A^T S A is, a product of lower triangular matrices is lower
  triangular (see ``ops/structure.py`` for the variables that carry a structure).

The parser's function table is filled by ``language`` (a signature per name).
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy import MatrixExpr
from sympy.printing.precedence import PRECEDENCE, precedence

from ..errors import ShapeError

DIALECTS = ("text", "latex", "numpy", "torch")
HOOKS = {"text": "_sympystr", "latex": "_latex", "numpy": "_numpycode", "torch": "_torchcode"}


@dataclass(eq=False)
class Card:
    op: type
    title: str
    syntax: str
    construct: Callable
    rule: Callable | None = None
    spell: dict = field(default_factory=dict)  # dialect -> fn(printer, expr), for classes without hooks
    helpers: dict = field(default_factory=dict)  # dialect -> {helper name: source}
    lower: Callable | None = None
    reuse: Callable | None = None
    expand: Callable | None = None
    also: tuple = ()  # SymPy classes the op stands for (the constructor turns them into ``op``)
    structure: Callable | None = None  # fn(node) -> frozenset of properties (SYMMETRIC, SPD, LOWER, UPPER)

    def spelling(self, dialect: str) -> Callable | None:
        """fn(printer, expr) printing the op in ``dialect``, from the table or the class's hook."""
        if dialect in self.spell:
            return self.spell[dialect]
        hook = getattr(self.op, HOOKS[dialect], None)
        return None if hook is None else lambda printer, e, **kw: getattr(e, HOOKS[dialect])(printer, **kw)


CARDS: dict[type, Card] = {}


def register(op, title: str, syntax: str, construct: Callable, rule=None, **more) -> Card:
    """Add the card of ``op`` to the registry (one call per op)."""
    if op in CARDS:
        raise ValueError(f"{op.__name__} has two cards")
    card = CARDS[op] = Card(op, title, syntax, construct, rule, **more)
    for other in card.also:
        CARDS.setdefault(other, card)
    return card


def card_of(node) -> Card | None:
    """The card of ``node``'s class (or of its nearest registered base class)."""
    for cls in type(node).__mro__:
        if cls in CARDS:
            return CARDS[cls]
    return None


# --------------------------------------------------------------------------
# Structure: what a square matrix expression is known to be
# --------------------------------------------------------------------------

SYMMETRIC, SPD, LOWER, UPPER = "symmetric", "spd", "lower", "upper"  # SPD: symmetric positive definite
DIAGONAL = frozenset({SYMMETRIC, LOWER, UPPER})
UNSTRUCTURED = frozenset()


@functools.lru_cache(maxsize=65_536)
def properties(e) -> frozenset:
    """What the matrix ``e`` is known to be: a variable's declared structure (its ``declared``), else what its
    op's card infers from its arguments; lower and upper triangular together are diagonal, so symmetric."""
    declared = getattr(e, "declared", None)
    if declared is not None:
        return declared
    if not is_matrix(e) or e.shape[0] != e.shape[1]:
        return UNSTRUCTURED
    card = card_of(e)
    found = card.structure(e) if card is not None and card.structure is not None else UNSTRUCTURED
    return found | {SYMMETRIC} if {LOWER, UPPER} <= found else found


def is_symmetric(e) -> bool:
    return SYMMETRIC in properties(e)


def transposed_properties(found: frozenset) -> frozenset:
    """The properties of the transpose: lower and upper swap."""
    swap = {LOWER: UPPER, UPPER: LOWER}
    return frozenset(swap.get(p, p) for p in found)


# --------------------------------------------------------------------------
# The expression language's function table
# --------------------------------------------------------------------------

SCALAR, MATRIX, AXIS, SHAPE, CHOICE, EITHER = "scalar", "matrix", "axis", "shape", "choice", "either"
OFFSETS = "offsets"  # a (row, column) pair of nonnegative integers or dims
MATRICES = "matrices"  # a list of matrices, [A, B]
SIZES = "sizes"  # a tuple of one or more positive integers or dims, (h, h, 2*h)


@dataclass(frozen=True)
class Signature:
    """A function of the language: its builder, parameters, defaults and how each argument is read."""

    name: str
    build: Callable
    params: tuple
    defaults: dict
    kinds: dict  # parameter -> SCALAR, MATRIX, AXIS, SHAPE, CHOICE or EITHER; absent: EITHER first, else SCALAR
    constants: frozenset = frozenset()  # parameters that must be numbers (not symbols)
    choices: dict = field(default_factory=dict)  # CHOICE parameter -> the strings it accepts

    def kind(self, param: str) -> str:
        return self.kinds.get(param, EITHER if param == self.params[0] else SCALAR)


FUNCTIONS: dict[str, Signature] = {}


def language(name: str, params=("x",), defaults=None, kinds=None, constants=(), choices=None):
    """Register the decorated builder as the expression-language function ``name``."""

    def add(build):
        if name in FUNCTIONS:
            raise ValueError(f"the language has two functions named {name}")
        kinds_ = dict(kinds or {}) | {p: CHOICE for p in choices or {}}
        FUNCTIONS[name] = Signature(
            name, build, tuple(params), dict(defaults or {}), kinds_, frozenset(constants), dict(choices or {})
        )
        return build

    return add


# --------------------------------------------------------------------------
# Helpers that generated code (and sympy.lambdify) call
# --------------------------------------------------------------------------

HELPER_MODULE = {"numpy": "symdiff.ops.numpy_helpers", "torch": "symdiff.ops.torch_helpers"}


def helper_sources(dialect: str) -> dict:
    """Every helper of ``dialect``, name -> source, in registry order."""
    out: dict = {}
    for card in dict.fromkeys(CARDS.values()):
        out.update(card.helpers.get(dialect, {}))
    return out


def helper_closure(dialect: str, names) -> list[str]:
    """Sources of the helpers ``names`` and of those they call, in registry order."""
    sources, needed, pending = helper_sources(dialect), set(), list(names)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        if name not in sources:
            raise NotImplementedError(f"no {dialect} helper named {name} on any op card")
        needed.add(name)
        pending.extend(other for other in sources if re.search(rf"\b{other}\(", sources[name].split(":", 1)[1]))
    return [source for name, source in sources.items() if name in needed]


def load_helper(namespace: dict, dialect: str, name: str):
    """Helper ``name`` of ``dialect`` defined in ``namespace`` (a module's globals), all of them on first use."""
    if "_loaded" not in namespace:
        for source in helper_sources(dialect).values():
            exec(source, namespace)  # symdiff's own helper source, from its op cards
        namespace["_loaded"] = True
    if name not in namespace:
        raise AttributeError(f"no {dialect} helper named {name!r} on any op card")
    return namespace[name]


def call(printer, dialect: str, name: str, *args) -> str:
    """A call of helper ``name``: code printers record it, SymPy's own printers (lambdify) import it."""
    return f"{printer._module_format(f'{HELPER_MODULE[dialect]}.{name}')}({', '.join(args)})"


def made_of_matrices(e) -> bool:
    """Whether a matrix occurs anywhere in ``e`` (a scalar like trace(A) or sum(X) is made of one)."""
    return any(isinstance(a, sp.MatrixExpr) for a in sp.preorder_traversal(e))


def atom(printer, e) -> str:
    """``e`` printed, in parentheses unless it binds like an atom (for ``**``, ``.T``, ``.reshape``)."""
    printed = printer._print(e)
    atomic = isinstance(e, (sp.MatrixSymbol, sp.Transpose)) or precedence(e) >= PRECEDENCE["Atom"]
    return printed if atomic else f"({printed})"


class Printed(sp.Symbol):
    """Code already printed, standing in for an argument (the matrix an elementwise function maps over)."""

    def _verbatim(self, printer, **kwargs):
        return self.name

    _sympystr = _latex = _numpycode = _torchcode = _pythoncode = _verbatim


def library(fqn: str) -> Callable:
    """A spelling calling the library function ``fqn`` on the printed arguments (numpy.exp, torch.tanh, ...)."""
    return lambda printer, e, **kw: f"{printer._module_format(fqn)}({', '.join(printer._print(a) for a in e.args)})"


# --------------------------------------------------------------------------
# Shapes, and the base of symdiff's matrix ops
# --------------------------------------------------------------------------


def is_matrix(e) -> bool:
    return isinstance(e, MatrixExpr)


def shape_text(e) -> str:
    if not is_matrix(e):
        return "scalar"
    return f"{e.shape[0]} x {e.shape[1]}"


def _matrix_sum_content(self, radical=False, clear=True):
    """A matrix sum keeps its content: SymPy's factor_terms (reached from simplify, is_constant, Abs and arg,
    and from the LaTeX printer's fractions) pulls a scalar out of every Add it meets, MatAdd included, whose
    rebuilt terms MatAdd then refuses ("Mix of Matrix and Scalar symbols")."""
    return sp.S.One, self


sp.MatAdd.as_content_primitive = _matrix_sum_content


def _matrix_product_minus_sign(self) -> bool:
    """Whether a matrix product starts with a negative number: the answer of SymPy's Mul method, which first
    compares the product with its negation, and so rebuilds (``doit``) the whole tree beneath it each time the
    printers ask for precedence: a deep derivation's LaTeX went quadratic in its size."""
    return bool(self.args and self.args[0].is_Number and self.args[0].is_extended_negative)


sp.MatMul.could_extract_minus_sign = _matrix_product_minus_sign


def require_matrix(e, op: str):
    if not is_matrix(e) and isinstance(e, (sp.Add, sp.Mul)) and made_of_matrices(e):
        e = _matrix_arithmetic(e)
    if not is_matrix(e):
        raise ShapeError(f"{op} needs a matrix, got the scalar {e}")
    return e


def _matrix_arithmetic(e):
    """A scalar-typed Add or Mul of matrices as the matrix sum or product it stands for: SymPy's signsimp
    (inside Abs and sign) rebuilds G - H inside sum(G - H) as the scalar -(H - G)."""
    if not isinstance(e, (sp.Add, sp.Mul)):
        return e
    terms = [_matrix_arithmetic(a) for a in e.args]
    return functools.reduce(operator.add if isinstance(e, sp.Add) else operator.mul, terms)


def total(term: Callable, n) -> sp.Expr:
    """sum_{k < n} term(k): an explicit sum for a number n, a SymPy Sum for a dimension symbol."""
    if sp.sympify(n).is_Integer:
        return sp.Add(*[term(k) for k in range(int(n))])
    k = sp.Dummy("k", integer=True)
    return sp.Sum(term(k), (k, 0, n - 1))


def slice_total(a, i, j, axis, term):
    """sum over the slice of ``a`` through (i, j) along ``axis`` of term(entry)."""
    if axis == 0:
        return total(lambda k: term(a[k, j]), a.shape[0])
    return total(lambda k: term(a[i, k]), a.shape[1])


def written_out(m):
    """``m`` as an explicit matrix when it and every matrix inside it have concrete shapes and it has no matrix
    symbols (``sqrt(2) * Matrix``; not max(reshape(zeros(k, n), (k n, 1))), 1 x 1 but over k n entries)."""
    if not is_matrix(m) or isinstance(m, sp.MatrixBase) or m.atoms(sp.MatrixSymbol):
        return m
    inner = [a for a in sp.preorder_traversal(m) if isinstance(a, MatrixExpr)]
    concrete = all(sp.sympify(d).is_Integer for a in inner for d in a.shape)
    return m.as_explicit() if concrete else m


class MatrixOp(MatrixExpr):
    """A symdiff matrix op: its entries (``_entry``) are its definition.

    ``doit`` evaluates the op when its arguments are explicit matrices, so
    ``expr.subs(X, Matrix(...)).doit()`` and ``as_explicit()`` work on results.
    Ops print as calls or postfix forms, which bind like atoms.
    """

    precedence = PRECEDENCE["Atom"]
    sums_to_one = None  # an axis along which every sum of the op's entries is 1 (one_hot's rows), if there is one

    def doit(self, **hints):
        args = [written_out(a.doit(**hints)) if hints.get("deep", True) else a for a in self.args]
        node = self.func(*args)
        concrete = all(sp.sympify(d).is_Integer for d in node.shape)
        if concrete and all(not is_matrix(a) or isinstance(a, sp.MatrixBase) for a in args):
            return node.as_explicit()
        return node


class Reduction(MatrixOp):
    """An op reducing a matrix along axis 0 (to 1 x n) or axis 1 (to m x 1), keeping the axis."""

    name = ""

    def __new__(cls, arg, axis, *more):
        arg = require_matrix(arg, cls.name)
        if int(axis) not in (0, 1):
            raise ShapeError(f"{cls.name}: axis must be 0 or 1, got {axis}")
        return super().__new__(cls, arg, sp.Integer(axis), *more)

    arg = property(lambda self: self.args[0])
    axis = property(lambda self: int(self.args[1]))

    @property
    def shape(self):
        rows, cols = self.arg.shape
        return (sp.Integer(1), cols) if self.axis == 0 else (rows, sp.Integer(1))


class ScalarOp(sp.Expr):
    """A symdiff op taking one matrix to a scalar; ``value(explicit matrix)`` is its definition.

    ``doit`` evaluates it once its argument is an explicit matrix.
    """

    is_commutative = True
    is_real = True  # symdiff's matrices are real: sqrt(sum(X)**2) is |sum(X)|, not a complex branch
    precedence = PRECEDENCE["Atom"]
    name = ""

    def __new__(cls, arg):
        return super().__new__(cls, require_matrix(arg, cls.name))

    arg = property(lambda self: self.args[0])

    def value(self, explicit):
        raise NotImplementedError

    def doit(self, **hints):
        arg = written_out(self.arg.doit(**hints)) if hints.get("deep", True) else self.arg
        return self.value(arg) if isinstance(arg, sp.MatrixBase) else self.func(arg)

    def _eval_evalf(self, prec):
        return self
