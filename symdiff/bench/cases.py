"""The benchmark cases: one forward and backward pass by each contender, and its gradients.

A case builds its inputs once and returns its contenders, each a function that runs the forward and the
backward once and returns the gradients (so the report can check that all contenders agree). The generated
modules are those of ``symdiff/generated``; "autograd" is torch autograd of the same expression written
with torch's composite operations; "fused" is torch's own kernel where it has one; "hand" is the closed form
a careful person writes, reusing what the forward computed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..generated import load

SIZES = {  # case -> full sizes, quick sizes
    "linear_mse": ({"q": 4096, "n": 1024, "p": 512}, {"q": 512, "n": 256, "p": 128}),
    "softmax_cross_entropy": ({"B": 4096, "C": 1000}, {"B": 512, "C": 100}),
    "batchnorm": ({"B": 4096, "D": 1000}, {"B": 512, "D": 128}),  # D 1000: 4096 x 1024 float64 is 32 MiB
}


def _random(rng, shape, dtype, device):
    return torch.tensor(rng.normal(size=shape), dtype=dtype, device=device)


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def linear_mse(sizes: dict, dtype, device) -> dict:
    """sum((X W + b - Y)^2) / q, gradients for W, b and X."""
    rng = np.random.default_rng(0)
    q, n, p = sizes["q"], sizes["n"], sizes["p"]
    X, W, b, Y = (_random(rng, s, dtype, device) for s in ((q, n), (n, p), (1, p), (q, p)))
    torch_module, numpy_module = (
        load("000_linear_regression_batch", "torch"),
        load("000_linear_regression_batch", "numpy"),
    )
    arrays = {k: v.cpu().numpy() for k, v in {"W": W, "X": X, "Y": Y, "b": b}.items()}

    def generated():
        _, saved = torch_module.forward(W, X, Y, b)
        grads = torch_module.backward(saved, 1.0, ("W", "b", "X"))
        return [grads["W"], grads["b"], grads["X"]]

    def generated_numpy():
        _, saved = numpy_module.forward(arrays["W"], arrays["X"], arrays["Y"], arrays["b"])
        grads = numpy_module.backward(saved, 1.0, ("W", "b", "X"))
        return [torch.as_tensor(np.asarray(grads[k])) for k in ("W", "b", "X")]

    def autograd():
        w, bb, x = _leaves(W, b, X)
        (((x @ w + bb - Y) ** 2).sum() / q).backward()
        return [w.grad, bb.grad, x.grad]

    def hand():
        residual = (X @ W + b - Y) * (2 / q)
        return [X.T @ residual, residual.sum(0, keepdim=True), residual @ W.T]

    contenders = {"generated torch": generated, "autograd": autograd, "hand": hand}
    if device == "cpu":
        contenders["generated numpy"] = generated_numpy
    return contenders


def softmax_cross_entropy(sizes: dict, dtype, device) -> dict:
    """Mean cross-entropy of softmax(Z) against one-hot rows T, gradient for Z."""
    rng = np.random.default_rng(1)
    B, C = sizes["B"], sizes["C"]
    Z = _random(rng, (B, C), dtype, device)
    labels = torch.tensor(rng.integers(0, C, size=B), device=device)
    T = F.one_hot(labels, C).to(dtype)
    module = load("005_softmax_cross_entropy_batch", "torch")

    def generated():
        _, saved = module.forward(T, Z)
        return [module.backward(saved, 1.0, ("Z",))["Z"]]

    def autograd():
        (z,) = _leaves(Z)
        (-(torch.log_softmax(z, dim=1) * T).sum() / B).backward()
        return [z.grad]

    def fused():
        (z,) = _leaves(Z)
        F.cross_entropy(z, labels).backward()
        return [z.grad]

    def hand():  # the forward's log-softmax reused: (exp(ls) - T) / B
        log_probabilities = torch.log_softmax(Z, dim=1)
        _ = -(log_probabilities * T).sum() / B
        return [(log_probabilities.exp() - T) / B]

    return {"generated torch": generated, "autograd": autograd, "fused": fused, "hand": hand}


def batchnorm(sizes: dict, dtype, device) -> dict:
    """Batch normalization in training mode with upstream gradient G, gradients for X, gamma and beta."""
    rng = np.random.default_rng(2)
    B, D = sizes["B"], sizes["D"]
    X, G = _random(rng, (B, D), dtype, device), _random(rng, (B, D), dtype, device)
    gamma, beta = _random(rng, (1, D), dtype, device) + 2, _random(rng, (1, D), dtype, device)
    eps = 1e-5
    module = load("002_batchnorm", "torch")

    def generated():
        _, saved = module.forward(X, beta, gamma)
        grads = module.backward(saved, G, ("X", "gamma", "beta"))
        return [grads["X"], grads["gamma"], grads["beta"]]

    def autograd():
        x, g, bt = _leaves(X, gamma, beta)
        mean, var = x.mean(0, keepdim=True), x.var(0, unbiased=False, keepdim=True)
        ((x - mean) / torch.sqrt(var + eps) * g + bt).backward(G)
        return [x.grad, g.grad, bt.grad]

    def fused():
        x, g, bt = _leaves(X, gamma, beta)
        F.batch_norm(x, None, None, g.reshape(-1), bt.reshape(-1), training=True, eps=eps).backward(G)
        return [x.grad, g.grad, bt.grad]

    def hand():  # the forward's x_hat and 1/sigma reused
        mean, var = X.mean(0, keepdim=True), X.var(0, unbiased=False, keepdim=True)
        inverse_std = torch.rsqrt(var + eps)
        x_hat = (X - mean) * inverse_std
        _ = x_hat * gamma + beta
        dgamma, dbeta = (G * x_hat).sum(0, keepdim=True), G.sum(0, keepdim=True)
        dx = gamma * inverse_std * (G - dbeta / B - x_hat * dgamma / B)
        return [dx, dgamma, dbeta]

    return {"generated torch": generated, "autograd": autograd, "fused": fused, "hand": hand}


CASES = {"linear_mse": linear_mse, "softmax_cross_entropy": softmax_cross_entropy, "batchnorm": batchnorm}
