"""Learnable activation parameters: a slope, beta or bounds that are inputs (a scalar, a row or a column
broadcast over the argument) are operands of the elementwise function, differentiated like any other; checked
against torch.nn.PReLU, F.softplus and torch.clamp."""

import importlib
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import symdiff as sd
from symdiff import catalog
from symdiff.errors import SymdiffError
from symdiff.target import spec_module
from symdiff.verify import gradcheck

N, d = sd.dims("N d")
X, G = sd.matrix("X", N, d), sd.matrix("G", N, d)
row, column, s = sd.matrix("a", 1, d), sd.matrix("c", N, 1), sd.scalar("s")
ENV = dict(X=X, G=G, a=row, c=column, s=s, N=N, d=d)


def _module(text, wrt, backend="torch"):
    return sd.compile(sd.derive(sd.parse(text, **ENV), [ENV[w] for w in wrt]), backend)


def _run(module, **values):
    """The module's forward at ``values`` by name, and its gradients."""
    out, saved = module.forward(*(values[name] for name in module.INPUTS))
    return out, module.backward(saved)


def test_the_prelu_layer_agrees_with_torch_prelu_at_kinks_too():
    module = importlib.import_module("symdiff.generated.torch_code.006_prelu")
    spec = catalog.load("006_prelu")
    assert spec_module(spec, spec.derive(), "torch") == inspect.getsource(module)
    torch.manual_seed(0)
    layer = torch.nn.PReLU(num_parameters=4, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.25, -0.5, 1.5, 0.01]))
    x = torch.randn(6, 4, dtype=torch.float64)
    x[0, :2] = 0.0  # the kink: PyTorch's derivative in x there is the slope, in the slope 0
    x.requires_grad_()
    upstream = torch.randn(6, 4, dtype=torch.float64)
    (upstream * layer(x)).sum().backward()
    out, saved = module.forward(x.detach(), layer.weight.detach().reshape(1, -1))
    torch.testing.assert_close(out, layer(x).detach(), rtol=0, atol=0)
    grads = module.backward(saved, upstream)
    torch.testing.assert_close(grads["X"], x.grad, rtol=1e-14, atol=0)
    torch.testing.assert_close(grads["a"], layer.weight.grad.reshape(1, -1), rtol=1e-13, atol=1e-15)


def test_a_scalar_slope_is_summed_over_every_entry():
    module = _module("sum(G * leaky_relu(X, s))", ["s", "X"])
    rng = np.random.default_rng(1)
    x, g = (torch.tensor(rng.normal(size=(5, 3))) for _ in range(2))
    weight = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    (g * F.prelu(x, weight)).sum().backward()
    _, grads = _run(module, X=x, G=g, s=torch.tensor(0.3, dtype=torch.float64))
    torch.testing.assert_close(grads["s"].reshape(1), weight.grad, rtol=1e-13, atol=1e-15)


def test_softplus_beta_against_pytorch_and_its_differences():
    """d/dX against F.softplus's autograd; F.softplus takes beta only as a number, so d/dbeta against central
    differences of F.softplus in beta."""
    module = _module("sum(G * softplus(X, s))", ["s", "X"])
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    g, beta = torch.tensor(rng.normal(size=(4, 3))), 1.7
    (g * F.softplus(x, beta=beta)).sum().backward()
    _, grads = _run(module, X=x.detach(), G=g, s=torch.tensor(beta, dtype=torch.float64))
    torch.testing.assert_close(grads["X"], x.grad, rtol=1e-13, atol=1e-15)
    h, x = 1e-5, x.detach()
    differences = ((g * F.softplus(x, beta=beta + h)).sum() - (g * F.softplus(x, beta=beta - h)).sum()) / (2 * h)
    assert abs(float(grads["s"]) - float(differences)) < 1e-8


@pytest.mark.parametrize("text", ["sum(softplus(X, 1 + sigmoid(r)))", "sum(G * leaky_relu(X, exp(-r)))"])
def test_a_parameter_made_of_dims_runs_in_torch_code(text):
    """A function of dims inside a parameter (r, X's columns) is computed on a tensor (torch refuses an int)."""
    n, r = sd.dims("n r")
    X, G = sd.matrix("X", n, r), sd.matrix("G", n, r)
    d = sd.derive(sd.parse(text, X=X, G=G, r=r), [X])
    assert sd.check(d, sizes={"n": 3, "r": 4}).ok


def test_clip_bounds_agree_with_torch_clamp_even_where_they_cross():
    """A row of lower bounds and a column of upper bounds, some entries with lo > hi (clamp gives hi there, and
    the gradient to hi): against torch.clamp's autograd with tensor bounds."""
    d_ = sd.derive(sd.parse("sum(G * clip(X, a, c))", **ENV), [row, column, X])
    assert gradcheck.check(d_, sizes={"N": 4, "d": 3}, exact=False).ok  # exactly: in test_ops (20 s of SymPy)
    module = sd.compile(d_, "torch")
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    lo = torch.tensor([[-0.5, 0.3, -1.0]], dtype=torch.float64, requires_grad=True)
    hi = torch.tensor([[0.5], [0.1], [1.0], [-0.8]], dtype=torch.float64, requires_grad=True)
    g = torch.tensor(rng.normal(size=(4, 3)))
    assert bool((lo > hi).any())
    (g * torch.clamp(x, lo, hi)).sum().backward()
    out, grads = _run(module, X=x.detach(), G=g, a=lo.detach(), c=hi.detach())
    torch.testing.assert_close(out, (g * torch.clamp(x, lo, hi)).sum().detach())
    for name, tensor in (("X", x), ("a", lo), ("c", hi)):
        torch.testing.assert_close(grads[name], tensor.grad, rtol=1e-13, atol=1e-15, msg=name)


def test_numpy_code_broadcasts_a_parameter_row():
    d_ = sd.derive(sd.parse("sum(G * leaky_relu(X, a))", **ENV), [row])
    numpy_module, torch_module = sd.compile(d_, "numpy"), sd.compile(d_, "torch")
    rng = np.random.default_rng(4)
    values = {"X": rng.normal(size=(5, 3)), "G": rng.normal(size=(5, 3)), "a": rng.normal(size=(1, 3))}
    from_numpy = _run(numpy_module, **values)[1]["a"]
    from_torch = _run(torch_module, **{k: torch.tensor(v) for k, v in values.items()})[1]["a"]
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), rtol=1e-13)
    assert sd.text(d_.gradients["a"]) == "sum((X - relu(X)) * G, axis=0)"


@pytest.mark.parametrize(
    "text, message",
    [
        ("sum(leaky_relu(X, X.T))", "leaky_relu\\(\\): a parameter .* N x d: cannot broadcast a d x N matrix"),
        ("leaky_relu(sum(X), a) * 1", "leaky_relu\\(\\) of a scalar takes scalar parameters, got 1 x d"),
        ("sum(softplus(X, 0))", "softplus\\(E, beta\\) needs beta != 0"),
    ],
)
def test_parameter_errors_name_the_problem(text, message):
    with pytest.raises(SymdiffError, match=message):
        sd.parse(text, **ENV)


def test_bounds_that_are_one_expression_give_the_true_derivative():
    """Soak seed 24005: clip(V, V + 1, V + 1) is V + 1, of derivative 1, where torch.clamp's convention (nothing to
    x, lo or hi at lo = hi) gives 0; one operand given twice is one variable, and a mask of numbers its number."""
    V = sd.matrix("V", 1, d)
    e = sd.parse("sum(clip(V, V + 1, V + 1))", V=V, d=d)
    assert sd.text(sd.grad(e, V)) == "ones((1, d))"
    assert sd.text(sd.parse("clip(V, V, V)", V=V)) == "V"
    assert sd.parse("clip(X, sum(G), sum(G))", **ENV).shape == (N, d)  # c a scalar: still a matrix of X's shape
    d_ = sd.derive(sd.parse("sum(exp(clip(X, a, a)) * G)", **ENV), [row])
    assert gradcheck.check(d_).ok
    from symdiff.ops.activations import step, tie_step

    assert step(0) == 0 and tie_step(0) == sd.parse("1/2") and step(-2) == 0 and step(3) == 1
