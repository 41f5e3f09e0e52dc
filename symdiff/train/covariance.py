"""A Gaussian's covariance and precision fitted by structured gradient steps (``symdiff train gaussian-covariance``).

Data: the first six features of scikit-learn's wine data (178 x 6: alcohol to total phenols, offline),
standardized. Two fits of the average negative log-likelihood, each from the identity:

* the covariance Sigma with the mean mu (catalog spec 007_gaussian_nll_covariance), toward the sample mean and
  covariance C, its maximum-likelihood estimate;
* the precision P with mu at the sample mean (007_gaussian_nll_precision), toward C^{-1}.

The generated side steps with the generated backward's gradient in the symmetric matrices, sym(G), which it
computes exactly symmetric; the autograd side differentiates the NLL written in torch through
``torch.nn.utils.parametrize``'s symmetric parametrization (the parameter is A, the model sees (A + A^T)/2), so
its gradient in A is sym(G) too. A step is alpha times the gradient, alpha halved for that step until the matrix
stays positive definite (its Cholesky factorization exists) and the loss does not increase; each side decides
on its own values, so a disagreement would show. The run reports the per-step agreement of the two sides, how
close each fit ends to the closed form, the generated matrices' asymmetry (exactly 0), and the same descent with
Sigma declared general (its general gradient), whose asymmetry after the steps is measured beside it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .. import catalog, codegen
from ..generated import load
from .common import Run, max_relative_difference

FEATURES = 6  # wine's first six: well conditioned (C's eigenvalues 0.30 to 1.87), so gradient descent converges
RATES = {"covariance": 0.25, "precision": 0.5}  # alpha, halved for a step where needed
# a step may raise the loss by this much (relative): rounding, near the optimum, where the two sides' last bits
# would otherwise decide differently whether to halve
SLACK = 1e-12


def _wine(device, kind):
    from sklearn.datasets import load_wine

    X = load_wine().data[:, :FEATURES]
    X = (X - X.mean(0)) / X.std(0)
    return torch.tensor(X, dtype=kind, device=device)


def _positive_definite(matrix) -> bool:
    return bool(torch.linalg.cholesky_ex(matrix).info == 0)


def descend(value_and_grad, parameters: dict, structured: str, steps: int, rate: float, watch=None) -> dict:
    """Gradient descent from ``parameters``: each step alpha = ``rate`` times the gradient, alpha halved until
    ``parameters[structured]`` stays positive definite and the loss does not increase (beyond ``SLACK``). Returns
    the losses (before each step, and after the last), the final parameters, the number of halvings, and
    ``watch(parameters)`` after each step (None: nothing watched)."""
    parameters = {k: v.clone() for k, v in parameters.items()}
    loss, grads = value_and_grad(parameters)
    losses, halvings, watched = [float(loss)], 0, []
    for _ in range(steps):
        alpha = rate
        while True:
            trial = {k: v - alpha * grads[k] if k in grads else v for k, v in parameters.items()}
            if _positive_definite(trial[structured]):
                trial_loss, trial_grads = value_and_grad(trial)
                if trial_loss <= loss + SLACK * abs(loss) or alpha < 1e-12:
                    break
            alpha /= 2
            halvings += 1
        parameters, loss, grads = trial, trial_loss, trial_grads
        losses.append(float(loss))
        if watch is not None:
            watched.append(watch(parameters))
    return {"losses": losses, "parameters": parameters, "halvings": halvings, "watched": watched}


def _generated(module, data: dict, wrt: list):
    """(loss, gradients) by the generated module: its forward, then its backward's structured gradients."""

    def value_and_grad(parameters):
        values = {**data, **parameters}
        loss, saved = module.forward(*[values[name] for name in module.INPUTS])
        grads = module.backward(saved)
        return loss, {k: grads[k] for k in wrt}

    return value_and_grad


class Symmetric(torch.nn.Module):
    """The symmetric parametrization: the model sees (A + A^T) / 2 of its parameter A."""

    def forward(self, A):
        return (A + A.mT) / 2


def _autograd(nll, data: dict, structured: str, wrt: list):
    """(loss, gradients) by torch autograd of ``nll`` (written in torch), the structured matrix through
    ``torch.nn.utils.parametrize`` with ``Symmetric``: its gradient is the one in its original parameter A."""
    from torch.nn.utils import parametrize

    def value_and_grad(parameters):
        holder = torch.nn.Module()
        for name in wrt:
            holder.register_parameter(name, torch.nn.Parameter(parameters[name].clone()))
        parametrize.register_parametrization(holder, structured, Symmetric())
        loss = nll({**data, **{k: parameters[k] for k in parameters if k not in wrt}, **dict(_values(holder, wrt))})
        loss.backward()
        grads = {k: getattr(holder, k).grad if k != structured else _original(holder, k).grad for k in wrt}
        return loss.detach(), grads

    return value_and_grad


def _values(holder, wrt):
    return [(name, getattr(holder, name)) for name in wrt]


def _original(holder, name):
    return getattr(holder.parametrizations, name).original


def _covariance_nll(values):
    """The average Gaussian NLL in the covariance, written in torch (the constant n/2 log 2 pi left out)."""
    R = values["X"] - values["mu"]
    Sigma = values["Sigma"]
    return torch.linalg.slogdet(Sigma)[1] / 2 + torch.trace(torch.linalg.solve(Sigma, R.mT @ R)) / (2 * len(R))


def _precision_nll(values):
    """The same in the precision P = Sigma^{-1}."""
    R = values["X"] - values["mu"]
    P = values["P"]
    return -torch.linalg.slogdet(P)[1] / 2 + torch.trace(P @ R.mT @ R) / (2 * len(R))


def _asymmetry(matrix) -> float:
    return float((matrix - matrix.mT).abs().max())


def gaussian_covariance(device, quick, dtype, progress) -> Run:
    """Both fits, each by the generated gradient and by autograd through the symmetric parametrization, on one
    thread: on 6 x 6 matrices a second one only waits (on two busy cores, a full run took minutes, not seconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fits(device, quick, dtype)
    finally:
        torch.set_num_threads(threads)


def _fits(device, quick, dtype) -> Run:
    kind = getattr(torch, dtype)
    X = _wine(device, kind)
    eye = torch.eye(FEATURES, dtype=kind, device=device)
    mean = X.mean(0, keepdim=True)
    C = (X - mean).mT @ (X - mean) / len(X)
    steps = 60 if quick else 400
    run = Run("gaussian-covariance", "Gaussian covariance and precision by structured gradient steps", device, dtype)
    run.facts["steps"] = (
        f"{steps} of alpha x the gradient from the identity, alpha halved for a step until the matrix has a Cholesky "
        "factorization (stays positive definite) and the loss does not rise"
    )
    # label -> (spec, its structured matrix, data, initial parameters, the NLL in torch, the closed-form optimum)
    fits = {
        "covariance": (
            "007_gaussian_nll_covariance",
            "Sigma",
            {"X": X},
            {"Sigma": eye, "mu": torch.zeros_like(mean)},
            _covariance_nll,
            {"Sigma": C, "mu": mean},
        ),
        "precision": ("007_gaussian_nll_precision", "P", {"X": X, "mu": mean}, {"P": eye}, _precision_nll, {}),
    }
    fits["precision"][5]["P"] = torch.linalg.inv(C)
    fitted = {}
    for label, (spec, structured, data, init, nll, closed) in fits.items():
        wrt = list(init)
        ours = descend(_generated(load(spec, "torch"), data, wrt), init, structured, steps, RATES[label])
        theirs = descend(_autograd(nll, data, structured, wrt), init, structured, steps, RATES[label])
        name = f"{label} ({structured}, alpha = {RATES[label]:g})"
        run.curves[name] = (theirs["losses"][1:], ours["losses"][1:])  # the loss after each step
        run.parameters[name] = max_relative_difference(ours["parameters"], theirs["parameters"])
        final = fitted[label] = ours["parameters"][structured]
        run.checks[f"{label}: generated {structured}'s max |{structured} - {structured}^T| (exactly 0)"] = (
            _asymmetry(final),
            0.0,
        )
        gap = max_relative_difference({k: ours["parameters"][k] for k in closed}, closed)
        run.facts[f"{label}: distance to the closed form after {steps} steps (max rel)"] = f"{gap:.2e}"
        run.facts[f"{label}: step halvings"] = f"generated {ours['halvings']}, autograd {theirs['halvings']}"
        run.facts[f"{label}: autograd {structured}'s asymmetry"] = f"{_asymmetry(theirs['parameters'][structured]):.1e}"
    general = _general_descent(X, eye, torch.zeros_like(mean), steps)
    drift = general["watched"]
    run.facts[f"covariance, Sigma declared general: max |Sigma - Sigma^T| after 1, 10, 50, {steps} steps"] = ", ".join(
        f"{drift[min(k, steps) - 1]:.1e}" for k in (1, 10, 50, steps)
    )
    run.facts["covariance, Sigma declared general: final loss, against the structured fit's"] = (
        f"{general['losses'][-1]:.6g} vs {run.curves[next(iter(run.curves))][1][-1]:.6g} (the formula off the "
        "symmetric matrices is no Gaussian's likelihood)"
    )
    targets = {"covariance": C, "precision": fits["precision"][5]["P"]}
    run.figures["gaussian-covariance_matrices.png"] = lambda r: matrices_figure(r, fitted, targets, steps)
    return run


def _general_descent(X, eye, mean, steps: int) -> dict:
    """The covariance fit again with Sigma declared general: the general gradient, whose steps nothing keeps
    symmetric (``descend``'s result, watching the asymmetry after each step: rounding's, grown by the steps, to a
    matrix where the formula, no longer a Gaussian's likelihood, is lower than at any covariance)."""
    import sympy as sp

    spec = catalog.load("007_gaussian_nll_covariance")
    Sigma = spec.inputs["Sigma"]
    general = replace(spec, inputs={**spec.inputs, "Sigma": sp.MatrixSymbol("Sigma", *Sigma.shape)})
    module = codegen.compile(general.derive(), "torch")
    value_and_grad = _generated(module, {"X": X}, ["Sigma", "mu"])
    rate = RATES["covariance"]
    return descend(value_and_grad, {"Sigma": eye, "mu": mean}, "Sigma", steps, rate, lambda p: _asymmetry(p["Sigma"]))


def matrices_figure(run: Run, fitted: dict, targets: dict, steps: int):
    """Each fitted matrix beside its closed form (the sample covariance, its inverse), and their difference."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(10, 6.4))
    for row, (label, matrix) in zip(axes, fitted.items()):
        target = targets[label].detach().cpu().numpy()
        got = matrix.detach().cpu().numpy()
        scale = float(np.abs(target).max())
        panels = [
            (got, f"{label}: after {steps} steps (generated)"),
            (target, "closed form" + (" C" if label == "covariance" else " C^-1")),
        ]
        for ax, (values, title) in zip(row, panels):
            image = ax.imshow(values, cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_title(title, fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
        image = row[2].imshow(np.abs(got - target), cmap="viridis")
        row[2].set_title("|difference|", fontsize=9)
        fig.colorbar(image, ax=row[2], fraction=0.046)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{run.title}: wine's first {FEATURES} features, standardized", fontsize=10)
    fig.tight_layout()
    return fig
