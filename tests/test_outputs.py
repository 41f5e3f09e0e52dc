"""Targets with several outputs: "h, c" on the command line, [output.*] tables in a spec, derive_outputs in
Python; the generated layer returns a tuple and its backward takes one gradient per output, against torch
autograd of the same layer written in torch."""

import importlib

import numpy as np
import pytest
import torch

import symdiff as sd
from symdiff import catalog
from symdiff.errors import SymdiffError
from symdiff.target import resolve

SHAPES = ["X=N,d", "W=d,h", "b=1,h"]
LAYER = "tanh(X @ W + b), sum(relu(X @ W)), X @ W"


def _torch_layer(X, W, b):
    z = X @ W
    return torch.tanh(z + b), torch.relu(z).sum(), z


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {name: torch.tensor(rng.normal(size=shape)) for name, shape in (("X", (5, 3)), ("W", (3, 4)), ("b", (1, 4)))}


def test_a_tuple_of_outputs_is_a_layer_returning_them():
    target = resolve(LAYER, SHAPES, ["W", "X", "b"])
    d = target.derivation
    assert d.outputs == (("f1", "G_f1"), ("f2", "G_f2"), ("f3", "G_f3"))
    assert sd.check(d).ok  # the gradients of L = <G_f1, f1> + G_f2 f2 + <G_f3, f3>, three ways
    module = sd.compile(d, "torch")
    values = _inputs()
    leaves = {k: v.clone().requires_grad_() for k, v in values.items()}
    expected_outputs = _torch_layer(**leaves)
    upstream = [torch.randn_like(y) for y in expected_outputs]
    expected = torch.autograd.grad(
        sum((g * y).sum() for g, y in zip(upstream, expected_outputs)), list(leaves.values())
    )
    outputs, saved = module.forward(*(values[n] for n in module.INPUTS))
    for ours, theirs in zip(outputs, expected_outputs):
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-12, atol=1e-14)
    grads = module.backward(saved, tuple(upstream))
    for name, theirs in zip(leaves, expected):
        torch.testing.assert_close(grads[name], theirs, rtol=1e-12, atol=1e-14, msg=name)


def test_the_function_takes_one_gradient_per_output_and_none_for_an_unused_one():
    d = resolve(LAYER, SHAPES, ["W", "X", "b"]).derivation
    module = sd.compile(d, "torch")
    leaves = {k: v.requires_grad_() for k, v in _inputs(1).items()}
    first, second, _ = module.Function.apply(*(leaves[n] for n in module.INPUTS))
    ours = torch.autograd.grad(first.sum() + 3 * second, [leaves["W"], leaves["b"]])
    y1, y2, _ = _torch_layer(**leaves)
    theirs = torch.autograd.grad(y1.sum() + 3 * y2, [leaves["W"], leaves["b"]])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    values = {k: v.detach() for k, v in leaves.items()}
    (y1, y2, y3), saved = module.forward(*(values[n] for n in module.INPUTS))
    grads = module.backward(saved, (torch.ones_like(y1), torch.tensor(3.0, dtype=torch.float64), None))
    torch.testing.assert_close(grads["W"], theirs[0], rtol=1e-12, atol=1e-14)


def test_numpy_code_agrees_with_torch_code():
    d = resolve(LAYER, SHAPES, ["W"]).derivation
    numpy_module, torch_module = sd.compile(d, "numpy"), sd.compile(d, "torch")
    values = _inputs(2)
    arrays = {k: v.numpy() for k, v in values.items()}
    outputs, saved = numpy_module.forward(*(arrays[n] for n in numpy_module.INPUTS))
    rng = np.random.default_rng(3)
    upstream = [rng.normal(size=np.shape(y)) for y in outputs]
    from_numpy = numpy_module.backward(saved, upstream)["W"]
    _, saved = torch_module.forward(*(values[n] for n in torch_module.INPUTS))
    from_torch = torch_module.backward(saved, [torch.tensor(g) for g in upstream])["W"]
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), rtol=1e-12)


def test_derive_outputs_in_python_and_the_printed_backward():
    N, d_, h = sd.dims("N d h")
    X, W = sd.matrix("X", N, d_), sd.matrix("W", d_, h)
    z = sd.parse("X @ W", X=X, W=W)
    d = sd.derive_outputs({"y": sd.parse("tanh(z)", z=z), "s": sd.parse("sum(z)", z=z)}, [W])
    assert set(d.inputs) == {"G_s", "G_y", "W", "X"} and d.outputs == (("y", "G_y"), ("s", "G_s"))
    assert sd.text(d.gradients["W"]) == "X.T @ ((1 - y**2) * G_y) + G_s * sum(X.T, axis=1)"
    assert sd.check(d).ok


def test_the_lstm_spec_declares_its_two_outputs():
    spec = catalog.load("006_lstm_cell")
    assert spec.outputs == {"Hn": "Gh", "Cn": "Gc"}
    assert spec.derive().outputs == (("Hn", "Gh"), ("Cn", "Gc"))
    assert not spec.double_backward


def _spec(tmp_path, extra: str):
    path = tmp_path / "layer.toml"
    path.write_text(
        'title = "t"\nsource = "s"\ndims = ["N"]\nwrt = ["X"]\n[shapes]\nX = ["N", 1]\n'
        '[forward]\ny = "tanh(X)"\nz = "X * X"\n' + extra
    )
    return path


@pytest.mark.parametrize(
    "extra, message",
    [
        ('[output.w]\nupstream = "G"\n', "\\[output.w\\] names no step of forward \\(y, z\\)"),
        ('[output.y]\nupstream = "a.b"\n', "\\[output.y\\] upstream 'a.b' is not a valid name"),
        ("[output.y]\nupstream = 3\n", "\\[output.y\\] upstream 3 is not a valid name"),
        ('[output.y]\nupstream = "lambda"\n', "\\[output.y\\] upstream 'lambda' is"),
        ('[output.y]\nupstream = "X"\n[output.z]\n', "needs a name of its own"),
        ('[output.y]\nupstream = "G"\n[output.z]\nupstream = "G"\n', "needs a name of its own"),
        ('[output.y]\ncolour = "red"\n', "takes only the key upstream"),
    ],
)
def test_output_tables_are_checked(tmp_path, extra, message):
    with pytest.raises(SymdiffError, match=message):
        catalog.load_file(_spec(tmp_path, extra))


def test_a_spec_with_output_tables_emits_the_layer(tmp_path):
    spec = catalog.load_file(_spec(tmp_path, "[output.y]\n[output.z]\n"))
    module = sd.compile(spec.derive(), "numpy")
    (y, z), saved = module.forward(np.array([[0.5], [-1.0]]))
    grads = module.backward(saved, (np.ones((2, 1)), np.full((2, 1), 2.0)))
    np.testing.assert_allclose(grads["X"], 1 - np.tanh([[0.5], [-1.0]]) ** 2 + 4 * np.array([[0.5], [-1.0]]))


@pytest.mark.parametrize(
    "text, message",
    [("(X @ W,)", "a tuple of one"), ("X @ W, *X", "syntax error"), ("(X @ W, X) @ W", "a tuple is not allowed")],
)
def test_tuple_errors_name_the_problem(text, message):
    with pytest.raises(SymdiffError, match=message):
        resolve(text, SHAPES, ["W"])


def test_derive_outputs_and_the_generated_backward_name_their_misuse():
    N, h = sd.dims("N h")
    X = sd.matrix("X", N, h)
    y = sd.parse("tanh(X)", X=X)
    with pytest.raises(SymdiffError, match="the outputs as a dict"):
        sd.derive_outputs([y], [X])
    with pytest.raises(SymdiffError, match="a valid name and a SymPy expression"):
        sd.derive_outputs({"y": "tanh(X)"}, [X])
    with pytest.raises(SymdiffError, match="upstream: a list of names"):
        sd.derive_outputs({"y": y, "z": 2 * y}, [X], upstream="Gy")
    module = sd.compile(sd.derive_outputs({"y": y, "z": 2 * y}, [X]), "numpy")
    _, saved = module.forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match="one gradient per output, \\(G_y, G_z\\)"):
        module.backward(saved, np.ones((2, 3)))


def test_two_gradients_of_one_value_are_two_arrays():
    """The LSTM's b_ih and b_hh have one gradient; the layer returns it as two arrays, so that updating one in place
    leaves the other."""
    module = importlib.import_module("symdiff.generated.numpy_code.006_lstm_cell")
    rng = np.random.default_rng(0)
    shapes = {"X": (2, 3), "H": (2, 2), "C": (2, 2), "W_ih": (8, 3), "W_hh": (8, 2), "b_ih": (1, 8), "b_hh": (1, 8)}
    _, saved = module.forward(*(rng.normal(size=shapes[n]) for n in module.INPUTS))
    grads = module.backward(saved, (np.ones((2, 2)), np.ones((2, 2))))
    assert np.array_equal(grads["b_ih"], grads["b_hh"]) and grads["b_ih"] is not grads["b_hh"]


def test_a_layer_has_no_double_backward():
    with pytest.raises(SymdiffError, match="--double-backward is for the torch Function of a gradient of a loss"):
        resolve(LAYER, SHAPES, ["W"]).module("torch", double_backward=True)


def test_an_output_key_that_is_no_table_is_refused(tmp_path):
    path = tmp_path / "layer.toml"
    path.write_text(
        'title = "t"\nsource = "s"\ndims = ["N"]\nwrt = ["X"]\noutput = 3\n[shapes]\nX = ["N", 1]\n[forward]\ny = "tanh(X)"\n'
    )
    with pytest.raises(SymdiffError, match="output is a table per output step"):
        catalog.load_file(path)
