"""Integer class labels: take and one_hot, the cross-entropy with class indices against F.cross_entropy, and the
errors that name what is wrong with labels."""

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

N, C = sd.dims("N C")
Z, y = sd.matrix("Z", N, C), sd.matrix("y", N, 1)
CROSS_ENTROPY = "-mean(take(log_softmax(Z, axis=1), y, axis=1))"


def test_cross_entropy_with_class_indices_agrees_with_pytorch():
    """The catalog's emitted Function, given y as F.cross_entropy takes it (int64, shape (N,))."""
    module = importlib.import_module("symdiff.generated.torch_code.006_cross_entropy_labels")
    spec = catalog.load("006_cross_entropy_labels")
    assert spec_module(spec, spec.derive(), "torch") == inspect.getsource(module)  # the catalog's, up to date
    torch.manual_seed(0)
    logits = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    expected = F.cross_entropy(logits, labels)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    ours = module.Function.apply(logits, labels)
    (grad,) = torch.autograd.grad(ours, logits)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-14)
    assert "torch.gather(h0, 1, y.reshape(-1, 1))" in inspect.getsource(module)


def test_the_labels_are_typed_in_the_signature_and_numpy_agrees():
    d = sd.derive(sd.parse(CROSS_ENTROPY, Z=Z, y=y), [Z])
    source = sd.emit(d, "torch")
    assert "y: N class indices in [0, C), int64 (shape (N,) or (N, 1))" in source
    numpy_module = sd.compile(d, "numpy")
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(6, 3)), np.array([2, 0, 1, 1, 0, 2])
    value, saved = numpy_module.forward(logits, labels)
    grad = numpy_module.backward(saved)["Z"]
    tensor = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(tensor, torch.tensor(labels))
    expected.backward()
    assert np.isclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_the_gradient_reads_as_softmax_minus_the_one_hot_labels():
    """Every row of one_hot sums to 1, so sum(one_hot(y, C), axis=1) * softmax does not stay in the result."""
    d = sd.derive(sd.parse(CROSS_ENTROPY, Z=Z, y=y), [Z])
    assert sd.text(d.gradients["Z"]) == "1/N * (softmax(Z, axis=1) - one_hot(y, C))"


def test_given_labels_are_checked_and_used():
    d = sd.derive(sd.parse("sum(take(Z * Z, y, axis=1))", Z=Z, y=y), [Z])
    values = {"Z": np.arange(6.0).reshape(2, 3), "y": np.array([2, 0])}
    report = gradcheck.check(d, inputs=values)
    assert report.ok, report.summary()
    grads = sd.compile(d, "numpy")
    _, saved = grads.forward(values["Z"], values["y"])
    np.testing.assert_array_equal(grads.backward(saved)["Z"], [[0, 0, 4], [6, 0, 0]])
    with pytest.raises(SymdiffError, match=r"'y' holds class labels: it needs 2 integers in \[0, 3\); entry 0 is 3"):
        gradcheck.check(d, inputs={**values, "y": np.array([3, 0])})
    with pytest.raises(SymdiffError, match="holds class labels.*entry 0 is 0.5 \\(1 such\\)"):
        gradcheck.check(d, inputs={**values, "y": np.array([0.5, 1])})


def test_generated_numpy_code_refuses_a_negative_label():
    """numpy would take label -1 as the last class; torch (and F.cross_entropy) refuse it, and so does the code."""
    module = sd.compile(sd.derive(sd.parse(CROSS_ENTROPY, Z=Z, y=y), [Z]), "numpy")
    with pytest.raises(IndexError, match="class labels must be in \\[0, C\\); got -1"):
        module.forward(np.zeros((3, 4)), np.array([0, -1, 3]))


def test_take_along_columns_is_a_row():
    X, z = sd.matrix("X", N, C), sd.matrix("z", C, 1)
    e = sd.parse("take(X, z, axis=0)", X=X, z=z)
    assert e.shape == (1, C)
    d = sd.derive(sd.parse("sum(take(X, z, axis=0) ** 2)", X=X, z=z), [X])
    assert gradcheck.check(d).ok


@pytest.mark.parametrize(
    "text, wrt, message",
    [
        (CROSS_ENTROPY, "y", "y holds integer class labels \\(in one_hot or take\\): it has no gradient"),
        (CROSS_ENTROPY + " + sum(y)", "Z", "y holds class labels .* also used as numbers elsewhere"),
        ("sum(take(Z, y.T, axis=1))", "Z", "take: the labels must be an input column \\(n x 1\\)"),
        ("sum(take(Z, 2 * y, axis=1))", "Z", "take: the labels must be an input column"),
        ("sum(one_hot(y, 0.5) * Z)", "Z", "one_hot: the number of classes must be a positive integer or a dim"),
        ("sum(one_hot(y, N) * take(Z, y, axis=1))", "Z", "the labels y index"),
        ("sum(take(Z.T, y, axis=1))", "Z", "take along axis 1 needs a label per row"),
        ("sum(take(Z, y, axis=0))", "Z", "take along axis 0 needs a label per column"),
    ],
)
def test_label_errors_name_the_problem(text, wrt, message):
    with pytest.raises(SymdiffError, match=message):
        sd.derive(sd.parse(text, Z=Z, y=y, N=N, C=C), [wrt])


def test_the_hvp_of_the_cross_entropy_draws_its_labels_as_labels():
    """Soak seed 24007: the HVP's pairing <grad f, V> has lost the labels (softmax's Hessian does not read them),
    but f takes them: they are drawn as class indices still."""
    from symdiff.target import SecondOrder, resolve

    d = resolve(CROSS_ENTROPY, ["Z=N,C", "y=N,1"], [], SecondOrder("hvp", "Z")).derivation
    assert sd.check(d, exact=False).ok
