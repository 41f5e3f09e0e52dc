"""Numeric verification: central finite differences in float64.

The output and the claimed gradient are expanded entrywise from the ops'
definitions (``exact.explicit``) and compiled with ``lambdify`` to numpy, so
the finite differences use nothing from the gradient engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy import MatrixSymbol

from .exact import _as_matrix, _values, default_sizes, explicit


@dataclass
class NumericResult:
    wrt: str
    max_abs: float
    max_rel: float
    worst_index: tuple
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.tolerance

    def summary(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return (
            f"{verdict}: max abs error {self.max_abs:.2e}, max rel error {self.max_rel:.2e} "
            f"at {self.worst_index} (tolerance {self.tolerance:.0e})"
        )


DOMAINS = ("any", "positive", "nonzero", "spd")


def random_input(shape, domain: str, rng) -> np.ndarray:
    """A float64 input of ``shape`` from ``domain``: any, positive, nonzero or spd."""
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "spd":
        m = rng.normal(size=shape)
        return m @ m.T + shape[0] * np.eye(shape[0])
    if domain == "any":
        return rng.normal(size=shape)
    raise ValueError(f"unknown input domain {domain!r} (any, positive, nonzero, spd)")


def _derivative(f, x, pos, step):
    """Fourth-order central difference of f along coordinate ``pos`` (error O(step^4))."""
    h = step * max(1.0, abs(x[pos]))

    def at(offset):
        shifted = x.copy()
        shifted[pos] += offset
        return float(np.asarray(f(*shifted)).item())

    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def finite_differences(
    expr, wrt, grad, sizes=None, domains=None, seed: int = 0, step: float = 1e-4, tolerance: float = 1e-6
) -> NumericResult:
    """Compare ``grad`` with central differences of ``expr`` w.r.t. every entry of ``wrt``.

    ``domains`` maps symbol names to input domains (default "any").
    """
    sizes = dict(sizes or default_sizes(expr))
    domains = domains or {}
    values = _values([expr, grad], sizes)
    rng = np.random.default_rng(seed)
    symbols, numbers = [], []
    for key, v in values.items():
        if isinstance(key, MatrixSymbol):
            data = random_input(v.shape, domains.get(key.name, "any"), rng)
            symbols.extend(v)
            numbers.extend(data.ravel())
        elif isinstance(key, sp.Symbol) and isinstance(v, sp.Symbol):
            symbols.append(v)
            numbers.append(random_input((), domains.get(key.name, "positive"), rng).item())
    f = sp.lambdify(symbols, explicit(expr, values), modules="numpy", cse=True)
    g = sp.lambdify(symbols, _as_matrix(explicit(grad, values)), modules="numpy", cse=True)
    x = np.array(numbers, dtype=float)
    claimed = np.asarray(g(*x), dtype=float).ravel()
    targets = values[wrt] if isinstance(wrt, MatrixSymbol) else [values[wrt]]
    positions = [symbols.index(t) for t in targets]
    estimate = np.empty(len(positions))
    for k, pos in enumerate(positions):
        estimate[k] = _derivative(f, x, pos, step)
    errors = np.abs(claimed - estimate)
    rel = errors / np.maximum(1.0, np.abs(estimate))
    worst = int(np.argmax(rel))
    cols = targets.cols if hasattr(targets, "cols") else 1
    return NumericResult(str(wrt), float(errors.max()), float(rel.max()), (worst // cols, worst % cols), tolerance)
