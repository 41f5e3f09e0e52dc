"""The benchmark cases: one forward and backward pass by each contender, and its gradients.

A case builds its inputs once and returns its contenders, each a function that runs the forward and the
backward once and returns the gradients (so the report can check that all contenders agree), and the work
any implementation must do: its matrix products (their shapes) and the bytes it must read and write, which
the report times on this machine at these very shapes for the case's floor. The generated modules are those of ``symdiff/generated``; "autograd" is
torch autograd of the same expression written with torch's composite operations; "fused" is torch's own
kernel where it has one; "hand" is the closed form a careful person writes, reusing what the forward
computed; "generated compiled" is the generated module under ``torch.compile`` (``emit --compile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .. import catalog, codegen
from ..generated import load

# case -> sizes for a full run, a quick one, and a full one on CUDA. The CUDA sizes fill the GPU (at the CPU's, a case
# there times kernel launches): its large tensors are 0.5 to 1 GiB each in float32. Measured on the CPU at a quarter
# of each size, the hungriest (softmax_cross_entropy) holds about 12 GiB in float64 at these: inputs and its
# hungriest contender's peak.
SIZES = {
    "linear_mse": {
        "full": {"q": 4096, "n": 1024, "p": 512},
        "quick": {"q": 512, "n": 256, "p": 128},
        "cuda": {"q": 65536, "n": 2048, "p": 1024},  # X 512 MiB in float32
    },
    "softmax_cross_entropy": {
        "full": {"B": 4096, "C": 1000},
        "quick": {"B": 512, "C": 100},
        "cuda": {"B": 8192, "C": 32768},  # Z 1 GiB in float32: a language model's logits
    },
    "batchnorm": {
        "full": {"B": 4096, "D": 1000},  # D 1000: 4096 x 1024 float64 is 32 MiB
        "quick": {"B": 512, "D": 128},
        "cuda": {"B": 65536, "D": 2048},  # X and G 512 MiB each in float32
    },
    "mlp_step": {
        "full": {"B": 1437, "H": 256},  # B 1437: all 80 % of digits' 1797 images
        "quick": {"B": 256, "H": 64},
        "cuda": {"B": 65536, "H": 4096},  # the images repeated; the hidden layer 1 GiB in float32
    },
}


@dataclass
class Case:
    """A case's contenders (name -> run once, return the gradients) and the work its floor is made of."""

    contenders: dict
    products: list = field(default_factory=list)  # (m, k, n) of each matrix product, forward and backward
    bytes: float = 0.0  # inputs read once, gradients written once
    notes: list = field(default_factory=list)
    reference: str = "autograd"  # the contender the others are measured against (torch.func for second order)


def _random(rng, shape, dtype, device):
    return torch.tensor(rng.normal(size=shape), dtype=dtype, device=device)


def _arrays(*tensors):
    """The tensors as numpy arrays, for the generated numpy contender."""
    return [t.cpu().numpy() for t in tensors]


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def compiled(name: str):
    """The catalog spec ``name``'s torch module with forward and backward under ``torch.compile``."""
    spec = catalog.load(name)
    return codegen.compile(spec.derive(), "torch", spec.title, spec.parameters, spec.upstream, torch_compile=True)


def linear_mse(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """sum((X W + b - Y)^2) / q, gradients for W, b and X."""
    rng = np.random.default_rng(0)
    q, n, p = sizes["q"], sizes["n"], sizes["p"]
    X, W, b, Y = (_random(rng, s, dtype, device) for s in ((q, n), (n, p), (1, p), (q, p)))
    name = "000_linear_regression_batch"

    def generated(module, X, W, b, Y):
        def run():
            _, saved = module.forward(X, W, b, Y)
            grads = module.backward(saved, 1.0, ("W", "b", "X"))
            return [torch.as_tensor(grads[k]) for k in ("W", "b", "X")]

        return run

    def autograd():
        w, bb, x = _leaves(W, b, X)
        (((x @ w + bb - Y) ** 2).sum() / q).backward()
        return [w.grad, bb.grad, x.grad]

    def hand():
        residual = (X @ W + b - Y) * (2 / q)
        return [X.T @ residual, residual.sum(0, keepdim=True), residual @ W.T]

    contenders = {"generated torch": generated(load(name, "torch"), X, W, b, Y), "autograd": autograd, "hand": hand}
    if device == "cpu":
        contenders["generated numpy"] = generated(load(name, "numpy"), *_arrays(X, W, b, Y))
    if compile_:
        contenders["generated compiled"] = generated(compiled(name), X, W, b, Y)
    size = X.element_size()
    products = [(q, n, p), (n, q, p), (q, p, n)]  # X W; dW = X^T R; dX = R W^T
    return Case(contenders, products, bytes=size * (2 * (q * n + n * p + p) + q * p))


def softmax_cross_entropy(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """Mean cross-entropy of softmax(Z) against one-hot rows T, gradient for Z."""
    rng = np.random.default_rng(1)
    B, C = sizes["B"], sizes["C"]
    Z = _random(rng, (B, C), dtype, device)
    labels = torch.tensor(rng.integers(0, C, size=B), device=device)
    T = F.one_hot(labels, C).to(dtype)
    name = "005_softmax_cross_entropy_batch"

    def generated(module, Z, T):
        def run():
            _, saved = module.forward(Z, T)
            return [torch.as_tensor(module.backward(saved, 1.0, ("Z",))["Z"])]

        return run

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

    contenders = {"generated torch": generated(load(name, "torch"), Z, T), "autograd": autograd, "fused": fused}
    contenders["hand"] = hand
    if device == "cpu":
        contenders["generated numpy"] = generated(load(name, "numpy"), *_arrays(Z, T))
    if compile_:
        contenders["generated compiled"] = generated(compiled(name), Z, T)
    return Case(contenders, bytes=3.0 * B * C * Z.element_size())  # Z and T read, dZ written


def batchnorm(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """Batch normalization in training mode with upstream gradient G, gradients for X, gamma and beta."""
    rng = np.random.default_rng(2)
    B, D = sizes["B"], sizes["D"]
    X, G = _random(rng, (B, D), dtype, device), _random(rng, (B, D), dtype, device)
    gamma, beta = _random(rng, (1, D), dtype, device) + 2, _random(rng, (1, D), dtype, device)
    eps = 1e-5
    name = "002_batchnorm"

    def generated(module, X, gamma, beta, G):
        def run():
            _, saved = module.forward(X, gamma, beta)
            grads = module.backward(saved, G, ("X", "gamma", "beta"))
            return [torch.as_tensor(grads[k]) for k in ("X", "gamma", "beta")]

        return run

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

    contenders = {"generated torch": generated(load(name, "torch"), X, gamma, beta, G), "autograd": autograd}
    contenders.update(fused=fused, hand=hand)
    if device == "cpu":
        contenders["generated numpy"] = generated(load(name, "numpy"), *_arrays(X, gamma, beta, G))
    if compile_:
        contenders["generated compiled"] = generated(compiled(name), X, gamma, beta, G)
    return Case(contenders, bytes=4.0 * B * D * X.element_size())  # X and G read, Y and dX written


def mlp_step(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """One training step (forward, backward, SGD update) of a 64 -> H -> sigmoid -> 10 MLP with softmax
    cross-entropy on B digits images: the generated layer modules against an nn.Module and autograd."""
    from sklearn.datasets import load_digits

    B, H = sizes["B"], sizes["H"]
    images, digits = load_digits(return_X_y=True)
    rows = np.arange(B) % len(images)  # the first B images, repeated where B is more than there are
    X = torch.tensor(images[rows] / 16.0, dtype=dtype, device=device)
    labels = torch.tensor(digits[rows], device=device)
    T = F.one_hot(labels, 10).to(dtype)
    rng = np.random.default_rng(3)
    init = {  # weights out x in, as nn.Linear holds them (see the spec 005_linear_layer_out_in)
        "W1": _random(rng, (H, 64), dtype, device) / 8.0,
        "b1": torch.zeros(1, H, dtype=dtype, device=device),
        "W2": _random(rng, (10, H), dtype, device) / H**0.5,
        "b2": torch.zeros(1, 10, dtype=dtype, device=device),
    }
    lr = 0.1
    linear, sigmoid = load("005_linear_layer_out_in", "torch"), load("005_sigmoid_layer", "torch")
    loss = load("005_softmax_cross_entropy_batch", "torch")
    ours = {k: v.clone() for k, v in init.items()}

    # every call is the same step from the same start (the parameters copied back in place first), so that
    # every contender's gradients can be compared, and every round times the same work
    def generated():
        for p, start in zip(ours.values(), init.values()):
            p.copy_(start)
        z1, s1 = linear.forward(X, ours["W1"], ours["b1"])
        h, sh = sigmoid.forward(z1)
        z2, s2 = linear.forward(h, ours["W2"], ours["b2"])
        _, sl = loss.forward(z2, T)
        g2 = linear.backward(s2, loss.backward(sl, 1.0, ("Z",))["Z"], ("X", "W", "b"))
        g1 = linear.backward(s1, sigmoid.backward(sh, g2["X"])["X"], ("W", "b"))
        grads = [g1["W"], g1["b"], g2["W"], g2["b"]]
        for p, g in zip(ours.values(), grads):
            p.sub_(g, alpha=lr)
        return grads

    def network():
        model = torch.nn.Sequential(torch.nn.Linear(64, H), torch.nn.Sigmoid(), torch.nn.Linear(H, 10))
        model.to(dtype=dtype, device=device)
        return model, torch.optim.SGD(model.parameters(), lr=lr)

    def trained(loss_of):
        model, optimizer = network()

        def run():
            with torch.no_grad():
                for layer, (w, b) in zip((model[0], model[2]), (("W1", "b1"), ("W2", "b2"))):
                    layer.weight.copy_(init[w])
                    layer.bias.copy_(init[b].reshape(-1))
            optimizer.zero_grad()
            loss_of(model(X)).backward()
            optimizer.step()
            first, second = model[0], model[2]
            return [first.weight.grad, first.bias.grad, second.weight.grad, second.bias.grad]

        return run

    contenders = {
        "generated torch": generated,
        "autograd": trained(lambda logits: -(torch.log_softmax(logits, 1) * T).sum() / B),
        "fused": trained(lambda logits: F.cross_entropy(logits, labels)),
    }
    # forward X W1^T, h W2^T; backward dW2 = G2^T h, dh = G2 W2, dW1 = G1^T X (no gradient for the images)
    products = [(B, 64, H), (B, H, 10), (10, B, H), (B, 10, H), (H, B, 64)]
    size = X.element_size()
    return Case(contenders, products, bytes=size * (B * 64 + 2 * 2 * (64 * H + H * 10)))


CASES = {
    "linear_mse": linear_mse,
    "softmax_cross_entropy": softmax_cross_entropy,
    "batchnorm": batchnorm,
    "mlp_step": mlp_step,
}
