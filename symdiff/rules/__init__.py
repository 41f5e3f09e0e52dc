"""The one VJP registry: operation type -> rule.

Every rule has the signature ``rule(ans, g, *args) -> tuple``: ``ans`` is the
node being differentiated (its value in the forward pass), ``g`` its cotangent
(same shape as ``ans``; a scalar for scalar nodes), ``args`` the node's
arguments. It returns one entry per argument: that argument's share of the
cotangent, or ``None`` where the argument is not differentiable (an axis, an
eps, a dimension). Rules are registered with ``@vjp(OpType)`` in the family
files below; adding an op touches one place.

Scalar nodes built from SymPy's own algebra (``Add``, ``Mul``, ``Pow``,
``exp``, ``log``, activations, ...) share one rule, :func:`scalar_rule`, which
takes each partial derivative with SymPy's scalar ``diff`` (reliable, unlike
its matrix ``diff``).
"""

from __future__ import annotations

from typing import Callable

import sympy as sp

from ..errors import UnsupportedError

RULES: dict[type, Callable] = {}


def vjp(*ops):
    """Register the decorated function as the VJP rule of each op in ``ops``."""

    def register(rule):
        for op in ops:
            RULES[op] = rule
        return rule

    return register


def scalar_rule(ans, g, *args):
    r"""$\bar a_i = \bar y \, \partial f / \partial a_i$ for a scalar $y = f(a_1, \dots, a_k)$."""
    grads = []
    for i, arg in enumerate(args):
        d = sp.Dummy("d", real=True)
        local = ans.func(*(d if j == i else a for j, a in enumerate(args)))
        partial = sp.diff(local, d)
        if partial.has(sp.Derivative, sp.Subs):
            raise UnsupportedError(f"no derivative known for {ans.func} (in {ans})")
        grads.append(g * partial.xreplace({d: arg}))
    return tuple(grads)


SCALAR_NODES = (sp.Add, sp.Mul, sp.Pow, sp.Function)


def rule_for(node) -> Callable:
    """The rule for ``node``, or an UnsupportedError naming its operation."""
    for cls in type(node).__mro__:
        if cls in RULES:
            return RULES[cls]
    if isinstance(node, SCALAR_NODES) and not isinstance(node, sp.MatrixExpr):
        return scalar_rule
    raise UnsupportedError(f"no differentiation rule for {type(node).__name__} (in {node})")


from . import elementwise, linalg, linear, nn  # noqa: E402,F401  (fill the registry)
