"""Numeric verification: central finite differences in float64, and how a gradient is compared with them.

``finite_difference`` and ``directional_derivative`` differentiate any
function of a list of arrays; ``compare`` measures a claimed gradient against
a reference. ``finite_differences`` applies them to a symbolic gradient: the
output and the gradient are expanded entrywise from the ops' definitions
(``exact.explicit``) and compiled with ``lambdify`` to numpy, so the finite
differences use nothing from the gradient engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy import Determinant, Inverse, MatrixSymbol
from sympy.matrices.expressions import HadamardPower

from ..errors import InputError
from ..ops import Elementwise, LogDet
from ..ops.structure import structure_of
from .exact import _as_matrix, _values, default_sizes, explicit
from .structured import project

DOMAINS = ("any", "positive", "nonzero", "spd")
# Errors are relative to the largest reference entry, or to this when every entry is smaller: a gradient
# that is zero in exact arithmetic is then judged by the size of its rounding noise, not divided by it.
SCALE_FLOOR = 1e-3


def natural_domains(expr) -> dict:
    """Input domains ``expr`` asks for where an input is used directly: log or sqrt of X -> positive,
    X to a negative power (a divisor) -> nonzero, det / inv / log det of A -> spd; the rest any."""
    wanted: dict = {}
    for e in sp.preorder_traversal(expr):
        if isinstance(e, Elementwise) and isinstance(e.arg, MatrixSymbol):
            body = e.function.expr
            if body.has(sp.log) or any(
                isinstance(a, sp.Pow) and not a.exp.is_integer for a in sp.preorder_traversal(body)
            ):
                wanted[e.arg.name] = "positive"
        elif isinstance(e, HadamardPower) and isinstance(e.base, MatrixSymbol) and e.exp.is_negative:
            wanted.setdefault(e.base.name, "nonzero")
        elif isinstance(e, (Inverse, Determinant, LogDet)) and isinstance(e.args[0], MatrixSymbol):
            wanted[e.args[0].name] = "spd"
    return wanted


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
    raise InputError(f"unknown input domain {domain!r} (any, positive, nonzero, spd)")


def _step(x: np.ndarray, step: float) -> float:
    return step * max(1.0, float(np.max(np.abs(x)))) if x.size else step


def rounding_noise(value: float, x: np.ndarray, step: float = 1e-4) -> float:
    """A bound on the rounding error of ``finite_difference`` of a function whose value is about ``value``:
    |f| eps / h, ten times over (a term of 1e20 beside sum(tanh(X)) leaves no trace of X in f's differences)."""
    return 10 * abs(value) * float(np.finfo(np.float64).eps) / _step(x, step)


def finite_difference(f, values: list, k: int, step: float = 1e-4) -> np.ndarray:
    """d f / d values[k], entry by entry, by 4th-order central differences (f maps the list to a float)."""
    x = values[k]
    h = _step(x, step)
    out = np.empty(x.shape)
    for index in np.ndindex(*x.shape):
        samples = []
        for offset in (2 * h, h, -h, -2 * h):
            shifted = x.copy()
            shifted[index] += offset
            samples.append(f(values[:k] + [shifted] + values[k + 1 :]))
        out[index] = (-samples[0] + 8 * samples[1] - 8 * samples[2] + samples[3]) / (12 * h)
    return out


def directional_derivative(f, values: list, direction: dict, step: float = 1e-4) -> float:
    """The derivative of f along ``direction`` (input index -> array), by 4th-order central differences."""
    h = step * max(1.0, max(float(np.max(np.abs(values[k]))) for k in direction))

    def at(t):
        return f([v + t * direction[k] if k in direction else v for k, v in enumerate(values)])

    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


@dataclass
class Comparison:
    """A claimed gradient against a reference: errors, the worst entry, and the verdict."""

    reference: str  # "finite differences", "directional FD (16 directions)", "torch autograd"
    max_abs: float
    max_rel: float  # max abs error / max(max |reference|, SCALE_FLOOR): normwise, absolute for tiny gradients
    worst: tuple  # index of the worst entry (or ("direction", k))
    claimed_at_worst: float
    reference_at_worst: float
    tolerance: float
    noise: float = 0.0  # finite differences' own rounding error, where known: errors within it decide nothing
    shapes: tuple | None = None  # (claimed, reference) where they differ: no entry can be compared

    @property
    def ok(self) -> bool:
        return self.shapes is None and (self.max_rel <= self.tolerance or self.max_abs <= self.noise)

    def line(self, name: str) -> str:
        if self.shapes is not None:
            claimed, reference = self.shapes
            return f"FAIL  {name} vs {self.reference}: it has shape {claimed}, the reference {reference}"
        if self.max_rel > self.tolerance and self.ok:
            return (
                f"SKIP  {name} vs {self.reference}: their rounding noise (about {self.noise:.1e}, from the size of "
                f"the output) exceeds the error {self.max_abs:.2e}; float64 cannot resolve the output's changes "
                "finely enough here, the other checks decide"
            )
        return (
            f"{'PASS' if self.ok else 'FAIL'}  {name} vs {self.reference}: max abs {self.max_abs:.2e}, "
            f"max rel {self.max_rel:.2e} (tolerance {self.tolerance:.0e}), worst at {self.worst}: "
            f"{self.claimed_at_worst:.10g} vs {self.reference_at_worst:.10g}"
        )


def shaped(gradient, shape: tuple) -> np.ndarray:
    """``gradient`` as a float64 array of ``shape`` where it has that many entries in that order: a scalar's
    gradient may come as a 1 x 1 or a 0-d array; any other shape stays, for ``compare`` to fail."""
    array = np.asarray(gradient, dtype=np.float64)
    return array.reshape(shape) if array.size == 1 and int(np.prod(shape)) == 1 else array


def compare(claimed, reference, what: str, tolerance: float, labels=None) -> Comparison:
    """Errors of ``claimed`` against ``reference`` (same shape); ``labels`` name the entries if not indices."""
    claimed, reference = np.asarray(claimed, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if claimed.shape != reference.shape:  # a verdict, not a crash: a wrongly shaped gradient is a wrong gradient
        return Comparison(what, np.inf, np.inf, (), np.nan, np.nan, tolerance, shapes=(claimed.shape, reference.shape))
    errors = np.abs(claimed - reference)
    if not np.all(np.isfinite(claimed)):
        errors = np.where(np.isfinite(claimed), errors, np.inf)
    flat = int(np.argmax(errors)) if errors.size else 0
    index = labels[flat] if labels is not None else np.unravel_index(flat, errors.shape) if errors.size else ()
    scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, SCALE_FLOOR)
    max_abs = float(errors.max()) if errors.size else 0.0
    return Comparison(
        what,
        max_abs,
        max_abs / scale,
        tuple(int(i) for i in index) if labels is None else index,
        float(claimed.ravel()[flat]) if claimed.size else 0.0,
        float(reference.ravel()[flat]) if reference.size else 0.0,
        tolerance,
    )


def finite_differences(
    expr, wrt, grad, sizes=None, domains=None, seed: int = 0, step: float = 1e-4, tolerance: float = 1e-6
) -> Comparison:
    """Compare ``grad`` with central differences of ``expr`` w.r.t. every entry of ``wrt``; for a structured
    ``wrt``, w.r.t. each of its free entries, against the inner product of ``grad`` (the structured gradient) with
    that entry's direction (E_ij + E_ji for a symmetric matrix).

    ``domains`` maps symbol names to input domains (default: ``natural_domains(expr)``, else "any").
    """
    sizes = dict(sizes or default_sizes(expr))
    spd = {m.name: "spd" for m in expr.atoms(MatrixSymbol) if structure_of(m) == "spd"}
    domains = {**natural_domains(expr), **spd, **(domains or {})}
    values = _values([expr, grad], sizes)
    rng = np.random.default_rng(seed)
    symbols, numbers = [], []
    for key, v in values.items():
        if isinstance(key, MatrixSymbol):
            data = random_input(v.shape, domains.get(key.name, "any"), rng)
            data = data if structure_of(key) is None else project(data, structure_of(key))
            for entry, number in zip(v, data.ravel()):  # a free entry once (a symmetric S_01 stands twice)
                if isinstance(entry, sp.Symbol) and entry not in symbols:
                    symbols.append(entry)
                    numbers.append(number)
        elif isinstance(key, sp.Symbol) and isinstance(v, sp.Symbol):
            symbols.append(v)
            numbers.append(random_input((), domains.get(key.name, "positive"), rng).item())
    f = sp.lambdify(symbols, explicit(expr, values), modules="numpy", cse=True)
    g = sp.lambdify(symbols, _as_matrix(explicit(grad, values)), modules="numpy", cse=True)
    x = np.array(numbers, dtype=float)
    targets = values[wrt] if isinstance(wrt, MatrixSymbol) else sp.ImmutableMatrix([[values[wrt]]])
    free = list(dict.fromkeys(t for t in targets if isinstance(t, sp.Symbol)))
    positions = [symbols.index(t) for t in free]

    def of_target(arrays) -> float:  # expr as a function of wrt's free entries, the other inputs fixed
        shifted = x.copy()
        shifted[positions] = arrays[0].ravel()
        return float(np.asarray(f(*shifted)).item())

    claimed = np.asarray(g(*x), dtype=float).reshape(targets.shape)
    if structure_of(wrt) is None:
        estimate = finite_difference(of_target, [x[positions].reshape(targets.shape)], 0, step)
        return compare(claimed, estimate, "finite differences", tolerance)
    # the derivative in a free entry is the inner product of the gradient with the entries that hold it
    along = [sum(c for c, t in zip(claimed.ravel(), targets) if t == s) for s in free]
    estimate = finite_difference(of_target, [x[positions]], 0, step)
    return compare(along, estimate, "finite differences in the free entries", tolerance, labels=[str(s) for s in free])
