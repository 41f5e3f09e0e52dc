"""The reverse sweep: adjoints of every node of an expression DAG.

SymPy shares equal subexpressions, so an expression is a DAG whose nodes are
its distinct subexpressions. The sweep visits them output-first in
topological order, asks each node's rule (``rules.rule_for``) for its
arguments' shares of the cotangent and adds them up (fan-in accumulates in
``_accumulate``, the one place it happens). Nodes that do not depend on a
variable are never visited, and zero cotangents are never built.
"""

from __future__ import annotations

import sympy as sp
from sympy import Basic, Lambda, MatrixSymbol

from .errors import UnsupportedError
from .ops import add, is_zero
from .rules import rule_for

LEAVES = (MatrixSymbol, sp.Symbol, sp.Number, sp.NumberSymbol, Lambda)


def _topological_order(output, variables: set) -> list:
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
        elif isinstance(node, LEAVES) or not node.args:
            depends[node] = False
        elif expanded:
            depends[node] = any(depends[a] for a in node.args)
            if depends[node]:
                order.append(node)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in depends)
    return order


def _accumulate(adjoints: dict, node, contribution) -> None:
    if node in adjoints:
        adjoints[node] = add(adjoints[node], contribution)
    else:
        adjoints[node] = contribution


def backward(output, variables, seed) -> dict:
    """Adjoint (cotangent) of every node between ``output`` and ``variables``.

    ``seed`` is the output's cotangent. The result maps each visited node,
    ``output`` and the variables included, to its accumulated adjoint; a
    variable the output does not depend on is absent.
    """
    variables = set(variables)
    order = _topological_order(output, variables)
    relevant = set(order)
    adjoints = {output: seed} if order else {}
    for node in reversed(order):
        g = adjoints.get(node)
        if g is None or is_zero(g) or node in variables:
            continue
        shares = rule_for(node)(node, g, *node.args)
        if len(shares) != len(node.args):
            raise UnsupportedError(
                f"the rule of {type(node).__name__} gave {len(shares)} shares for {len(node.args)} args"
            )
        for arg, share in zip(node.args, shares):
            if share is None or is_zero(share) or arg not in relevant:
                continue
            _accumulate(adjoints, arg, share)
    return adjoints
