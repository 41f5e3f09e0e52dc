r"""Lowering before printing: the stable fused forms the op cards give for what a user may type naively.

A derivation keeps the form it was given, and its gradient the form the rules
produce; both can overflow when printed literally. Each card with a ``lower``
rewrites the naive form of its op where it finds one, e.g. $\log \sum_k
e^{A_k}$ as a shifted log-sum-exp (the LogSumExp card), $(1 + e^{B})^{\circ
-p}$ as $\sigma(-B)^{\circ p}$ (sigmoid), $\log(1 + e^{B})$ as softplus,
$\log\det A$ as logdet. Each rewrite is an identity; tests compare the printed
code with the original expression at moderate inputs and with autograd at
extreme ones.
"""

from __future__ import annotations

from ..graph import transform
from ..ops import CARDS


def _lower_node(e):
    for lowering in dict.fromkeys(card.lower for card in CARDS.values() if card.lower is not None):
        lowered = lowering(e)
        if lowered is not None:
            return lowered
    return None


def lower(expr):
    """``expr`` with every naive form a card knows replaced by its stable one."""
    return transform(expr, rewrite=_lower_node)
