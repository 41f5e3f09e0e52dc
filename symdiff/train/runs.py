"""Five of the six training runs (the sixth, ``ddp``, is in distributed.py). Each builds its data and initial
parameters once, then trains with autograd and with the generated backward from identical copies, on identical
batches."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..generated import load
from .batchnorm import batchnorm_network, parameters_by_role
from .common import Run, digits, max_relative_difference, minibatches, sgd
from .optimizers import Derived, Reference

# seed 004, problem 1: A_list[0].grad as the seed prints it (autograd and its manual backward agree)
SEED_004_A1_GRAD = np.array(
    [
        [2.3943e-05, 3.7064e-05, 4.2687e-06, 6.3700e-06],
        [3.4104e-05, 5.2794e-05, 6.0804e-06, 9.0735e-06],
        [2.4438e-05, 3.7831e-05, 4.3571e-06, 6.5019e-06],
        [2.0187e-05, 3.1250e-05, 3.5991e-06, 5.3707e-06],
    ]
)


def _leaves(parameters: dict) -> dict:
    return {k: v.detach().clone().requires_grad_(True) for k, v in parameters.items()}


def _autograd(loss_fn):
    """A training step through torch autograd of ``loss_fn(parameters, batch)``."""

    def step(parameters, batch):
        leaves = _leaves(parameters)
        loss = loss_fn(leaves, batch)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return loss.item(), {k: g.detach() for k, g in zip(leaves, grads)}

    return step


def _copy(parameters: dict) -> dict:
    return {k: v.clone() if hasattr(v, "clone") else v.copy() for k, v in parameters.items()}


# -- 1. linear regression on the diabetes data: full-batch GD and mini-batch SGD -------------------------------


def linear_regression(device, quick, dtype, progress, optimizer="sgd") -> Run:
    """Seed 000 TP2 (figure 2.1): gradient descent on all data against mini-batches of 30, same epochs and rate.

    As the seed found, mini-batches converge faster per epoch: they take 15 steps where GD takes one.
    """
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = ((y - y.mean()) / y.std())[:, None]
    kind = getattr(torch, dtype)
    Xt, Yt = (torch.tensor(a, dtype=kind, device=device) for a in (X, y))
    module = load("000_linear_regression_batch", "torch")
    init = {"W": torch.zeros(10, 1, dtype=kind, device=device), "b": torch.zeros(1, 1, dtype=kind, device=device)}

    def autograd_loss(p, idx):
        return ((Xt[idx] @ p["W"] + p["b"] - Yt[idx]) ** 2).sum() / len(idx)

    def generated(p, idx):
        loss, saved = module.forward(Xt[idx], p["W"], p["b"], Yt[idx])
        return loss.item(), module.backward(saved, 1.0, ("W", "b"))

    run = Run("linear-regression", f"Linear regression on the diabetes data (seed 000 TP2), {optimizer}", device, dtype)
    epochs, lr = (5 if quick else 30), 0.02
    schedules = {
        "all data (GD)": [np.arange(len(X))] * epochs,
        "mini-batch of 30 (SGD)": minibatches(len(X), 30, epochs, 0),
    }
    for label, batches in schedules.items():
        a_losses, a_params = sgd(
            _autograd(autograd_loss), _copy(init), batches, lr, f"{label} autograd", progress, Reference(optimizer, lr)
        )
        g_losses, g_params = sgd(
            generated, _copy(init), batches, lr, f"{label} generated", progress, Derived(optimizer, lr)
        )
        run.curves[label] = (a_losses, g_losses)
        run.parameters[label] = max_relative_difference(g_params, a_params)
        run.epoch_length[label] = len(batches) // epochs
        full_loss = autograd_loss(g_params, np.arange(len(X))).item()
        run.facts[f"loss on all data after {epochs} epochs, {label}"] = f"{full_loss:.4f}"
    run.facts["samples, features"] = X.shape
    return run


# -- 2. the L = 6 sigmoid MLP of seed 004 ----------------------------------------------------------------------

MLP_NAMES = [f"{p}{k}" for k in range(1, 7) for p in ("A", "b")]


def _seed_004_parameters():
    """X_data, Y_data, A_list and b_list built as seed 004 builds them (torch.manual_seed(0), float32)."""
    torch.manual_seed(0)
    X, Y = torch.rand(4, 1), torch.rand(1, 1)
    A_list, b_list = [], []
    for _ in range(5):
        A_list.append(torch.rand(4, 4))
        b_list.append(torch.rand(4, 1))
    A_list.append(torch.rand(1, 4))
    b_list.append(torch.rand(1, 1))
    parameters = {}
    for k in range(6):
        parameters[f"A{k + 1}"], parameters[f"b{k + 1}"] = A_list[k], b_list[k]
    return X, Y, parameters


def _mlp_loss(p, X, Y):
    """Seed 004's forward, written out: sigmoid layers, a linear last layer, loss (y - Y)^2 / 2."""
    y = X
    for k in range(1, 7):
        z = p[f"A{k}"] @ y + p[f"b{k}"]
        y = torch.sigmoid(z) if k < 6 else z
    return (torch.square(y - Y) / 2).sum()


def sigmoid_mlp(device, quick, dtype, progress, optimizer="sgd") -> Run:
    """Seed 004 problem 1: the generated backward reproduces A_list[0].grad, then trains the MLP."""
    module = load("004_sigmoid_mlp", "torch")
    X, Y, params = _seed_004_parameters()

    def generated(p, inputs):
        X, Y = inputs
        args = {**p, "X": X, "Y": Y}
        loss, saved = module.forward(*(args[n] for n in module.INPUTS))
        return loss.item(), module.backward(saved, 1.0, MLP_NAMES)

    run = Run("sigmoid-mlp", f"The L = 6 sigmoid MLP of seed 004, {optimizer}", device, dtype)
    # the seed's own computation: float32 on the CPU
    autograd_grads = _autograd(lambda p, b: _mlp_loss(p, *b))(params, (X, Y))[1]
    generated_grads = generated(params, (X, Y))[1]
    a1 = generated_grads["A1"].numpy()
    run.facts["generated dL/dA1 (float32)"] = np.array2string(a1, precision=4, separator=", ")
    run.checks["A1 grad vs the values printed in seed 004 (rel)"] = (
        float(np.max(np.abs(a1 - SEED_004_A1_GRAD)) / np.max(np.abs(SEED_004_A1_GRAD))),
        5e-4,  # the seed prints 5 significant digits
    )
    run.checks["A1 grad vs autograd, float32 (rel)"] = (
        max_relative_difference({"A1": generated_grads["A1"]}, {"A1": autograd_grads["A1"]}),
        1e-5,
    )
    kind = getattr(torch, dtype)
    X, Y = X.to(device, kind), Y.to(device, kind)
    init = {k: v.to(device, kind) for k, v in params.items()}
    steps = [(X, Y)] * (50 if quick else 500)
    lr = 0.5
    autograd = _autograd(lambda p, b: _mlp_loss(p, *b))
    a_losses, a_params = sgd(autograd, _copy(init), steps, lr, "autograd", progress, Reference(optimizer, lr))
    g_losses, g_params = sgd(generated, _copy(init), steps, lr, "generated", progress, Derived(optimizer, lr))
    run.curves["gradient descent on the seed's sample"] = (a_losses, g_losses)
    run.parameters["gradient descent on the seed's sample"] = max_relative_difference(g_params, a_params)
    return run


# -- 3. an MLP classifier on digits in numpy, with generated numpy layers -----------------------------------------

ACTIVATIONS = {
    "sigmoid": ("005_sigmoid_layer", torch.sigmoid),
    "relu": ("001_relu", torch.relu),
    "leaky relu": ("005_leaky_relu_layer", lambda z: torch.nn.functional.leaky_relu(z, 0.01)),
}


def _mlp_init(n_in, hidden, n_out, seed):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0, 1 / np.sqrt(n_in), (n_in, hidden)),
        "b1": np.zeros((1, hidden)),
        "W2": rng.normal(0, 1 / np.sqrt(hidden), (hidden, n_out)),
        "b2": np.zeros((1, n_out)),
    }


def numpy_mlp(device, quick, dtype, progress) -> Run:
    """64 -> 32 -> activation -> 10 -> softmax cross-entropy, trained in numpy with generated numpy backward code."""
    (X, T, _), (X_test, _, y_test) = digits()
    kind = getattr(np, dtype)
    linear = load("005_linear_layer", "numpy")
    loss_module = load("005_softmax_cross_entropy_batch", "numpy")
    run = Run("numpy-mlp", "An MLP on digits in numpy: generated numpy backward vs torch autograd", "cpu", dtype)
    batches = minibatches(len(X), 64, 2 if quick else 30, 1)
    for label, (spec, torch_activation) in ACTIVATIONS.items():
        activation = load(spec, "numpy")

        def forward(p, x, activation=activation):
            z1, s1 = linear.forward(x, p["W1"], p["b1"])
            h, sh = activation.forward(z1)
            z2, s2 = linear.forward(h, p["W2"], p["b2"])
            return z2, (s1, sh, s2)

        def generated(p, idx, forward=forward, activation=activation):
            z2, (s1, sh, s2) = forward(p, X[idx].astype(kind))
            loss, sl = loss_module.forward(z2, T[idx].astype(kind))
            g2 = linear.backward(s2, loss_module.backward(sl)["Z"])
            g1 = linear.backward(s1, activation.backward(sh, g2["X"])["X"])
            return loss, {"W1": g1["W"], "b1": g1["b"], "W2": g2["W"], "b2": g2["b"]}

        def autograd_step(p, idx, torch_activation=torch_activation):
            leaves = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
            z = torch_activation(torch.tensor(X[idx].astype(kind)) @ leaves["W1"] + leaves["b1"])
            z = z @ leaves["W2"] + leaves["b2"]
            loss = -(torch.tensor(T[idx].astype(kind)) * torch.log_softmax(z, 1)).sum() / len(idx)
            loss.backward()
            return loss.item(), {k: v.grad.numpy() for k, v in leaves.items()}

        init = {k: v.astype(kind) for k, v in _mlp_init(64, 32, 10, 0).items()}
        a_losses, a_params = sgd(autograd_step, _copy(init), batches, 0.5, f"{label} autograd", progress)
        g_losses, g_params = sgd(generated, _copy(init), batches, 0.5, f"{label} generated", progress)
        run.curves[label] = (a_losses, g_losses)
        run.parameters[label] = max_relative_difference(g_params, a_params)
        predictions = np.argmax(forward(g_params, X_test.astype(kind))[0], axis=1)
        run.facts[f"test accuracy, {label}"] = f"{np.mean(predictions == y_test):.4f} ({len(y_test)} test images)"
    if device != "cpu":
        run.facts["device"] = f"{device} was asked for; this run is numpy on the CPU by design (autograd too)"
    return run


# -- 4. the MLP in torch with batchnorm: generated batchnorm against nn.BatchNorm1d ------------------------------


def _train_torch(model, X, y, batches, lr, desc, progress):
    from ..progress import progress as bar

    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for idx in bar(batches, desc, progress):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def batchnorm_mlp(device, quick, dtype, progress) -> Run:
    (X, _, y), (X_test, _, y_test) = digits()
    kind = getattr(torch, dtype)
    Xt, yt = torch.tensor(X, dtype=kind, device=device), torch.tensor(y, device=device)
    run = Run("batchnorm-mlp", "An MLP with batchnorm: generated batchnorm vs nn.BatchNorm1d", device, dtype)
    batches = [torch.tensor(b, device=device) for b in minibatches(len(X), 64, 1 if quick else 15, 2)]
    models = {
        "nn.BatchNorm1d": batchnorm_network(False, kind, device),
        "generated": batchnorm_network(True, kind, device),
    }
    losses = {k: _train_torch(m, Xt, yt, batches, 0.1, k, progress) for k, m in models.items()}
    run.curves["MLP with batchnorm"] = (losses["nn.BatchNorm1d"], losses["generated"])
    reference, ours = (parameters_by_role(m) for m in models.values())
    run.parameters["MLP with batchnorm"] = max_relative_difference(ours, reference)
    with (
        torch.no_grad()
    ):  # batch statistics of the whole test set, for both (the generated layer keeps no running ones)
        for name, model in models.items():
            model.train()
            logits = model(torch.tensor(X_test, dtype=kind, device=device))
            accuracy = (logits.argmax(1).cpu().numpy() == y_test).mean()
            run.facts[f"test accuracy, {name}"] = f"{accuracy:.4f} ({len(y_test)} test images)"
    return run


# -- 5. the tied-weight autoencoder of seed 000 TP3 on digits --------------------------------------------------


MIN_TIMED_ROUNDS = 5  # timed epochs per side below which a median says nothing: no time is reported


def _alternating_epochs(sides: dict, init, batches_per_epoch, lr, progress) -> dict:
    """Train each side (name -> (step, update)) from ``init``, alternating epoch by epoch (each round in the
    other order), so that both meet the same machine; the first epoch of each is a warm-up and is not timed.
    Returns name -> (losses, parameters, epoch seconds after the warm-up)."""
    results = {name: ([], _copy(init), []) for name in sides}
    order = list(sides)
    for epoch, batches in enumerate(batches_per_epoch):
        for name in order if epoch % 2 == 0 else order[::-1]:
            (step, update), (losses, params, times) = sides[name], results[name]
            started = time.perf_counter()
            epoch_losses, params = sgd(step, params, batches, lr, f"{name} epoch {epoch + 1}", progress, update)
            if params["W"].is_cuda:
                torch.cuda.synchronize()
            if epoch > 0:
                times.append(time.perf_counter() - started)
            losses += epoch_losses
            results[name] = (losses, params, times)
    return results


def _epoch_times(autograd_times: list, generated_times: list) -> str:
    """The median epoch of each side, with the rounds it is over; none from too few rounds."""
    rounds = len(autograd_times)
    if rounds < MIN_TIMED_ROUNDS:
        return f"not measured: {rounds} timed epoch(s) per side, too few for a median (the full run times 19)"
    return (
        f"autograd {np.median(autograd_times) * 1e3:.1f} ms, generated {np.median(generated_times) * 1e3:.1f} ms "
        f"(median of {rounds} alternating epochs each, after a warm-up epoch)"
    )


def autoencoder(device, quick, dtype, progress, optimizer="sgd") -> Run:
    """Encoder sigma(X W + b), decoder sigma(H W^T + c) with the same W; the MSE of seed 000 TP3."""
    (X, _, _), (X_test, _, y_test) = digits()
    kind = getattr(torch, dtype)
    module = load("000_tied_autoencoder", "torch")
    run = Run("autoencoder", f"Tied-weight autoencoder on digits (seed 000 TP3), {optimizer}", device, dtype)
    code = 16
    W0 = np.random.default_rng(3).normal(0, 0.1, (64, code))

    def autograd_loss(p, batch):
        H = torch.sigmoid(batch @ p["W"] + p["b"])
        return ((torch.sigmoid(H @ p["W"].T + p["c"]) - batch) ** 2).sum() / len(batch)

    def generated(p, batch):
        loss, saved = module.forward(batch, p["W"], p["b"], p["c"])
        return loss.item(), module.backward(saved)

    epochs = 2 if quick else 20
    timings = {}
    for where in dict.fromkeys([device, "cpu"]):  # the run's device, and the CPU for comparison
        Xt = torch.tensor(X, dtype=kind, device=where)
        batches = [[Xt[i] for i in minibatches(len(X), 64, 1, 10 + e)] for e in range(epochs)]
        init = {
            "W": torch.tensor(W0, dtype=kind, device=where),
            "b": torch.zeros(1, code, dtype=kind, device=where),
            "c": torch.zeros(1, 64, dtype=kind, device=where),
        }
        lr = 1.0 if optimizer == "sgd" else 0.1  # momentum multiplies the step by about 1 / (1 - 0.9)
        sides = {
            f"autograd {where}": (_autograd(autograd_loss), Reference(optimizer, lr)),
            f"generated {where}": (generated, Derived(optimizer, lr)),
        }
        a, g = _alternating_epochs(sides, init, batches, lr, progress).values()
        timings[where] = _epoch_times(a[2], g[2])
        if where == device:
            run.curves["tied autoencoder"] = (a[0], g[0])
            run.parameters["tied autoencoder"] = max_relative_difference(g[1], a[1])
            trained = g[1]
    for where, times in timings.items():
        run.facts[f"time per epoch on {where}"] = times
    if "cuda" not in timings:
        run.facts["time per epoch on cuda"] = "not measured: no CUDA device"
    with torch.no_grad():
        codes = torch.sigmoid(torch.tensor(X_test, dtype=kind, device=device) @ trained["W"] + trained["b"])
    run.figures["autoencoder_codes.png"] = lambda r: codes_figure(r, codes.cpu().numpy(), y_test)
    return run


def codes_figure(run: Run, codes: np.ndarray, labels: np.ndarray):
    """The codes of the test images on their first three principal components, coloured by digit."""
    import matplotlib.pyplot as plt

    centred = codes - codes.mean(0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    share = singular**2 / np.sum(singular**2)
    projected = centred @ axes[:3].T
    run.facts["variance explained by 3 principal components of the codes"] = f"{share[:3].sum():.1%}"
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    points = ax.scatter(*projected.T, c=labels, cmap="tab10", s=8)
    fig.colorbar(points, ax=ax, label="digit", shrink=0.6, pad=0.12)
    ax.set_xlabel(f"PC1 ({share[0]:.0%})")
    ax.set_ylabel(f"PC2 ({share[1]:.0%})")
    ax.set_zlabel(f"PC3 ({share[2]:.0%})")
    ax.set_title(f"Codes of {len(codes)} test digits: first 3 PCs explain {share[:3].sum():.0%} of their variance")
    return fig
