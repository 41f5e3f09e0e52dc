"""Curvature during training (``symdiff train NAME --sharpness``): the largest eigenvalue of the training loss's
Hessian by power iteration on the emitted HVP, against the same iteration on autograd's double backward, against
``torch.linalg.eigvalsh`` of the full Hessian, and against the step size.

Seed 003's proof (``derivations/proofs/003_step_size``): on a quadratic, gradient descent converges iff
0 < alpha < 2 / lambda_max. The linear-regression run measures lambda_max of its MSE on the diabetes data with the
emitted HVP, then takes steps of 0.9 and 1.1 times 2 / lambda_max from the same start: the first converges, the
second diverges, with the generated gradient and with autograd's alike. The MLP and autoencoder runs track
lambda_max along their training, plotted against 2 / alpha.

The emitted HVP is the generated module's double backward (``pairing_forward`` / ``pairing_backward``: the spec
says ``double_backward = true``), applied to all parameters at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..generated import load
from .common import Run, digits, max_relative_difference, sgd
from .runs import _autograd, _copy, _mlp_loss, _seed_004_parameters

POWER_ITERATIONS = 300
POWER_TOLERANCE = 1e-10  # relative change of the Rayleigh quotient at which power iteration stops
EIGVALSH_TOLERANCE = {"float64": 1e-6, "float32": 1e-3}  # power iteration against the full Hessian's eigvalsh


@dataclass
class Model:
    """What a curvature run needs of a model: its generated module (with a double backward), the data it is fixed
    at, its initial parameters, and its loss written in torch (autograd's side)."""

    module: object
    data: dict  # input name -> tensor, the inputs that are not parameters
    init: dict  # parameter name -> tensor
    loss: object  # (parameters, data) -> scalar tensor

    def inputs(self, parameters: dict, data: dict | None = None) -> list:
        """The module's arguments in its INPUTS order: ``parameters`` and ``data`` (default: the model's)."""
        return [{**(self.data if data is None else data), **parameters}[name] for name in self.module.INPUTS]

    def emitted_hvp(self, parameters: dict):
        """H V by the module's derived second-order form, V a dict over the parameters (zero elsewhere)."""
        inputs = self.inputs(parameters)

        def hvp(directions: dict) -> dict:
            given = [directions.get(n, torch.zeros_like(inputs[self.module.INPUTS.index(n)])) for n in self.variables]
            _, saved = self.module.pairing_forward(*inputs, *given)
            return self.module.pairing_backward(saved, 1.0, list(parameters))

        return hvp

    @property
    def variables(self) -> tuple:
        return self.module.DIRECTIONS

    def autograd_hvp(self, parameters: dict):
        """H V by autograd's double backward of ``loss``: the gradient with create_graph=True, then <g, V>'s."""
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in parameters.items()}
        grads = torch.autograd.grad(self.loss(leaves, self.data), list(leaves.values()), create_graph=True)

        def hvp(directions: dict) -> dict:
            pairing = sum((g * directions[k]).sum() for g, k in zip(grads, leaves))
            return dict(zip(leaves, torch.autograd.grad(pairing, list(leaves.values()), retain_graph=True)))

        return hvp

    def steps(self, rows=None) -> tuple:
        """Training steps (parameters, batch) -> (loss, gradients): by the generated module (forward, backward)
        and by autograd of ``loss``, on ``rows(data, batch)`` (all the data where ``rows`` is None)."""

        def data(batch) -> dict:
            return self.data if rows is None else rows(self.data, batch)

        def generated(parameters, batch=None):
            loss, saved = self.module.forward(*self.inputs(parameters, data(batch)))
            return loss.item(), self.module.backward(saved, 1.0, list(parameters))

        def autograd(parameters, batch=None):
            return _autograd(lambda p, _: self.loss(p, data(batch)))(parameters, None)

        return generated, autograd

    def full_hessian_top(self, parameters: dict) -> float:
        """The eigenvalue of largest magnitude of the full Hessian in all parameters (torch.func.hessian of the
        loss in the parameters flattened into one vector, then eigvalsh): the check of power iteration, at sizes
        where the n x n Hessian is small."""
        names = list(parameters)
        shapes = [parameters[k].shape for k in names]
        sizes = [parameters[k].numel() for k in names]

        def flat_loss(vector):
            pieces = torch.split(vector, sizes)
            return self.loss({k: p.reshape(s) for k, p, s in zip(names, pieces, shapes)}, self.data)

        flat = torch.cat([parameters[k].reshape(-1) for k in names]).detach()
        eigenvalues = torch.linalg.eigvalsh(torch.func.hessian(flat_loss)(flat))
        return float(eigenvalues[torch.argmax(eigenvalues.abs())])


def inner(a: dict, b: dict):
    """<a, b> of two dicts of tensors over the same names: the sum of their entrywise products."""
    return sum((a[k] * b[k]).sum() for k in a)


def power_iteration(hvp, like: dict, seed: int = 0) -> tuple[float, int]:
    """The eigenvalue of largest magnitude of the symmetric H that ``hvp`` applies (a dict of tensors shaped as
    ``like``), by power iteration from a seeded random start: (its Rayleigh quotient, iterations taken)."""
    generator = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) for k, t in like.items()}
    estimate = 0.0
    for iteration in range(1, POWER_ITERATIONS + 1):
        norm = torch.sqrt(inner(v, v))
        v = {k: t / norm for k, t in v.items()}
        hv = hvp(v)
        previous, estimate = estimate, float(inner(v, hv))
        if abs(estimate - previous) <= POWER_TOLERANCE * abs(estimate):
            return estimate, iteration
        v = hv
    return estimate, POWER_ITERATIONS


def track(model: Model, lr: float, steps: int, every: int, label: str, run: Run, progress: bool) -> dict:
    """Gradient descent from ``model.init`` at rate ``lr`` by the generated gradient and by autograd; every
    ``every`` steps, lambda_max by power iteration on the emitted HVP and on autograd's, at the generated side's
    parameters. Records the losses (``run.curves[label]``) and returns {"step", "emitted", "autograd",
    "iterations"} lists."""
    sharpness = {"step": [], "emitted": [], "autograd": [], "iterations": []}
    a_params, g_params = _copy(model.init), _copy(model.init)
    a_losses, g_losses = [], []
    generated_step, autograd_step = model.steps()
    for start in range(0, steps, every):
        emitted, iterations = power_iteration(model.emitted_hvp(g_params), g_params)
        sharpness["step"].append(start)
        sharpness["emitted"].append(emitted)
        sharpness["autograd"].append(power_iteration(model.autograd_hvp(g_params), g_params)[0])
        sharpness["iterations"].append(iterations)
        batches = [None] * min(every, steps - start)
        desc = f"{label}: steps {start + 1}-{start + len(batches)}"
        losses, a_params = sgd(autograd_step, a_params, batches, lr, f"{desc} autograd", progress)
        a_losses += losses
        losses, g_params = sgd(generated_step, g_params, batches, lr, f"{desc} generated", progress)
        g_losses += losses
    run.curves[label] = (a_losses, g_losses)
    run.parameters[label] = max_relative_difference(g_params, a_params)
    return sharpness


def _agreement(sharpness: dict) -> float:
    emitted, autograd = np.asarray(sharpness["emitted"]), np.asarray(sharpness["autograd"])
    return float(np.max(np.abs(emitted - autograd) / np.abs(autograd)))


def _record(run: Run, model: Model, sharpness: dict, lr: float, label: str) -> None:
    """The checks and facts of a tracked run, and its figure."""
    run.checks[f"{label}: lambda_max, emitted HVP vs autograd double backward (rel)"] = (
        _agreement(sharpness),
        EIGVALSH_TOLERANCE[run.dtype],
    )
    top = model.full_hessian_top(model.init)
    run.checks[f"{label}: lambda_max at the start, power iteration vs eigvalsh of the full Hessian (rel)"] = (
        abs(sharpness["emitted"][0] - top) / abs(top),
        EIGVALSH_TOLERANCE[run.dtype],
    )
    run.facts[f"{label}: lambda_max at the start / at the end"] = (
        f"{sharpness['emitted'][0]:.6g} / {sharpness['emitted'][-1]:.6g} (eigvalsh at the start: {top:.6g}); "
        f"2 / alpha = {2 / lr:.6g}; power iterations per estimate: at most {max(sharpness['iterations'])}"
    )
    run.figures[f"{run.name}_lambda_max.png"] = lambda r: sharpness_figure(r, sharpness, lr, label)


def sharpness_figure(run: Run, sharpness: dict, lr: float, label: str):
    """lambda_max along training (emitted HVP and autograd's), against 2 / alpha."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.plot(sharpness["step"], sharpness["autograd"], "o", color="C0", alpha=0.45, ms=8, label="autograd HVP")
    ax.plot(sharpness["step"], sharpness["emitted"], ".-", color="C1", lw=1, label="emitted HVP")
    ax.axhline(2 / lr, color="grey", ls=":", label=f"2 / alpha = {2 / lr:.3g}")
    ax.set_xlabel("step")
    ax.set_ylabel("lambda_max of the Hessian")
    ax.set_title(f"{run.title}\n{label}: sharpness by power iteration ({run.dtype} on {run.device})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- the runs -------------------------------------------------------------------------------------------------


def _diabetes(device, kind):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = ((y - y.mean()) / y.std())[:, None]
    return (torch.tensor(a, dtype=kind, device=device) for a in (X, y))


def linear_regression(device, quick, dtype, progress) -> Run:
    """lambda_max of the MSE on the diabetes data, then gradient descent at 0.9 and 1.1 times 2 / lambda_max."""
    kind = getattr(torch, dtype)
    X, Y = _diabetes(device, kind)
    init = {"W": torch.zeros(10, 1, dtype=kind, device=device), "b": torch.zeros(1, 1, dtype=kind, device=device)}
    model = Model(
        load("000_linear_regression_batch", "torch"),
        {"X": X, "Y": Y},
        init,
        lambda p, d: ((d["X"] @ p["W"] + p["b"] - d["Y"]) ** 2).sum() / len(d["X"]),
    )
    run = Run(
        "linear-regression-sharpness",
        "Linear regression on the diabetes data: step size against 2 / lambda_max",
        device,
        dtype,
    )
    top, iterations = power_iteration(model.emitted_hvp(init), init)
    autograd_top = power_iteration(model.autograd_hvp(init), init)[0]
    reference = model.full_hessian_top(init)
    run.checks["lambda_max, power iteration on the emitted HVP vs on autograd's double backward (rel)"] = (
        abs(top - autograd_top) / abs(autograd_top),
        EIGVALSH_TOLERANCE[dtype],
    )
    run.checks["lambda_max, power iteration on the emitted HVP vs eigvalsh of the full Hessian (rel)"] = (
        abs(top - reference) / abs(reference),
        EIGVALSH_TOLERANCE[dtype],
    )
    run.facts["lambda_max of the MSE's Hessian (constant: the loss is quadratic)"] = (
        f"{top:.6g} by power iteration on the emitted HVP ({iterations} iterations), {reference:.6g} by eigvalsh; "
        f"2 / lambda_max = {2 / top:.6g}"
    )
    steps = 40 if quick else 150
    for factor in (0.9, 1.1):
        lr = factor * 2 / top
        label = f"alpha = {factor} x 2 / lambda_max = {lr:.4g}"
        generated, autograd = model.steps()
        a_losses, a_params = sgd(autograd, _copy(init), [None] * steps, lr, f"{label} autograd", progress)
        g_losses, g_params = sgd(generated, _copy(init), [None] * steps, lr, f"{label} generated", progress)
        run.curves[label] = (a_losses, g_losses)
        run.parameters[label] = max_relative_difference(g_params, a_params)
        # seed 003: the error's largest mode is multiplied by |1 - alpha lambda_max| = 0.8 or 1.2 per step
        verdict = "converges" if g_losses[-1] < g_losses[0] else "diverges"
        run.facts[f"{label}: loss at step 1 / {steps}"] = f"{g_losses[0]:.6g} / {g_losses[-1]:.6g}: {verdict}"
    below, above = (run.curves[k][1] for k in run.curves)
    run.checks["the step below 2 / lambda_max converges, the one above diverges (0 = as proved)"] = (
        float(not (below[-1] < below[0] and above[-1] > 1e3 * above[0])),
        0.0,
    )
    return run


def sigmoid_mlp(device, quick, dtype, progress) -> Run:
    """The seed 004 MLP on its sample: lambda_max tracked along gradient descent at alpha = 0.5."""
    kind = getattr(torch, dtype)
    X, Y, params = _seed_004_parameters()
    model = Model(
        load("004_sigmoid_mlp", "torch"),
        {"X": X.to(device, kind), "Y": Y.to(device, kind)},
        {k: v.to(device, kind) for k, v in params.items()},
        lambda p, d: _mlp_loss(p, d["X"], d["Y"]),
    )
    run = Run(
        "sigmoid-mlp-sharpness", "The L = 6 sigmoid MLP of seed 004: sharpness along gradient descent", device, dtype
    )
    lr = 0.5
    label = f"gradient descent, alpha = {lr}"
    sharpness = track(model, lr, 50 if quick else 500, 5 if quick else 25, label, run, progress)
    _record(run, model, sharpness, lr, label)
    return run


def autoencoder(device, quick, dtype, progress) -> Run:
    """The tied autoencoder of seed 000 TP3 on 256 digits: lambda_max tracked along gradient descent."""
    kind = getattr(torch, dtype)
    (X, _, _), _ = digits()
    code = 16
    model = Model(
        load("000_tied_autoencoder", "torch"),
        {"X": torch.tensor(X[:256], dtype=kind, device=device)},
        {
            "W": torch.tensor(np.random.default_rng(3).normal(0, 0.1, (64, code)), dtype=kind, device=device),
            "b": torch.zeros(1, code, dtype=kind, device=device),
            "c": torch.zeros(1, 64, dtype=kind, device=device),
        },
        lambda p, d: (
            ((torch.sigmoid(torch.sigmoid(d["X"] @ p["W"] + p["b"]) @ p["W"].T + p["c"]) - d["X"]) ** 2).sum()
            / len(d["X"])
        ),
    )
    run = Run(
        "autoencoder-sharpness",
        "Tied autoencoder on digits (seed 000 TP3): sharpness along gradient descent",
        device,
        dtype,
    )
    lr = 1.0
    label = f"gradient descent on 256 digits, alpha = {lr}"
    sharpness = track(model, lr, 20 if quick else 300, 5 if quick else 20, label, run, progress)
    _record(run, model, sharpness, lr, label)
    return run
