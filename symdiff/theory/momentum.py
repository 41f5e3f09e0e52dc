r"""Momentum SGD (seed 004, problem 3): Form I and Form II are one iteration; torch's Nesterov update is the
look-ahead form after a change of variables.

Form I:  $\theta^{k+1} = \theta^k - \alpha g^k + \beta(\theta^k - \theta^{k-1})$, $\theta^{-1} = \theta^0$.
Form II: $v^{k+1} = g^k + \beta v^k$, $\tilde\theta^{k+1} = \tilde\theta^k - \alpha v^{k+1}$, $v^0 = 0$.

Both are proved by induction on the invariant that maps one state onto the
other; SymPy reduces the differences of the induction step to zero for
symbolic $\theta^k, \theta^{k-1}, g^k, \alpha, \beta$ (entrywise, so for
vectors of any length: every operation is linear and entrywise). The forms are
also unrolled symbolically, and run on a real problem against torch.optim.SGD.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SymdiffError
from ..latex.document import Block
from ..printing import LatexPrinter
from . import ProofResult, document_head, parse_form

NAMES = ("theta", "theta_prev", "g", "v", "v_next", "b", "b_next", "alpha", "beta")
SYMBOLS = {n: sp.Symbol(n, real=True) for n in NAMES}
TEX = {
    "theta": r"\theta^{k}",
    "theta_prev": r"\theta^{k-1}",
    "g": "g^{k}",
    "v": "v^{k}",
    "b": "b^{k}",
    "v_next": "v^{k+1}",
    "b_next": "b^{k+1}",
    "alpha": r"\alpha",
    "beta": r"\beta",
}
UNROLLED = 4  # steps unrolled symbolically
STEPS, ALPHA, BETA = 200, 0.05, 0.9  # the numeric run: diabetes regression, float64
TOLERANCE = 1e-12  # relative agreement of the trajectories


def parse_forms(forms: dict, needed: tuple) -> dict:
    """The forms ``needed`` parsed over the scalar symbols, each named in errors."""
    missing = [k for k in needed if k not in forms]
    if missing:
        raise SymdiffError(f"the proof needs the forms {', '.join(needed)}; missing {', '.join(missing)}")
    return {key: parse_form(forms, key, SYMBOLS) for key in needed}


def _zero(difference) -> bool:
    """Whether SymPy reduces ``difference`` to 0 (a polynomial identity in the symbols)."""
    return sp.expand(sp.cancel(sp.together(difference))) == 0


def _tex(expr) -> str:
    return LatexPrinter({SYMBOLS[n]: t for n, t in TEX.items()}).doprint(expr)


def _identity_rows(checks: list) -> tuple[list, list]:
    """Display rows "lhs - rhs = 0 (SymPy)" and the names of those that did not reduce to 0."""
    rows, failures = [], []
    for label, lhs, rhs in checks:
        held = _zero(lhs - rhs)
        rows.append((rf"\text{{{label}: }} {_tex(sp.expand(lhs))} - \left({_tex(sp.expand(rhs))}\right)", "0"))
        if not held:
            rows[-1] = (rows[-1][0], r"\text{does not reduce to } 0")
            failures.append(label)
    return rows, failures


def _diabetes():
    """Standardized diabetes regression (442 x 10, with a bias column) and its least-squares gradient."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = np.hstack([(x - x.mean(0)) / x.std(0), np.ones((len(x), 1))])
    y = (y - y.mean()) / y.std()
    return x, y, lambda theta: x.T @ (x @ theta - y) / len(y)


def update_function(expr):
    """``expr`` as a numpy function of keyword values; a symbol left unset is NaN (a form using a symbol its
    update does not provide computes NaN, and fails the numeric check)."""
    function = sp.lambdify([SYMBOLS[n] for n in NAMES], expr, "numpy")
    return lambda **values: function(*(values.get(n, np.nan) for n in NAMES))


def momentum_forms(forms: dict, title: str = "", source: str = "", notes: str = "") -> ProofResult:
    f = parse_forms(forms, ("form_1", "form_2_velocity", "form_2_step"))
    th, thp, g, v, vn, a = (SYMBOLS[n] for n in ("theta", "theta_prev", "g", "v", "v_next", "alpha"))
    step_1, velocity, step_2 = f["form_1"], f["form_2_velocity"], f["form_2_step"]
    # base case: theta^{-1} = theta^0; v^0 = 0 and theta~^0 = theta^0
    base_1 = step_1.xreplace({thp: th})
    base_2 = step_2.xreplace({vn: velocity.xreplace({v: 0})})
    # induction: theta~^k = theta^k and alpha v^k = theta^{k-1} - theta^k
    v_k = (thp - th) / a
    v_next = velocity.xreplace({v: v_k})
    checks = [
        ("base case", base_2, base_1),
        ("parameters", step_2.xreplace({vn: v_next}), step_1),
        ("velocity", a * v_next, th - step_1),
    ]
    rows, failures = _identity_rows(checks)
    unrolled, same = _unroll_momentum(step_1, velocity, step_2)
    if not same:
        failures.append(f"the unrolled forms differ within {UNROLLED} steps")
    agreement = _momentum_numeric(step_1, velocity, step_2)
    if max(agreement.values()) > TOLERANCE:
        failures.append(f"the trajectories differ: {agreement}")
    blocks = _momentum_document(title, source, notes, f, rows, unrolled, agreement)
    ok = not failures
    summary = (
        f"{'proved' if ok else 'FAILED'}: 3 identities, {UNROLLED} steps unrolled; torch.optim.SGD agrees to "
        f"{max(agreement.values()):.0e} over {STEPS} steps"
    )
    return ProofResult(ok, summary, blocks, failures)


def _unroll_momentum(step_1, velocity, step_2) -> tuple[list, bool]:
    """theta^k of both forms for k = 1..UNROLLED from symbolic theta^0, g^0, g^1, ...: (rows, all equal)."""
    th, thp, g, v, vn = (SYMBOLS[n] for n in ("theta", "theta_prev", "g", "v", "v_next"))
    theta0 = sp.Symbol("theta^0", real=True)
    gs = [sp.Symbol(f"g^{k}", real=True) for k in range(UNROLLED)]
    prev, cur = theta0, theta0
    cur_2, vel = theta0, sp.S.Zero
    rows, same = [], True
    for k in range(UNROLLED):
        prev, cur = cur, sp.expand(step_1.xreplace({th: cur, thp: prev, g: gs[k]}))
        vel = sp.expand(velocity.xreplace({v: vel, g: gs[k]}))
        cur_2 = sp.expand(step_2.xreplace({th: cur_2, vn: vel}))
        same = same and sp.expand(cur - cur_2) == 0
        rows.append((rf"\theta^{{{k + 1}}} = \tilde\theta^{{{k + 1}}}", _tex(sp.collect(cur, gs))))
    return rows, same


def _momentum_numeric(step_1, velocity, step_2) -> dict:
    """Largest difference from Form I over the run, relative to the parameters' size: Form II's and torch's."""
    import torch

    x, y, gradient = _diabetes()
    form_1, form_2v, form_2s = update_function(step_1), update_function(velocity), update_function(step_2)
    theta_1 = prev = theta_2 = np.zeros(x.shape[1])
    vel = np.zeros(x.shape[1])
    param = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=ALPHA, momentum=BETA)
    xt, yt = torch.tensor(x), torch.tensor(y)
    worst = {"form II": 0.0, "torch": 0.0}
    for _ in range(STEPS):
        g = gradient(theta_1)
        theta_1, prev = form_1(theta=theta_1, theta_prev=prev, g=g, alpha=ALPHA, beta=BETA), theta_1
        vel = form_2v(g=gradient(theta_2), v=vel, alpha=ALPHA, beta=BETA)
        theta_2 = form_2s(theta=theta_2, v_next=vel, alpha=ALPHA, beta=BETA)
        opt.zero_grad()
        (((xt @ param - yt) ** 2).sum() / (2 * len(y))).backward()
        opt.step()
        scale = max(1.0, float(np.abs(theta_1).max()))
        worst["form II"] = max(worst["form II"], float(np.abs(theta_2 - theta_1).max()) / scale)
        worst["torch"] = max(worst["torch"], float(np.abs(param.detach().numpy() - theta_1).max()) / scale)
    return worst


def _momentum_document(title, source, notes, f, rows, unrolled, agreement) -> list:
    return [
        *document_head(title, source, notes),
        Block("heading2", "Statement"),
        Block(
            "text",
            "Given $\\theta^0$ and gradients $g^0, g^1, \\dots$ (any vectors, the same for both forms), with "
            "$\\theta^{-1} = \\theta^0$, $v^0 = 0$ and $\\tilde\\theta^0 = \\theta^0$:",
        ),
        Block(
            "math",
            [
                (r"\text{Form I: } \theta^{k+1}", _tex(f["form_1"])),
                (r"\text{Form II: } v^{k+1}", _tex(f["form_2_velocity"])),
                (r"\tilde\theta^{k+1}", _tex(f["form_2_step"]).replace(r"\theta^{k}", r"\tilde\theta^{k}")),
            ],
        ),
        Block("text", "Claim: $\\tilde\\theta^k = \\theta^k$ for $k = 1, 2, \\dots$"),
        Block("heading2", "Proof"),
        Block(
            "text",
            "By induction on the invariant $\\tilde\\theta^k = \\theta^k$ and "
            "$\\alpha v^k = \\theta^{k-1} - \\theta^k$ (it holds at $k = 0$: $v^0 = 0$, $\\theta^{-1} = \\theta^0$). "
            "The first step of both forms agrees (base case). Assuming the invariant at $k$, substitute "
            "$v^k = (\\theta^{k-1} - \\theta^k)/\\alpha$ in Form II: its parameters equal Form I's, and the "
            "invariant holds at $k + 1$. Each difference below is a polynomial in "
            "$\\theta^k, \\theta^{k-1}, g^k, \\alpha, \\beta$ that SymPy expands to 0:",
        ),
        Block("math", rows),
        Block("text", "Hence, by induction, $\\tilde\\theta^k = \\theta^k$ for every $k$."),
        Block("heading2", "Unrolled"),
        Block("text", f"The first {UNROLLED} steps of both forms, expanded symbolically, are the same polynomials:"),
        Block("math", unrolled),
        Block("heading2", "Numeric confirmation"),
        Block(
            "text",
            f"Least squares on scikit-learn's diabetes data (442 x 10, standardized, with a bias), float64, "
            f"$\\alpha = {ALPHA}$, $\\beta = {BETA}$, {STEPS} steps: Form II and "
            f"torch.optim.SGD(momentum={BETA}) stay within {TOLERANCE:.0e} of Form I at every step, relative to "
            "the largest parameter (the catalog prints the differences measured). torch.optim.SGD is Form II: "
            "its buffer is $v$ (torch starts it at $g^0$, which is $g^0 + \\beta v^0$).",
        ),
    ]


def nesterov(forms: dict, title: str = "", source: str = "", notes: str = "") -> ProofResult:
    f = parse_forms(forms, ("torch_buffer", "torch_step", "lookahead_velocity", "lookahead_step"))
    th, v, vn, b, bn, a, beta = (SYMBOLS[n] for n in ("theta", "v", "v_next", "b", "b_next", "alpha", "beta"))
    # change of variables: torch's parameters p = theta + beta v (the look-ahead point), its buffer b = -v / alpha;
    # both evaluate the gradient g at the same point p, so one symbol g serves both
    p = th + beta * v
    b_next = f["torch_buffer"].xreplace({b: -v / a})
    p_next = f["torch_step"].xreplace({th: p, bn: b_next})
    v_next = f["lookahead_velocity"]
    th_next = f["lookahead_step"].xreplace({vn: v_next})
    checks = [
        ("parameters", p_next, th_next + beta * v_next),
        ("buffer", b_next, -v_next / a),
    ]
    rows, failures = _identity_rows(checks)
    worst = _nesterov_numeric(f)
    if worst > TOLERANCE:
        failures.append(f"the trajectories differ by {worst:.1e}")
    ok = not failures
    summary = (
        f"{'proved' if ok else 'FAILED'}: 2 identities; torch nesterov=True agrees to {worst:.0e} over {STEPS} steps"
    )
    blocks = [
        *document_head(title, source, notes),
        Block("heading2", "Statement"),
        Block("text", "torch.optim.SGD(nesterov=True, dampening=0) updates its parameters $p$ and buffer $b$:"),
        Block(
            "math",
            [
                ("b^{k+1}", _tex(f["torch_buffer"])),
                ("p^{k+1}", _tex(f["torch_step"]).replace(r"\theta^{k}", "p^{k}")),
            ],
        ),
        Block(
            "text",
            "with $g^k = \\nabla f(p^k)$. The look-ahead form (Sutskever et al., 2013) takes the gradient at "
            "$\\theta^k + \\beta v^k$:",
        ),
        Block("math", [("v^{k+1}", _tex(v_next)), (r"\theta^{k+1}", _tex(f["lookahead_step"]))]),
        Block(
            "text",
            "Claim: with $p^k = \\theta^k + \\beta v^k$ and $b^k = -v^k / \\alpha$ (both forms start from $v^0 = 0$, "
            "$b^0 = 0$, $p^0 = \\theta^0$), the two produce the same iterates: torch's parameters are the "
            "look-ahead points.",
        ),
        Block("heading2", "Proof"),
        Block(
            "text",
            "The change of variables holds at $k = 0$. Assume it at $k$: both forms take the gradient at the same "
            "point $p^k = \\theta^k + \\beta v^k$, call it $g$. Substituting $p^k$ and $b^k = -v^k/\\alpha$ in "
            "torch's update, SymPy reduces both differences to 0, so the change of variables holds at $k + 1$:",
        ),
        Block("math", rows),
        Block("heading2", "Numeric confirmation"),
        Block(
            "text",
            f"Diabetes least squares, float64, $\\alpha = {ALPHA}$, $\\beta = {BETA}$, {STEPS} steps: torch's "
            f"parameters stay within {TOLERANCE:.0e} of $\\theta^k + \\beta v^k$ of the look-ahead form, relative "
            "to the largest parameter (the catalog prints the difference measured).",
        ),
    ]
    return ProofResult(ok, summary, blocks, failures)


def _nesterov_numeric(f) -> float:
    import torch

    x, y, gradient = _diabetes()
    velocity, step = update_function(f["lookahead_velocity"]), update_function(f["lookahead_step"])
    theta, vel = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    param = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=ALPHA, momentum=BETA, nesterov=True)
    xt, yt = torch.tensor(x), torch.tensor(y)
    worst = 0.0
    for _ in range(STEPS):
        vel = velocity(v=vel, g=gradient(theta + BETA * vel), alpha=ALPHA, beta=BETA)
        theta = step(theta=theta, v_next=vel, alpha=ALPHA, beta=BETA)
        opt.zero_grad()
        (((xt @ param - yt) ** 2).sum() / (2 * len(y))).backward()
        opt.step()
        lookahead = theta + BETA * vel
        worst = max(worst, float(np.abs(param.detach().numpy() - lookahead).max()) / max(1.0, np.abs(lookahead).max()))
    return worst
