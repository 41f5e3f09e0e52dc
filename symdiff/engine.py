"""The reverse sweep: adjoints of every node of an expression DAG.

The sweep visits the nodes that depend on the variables output-first in
topological order (``graph.topological_order``), asks each node's rule (from
its op card; SymPy's scalar algebra shares ``scalar_rule``) for its arguments'
shares of the cotangent and adds them up (fan-in accumulates in
``_accumulate``, the one place it happens). Zero cotangents are never built.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp

from .errors import UnsupportedError
from .graph import topological_order
from .ops import add, card_of, is_zero, scalar_rule

SCALAR_NODES = (sp.Add, sp.Mul, sp.Pow, sp.Function)


def rule_for(node) -> Callable:
    """The VJP rule for ``node``, or an UnsupportedError naming its operation."""
    card = card_of(node)
    if card is not None and card.rule is not None:
        return card.rule
    if card is None and isinstance(node, SCALAR_NODES) and not isinstance(node, sp.MatrixExpr):
        return scalar_rule
    raise UnsupportedError(f"no differentiation rule for {type(node).__name__} (in {node})")


def _accumulate(adjoints: dict, node, contribution) -> None:
    if node in adjoints:
        adjoints[node] = add(adjoints[node], contribution)
    else:
        adjoints[node] = contribution


def backward(output, variables, cotangent) -> dict:
    """Adjoint of every node between ``output`` and ``variables``, given the output's ``cotangent``.

    The result maps each visited node, ``output`` and the variables included,
    to its accumulated adjoint; a variable the output does not depend on is absent.
    """
    variables = set(variables)
    order = topological_order(output, variables)
    relevant = set(order)
    adjoints = {output: cotangent} if order else {}
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
