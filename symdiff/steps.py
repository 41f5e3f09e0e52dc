"""The backward steps of a derivation as its document and its generated code both name them: each step's
number and the rules it applies (its consumers' op cards), so that a line of code can say which step of the
document it computes (``# dC/dS: step 3, Softmax rule``)."""

from __future__ import annotations

import sympy as sp

from .derivation import Derivation
from .engine import rule_for
from .errors import UnsupportedError
from .ops import CARDS, scalar_rule

RULE_TITLES = {card.rule: card.title for card in CARDS.values() if card.rule not in (None, scalar_rule)}


def rule_title(rule) -> str:
    return RULE_TITLES.get(rule, "Scalar chain rule")


def rules_used(expr, targets) -> list:
    """Op rules on the paths from ``expr`` down to any of ``targets``, in first-visit order."""
    found, seen = [], set()

    def visit(e):
        if e in seen or not e.has(*targets) or e in targets:
            return
        seen.add(e)
        try:
            rule = rule_for(e)
        except UnsupportedError:  # leaves and constants have no rule
            rule = None
        if rule is not None and rule not in found:
            found.append(rule)
        for a in e.args:
            if isinstance(a, sp.Basic) and not isinstance(a, sp.Lambda):
                visit(a)

    visit(expr)
    return found


def step_rules(d: Derivation, name: str) -> list:
    """The rules the backward step of ``name`` applies: those of each consumer's definition, down to it."""
    forward = {s.name: s for s in d.forward}
    target = forward[name].symbol if name in forward else d.inputs[name]
    found = []
    for consumer, _ in d.step(name).contributions:
        found += [r for r in rules_used(forward[consumer].expr, [target]) if r not in found]
    return found


def step_number(d: Derivation, name: str) -> int | None:
    """The step's number in the document's "Backward steps" (1, 2, ...); None for a name with no step."""
    return next((k for k, s in enumerate(d.steps, start=1) if s.name == name), None)


def step_comment(d: Derivation, name: str, label: str) -> str | None:
    """What a line of generated code computing the step of ``name`` says: ``label: step 3, Softmax rule``."""
    number = step_number(d, name)
    if number is None:
        return None
    rules = step_rules(d, name)  # the last is the one at the variable itself: the one the comment names
    return f"{label}: step {number}" + (f", {rule_title(rules[-1]).removesuffix(' rule')} rule" if rules else "")
