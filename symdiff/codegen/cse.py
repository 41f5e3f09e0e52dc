"""Common subexpressions of the expressions a module prints, found by ``sympy.cse``."""

from __future__ import annotations

import sympy as sp

from ..errors import SymdiffError
from ..graph import is_leaf, nodes
from ..ops import Broadcast, Elementwise, is_matrix
from ..ops.entrywise import Mapped


def trivial(e) -> bool:
    """Not worth a temporary: a broadcast, a scalar of numbers and dims, or a transpose or negation of a symbol."""
    if isinstance(e, (Broadcast, sp.OneMatrix, sp.Identity, sp.ZeroMatrix)):
        return True
    if not is_matrix(e) and e.is_number:  # relu(pi): inlined, it prints as a float where it is used
        return True
    if not is_matrix(e) and not any(isinstance(a, (sp.MatrixExpr, sp.Function)) for a in sp.preorder_traversal(e)):
        return True
    if isinstance(e, sp.MatMul) and sum(map(is_matrix, e.args)) > 1:  # X @ V costs a matrix product
        return False
    return isinstance(e, (sp.Transpose, sp.MatMul)) and len(e.args) <= 2 and all(is_leaf(a) for a in e.args)


class _Opaque(sp.MatrixExpr):
    """An Elementwise or Mapped with its Lambda replaced by a number, so that sympy.cse does not look inside the
    Lambda (its operands follow: the first is a matrix of the node's shape)."""

    shape = property(lambda self: self.args[1].shape)


class _Sum(sp.MatrixExpr):
    """A matrix sum that sympy.cse treats as a whole: its search for shared sub-sums rebuilds them as scalar
    ``Add`` (SymPy 1.14), which ``Inverse`` and other matrix nodes refuse."""

    shape = property(lambda self: self.args[0].shape)


def _swap(e, kind, make, memo):
    """``e`` with every ``kind`` node replaced by ``make(node)``, bottom-up, every other node kept as it is.

    Not ``graph.transform``: rebuilding through the smart constructors would reorder factors around the
    opaque stand-ins, and so change the expressions sympy.cse sees.
    """
    if e in memo:
        return memo[e]
    if is_leaf(e):
        return e
    args = [_swap(a, kind, make, memo) for a in e.args]
    out = e.func(*args) if args != list(e.args) else e
    memo[e] = make(out) if isinstance(out, kind) else out
    return memo[e]


def common_subexpressions(exprs) -> tuple[list, list]:
    """sympy.cse of ``exprs``: ``([(symbol, value)], reduced)``, innermost first, constants and broadcasts inlined.

    A value may use earlier symbols; the reduced expressions use the symbols.
    """
    functions: dict = {}  # (class, Lambda) -> its number

    def hide(e):
        return _Opaque(sp.Integer(functions.setdefault((type(e), e.function), len(functions))), *e.args[1:])

    def reveal(e):
        kinds = {k: f for f, k in functions.items()}

        def restore(o):
            cls, function = kinds[int(o.args[0])]
            return cls(function, *o.args[1:])

        e = _swap(e, _Opaque, restore, {})
        return _swap(e, _Sum, lambda o: sp.MatAdd(*o.args), {})

    hidden = [_swap(_swap(e, (Elementwise, Mapped), hide, {}), sp.MatAdd, lambda o: _Sum(*o.args), {}) for e in exprs]
    # order="none" orders by hashes, which change with PYTHONHASHSEED; the modules must not
    try:
        replacements, reduced = sp.cse(hidden, symbols=sp.numbered_symbols("_cse"), order="canonical")
    except SymdiffError:
        # a compound shape (2*k, packed weights): cse named it in one argument's shape and not in another's, and the
        # op the two meet in refused their shapes; no subexpression of the dims is shared then
        dims = {s for e in exprs for node in nodes([e]) if is_matrix(node) for d in node.shape for s in d.free_symbols}
        replacements, reduced = sp.cse(
            hidden, symbols=sp.numbered_symbols("_cse"), order="canonical", ignore=tuple(sorted(dims, key=str))
        )
    inlined, kept = {}, []
    for symbol, e in replacements:
        e = reveal(e.xreplace(inlined))
        if trivial(e):
            inlined[symbol] = e
        else:
            kept.append((symbol, e))
    return kept, [reveal(r.xreplace(inlined)) for r in reduced]


def shared_subexpressions(exprs) -> list:
    """The subexpressions ``common_subexpressions`` computes once, written out in full."""
    full: dict = {}
    for symbol, e in common_subexpressions(exprs)[0]:
        full[symbol] = e.xreplace(full)
    return list(full.values())
