r"""Step sizes of gradient descent (seed 003, homework): when it converges, oscillates or diverges.

One example, $y = xw$ with $x = 1$, $y = 100$, $w_0 = 0$ and the loss
$\frac12 (xw - y)^2$: the update is a linear recurrence, which SymPy's
``rsolve`` solves in closed form, $w_t = 100 - 100(1 - \alpha)^t$; the error
$100 - w_t$ shrinks monotonically for $0 < \alpha < 1$, oscillates and shrinks
for $1 < \alpha < 2$, and grows for $\alpha > 2$ (SymPy's inequality solver
gives the intervals). For the quadratic $\frac12 w^T H w - b^T w$, symdiff's
gradient $Hw - b$ turns the update into $e_{t+1} = (I - \alpha H) e_t$ for the
error $e_t = w_t - w^*$ (a SymPy matrix identity), so gradient descent
converges iff $0 < \alpha < 2/\lambda_{\max}(H)$, at the rate
$\max_i |1 - \alpha \lambda_i|$; both are confirmed on a random SPD matrix.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..derivation import grad
from ..latex.document import Block, Figure
from ..printing import LatexPrinter
from ..simplify import simplify
from . import ProofResult, document_head, parse_form, png

X, Y = 1, 100  # the seed's one example
ALPHAS = (sp.Rational(1, 2), sp.Rational(3, 2), sp.Rational(5, 2))  # the seed's three step sizes
STEPS = 6  # rows of the tables
SPD_SIZE, SPD_SEED, RATE_STEPS = 6, 3, 400
RATE_TOLERANCE = 1e-4  # relative: the ratio of successive errors nears the rate as the slower modes die out


def step_size(forms: dict, title: str = "", source: str = "", notes: str = "") -> ProofResult:
    tex = LatexPrinter().doprint
    failures = []
    blocks = document_head(title, source, notes)

    # one example: the recurrence, its closed form, and the regimes
    x, y, w, a, g = (sp.Symbol(n, real=True) for n in ("x", "y", "w", "alpha", "g"))
    loss = parse_form(forms, "loss", {"x": x, "y": y, "w": w})
    update = parse_form(forms, "update", {"w": w, "alpha": a, "g": g})
    gradient = sp.diff(loss, w)
    step = sp.expand(update.xreplace({g: gradient}).xreplace({x: X, y: Y}))
    t = sp.Symbol("t", integer=True, nonnegative=True)
    seq = sp.Function("w")
    closed = sp.rsolve(seq(t + 1) - step.xreplace({w: seq(t)}), seq(t), {seq(0): 0})
    expected = Y - Y * (1 - a) ** t
    if closed is None or sp.simplify(closed - expected) != 0:
        failures.append(f"the closed form is {closed}, not {expected}")
        closed = closed if closed is not None else expected
    error = sp.simplify(Y - closed)  # 100 (1 - alpha)^t
    ratio = sp.simplify(error.xreplace({t: t + 1}) / error)  # the error's factor per step
    positive = sp.Interval.open(0, sp.oo)
    regimes = {
        "monotone convergence": sp.solve_univariate_inequality(sp.And(ratio > 0), a, relational=False) & positive,
        "convergence": sp.solve_univariate_inequality(sp.Abs(ratio) < 1, a, relational=False) & positive,
        "oscillation": sp.solve_univariate_inequality(ratio < 0, a, relational=False) & positive,
        "divergence": sp.solve_univariate_inequality(sp.Abs(ratio) > 1, a, relational=False) & positive,
    }
    stated = {
        "monotone convergence": sp.Interval.open(0, 1),
        "convergence": sp.Interval.open(0, 2),
        "oscillation": sp.Interval.open(1, sp.oo),
        "divergence": sp.Interval.open(2, sp.oo),
    }
    failures += [f"{k}: {regimes[k]}, expected {v}" for k, v in stated.items() if regimes[k] != v]
    tables, trajectories = [], {}
    for alpha in ALPHAS:
        iterated, rows = [sp.S.Zero], [("$t$", "$w_t$", "$100 - w_t$")]
        for _ in range(STEPS):
            iterated.append(step.xreplace({a: alpha, w: iterated[-1]}))
        for k, value in enumerate(iterated):
            if value != closed.xreplace({a: alpha, t: k}):
                failures.append(f"alpha = {alpha}: step {k} of the update differs from the closed form")
            rows.append((f"${k}$", f"${float(value):.10g}$", f"${float(Y - value):.10g}$"))  # exact: dyadic
        tables.append((alpha, rows))
        trajectories[float(alpha)] = [float(v) for v in iterated]

    blocks += [
        Block("heading2", "One example: $y = xw$, $x = 1$, $y = 100$, $w_0 = 0$"),
        Block("text", "The loss, its gradient and the update:"),
        Block(
            "math",
            [
                ("L(w)", tex(loss)),
                (r"\frac{\partial L}{\partial w}", tex(gradient)),
                (r"w_{t+1}", tex(update.xreplace({g: sp.Symbol(r"\frac{\partial L}{\partial w}")}))),
                ("", tex(step) + r"\quad (x = 1,\ y = 100)"),
            ],
        ),
        Block("text", "SymPy's rsolve solves the recurrence from $w_0 = 0$:"),
        Block("math", [("w_t", tex(closed)), ("100 - w_t", tex(error))]),
        Block(
            "text",
            f"The error is multiplied by ${tex(ratio)}$ at each step, so (SymPy's inequality solver, for "
            "$\\alpha > 0$):",
        ),
        Block(
            "list",
            [
                f"it shrinks without changing sign (monotone convergence) for $\\alpha \\in {tex(regimes['monotone convergence'])}$;",
                "at $\\alpha = 1$ it is 0 after one step;",
                f"it changes sign at every step (oscillation) for $\\alpha \\in {tex(regimes['oscillation'])}$, and "
                f"still shrinks for $\\alpha \\in {tex(regimes['convergence'] & regimes['oscillation'])}$;",
                "at $\\alpha = 2$ it oscillates between $100$ and $-100$ forever;",
                f"it grows (divergence) for $\\alpha \\in {tex(regimes['divergence'])}$.",
            ],
        ),
        Block(
            "text",
            "So gradient descent converges iff $0 < \\alpha < 2$; $\\alpha = 1$ and $\\alpha = 2$ are the boundaries.",
        ),
    ]
    for alpha, rows in tables:
        blocks += [Block("text", f"The first steps for $\\alpha = {float(alpha):g}$:"), Block("table", rows)]
    blocks.append(Block("figure", Figure("step_sizes.png", "w_t for the three step sizes", _plot(trajectories))))

    quadratic_blocks, quadratic_failures, measured = _quadratic(forms)
    blocks += quadratic_blocks
    failures += quadratic_failures
    ok = not failures
    summary = (
        f"{'proved' if ok else 'FAILED'}: w_t = 100 - 100(1-alpha)^t, 0 < alpha < 2; quadratic 2/lambda_max, "
        f"rate to {measured:.0e}"
    )
    return ProofResult(ok, summary, blocks, failures)


def _quadratic(forms: dict):
    """The quadratic loss: the error recursion (a SymPy matrix identity), the condition on alpha and the rate."""
    tex = LatexPrinter().doprint
    n = sp.Symbol("n", integer=True, positive=True)
    H, w, b = sp.MatrixSymbol("H", n, n), sp.MatrixSymbol("w", n, 1), sp.MatrixSymbol("b", n, 1)
    a, lam = sp.Symbol("alpha", positive=True), sp.Symbol("lambda", positive=True)
    loss = parse_form(forms, "quadratic_loss", {"H": H, "w": w, "b": b, "n": n})
    gradient = simplify(grad(loss, w).xreplace({H.T: H}))  # H symmetric
    update = parse_form(forms, "quadratic_update", {"w": w, "alpha": a, "g": sp.MatrixSymbol("g", n, 1)})
    w_star, e = sp.MatrixSymbol("w^*", n, 1), sp.MatrixSymbol("e_t", n, 1)
    nxt = update.xreplace({sp.MatrixSymbol("g", n, 1): gradient}).xreplace({w: w_star + e, b: H * w_star})
    recursion = (sp.Identity(n) - a * H) * e
    failures = []
    if sp.expand((nxt - w_star - recursion).doit()) != sp.ZeroMatrix(n, 1):
        failures.append("the error does not follow e_{t+1} = (I - alpha H) e_t")
    condition = sp.solve_univariate_inequality(sp.Abs(1 - a * lam) < 1, a, relational=False)
    if condition != sp.Interval.open(0, 2 / lam):
        failures.append(f"|1 - alpha lambda| < 1 for alpha in {condition}, not (0, 2/lambda)")
    measured, rows = _rates()
    if measured > RATE_TOLERANCE:
        failures.append(f"the measured rates differ from max |1 - alpha lambda_i| by {measured:.1e}")
    blocks = [
        Block("heading2", "A quadratic loss"),
        Block(
            "text",
            "For a symmetric positive definite $H$, symdiff's gradient of the loss, and the update with "
            "$b = H w^*$ and $w = w^* + e_t$:",
        ),
        Block(
            "math",
            [
                ("L(w)", tex(loss)),
                (r"\frac{\partial L}{\partial w}", tex(gradient)),
                ("e_{t+1}", tex(recursion) + r"\quad \text{(SymPy reduces the difference to 0)}"),
            ],
        ),
        Block(
            "text",
            "Along an eigenvector of $H$ with eigenvalue $\\lambda_i > 0$ the error is multiplied by "
            "$1 - \\alpha\\lambda_i$ at each step, and $|1 - \\alpha \\lambda| < 1$ holds for "
            f"$\\alpha \\in {tex(condition)}$. So gradient descent converges from every start iff "
            "$0 < \\alpha < 2 / \\lambda_{\\max}(H)$, and the error shrinks asymptotically by "
            "$\\max_i |1 - \\alpha \\lambda_i|$ per step.",
        ),
        Block(
            "text",
            f"Confirmed on a random ${SPD_SIZE} \\times {SPD_SIZE}$ SPD matrix: the rate measured over "
            f"{RATE_STEPS} steps (the last error over the one before) against $\\max_i |1 - \\alpha\\lambda_i|$, "
            f"which it must match to {RATE_TOLERANCE:.0e} relative:",
        ),
        Block("table", [("$\\alpha \\lambda_{\\max}$", "predicted rate", "measured rate", "converges")] + rows),
    ]
    return blocks, failures, measured


def _rates() -> tuple[float, list]:
    """Gradient descent on a random SPD quadratic at step sizes around 2 / lambda_max: the largest gap between the
    measured and the predicted rate, and the table rows."""
    rng = np.random.default_rng(SPD_SEED)
    m = rng.normal(size=(SPD_SIZE, SPD_SIZE))
    h = m @ m.T / SPD_SIZE + 0.1 * np.eye(SPD_SIZE)
    eigenvalues = np.linalg.eigvalsh(h)
    w_star = rng.normal(size=SPD_SIZE)
    b = h @ w_star
    worst, rows = 0.0, []
    for fraction in (0.5, 1.0, 1.5, 1.9, 2.1):
        alpha = fraction / eigenvalues[-1]
        w = np.zeros(SPD_SIZE)
        errors = []
        for _ in range(RATE_STEPS):
            w = w - alpha * (h @ w - b)
            errors.append(np.linalg.norm(w - w_star))
        predicted = float(np.max(np.abs(1 - alpha * eigenvalues)))
        measured = float(errors[-1] / errors[-2])
        worst = max(worst, abs(measured - predicted) / predicted)
        rows.append((f"${fraction}$", f"${predicted:.6f}$", f"${measured:.6f}$", "yes" if predicted < 1 else "no"))
    return worst, rows


def _plot(trajectories: dict) -> bytes:
    """The seed's three regimes as a PNG: w_t for alpha = 0.5, 1.5, 2.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for alpha, values in trajectories.items():
        ax.plot(range(len(values)), values, marker="o", label=f"alpha = {alpha:g}")
    ax.axhline(Y, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("step t")
    ax.set_ylabel("w_t")
    ax.set_title("Gradient descent on (w - 100)^2 / 2 from w = 0")
    ax.legend()
    fig.tight_layout()
    return png(fig)
