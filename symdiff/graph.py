"""Expressions as graphs, in one place: what a leaf is, walking the DAG, and the canonical form.

SymPy shares equal subexpressions, so an expression is a DAG whose nodes are
its distinct subexpressions; walks here visit each node once. The canonical
form is what the ops' smart constructors build; ``canonical`` brings plain
SymPy input (``applyfunc``, ``Trace``, negative matrix powers, ones-matrix
products) into it once, where it enters symdiff. Later stages change
expressions only through ``transform``, which rebuilds (through the same
constructors) just the nodes above what it changes.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy import Basic, Lambda, MatrixSymbol
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .ops import CARDS, applied

LEAVES = (MatrixSymbol, sp.Symbol, sp.Number, sp.NumberSymbol, Lambda)


def is_leaf(e) -> bool:
    """A symbol, number, Lambda or argument-free node: walks stop there."""
    return isinstance(e, LEAVES) or not e.args


def nodes(exprs) -> set:
    """Every distinct subexpression of ``exprs``, leaves included, Lambdas not entered."""
    seen, stack = set(), list(exprs)
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            if not isinstance(e, Lambda):
                stack.extend(e.args)
    return seen


def dag_size(expr) -> int:
    """Number of distinct subexpressions (a tree walk would count shared ones again and again)."""
    return len(nodes([expr]))


def topological_order(output, variables: set) -> list:
    """Nodes that depend on ``variables``, each after every node it depends on."""
    depends: dict[Basic, bool] = {}
    order: list[Basic] = []
    stack = [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if node in depends and not expanded:
            continue
        if node in variables:
            depends[node] = True
            order.append(node)
        elif is_leaf(node):
            depends[node] = False
        elif expanded:
            depends[node] = any(depends[a] for a in node.args)
            if depends[node]:
                order.append(node)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in depends)
    return order


def constructor(node) -> Callable:
    """The smart constructor of ``node``'s op (its card's), or SymPy's own class for scalar algebra."""
    if isinstance(node, ElementwiseApplyFunction):
        return applied
    card = CARDS.get(type(node))
    return card.construct if card is not None else node.func


def transform(expr, rewrite: Callable | None = None, mapping: dict | None = None, everywhere: bool = False):
    """``expr`` with ``mapping``'s keys replaced and ``rewrite(node)`` (a node, or None to keep it) applied bottom-up.

    Only nodes whose arguments changed are rebuilt, through their smart
    constructors; ``everywhere`` rebuilds every node (``canonical``).
    """
    memo: dict = {}
    mapping = mapping or {}

    def visit(e):
        if e in memo:
            return memo[e]
        if e in mapping:
            out = mapping[e]
        elif is_leaf(e):
            out = e
        else:
            args = [visit(a) for a in e.args]
            out = e
            if everywhere or any(new is not old for new, old in zip(args, e.args)):
                out = constructor(e)(*args)
            if rewrite is not None:
                new = rewrite(out)
                out = out if new is None else new
        memo[e] = out
        return out

    return visit(expr)


def canonical(expr):
    """``expr`` rebuilt through the smart constructors: how SymPy input enters symdiff."""
    return transform(expr, everywhere=True)


def substitute(expr, mapping: dict):
    """``expr`` with the keys of ``mapping`` replaced by their values, in canonical form."""
    return transform(expr, mapping=mapping) if mapping else expr
