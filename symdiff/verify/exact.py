"""Exact verification: entrywise expansion at small concrete sizes.

The expression is expanded into explicit scalar entries from the *definitions*
of its ops (each symdiff op's entries, ``_entry``; SymPy's Matrix algebra, activations replaced
by their elementary/piecewise definitions) — never from a gradient rule. Each
entry of the claimed gradient is then compared with SymPy's scalar derivative
of the expanded output: first at random points (a wrong gradient fails fast),
then symbolically (the difference must simplify to zero). Where SymPy cannot
decide, the entry is accepted only on agreement at several random points with
40-digit arithmetic, and the result says so.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import mpmath
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
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..deadline import time_limit
from ..errors import UnsupportedError
from ..graph import dag_size
from ..ops import elementary
from ..ops.card import MatrixOp, ScalarOp
from ..ops.labels import label_classes
from ..ops.structure import structure_of

POINTS = 3  # random points for the numeric comparison
DIGITS = 40
TOLERANCE = 25  # digits that must agree (relative to the entry's size)
# Larger differences are left to the random-point comparison. The size limit, not the clock, decides
# (so results are the same on every machine): at 119 distinct subexpressions SymPy takes up to ~3 s
# here, above 140 it often runs for minutes. The timer is only a safety net.
SIMPLIFY_LIMIT = 130  # distinct subexpressions above which expand/simplify are not attempted
# SymPy's simplify may stall (piecewise definitions of relu and abs): all entries of one gradient share this
# budget, and entries past it are accepted on the 40-digit agreement alone, which the summary says
SIMPLIFY_BUDGET = 20.0


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
    if isinstance(e, ElementwiseApplyFunction):
        return args[1].applyfunc(lambda x: elementary(args[0](x)))
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
    values = {k: ImmutableMatrix(v) if isinstance(v, sp.MatrixBase) else v for k, v in values.items()}

    def visit(e):
        if e in memo:
            return memo[e]
        if isinstance(e, type):  # a function class, as in A.applyfunc(sin)
            return e
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
            out = Lambda(
                e.variables,
                elementary(e.expr.xreplace({k: v for k, v in values.items() if not isinstance(k, MatrixExpr)})),
            )
        elif not e.args:
            out = e
        else:
            args = [visit(a) for a in e.args]
            if isinstance(e, (MatrixOp, ScalarOp)):
                out = e.func(*args).doit(deep=False)  # the op's own entries, from explicit arguments
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
        for d in m.shape:  # a dim inside a compound shape (3*h) too
            for s in sorted(sp.sympify(d).free_symbols, key=str):
                if s not in found:
                    found.append(s)
    choices = [3, 2, 4]
    return {d: choices[i] if i < len(choices) else 2 for i, d in enumerate(found)}


def free_entries(m, sizes) -> dict:
    """The free entries of matrix ``m`` at ``sizes``: (i, j) -> the free coordinate it holds, (i, j) itself for
    a general matrix; a symmetric one's (j, i) holds its (i, j) (i < j), a triangular or diagonal one's other
    entries are absent (0)."""
    rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in m.shape)
    structure = structure_of(m)
    holds = {}
    for i in range(rows):
        for j in range(cols):
            if structure in ("symmetric", "spd"):
                holds[i, j] = (min(i, j), max(i, j))
            elif structure is None or (i == j if structure == "diagonal" else (i >= j) == (structure == "lower")):
                holds[i, j] = (i, j)
            elif i == j:
                holds[i, j] = (i, j)
    return holds


def entry_symbols(m, sizes) -> ImmutableMatrix:
    """``m``'s entries as real symbols X_i_j, one per free entry (``free_entries``); zeros where the structure
    has them."""
    rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in m.shape)
    holds = free_entries(m, sizes)

    def entry(i, j):
        free = holds.get((i, j))
        return sp.S.Zero if free is None else sp.Symbol(f"{m.name}_{free[0]}_{free[1]}", real=True)

    return ImmutableMatrix(rows, cols, entry)


@dataclass
class ExactResult:
    """Outcome of an exact check of one gradient."""

    wrt: str
    sizes: dict
    entries: int = 0
    proved: int = 0  # entries whose difference simplified to zero
    numeric: int = 0  # entries accepted on agreement at random points only
    out_of_time: float | None = None  # the simplification budget (s) if it ran out before every entry was tried
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
        where = f"sizes {sizes}" if sizes else "fixed shapes"
        if not self.ok:
            index, expected, got, diff = self.failures[0]
            return (
                f"FAIL at ({sizes or 'fixed shapes'}): entry {index} is {got}, expected {expected} "
                f"(difference {sp.N(diff, 6)} at a random point)"
            )
        if self.numeric == 0:
            return f"proved ({self.entries} entr{'y' if self.entries == 1 else 'ies'}, {where})"
        why = (
            f"SymPy's simplification ran past its {self.out_of_time:g} s budget"
            if self.out_of_time is not None
            else "SymPy could not simplify the difference to zero"
        )
        return (
            f"proved {self.proved}/{self.entries} entries symbolically, {self.numeric} by agreement at "
            f"{POINTS} random points ({DIGITS} digits; {why}), {where}"
        )


def _random_values(n: int, rng, positive: bool = False) -> list:
    """mpmath values of magnitude 0.3..1.5, mostly positive (``positive``: all), away from kinks at 0."""
    return [mpmath.mpf(rng.uniform(0.3, 1.5) * (1 if positive or rng.random() < 0.6 else -1)) for _ in range(n)]


def _point(evaluate, n: int, rng) -> list:
    """``evaluate`` at a random point; where a negative value made a square root complex and a comparison of it
    (maximum, a step) undefined, at a point of positive values instead."""
    try:
        return evaluate(*_random_values(n, rng))
    except TypeError:  # mpmath: "no ordering relation is defined for complex numbers"
        return evaluate(*_random_values(n, rng, positive=True))


class _OutOfTime(Exception):
    pass


def _is_zero(diff, seconds: float) -> bool | None:
    """Whether SymPy shows ``diff`` is identically zero (False if it cannot, None if ``seconds`` ran out)."""
    if diff == 0:
        return True
    if dag_size(diff) > SIMPLIFY_LIMIT or diff.has(sp.Max, sp.Min):  # SymPy's simplify stalls on maxima
        return False
    if seconds <= 0:
        return None
    try:
        with time_limit(seconds, _OutOfTime):
            return _zero_as_rational(diff) or sp.expand(diff) == 0 or sp.simplify(diff) == 0
    except _OutOfTime:
        return None


def _opaque(e) -> bool:
    """Whether ``e`` is not a rational function of its arguments (exp(x), sqrt(x), a Piecewise)."""
    return isinstance(e, sp.Function) or (isinstance(e, sp.Pow) and not e.exp.is_Integer)


def _zero_as_rational(diff) -> bool:
    """Whether ``diff`` is zero as a rational function of its symbols and of its opaque parts (``_opaque``),
    each part a new symbol (innermost first, alike parts the same symbol).

    Sound: what vanishes for every value of a new symbol vanishes at the value the part takes. Fast where
    expand is not: a 5-layer sigmoid network's entries expand for seconds, with exp(...) multiplied out, and
    its simplify takes seconds more; as a rational function its numerator cancels at once. Parts related to
    each other (exp(x) and exp(-x)) make it False, and expand and simplify decide."""
    parts: dict = {}
    while True:
        innermost = {a for a in diff.atoms(sp.Function, sp.Pow) if _opaque(a)}
        innermost = {a for a in innermost if not any(_opaque(b) for b in sp.preorder_traversal(a) if b is not a)}
        if not innermost:
            break
        for part in sorted(innermost, key=sp.default_sort_key):
            parts.setdefault(part, sp.Dummy(f"part{len(parts)}"))
        diff = diff.xreplace(parts)
    numerator, _ = sp.together(diff).as_numer_denom()
    return sp.expand(numerator) == 0


def label_values(m, classes, sizes) -> ImmutableMatrix:
    """A label column's entries: class indices in [0, classes), drawn from its name (the same at every call)."""
    rows, count = (int(sp.sympify(d).xreplace(sizes)) for d in (m.shape[0], classes))
    rng = random.Random(m.name)
    return ImmutableMatrix(rows, 1, lambda i, j: rng.randrange(count))


def _values(exprs, sizes) -> dict:
    """Explicit entries (real symbols X_i_j) for every matrix symbol of ``exprs``, and the sizes; a label column's
    entries are class indices (``label_values``)."""
    values: dict = dict(sizes)
    for e in exprs:
        for m, classes in label_classes(e).items():
            values.setdefault(m, label_values(m, classes, sizes))
    for e in exprs:
        for m in e.atoms(MatrixSymbol):
            values.setdefault(m, entry_symbols(m, sizes))
    for e in exprs:
        for s in e.free_symbols - set(values):
            if isinstance(s, sp.Symbol):
                values[s] = sp.Symbol(s.name, real=True)
    return values


def _as_matrix(value) -> ImmutableMatrix:
    return value if isinstance(value, sp.MatrixBase) else ImmutableMatrix([[value]])


def _compare(
    result: ExactResult, expected: ImmutableMatrix, claimed: ImmutableMatrix, seed: int, budget: float
) -> ExactResult:
    """Compare two explicit matrices entry by entry: at random points first, then symbolically."""
    if claimed.shape != expected.shape:
        result.entries = 1
        result.failures.append(("shape", expected.shape, claimed.shape, sp.nan))
        return result
    wants, gots = list(expected), list(claimed)
    diffs = [w - g for w, g in zip(wants, gots)]
    free = sorted(set().union(*(e.free_symbols for e in wants + gots)), key=str)
    evaluate = sp.lambdify(free, diffs + wants, modules="mpmath", cse=True)
    rng = random.Random(seed)
    deadline = time.monotonic() + budget
    with mpmath.workdps(DIGITS):
        points = [_point(evaluate, len(free), rng) for _ in range(POINTS)]
        tolerance = mpmath.mpf(10) ** (-TOLERANCE)
        for k, diff in enumerate(diffs):
            index = (k // expected.cols, k % expected.cols)
            worst = max(abs(p[k]) for p in points)
            size = 1 + max(abs(p[len(diffs) + k]) for p in points)
            result.entries += 1
            if not worst <= tolerance * size:  # also catches nan
                result.failures.append((index, wants[k], gots[k], sp.Float(worst, 6)))
            else:
                zero = _is_zero(diff, deadline - time.monotonic())
                result.proved += zero is True
                result.numeric += zero is not True
                if zero is None:
                    result.out_of_time = budget
    return result


def exact(
    expr, wrt, grad, sizes=None, seed: int = 0, budget: float = SIMPLIFY_BUDGET, convention: str = "structured"
) -> ExactResult:
    """Check ``grad`` = ∂expr/∂wrt entry by entry at concrete ``sizes`` (dim -> int).

    ``expr`` must be scalar (or 1 x 1), and ``grad`` has the shape of ``wrt``;
    for a column vector ``expr`` (m x 1) and column vector ``wrt`` (n x 1),
    ``grad`` is the n x m Jacobian (denominator layout). A structured ``wrt`` is differentiated in its free
    entries (``structured_expectation``), and ``grad`` checked against ``convention``.
    """
    sizes = dict(sizes or default_sizes(expr))
    values = _values([expr, grad, wrt], sizes)
    outputs = list(_as_matrix(explicit(expr, values)))
    variables = values[wrt] if isinstance(wrt, MatrixSymbol) else ImmutableMatrix([[values[wrt]]])
    if structure_of(wrt) is not None:
        expected = structured_expectation(outputs[0], wrt, sizes, convention)
    elif len(outputs) == 1:
        expected = variables.applyfunc(lambda v: sp.diff(outputs[0], v))
    else:
        expected = ImmutableMatrix(len(variables), len(outputs), lambda k, j: sp.diff(outputs[j], variables[k]))
    # a Dirac delta (the derivative of sign or a step) is 0 at the random points, which avoid kinks
    expected = expected.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    claimed = _as_matrix(explicit(grad, values))
    result = ExactResult(str(wrt), {str(k): v for k, v in sizes.items()})
    return _compare(result, expected, claimed, seed, budget)


def structured_expectation(out, wrt, sizes, convention: str) -> ImmutableMatrix:
    """What the gradient of the scalar ``out`` (written out) in the structured ``wrt`` must be, from SymPy's
    derivatives c_k in its free entries k: in the coordinates convention, c_k at every entry holding k; in the
    structured one, c_k / (the number of entries holding k), the one matrix of the subspace whose inner product
    with each free entry's direction (E_ij + E_ji for a symmetric one) is c_k; 0 where the structure is 0."""
    holds = free_entries(wrt, sizes)
    sharing = {k: sum(1 for held in holds.values() if held == k) for k in set(holds.values())}
    rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in wrt.shape)

    def entry(i, j):
        free = holds.get((i, j))
        if free is None:
            return sp.S.Zero
        derivative = sp.diff(out, sp.Symbol(f"{wrt.name}_{free[0]}_{free[1]}", real=True))
        return derivative if convention == "coordinates" else derivative / sharing[free]

    return ImmutableMatrix(rows, cols, entry)


def check_gradient(d, name: str, sizes=None, budget: float = SIMPLIFY_BUDGET) -> ExactResult:
    """The exact check of gradient ``name`` of Derivation ``d`` (its closed form over the inputs); of a second-order
    derivation's HVP or Hessian, against the second derivatives of the function it differentiates twice.

    ``budget``: seconds for SymPy's simplification (``math.inf`` where the result must not depend on the
    machine, as in the catalog's committed records).
    """
    if d.kind in ("hvp", "hessian"):
        direction = d.inputs[d.direction] if d.direction else None
        partner = d.inputs[d.partner] if d.partner else None
        closed = d.closed_form(name)
        return check_second_order(d.function, d.inputs[name], closed, direction, partner, sizes, budget=budget)
    return exact(d.output_expr, d.inputs[name], d.closed_form(name), sizes, budget=budget, convention=d.convention)


def check_second_order(
    f, x, claimed, direction=None, partner=None, sizes=None, seed: int = 0, budget: float = SIMPLIFY_BUDGET
) -> ExactResult:
    """Check a second-order result of the scalar ``f`` entry by entry at concrete ``sizes``, against SymPy's own
    second derivatives of ``f`` written out: with ``direction`` V, ``claimed`` is the HVP
    (d/dx_ij sum_kl V_kl df/dx_kl); else the Hessian (d^2 f / dx_i dy_j, y = ``partner`` or x), n x m."""
    partner = x if partner is None else partner
    sizes = dict(sizes or default_sizes(f))
    values = _values([e for e in (f, claimed, x, partner, direction) if e is not None], sizes)
    out = _as_matrix(explicit(f, values))[0, 0]
    xs = values[x]
    if direction is not None and structure_of(x) is not None:  # the structured gradient of <structured gradient, V>
        gradient = structured_expectation(out, x, sizes, "structured")
        pairing = sp.Add(*[v * g for v, g in zip(values[direction], gradient)])
        expected = structured_expectation(pairing, x, sizes, "structured")
    elif direction is not None:
        pairing = sp.Add(*[v * sp.diff(out, e) for v, e in zip(values[direction], xs)])
        expected = xs.applyfunc(lambda e: sp.diff(pairing, e))
    else:
        ys = list(values[partner])
        first = [sp.diff(out, e) for e in ys]
        expected = ImmutableMatrix(len(xs), len(ys), lambda i, j: sp.diff(first[j], xs[i]))
    expected = expected.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    result = ExactResult(str(x), {str(k): v for k, v in sizes.items()})
    return _compare(result, expected, _as_matrix(explicit(claimed, values)), seed, budget)


def same(a, b, sizes=None, seed: int = 0, budget: float = SIMPLIFY_BUDGET) -> ExactResult:
    """Check two expressions are equal entry by entry at concrete ``sizes``."""
    sizes = dict(sizes or default_sizes(a))
    values = _values([a, b], sizes)
    result = ExactResult("", {str(k): v for k, v in sizes.items()})
    return _compare(result, _as_matrix(explicit(a, values)), _as_matrix(explicit(b, values)), seed, budget)
