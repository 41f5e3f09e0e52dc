"""Checks for test suites: one generic gradient checker for symbolic results.

``assert_gradient`` derives a gradient with ``symdiff.grad`` and checks it two
independent ways: the exact entrywise check (SymPy's scalar diff of the
expanded expression) and central finite differences in float64.
"""

from __future__ import annotations

from .derivation import grad as symbolic_grad
from .printing import text
from .verify.exact import exact
from .verify.numeric import finite_differences


def assert_gradient(expr, wrt, grad=None, sizes=None, domains=None, allow_numeric: bool = True):
    """Assert ``grad`` (default: ``symdiff.grad(expr, wrt)``) is the gradient of ``expr``; return it."""
    grad = symbolic_grad(expr, wrt) if grad is None else grad
    result = exact(expr, wrt, grad, sizes)
    assert result.ok, f"d/d{wrt} {text(expr)} = {text(grad)}: {result.summary()}"
    if not allow_numeric:
        assert result.numeric == 0, f"d/d{wrt} {text(expr)}: not proved symbolically: {result.summary()}"
    numeric = finite_differences(expr, wrt, grad, sizes, domains)
    assert numeric.ok, f"d/d{wrt} {text(expr)} = {text(grad)}: finite differences {numeric.summary()}"
    return grad
