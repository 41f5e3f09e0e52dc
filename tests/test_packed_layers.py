"""Layers written as PyTorch stores them: the GRU cell with packed weights, sliced per gate in the expression,
against torch.nn.GRUCell on the same weights; and slices' errors."""

import importlib
import inspect

import numpy as np
import pytest
import torch

import symdiff as sd
from symdiff import catalog
from symdiff.errors import SymdiffError
from symdiff.target import resolve, spec_module


def test_the_packed_gru_cell_agrees_with_torch_gru_cell():
    spec = catalog.load("006_gru_cell")
    module = sd.codegen.compile(spec.derive(), "torch", parameters=spec.parameters, upstream=spec.upstream)
    assert spec_module(spec, spec.derive(), "torch")  # the catalog's emitted module
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(3, 4, dtype=torch.float64)
    X = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    H = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    G = torch.randn(5, 4, dtype=torch.float64)
    (G * cell(X, H)).sum().backward()
    values = {
        "X": X.detach(),
        "H": H.detach(),
        "W_ih": cell.weight_ih.detach(),
        "W_hh": cell.weight_hh.detach(),
        "b_ih": cell.bias_ih.detach().reshape(1, -1),
        "b_hh": cell.bias_hh.detach().reshape(1, -1),
    }
    out, saved = module.forward(*[values[name] for name in module.INPUTS])
    torch.testing.assert_close(out, cell(X, H).detach(), rtol=1e-12, atol=1e-12)
    grads = module.backward(saved, G)
    expected = {
        "X": X.grad,
        "H": H.grad,
        "W_ih": cell.weight_ih.grad,
        "W_hh": cell.weight_hh.grad,
        "b_ih": cell.bias_ih.grad.reshape(1, -1),
        "b_hh": cell.bias_hh.grad.reshape(1, -1),
    }
    for name, value in expected.items():
        torch.testing.assert_close(grads[name], value, rtol=1e-10, atol=1e-12, msg=name)


def test_a_slice_and_its_gradient_are_checked_three_ways():
    target = resolve("sum(G * tanh(X @ W[:, h:2*h])) + sum(W[0:1, 0:h]**2)", ["X=N,d", "W=d,3*h", "G=N,h"], ["W", "X"])
    report = sd.check(target.derivation)
    assert report.ok, report.summary()
    assert "pad(" in sd.text(target.derivation.gradients["W"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("sum(W[1:, :])", "rows 1:d do not lie within"),
        ("sum(W[:, 0:4*h])", "columns 0:4\\*h do not lie within"),
        ("sum(W[0, :])", "an index i is E\\[i:i\\+1, :\\]"),
        ("sum(W[::2, :])", "a slice with a step"),
        ("sum(W[:, 0:s])", "a slice's bound must be an integer or an expression of dims"),
    ],
)
def test_slice_errors_name_the_problem(text, message):
    d, h = sd.dims("d h")
    with pytest.raises(SymdiffError, match=message):
        sd.parse(text, W=sd.matrix("W", d, 3 * h), h=h, s=sd.scalar("s"))


def test_shapes_may_be_expressions_of_dims(tmp_path):
    with pytest.raises(SymdiffError, match="positive integers and names under"):
        resolve("sum(W)", ["W=d,h/2"], ["W"])
    with pytest.raises(SymdiffError, match="not a positive integer for every size"):
        resolve("sum(W)", ["W=d,h-h"], ["W"])
    d, h = sd.dims("d h")
    assert tuple(resolve("sum(W[:, h:])", ["W=d,2*h+1"], ["W"]).derivation.inputs["W"].shape) == (d, 2 * h + 1)


def test_code_generation_keeps_compound_shapes_whole():
    """Soak seed 23004: sympy.cse named 2*k in one argument's shape and not in another's, and maximum (batchnorm)
    then refused its arguments' shapes; a compound shape now stands as one symbol while cse runs."""
    for text, shapes in (
        ("sum(batchnorm(H, M, M, 0.001)[:, k:k + k])", ["H=m,2*k", "M=1,2*k"]),
        # k only inside 2*k (an int argument, log1p of it a tensor); like, a name the module binds, inside a shape
        ("sigmoid(log1p(k)**2 + relu(std(z[:k, :])))", ["z=2*k,1"]),
        (
            "sum(pad(layer_norm(y, g, H, 1e-05), (1, 0), (2 * like + 2, m))[1:1 + 2 * like, :][:like, :])",
            ["y=2*like,m", "g=1,m", "H=1,m"],
        ),
        ("sum(batchnorm(relu(C), W, maximum(C, zeros((1, m + 1))), eps=0.1)[:, 1:1 + m])", ["C=1,m+1", "W=1,m+1"]),
    ):
        target = resolve(text, shapes, [shapes[0].split("=")[0]])
        report = sd.check(target.derivation, sizes={"m": 3, "k": 2, "like": 2})
        assert report.ok, report.summary()


def _lstm_cell():
    torch.manual_seed(1)
    cell = torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    X, H, C = (torch.randn(5, n, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
    return cell, X, H, C


def _lstm_module():
    """The catalog's generated LSTM cell, as committed (and up to date)."""
    module = importlib.import_module("symdiff.generated.torch_code.006_lstm_cell")
    spec = catalog.load("006_lstm_cell")
    assert spec_module(spec, spec.derive(), "torch") == inspect.getsource(module)
    return module


def test_the_packed_lstm_cell_returns_h_and_c_as_torch_lstm_cell():
    """The Function returns (h, c) and takes a gradient for each, against torch.nn.LSTMCell on the same weights."""
    module = _lstm_module()
    cell, X, H, C = _lstm_cell()
    layer = module.Module(cell.weight_ih, cell.weight_hh, cell.bias_ih.reshape(1, -1), cell.bias_hh.reshape(1, -1))
    Gh, Gc = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    h, c = cell(X, (H, C))
    expected = torch.autograd.grad((Gh * h).sum() + (Gc * c).sum(), [X, H, C, cell.weight_ih, cell.bias_hh])
    ours_h, ours_c = layer(X, H, C)
    torch.testing.assert_close(ours_h, h, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours_c, c, rtol=1e-12, atol=1e-14)
    found = torch.autograd.grad((Gh * ours_h).sum() + (Gc * ours_c).sum(), [X, H, C, layer.W_ih, layer.b_hh])
    for name, ours, theirs in zip(["X", "H", "C", "W_ih", "b_hh"], found, expected):
        torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=1e-10, atol=1e-12, msg=name)


def test_an_output_a_network_does_not_use_gets_zeros():
    """Only h used (torch gives the Function zeros for c's gradient), and backward called with None for c."""
    module = _lstm_module()
    cell, X, H, C = _lstm_cell()
    weights = [cell.weight_ih, cell.weight_hh, cell.bias_ih.reshape(1, -1), cell.bias_hh.reshape(1, -1)]
    h, _ = module.Function.apply(X, H, C, *weights)
    (found,) = torch.autograd.grad(h.sum(), [X])
    (expected,) = torch.autograd.grad(cell(X, (H, C))[0].sum(), [X])
    torch.testing.assert_close(found, expected, rtol=1e-10, atol=1e-12)
    (_, _), saved = module.forward(*(t.detach() for t in (X, H, C, *weights)))
    with_none = module.backward(saved, (torch.ones(5, 4, dtype=torch.float64), None))
    torch.testing.assert_close(with_none["X"], expected, rtol=1e-10, atol=1e-12)


def test_a_concatenation_agrees_with_torch_cat():
    """[x, h] @ W, the way a hand-written RNN cell joins its input and state, against torch.cat's autograd."""
    N, i, h = sd.dims("N i h")
    X, H, W, G = sd.matrix("X", N, i), sd.matrix("H", N, h), sd.matrix("W", i + h, h), sd.matrix("G", N, h)
    f = sd.parse("sum(G * tanh(concat([X, H], axis=1) @ W))", X=X, H=H, W=W, G=G)
    module = sd.compile(sd.derive(f, [X, H, W]), "torch")
    torch.manual_seed(2)
    values = {"X": torch.randn(4, 3), "H": torch.randn(4, 2), "W": torch.randn(5, 2), "G": torch.randn(4, 2)}
    values = {k: v.double().requires_grad_(k != "G") for k, v in values.items()}
    (values["G"] * torch.tanh(torch.cat([values["X"], values["H"]], dim=1) @ values["W"])).sum().backward()
    _, saved = module.forward(*[values[name].detach() for name in module.INPUTS])
    grads = module.backward(saved)
    for name in "XHW":
        torch.testing.assert_close(grads[name], values[name].grad, rtol=1e-10, atol=1e-12, msg=name)
    with pytest.raises(SymdiffError, match="concat along axis 1 needs one row count"):
        sd.parse("sum(concat([X, W], axis=1))", X=X, W=W)
    with pytest.raises(SymdiffError, match="must be a list of matrices"):
        sd.parse("sum(concat(X))", X=X)


def test_the_gradients_of_slices_are_written_into_one_buffer():
    """The packed weights' adjoint is a zeros array with each gate's block added in, not padded copies added up;
    a loss's gradient made of slices too, then scaled by grad_output in place."""
    for backend in ("numpy", "torch"):
        source = inspect.getsource(importlib.import_module(f"symdiff.generated.{backend}_code.006_gru_cell"))
        assert "dL_dA[:, h : 2 * h] += " in source and ".pad(" not in source, backend
    target = resolve("sum(G * tanh(W[:, 0:h])) + sum(W[:, h:2*h] ** 2)", ["W=d,2*h", "G=d,h"], ["W"])
    assert sd.check(target.derivation).ok
    module = sd.compile(target.derivation, "numpy")
    assert 'grads["W"] *= grad_output' in module.__source__
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    _, saved = module.forward(*[{"W": w, "G": g}[name] if name != "h" else 2 for name in module.INPUTS])
    expected = np.concatenate([g * (1 - np.tanh(w[:, :2]) ** 2), 2 * w[:, 2:]], axis=1)
    np.testing.assert_allclose(module.backward(saved, 0.5)["W"], 0.5 * expected, rtol=1e-14)


def test_split_parts_agree_with_torch_split():
    """split(A, (h, h, h), axis=1)[k] are the gates of a packed layer; as a whole target, its blocks are outputs."""
    target = resolve("sum(G * tanh(split(X @ W, (h, h, h), axis=1)[1]))", ["X=N,d", "W=d,3*h", "G=N,h"], ["W"])
    module = sd.compile(target.derivation, "torch")
    torch.manual_seed(3)
    X, W, G = torch.randn(4, 3, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64), torch.randn(4, 2)
    W.requires_grad_()
    expected = (G.double() * torch.tanh(torch.split(X @ W, 2, dim=1)[1])).sum()
    (expected_grad,) = torch.autograd.grad(expected, W)
    values = {"X": X, "W": W.detach(), "G": G.double()}
    out, saved = module.forward(*[values[n] for n in module.INPUTS])
    torch.testing.assert_close(out, expected.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(module.backward(saved)["W"], expected_grad, rtol=1e-12, atol=1e-14)
    layer = resolve("split(X @ W, (h, 2*h), axis=1)", ["X=N,d", "W=d,3*h"], ["W"]).derivation
    assert [y for y, _ in layer.outputs] == ["f1", "f2"]
    split_module = sd.compile(layer, "torch")
    (first, second), _ = split_module.forward(*[{"X": X, "W": W.detach(), "h": 2}[n] for n in split_module.INPUTS])
    for ours, theirs in zip((first, second), torch.split(X @ W.detach(), [2, 4], dim=1)):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sum(split(W, (h, 1), axis=1)[0])", "split: the sizes \\(h, 1\\) add up to h \\+ 1, not the 3\\*h columns"),
        ("sum(split(W, (h, 2*h), axis=1))", "split\\(\\) gives 2 parts: take one, split\\(...\\)\\[k\\]"),
        ("sum(split(W, (h, 2*h), axis=1)[2])", "a part of a split is split\\(...\\)\\[k\\], k one of 0..1"),
        ("sum(split(W, h, axis=1)[0])", "sizes must be a tuple of sizes"),
    ],
)
def test_split_errors_name_the_problem(text, message):
    with pytest.raises(SymdiffError, match=message):
        resolve(text, ["W=d,3*h"], ["W"])
