"""The second-order benchmark cases: emitted Hessians and HVPs against torch.func, double backward and the hand
closed form, at the sizes of issue 21's table.

Each case derives and emits its module in memory (``second_order.derive_hessian`` / ``derive_hvp``, then
``codegen.compile``) and notes how long that took. The reference contender is ``torch.func``:
``torch.func.hessian`` of the function, or ``torch.func.jvp`` of ``torch.func.grad`` (forward over reverse)
for an HVP; "double backward" differentiates autograd's gradient once more (the HVP's usual route); "hand" is
the closed form a careful person writes.
"""

from __future__ import annotations

import time

import numpy as np
import sympy as sp
import torch

from .. import codegen, second_order
from ..derivation import matrix
from ..parse import parse
from .cases import Case, _arrays, _random

# case -> sizes for a full run, a quick one, and a full one on CUDA. The CUDA sizes fill the GPU: issue 21's table on
# an H200 (x^T A x at n 8192, logistic regression's Hessian at 65536 x 1024), logsumexp at n 8192 rather than the
# table's 1024 (a 4 MiB Hessian times launches), the HVPs larger. Each case moves 256 MiB to 1 GiB in float32.
# Measured on the CPU at a quarter of each size, the hungriest (hvp_mlp) holds about 6 GiB in float64 at these, and
# torch.func.hessian's intermediates (n tangents at once) peak at about 3 GiB.
SIZES = {
    "hessian_quadratic": {"full": {"n": 2048}, "quick": {"n": 256}, "cuda": {"n": 8192}},
    "hessian_logsumexp": {"full": {"n": 1024}, "quick": {"n": 64}, "cuda": {"n": 8192}},
    "hessian_logistic": {
        "full": {"q": 2048, "n": 256},
        "quick": {"q": 256, "n": 32},
        "cuda": {"q": 65536, "n": 1024},  # X 256 MiB in float32
    },
    "hvp_logistic": {
        "full": {"q": 2048, "n": 256},
        "quick": {"q": 256, "n": 32},
        "cuda": {"q": 262144, "n": 1024},  # X 1 GiB in float32
    },
    "hvp_mlp": {
        "full": {"q": 512, "n": 256, "h": 256, "c": 10},
        "quick": {"q": 64, "n": 32, "h": 32, "c": 10},
        "cuda": {"q": 65536, "n": 1024, "h": 1024, "c": 10},  # X and the hidden layer 256 MiB each in float32
    },
}


def _module(source: str, shapes: dict, kind: str, variable: str) -> tuple[dict, float]:
    """The emitted modules (torch, numpy) of ``source``'s Hessian or HVP in ``variable``, and the seconds to derive
    and emit them."""
    started = time.perf_counter()
    dim = {
        d: sp.Symbol(d, integer=True, positive=True) for shape in shapes.values() for d in shape if isinstance(d, str)
    }
    symbols = {name: matrix(name, *(dim.get(d, d) for d in shape)) for name, shape in shapes.items()} | dim
    f = parse(source, **symbols)
    build = second_order.derive_hvp if kind == "hvp" else second_order.derive_hessian
    d = build(f, variable, inputs=list(shapes))
    modules = {backend: codegen.compile(d, backend) for backend in ("torch", "numpy")}
    return modules, time.perf_counter() - started


def _hessian_case(source, shapes, variable, values: dict, f, hand, device) -> Case:
    """A Hessian case: the generated module (torch, numpy on the CPU), torch.func.hessian of ``f`` (a function
    of the variable), and ``hand``."""
    modules, seconds = _module(source, shapes, "hessian", variable)
    ordered = [values[name] for name in modules["torch"].INPUTS]

    def generated(module, args):
        def run():
            return [torch.as_tensor(module.hessian(module.forward(*args)[1])[variable])]

        return run

    x = values[variable]
    n = x.shape[0]
    contenders = {
        "generated torch": generated(modules["torch"], ordered),
        "torch.func": lambda: [torch.func.hessian(f)(x).reshape(n, n)],
        "hand": lambda: [hand()],
    }
    if device == "cpu":
        contenders["generated numpy"] = generated(modules["numpy"], _arrays(*ordered))
    return Case(contenders, reference="torch.func", notes=[f"derive + emit {seconds:.2f} s"])


def hessian_quadratic(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """x^T A x: the Hessian A + A^T."""
    rng = np.random.default_rng(0)
    n = sizes["n"]
    x, A = _random(rng, (n, 1), dtype, device), _random(rng, (n, n), dtype, device)
    case = _hessian_case(
        "x.T @ A @ x",
        {"x": ("n", 1), "A": ("n", "n")},
        "x",
        {"x": x, "A": A},
        lambda t: (t.T @ A @ t).sum(),
        lambda: A + A.T,
        device,
    )
    case.products, case.bytes = [], 2.0 * n * n * x.element_size()  # A read, the Hessian written
    return case


def hessian_logsumexp(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """log sum exp(x): the Hessian diag(s) - s s^T."""
    rng = np.random.default_rng(1)
    n = sizes["n"]
    x = _random(rng, (n, 1), dtype, device)

    def hand():
        s = torch.softmax(x, dim=0)
        return torch.diagflat(s) - s @ s.T

    case = _hessian_case(
        "logsumexp(x)", {"x": ("n", 1)}, "x", {"x": x}, lambda t: torch.logsumexp(t, 0).sum(), hand, device
    )
    case.bytes = float(n * n * x.element_size())  # the Hessian written
    return case


LOGISTIC = "sum(softplus(X @ w) - y * (X @ w)) / q"  # mean logistic loss, labels in {0, 1}
LOGISTIC_SHAPES = {"X": ("q", "n"), "w": ("n", 1), "y": ("q", 1)}


def _logistic(sizes: dict, dtype, device, seed: int) -> tuple:
    """Inputs X, w, y and a direction V of logistic regression's loss, and the loss as a function of w."""
    rng = np.random.default_rng(seed)
    q, n = sizes["q"], sizes["n"]
    X, w, V = (_random(rng, s, dtype, device) for s in ((q, n), (n, 1), (n, 1)))
    y = torch.tensor(rng.integers(0, 2, size=(q, 1)), dtype=dtype, device=device)

    def loss(t):
        z = X @ t
        return (torch.nn.functional.softplus(z) - y * z).sum() / q

    return {"X": X, "w": 0.1 * w, "y": y, "V": V}, loss


def hessian_logistic(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """Logistic regression's mean loss: the Hessian X^T diag(s (1 - s)) X / q."""
    values, loss = _logistic(sizes, dtype, device, seed=2)
    X, w, q, n = values["X"], values["w"], sizes["q"], sizes["n"]

    def hand():
        s = torch.sigmoid(X @ w)
        return X.T @ (s * (1 - s) * X) / q

    case = _hessian_case(LOGISTIC, LOGISTIC_SHAPES, "w", values, loss, hand, device)
    case.products, case.bytes = [(q, n, 1), (n, q, n)], (q * n + n * n) * X.element_size()
    return case


def _hvp_case(source, shapes, variable, values: dict, f, hand, device) -> Case:
    """An HVP case along a random direction V: the generated module's ``hvp``, torch.func.jvp of grad, double
    backward, and ``hand``."""
    modules, seconds = _module(source, shapes, "hvp", variable)
    x, V = values[variable], values["V"]
    ordered = [values[name] for name in modules["torch"].INPUTS]

    def double_backward():
        leaf = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
        (h,) = torch.autograd.grad((g * V).sum(), leaf)
        return [h]

    contenders = {
        "generated torch": lambda: [modules["torch"].hvp(*ordered)],
        "torch.func": lambda: [torch.func.jvp(torch.func.grad(f), (x,), (V,))[1]],
        "double backward": double_backward,
        "hand": lambda: [hand()],
    }
    if device == "cpu":
        arrays = _arrays(*ordered)
        contenders["generated numpy"] = lambda: [torch.as_tensor(modules["numpy"].hvp(*arrays))]
    return Case(contenders, reference="torch.func", notes=[f"derive + emit {seconds:.2f} s"])


def hvp_logistic(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """Logistic regression's mean loss along V: X^T (s (1 - s) * (X V)) / q."""
    values, loss = _logistic(sizes, dtype, device, seed=3)
    X, w, V, q, n = values["X"], values["w"], values["V"], sizes["q"], sizes["n"]

    def hand():
        s = torch.sigmoid(X @ w)
        return X.T @ (s * (1 - s) * (X @ V)) / q

    case = _hvp_case(LOGISTIC, LOGISTIC_SHAPES, "w", values, loss, hand, device)
    case.products, case.bytes = [(q, n, 1), (q, n, 1), (n, q, 1)], q * n * X.element_size()
    return case


def hvp_mlp(sizes: dict, dtype, device, compile_: bool = True) -> Case:
    """A tanh MLP's squared loss along V in W1: sum((tanh(X W1) W2 - Y)^2) / (2q)."""
    rng = np.random.default_rng(4)
    q, n, h, c = sizes["q"], sizes["n"], sizes["h"], sizes["c"]
    X, W1 = _random(rng, (q, n), dtype, device), _random(rng, (n, h), dtype, device) / np.sqrt(n)
    W2, Y, V = (
        _random(rng, (h, c), dtype, device) / np.sqrt(h),
        _random(rng, (q, c), dtype, device),
        _random(rng, (n, h), dtype, device),
    )

    def loss(t):
        return ((torch.tanh(X @ t) @ W2 - Y) ** 2).sum() / (2 * q)

    def hand():  # forward over reverse by hand: H = tanh(X W1), R = (H W2 - Y) W2^T, dZ = X V
        H = torch.tanh(X @ W1)
        D = 1 - H * H
        R = (H @ W2 - Y) @ W2.T
        dZ = X @ V
        return X.T @ (D * ((dZ * D) @ W2 @ W2.T) - 2 * R * dZ * H * D) / q

    shapes = {"X": ("q", "n"), "W1": ("n", "h"), "W2": ("h", "c"), "Y": ("q", "c")}
    values = {"X": X, "W1": W1, "W2": W2, "Y": Y, "V": V}
    case = _hvp_case("sum((tanh(X @ W1) @ W2 - Y)**2) / (2 * q)", shapes, "W1", values, loss, hand, device)
    case.products = [(q, n, h), (q, h, c), (q, c, h), (q, n, h), (q, h, c), (q, c, h), (n, q, h)]
    case.bytes = (q * n + n * h) * X.element_size()
    return case


CASES = {
    "hessian_quadratic": hessian_quadratic,
    "hessian_logsumexp": hessian_logsumexp,
    "hessian_logistic": hessian_logistic,
    "hvp_logistic": hvp_logistic,
    "hvp_mlp": hvp_mlp,
}
