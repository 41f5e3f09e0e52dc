r"""Lowering before printing: the stable fused forms the op cards give for what a user may type naively.

A derivation keeps the form it was given, and its gradient the form the rules
produce; both can overflow when printed literally. Each card with a ``lower``
rewrites the naive form of its op where it finds one, e.g. $\log \sum_k
e^{A_k}$ as a shifted log-sum-exp (the LogSumExp card), $(1 + e^{B})^{\circ
-p}$ as $\sigma(-B)^{\circ p}$ (sigmoid), $\log(1 + e^{B})$ and $\log
\sigma(B)$ through softplus, $\log(1 + U)$ as log1p, $e^{U} - 1$ as expm1,
$\log \operatorname{softmax}$ as log_softmax, $\log\det A$ as logdet
(``ops/stable.py`` has the log / exp family). Each rewrite is an identity; tests compare the printed
code with the original expression at moderate inputs and with autograd at
extreme ones.
"""

from __future__ import annotations

from ..graph import transform
from ..ops import CARDS


def _lower_once(e):
    for lowering in dict.fromkeys(card.lower for card in CARDS.values() if card.lower is not None):
        lowered = lowering(e)
        if lowered is not None:
            return lowered
    return None


def _lower_node(e):
    """``e``'s stable form, or None: lowerings apply until none does, as one may finish another's work
    (log(1 + exp(B)) is log1p(exp(B)), which is softplus(B)); none undoes another's."""
    lowered = None
    while (again := _lower_once(e if lowered is None else lowered)) is not None and again != lowered:
        lowered = again
    return lowered


def lower(expr):
    """``expr`` with every naive form a card knows replaced by its stable one."""
    return transform(expr, rewrite=_lower_node)
