"""Exact verification: entrywise expansion at small concrete sizes.

The expression is expanded into explicit scalar entries from the *definitions*
of its ops (``ops.*.explicit``, SymPy's Matrix algebra, activations replaced
by their elementary/piecewise definitions) — never from a gradient rule. Each
entry of the claimed gradient is then compared with SymPy's scalar derivative
of the expanded output: first at random points (a wrong gradient fails fast),
then symbolically (the difference must simplify to zero). Where SymPy cannot
decide, the entry is accepted only on agreement at several random points with
40-digit arithmetic, and the result says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sympy as sp
from sympy import (
    Determinant,
    HadamardPower,
    HadamardProduct,
    Identity,
    ImmutableMatrix,
    Inverse,
    Lambda,
    MatAdd,
    MatMul,
    MatPow,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Trace,
    Transpose,
    ZeroMatrix,
)
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..errors import UnsupportedError
from ..ops import MATRIX_OPS, SCALAR_OPS, elementary

POINTS = 3  # random points for the numeric comparison
DIGITS = 40
TOLERANCE = sp.Float("1e-25", DIGITS)
SIMPLIFY_LIMIT = 400  # operation count above which sympy.simplify is not attempted


def _int(d) -> int:
    return int(d)


def _builtin(e, args):
    """Explicit value of a SymPy matrix node from its explicit arguments."""
    if isinstance(e, MatAdd):
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if isinstance(e, MatMul):
        out = sp.S.One
        for a in args:
            out = out * a
        return out
    if isinstance(e, Transpose):
        return args[0].T
    if isinstance(e, Trace):
        return args[0].trace()
    if isinstance(e, Determinant):
        return args[0].det()
    if isinstance(e, Inverse):
        return args[0].inv()
    if isinstance(e, HadamardProduct):
        out = args[0]
        for a in args[1:]:
            out = out.multiply_elementwise(a)
        return out
    if isinstance(e, HadamardPower):
        return args[0].applyfunc(lambda x: x ** args[1])
    if isinstance(e, MatPow):
        return args[0] ** args[1]
    if isinstance(e, DiagMatrix):
        v = args[0]
        return ImmutableMatrix(sp.diag(*list(v)))
    raise UnsupportedError(f"the exact checker cannot expand {type(e).__name__}")


def explicit(expr, values: dict):
    """``expr`` with every matrix symbol replaced by its explicit matrix in ``values``.

    ``values`` maps MatrixSymbols to ImmutableMatrices and dimension or scalar
    symbols to numbers or symbols. Returns an ImmutableMatrix or a scalar.
    """
    memo: dict = {}

    def visit(e):
        if e in memo:
            return memo[e]
        if e in values:
            out = values[e]
        elif isinstance(e, MatrixSymbol):
            raise ValueError(f"no explicit value for the matrix {e}")
        elif isinstance(e, Identity):
            out = ImmutableMatrix(sp.eye(_int(visit(e.shape[0]))))
        elif isinstance(e, ZeroMatrix):
            out = ImmutableMatrix(sp.zeros(_int(visit(e.shape[0])), _int(visit(e.shape[1]))))
        elif isinstance(e, OneMatrix):
            out = ImmutableMatrix(sp.ones(_int(visit(e.shape[0])), _int(visit(e.shape[1]))))
        elif isinstance(e, Lambda):
            out = Lambda(e.variables, elementary(e.expr.xreplace({k: v for k, v in values.items() if not isinstance(k, MatrixExpr)})))
        elif not e.args:
            out = e
        else:
            args = [visit(a) for a in e.args]
            if isinstance(e, MATRIX_OPS + SCALAR_OPS):
                out = e.explicit(*args)
            elif isinstance(e, MatrixExpr) or isinstance(e, (Trace, Determinant)):
                out = _builtin(e, args)
            else:
                out = elementary(e.func(*args))
        memo[e] = out
        return out

    result = visit(expr)
    if isinstance(result, sp.MatrixBase):
        return ImmutableMatrix(result.applyfunc(elementary))
    return elementary(result)


def default_sizes(expr) -> dict:
    """Small, distinct sizes for the dimension symbols of ``expr`` (3, 2, 4, then 2)."""
    found = []
    for m in sorted(expr.atoms(MatrixSymbol), key=str):
        for d in m.shape:
            if isinstance(d, sp.Symbol) and d not in found:
                found.append(d)
    choices = [3, 2, 4]
    return {d: choices[i] if i < len(choices) else 2 for i, d in enumerate(found)}


def entry_symbols(m, sizes) -> ImmutableMatrix:
    rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in m.shape)
    return ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{m.name}_{i}_{j}", real=True))


@dataclass
class ExactResult:
    """Outcome of an exact check of one gradient."""

    wrt: str
    sizes: dict
    entries: int = 0
    proved: int = 0  # entries whose difference simplified to zero
    numeric: int = 0  # entries accepted on agreement at random points only
    failures: list = field(default_factory=list)  # (index, expected, got, difference at a point)

    @property
    def ok(self) -> bool:
        return not self.failures and self.proved + self.numeric == self.entries

    @property
    def method(self) -> str:
        if not self.ok:
            return "FAIL"
        return "symbolic" if self.numeric == 0 else "symbolic+numeric"

    def summary(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        if not self.ok:
            index, expected, got, diff = self.failures[0]
            return (
                f"FAIL at ({sizes}): entry {index} is {got}, expected {expected} "
                f"(difference {sp.N(diff, 6)} at a random point)"
            )
        if self.numeric == 0:
            return f"proved ({self.entries} entries, sizes {sizes})"
        return (
            f"proved {self.proved}/{self.entries} entries symbolically, {self.numeric} by agreement at "
            f"{POINTS} random points ({DIGITS} digits; SymPy could not simplify), sizes {sizes}"
        )


def _random_point(symbols, rng) -> dict:
    point = {}
    for s in symbols:
        magnitude = rng.uniform(0.3, 1.5)
        point[s] = sp.Float(magnitude if rng.random() < 0.6 else -magnitude, DIGITS)
    return point


def _evaluate(e, point):
    return sp.N(e.xreplace(point), DIGITS)


def _is_zero(diff) -> bool:
    if diff == 0:
        return True
    if sp.expand(diff) == 0:
        return True
    if sp.count_ops(diff) <= SIMPLIFY_LIMIT:
        return sp.simplify(diff) == 0
    return False


def exact(expr, wrt, grad, sizes=None, seed: int = 0) -> ExactResult:
    """Check ``grad`` = ∂expr/∂wrt entry by entry at concrete ``sizes`` (dim -> int).

    ``expr`` must be scalar (or 1 x 1); for a column-vector ``expr`` pass the
    Jacobian as ``grad`` (n x m, denominator layout).
    """
    sizes = dict(sizes or default_sizes(expr))
    values: dict = dict(sizes)
    for m in expr.atoms(MatrixSymbol) | grad.atoms(MatrixSymbol):
        values[m] = entry_symbols(m, sizes)
    for s in (expr.free_symbols | getattr(grad, "free_symbols", set())) - set(values):
        if isinstance(s, sp.Symbol):
            values[s] = sp.Symbol(s.name, real=True)
    out = explicit(expr, values)
    outputs = list(out) if isinstance(out, sp.MatrixBase) else [out]
    variables = values[wrt] if isinstance(wrt, MatrixSymbol) else ImmutableMatrix([[values[wrt]]])
    claimed = explicit(grad, values)
    claimed = claimed if isinstance(claimed, sp.MatrixBase) else ImmutableMatrix([[claimed]])
    result = ExactResult(str(wrt), {str(k): v for k, v in sizes.items()})
    n_vars = variables.rows * variables.cols
    expected_shape = (n_vars, len(outputs)) if len(outputs) > 1 else variables.shape
    if claimed.shape != expected_shape:
        result.entries = 1
        result.failures.append(("shape", expected_shape, claimed.shape, sp.nan))
        return result
    rng = random.Random(seed)
    free = sorted(set().union(*(sp.sympify(o).free_symbols for o in outputs), claimed.free_symbols), key=str)
    points = [_random_point(free, rng) for _ in range(POINTS)]
    for k, v in enumerate(variables):
        for j, o in enumerate(outputs):
            index = (k // variables.cols, k % variables.cols) if len(outputs) == 1 else (k, j)
            got = claimed[index]
            expected = sp.diff(o, v)
            diff = expected - got
            result.entries += 1
            worst = max(abs(_evaluate(diff, p)) for p in points)
            if worst > TOLERANCE * (1 + max(abs(_evaluate(expected, p)) for p in points)):
                result.failures.append((index, expected, got, worst))
            elif _is_zero(diff):
                result.proved += 1
            else:
                result.numeric += 1
    return result
