"""Newton-CG (``symdiff train newton-cg``): second-order training on the emitted HVP, against the same steps taken
with autograd's double backward, beside gradient descent and SGD.

Logistic regression with an L2 penalty (catalog spec 006_logistic_regression, whose torch module carries the derived
HVP) on scikit-learn's breast-cancer data. Each Newton step solves H p = -g by conjugate gradient, H applied by
the emitted HVP (``pairing_forward`` / ``pairing_backward``) on one side and by torch autograd's double backward of
the loss written in torch on the other, then halves the step until the loss decreases (Armijo). The run reports
the per-step agreement of the two sides and, for Newton-CG, gradient descent at 1/L and SGD, the steps and seconds
each takes to come within ``GAP`` of the optimum.

Then a least-squares model, sigmoid(X W) fitted to the one-hot digits by squared error: Gauss-Newton-CG on the
emitted Gauss-Newton product (``second_order.derive_gnvp``, derived as the run starts; damped by ``DAMPING``)
against torch.func's (jvp of the model, the loss's HVP, vjp), beside gradient descent, whose last loss is the
target.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import codegen
from ..derivation import derive, dims, matrix
from ..generated import load
from ..parse import parse
from ..second_order import derive_gnvp
from .common import Run, digits, max_relative_difference, minibatches, sgd
from .curvature import Model, inner, power_iteration
from .runs import _copy

GAP = 1e-6  # relative distance to the optimum's loss that counts as reached
PENALTY = 1e-2  # mu, the weight of the L2 penalty
CG_ITERATIONS = 50
DAMPING = 1e-3  # Levenberg-Marquardt's mu: Gauss-Newton-CG solves (G + mu I) p = -g, G only semidefinite
LEAST_SQUARES_MODEL = "sigmoid(X @ W)"
LEAST_SQUARES_LOSS = "sum((Z - T)**2) / (2 * q)"
CONVERGED = 1e-10  # the gradient's norm at which Newton-CG stops: further steps would solve for rounding


def conjugate_gradient(hvp, b: dict, tolerance: float) -> tuple[dict, int]:
    """x with H x = b by conjugate gradient (H symmetric positive definite, applied by ``hvp``), stopped when the
    residual's norm is at most ``tolerance``: (x, iterations)."""
    x = {k: torch.zeros_like(v) for k, v in b.items()}
    r = {k: v.clone() for k, v in b.items()}
    p = {k: v.clone() for k, v in b.items()}
    rr = inner(r, r)
    for iteration in range(1, CG_ITERATIONS + 1):
        hp = hvp(p)
        alpha = rr / inner(p, hp)
        x = {k: x[k] + alpha * p[k] for k in x}
        r = {k: r[k] - alpha * hp[k] for k in r}
        new = inner(r, r)
        if torch.sqrt(new) <= tolerance:
            return x, iteration
        p = {k: r[k] + (new / rr) * p[k] for k in p}
        rr = new
    return x, CG_ITERATIONS


def newton_cg(value_and_grad, hvp_at, init: dict, steps: int) -> dict:
    """Newton steps from ``init``: p from CG on H p = -g to the forcing tolerance min(0.5, sqrt|g|) |g|, then
    w + t p with t halved until the loss decreases; at most ``steps``, fewer where the gradient's norm falls to
    ``CONVERGED``. ``value_and_grad(w)`` -> (loss, gradients); ``hvp_at(w)`` ->
    a function V -> H V. Returns {"losses", "parameters", "hvps", "seconds"} (losses before each step, and after
    the last)."""
    w, losses, hvps, seconds = _copy(init), [], [], []
    started = time.perf_counter()
    loss, g = value_and_grad(w)
    for _ in range(steps):
        norm = float(torch.sqrt(inner(g, g)))
        if norm <= CONVERGED:
            break
        losses.append(float(loss))
        p, iterations = conjugate_gradient(hvp_at(w), {k: -v for k, v in g.items()}, min(0.5, norm**0.5) * norm)
        t = 1.0
        while True:
            trial = {k: w[k] + t * p[k] for k in w}
            trial_loss, trial_g = value_and_grad(trial)
            if trial_loss < loss or t < 1e-8:
                break
            t /= 2
        w, loss, g = trial, trial_loss, trial_g
        hvps.append(iterations)
        seconds.append(time.perf_counter() - started)
    losses.append(float(loss))
    return {"losses": losses, "parameters": w, "hvps": hvps, "seconds": seconds}


def _breast_cancer(device, kind):
    """scikit-learn's breast-cancer data (569 x 30, offline): standardized, a column of ones for the bias, labels
    0/1."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = np.hstack([(X - X.mean(0)) / X.std(0), np.ones((len(X), 1))])
    return torch.tensor(X, dtype=kind, device=device), torch.tensor(y[:, None], dtype=kind, device=device)


def _first_within(losses: list, target: float) -> int | None:
    """The first step (0-based index of ``losses``) whose loss is at most ``target``."""
    return next((k for k, loss in enumerate(losses) if loss <= target), None)


def _batch(data: dict, idx) -> dict:
    """The data of the rows ``idx`` (all of it for None: gradient descent's batches)."""
    return data if idx is None else {**data, "X": data["X"][idx], "y": data["y"][idx]}


def newton_run(device, quick, dtype, progress) -> Run:
    """Newton-CG for logistic regression, then Gauss-Newton-CG for a least-squares model."""
    run = Run("newton-cg", "Newton-CG and Gauss-Newton-CG on the emitted HVP and GNVP", device, dtype)
    _logistic_newton(run, device, quick, dtype, progress)
    _least_squares_gauss_newton(run, device, quick, dtype, progress)
    return run


def _logistic_newton(run: Run, device, quick, dtype, progress) -> None:
    """Logistic regression on the breast-cancer data: Newton-CG on the emitted HVP to the optimum, against the
    autograd HVP's, gradient descent at 1/L and SGD; the target is the optimum's loss + 1e-6."""
    kind = getattr(torch, dtype)
    X, y = _breast_cancer(device, kind)

    def loss(p, d):
        z = d["X"] @ p["w"]
        return (torch.nn.functional.softplus(z) - d["y"] * z).sum() / len(d["X"]) + d["mu"] * (p["w"] ** 2).sum() / 2

    data = {"X": X, "y": y, "mu": torch.tensor(PENALTY, dtype=kind, device=device)}
    init = {"w": torch.zeros(X.shape[1], 1, dtype=kind, device=device)}
    model = Model(load("006_logistic_regression", "torch"), data, init, loss)
    generated, autograd = model.steps(_batch)
    sides = {"generated": (generated, model.emitted_hvp), "autograd": (autograd, model.autograd_hvp)}
    newton = _second_order_sides(run, "logistic: Newton-CG", sides, init, 8 if quick else 12)
    optimum = newton["generated"]["losses"][-1]
    target = optimum + GAP * max(1.0, abs(optimum))
    run.facts["logistic: target loss, the optimum + 1e-6"] = f"{target:.12g}"
    for name, result in newton.items():
        run.facts[f"logistic: Newton-CG, {name} HVP"] = _newton_record(result, target)
    run.checks["logistic: Newton-CG reaches the target (0 = it does)"] = (
        float(_first_within(newton["generated"]["losses"], target) is None),
        0.0,
    )
    # the logistic loss's Hessian is largest at z = 0, where w starts: 1/L is gradient descent's safe step
    lr = 1 / power_iteration(model.emitted_hvp(init), init)[0]
    schedules = {  # steps in chunks, each followed by the loss on all data
        f"logistic: gradient descent, alpha = 1/L = {lr:.3g}": [[None] * (150 if quick else 1500)] * 2,
        "logistic: SGD, batches of 32, alpha = 1/L": [
            minibatches(len(X), 32, 1, 5 + e) for e in range(2 if quick else 20)
        ],
    }
    full_losses = _first_order_sides(run, model, (generated, autograd), schedules, lr, target, progress)
    run.figures["newton-cg_logistic.png"] = lambda r: convergence_figure(r, "logistic", newton, full_losses, optimum)


def _least_squares_gauss_newton(run: Run, device, quick, dtype, progress) -> None:
    """A least-squares model: sigmoid(X W) fitted to the one-hot digits by squared error. Gauss-Newton-CG (the
    emitted GNVP, damped by ``DAMPING``) against the autograd GNVP's (torch.func's jvp, HVP and vjp), and gradient
    descent; the target is the loss gradient descent reaches."""
    kind = getattr(torch, dtype)
    (pixels, onehot, _), _ = digits()
    X = torch.tensor(np.hstack([pixels, np.ones((len(pixels), 1))]), dtype=kind, device=device)
    data = {"X": X, "T": torch.tensor(onehot, dtype=kind, device=device)}
    q, n, c = dims("q n c")
    symbols = {"X": matrix("X", q, n), "W": matrix("W", n, c), "T": matrix("T", q, c), "Z": matrix("Z", q, c), "q": q}
    squared_error = parse(LEAST_SQUARES_LOSS, **symbols)
    model_output = {symbols["Z"]: parse(LEAST_SQUARES_MODEL, **symbols)}
    composition = squared_error.xreplace(model_output)
    gradient_module = codegen.compile(derive(composition, ["W"], inputs=["X", "W", "T"]), "torch")
    gnvp_module = codegen.compile(derive_gnvp(squared_error, model_output, "W", inputs=["X", "W", "T"]), "torch")

    def loss(p, d):
        return ((torch.sigmoid(d["X"] @ p["W"]) - d["T"]) ** 2).sum() / (2 * len(d["X"]))

    init = {"W": torch.zeros(X.shape[1], onehot.shape[1], dtype=kind, device=device)}
    model = Model(gradient_module, data, init, loss)
    generated, autograd = model.steps()

    def emitted_gnvp(p):
        def product(v):
            saved = gnvp_module.forward(X, p["W"], data["T"], v["W"])[1]
            return {"W": gnvp_module.gnvp(saved)["W"] + DAMPING * v["W"]}

        return product

    def autograd_gnvp(p):
        def of_w(W):
            return torch.sigmoid(X @ W)

        z, vjp = torch.func.vjp(of_w, p["W"])
        grad_in_z = torch.func.grad(lambda z: ((z - data["T"]) ** 2).sum() / (2 * len(X)))

        def product(v):
            jv = torch.func.jvp(of_w, (p["W"],), (v["W"],))[1]
            return {"W": vjp(torch.func.jvp(grad_in_z, (z,), (jv,))[1])[0] + DAMPING * v["W"]}

        return product

    sides = {"generated": (generated, emitted_gnvp), "autograd": (autograd, autograd_gnvp)}
    newton = _second_order_sides(run, "least squares: Gauss-Newton-CG", sides, init, 6 if quick else 20)
    lr = 1 / power_iteration(emitted_gnvp(init), init)[0]
    label = f"least squares: gradient descent, alpha = {lr:.3g}"
    full_losses = _first_order_sides(
        run, model, (generated, autograd), {label: [[None] * (150 if quick else 1500)]}, lr, None, progress
    )
    target = full_losses[label][-1][1]
    run.facts["least squares: target loss, gradient descent's last"] = (
        f"{target:.12g} after {full_losses[label][-1][0]} steps"
    )
    for name, result in newton.items():
        run.facts[f"least squares: Gauss-Newton-CG, {name} GNVP"] = _newton_record(result, target)
    run.checks["least squares: Gauss-Newton-CG reaches gradient descent's last loss (0 = it does)"] = (
        float(_first_within(newton["generated"]["losses"], target) is None),
        0.0,
    )
    run.figures["newton-cg_least_squares.png"] = lambda r: convergence_figure(
        r, "least squares", newton, full_losses, None
    )


def _second_order_sides(run: Run, label: str, sides: dict, init: dict, steps: int) -> dict:
    """Newton-CG by each side's (value_and_grad, curvature product at w), recorded as ``label``'s curves; each side
    takes one step first, untimed, so that its first calls (torch.func's set-up) are not in its time."""
    for side in sides.values():
        newton_cg(*side, init, 1)
    newton = {name: newton_cg(*side, init, steps) for name, side in sides.items()}
    run.curves[label] = (newton["autograd"]["losses"], newton["generated"]["losses"])
    run.parameters[label] = max_relative_difference(newton["generated"]["parameters"], newton["autograd"]["parameters"])
    return newton


def _first_order_sides(run: Run, model: Model, steps: tuple, schedules: dict, lr, target, progress) -> dict:
    """Each schedule (label -> chunks of batches) by the generated and the autograd step, recorded as curves;
    returns label -> [(steps taken, loss on all data)] after each chunk."""
    generated, autograd = steps
    full_losses = {}
    for label, chunks in schedules.items():
        params = {"autograd": _copy(model.init), "generated": _copy(model.init)}
        losses, seconds = {"autograd": [], "generated": []}, 0.0
        full_losses[label] = [(0, model.loss(model.init, model.data).item())]
        for chunk in chunks:
            started = time.perf_counter()
            chunk_losses, params["generated"] = sgd(generated, params["generated"], chunk, lr, label, progress)
            seconds += time.perf_counter() - started
            losses["generated"] += chunk_losses
            chunk_losses, params["autograd"] = sgd(
                autograd, params["autograd"], chunk, lr, f"{label} (autograd)", progress
            )
            losses["autograd"] += chunk_losses
            full_losses[label].append((len(losses["generated"]), model.loss(params["generated"], model.data).item()))
        run.curves[label] = (losses["autograd"], losses["generated"])
        run.parameters[label] = max_relative_difference(params["generated"], params["autograd"])
        run.facts[f"{label}: after {len(losses['generated'])} steps"] = _first_order_record(
            losses["generated"], full_losses[label][-1][1], target, seconds, chunks[0][0] is None
        )
    return full_losses


def _first_order_record(losses: list, final: float, target: float, seconds: float, full_batch: bool) -> str:
    """The loss on all data at the end, and (gradient descent, each of whose ``losses`` is on all data) when it
    came within ``target``."""
    per_step = seconds / len(losses)
    text = (
        f"loss on all data {final:.12g} ({seconds:.2f} s with the generated gradient, {per_step * 1e3:.3f} ms per step)"
    )
    if not full_batch or target is None:
        return text
    reached = _first_within(losses, target)
    if reached is None:
        return f"{text}; target not reached"
    return f"{text}; target reached after {reached} steps, {reached * per_step:.3f} s"  # losses[k]: after k steps


def _newton_record(result: dict, target: float) -> str:
    reached = _first_within(result["losses"], target)
    if reached is None:
        return f"final loss {result['losses'][-1]:.12g}; target not reached in {len(result['hvps'])} steps"
    seconds = result["seconds"][reached - 1] if reached else 0.0
    return (
        f"final loss {result['losses'][-1]:.12g}; target reached after {reached} Newton steps, "
        f"{sum(result['hvps'][:reached])} curvature products in conjugate gradient, {seconds:.3f} s"
    )


def convergence_figure(run: Run, problem: str, newton: dict, full_losses: dict, optimum: float | None):
    """The loss on all data (less the optimum's, where known) of ``problem``'s runs: per Newton step (both sides),
    every step of gradient descent, every epoch of SGD."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))

    def shown(losses):
        losses = np.asarray(losses, dtype=np.float64)
        return losses if optimum is None else np.maximum(losses - optimum, 1e-16)

    newton_label = next(k for k in run.curves if k.startswith(f"{problem}:") and "Newton" in k)
    for marker, (name, result) in zip(("-", "o"), newton.items()):
        alpha = 1 if marker == "-" else 0.4
        steps = np.arange(len(result["losses"]))
        label = f"{newton_label.split(': ')[1]} ({name})"
        ax.semilogy(steps, shown(result["losses"]), marker, color="C0", alpha=alpha, label=label)
    for k, (label, points) in enumerate(full_losses.items(), start=1):
        generated = run.curves[label][1]
        if "gradient descent" in label:
            ax.semilogy(np.arange(len(generated)), shown(generated), color=f"C{k}", label=label.split(": ")[1])
        else:
            steps, values = zip(*points)
            ax.semilogy(steps, shown(values), ".-", color=f"C{k}", label=f"{label.split(': ')[1]} (after each epoch)")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("step (a Newton step, or a gradient step)")
    ax.set_ylabel("loss on all data" + ("" if optimum is None else " - optimum (1e-16: reached)"))
    ax.set_title(f"{run.title}\n{problem}, {run.dtype} on {run.device}: generated gradient and curvature products")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
