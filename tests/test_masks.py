"""Masks in a backward pass (step, tie_step, clip_step, leaky_step, max_mask) read the values the forward
compared, so ties the forward saw are ties in the backward, in numpy and torch code alike."""

import numpy as np
import pytest
import torch

import symdiff as sd
from symdiff import codegen
from symdiff.cli import main
from symdiff.verify import reference


def test_a_tie_on_a_set_of_positive_measure_is_seen(capsys):
    """maximum(clip(z), z) ties wherever 0 <= z <= 1; the torch backward tested it once as X @ g - h0 and once
    as addmm(h0, X, g, alpha=-1), which round differently: half the gradient was lost at (2, 0)."""
    args = ["check", "sum(maximum(clip(X @ g, lo=0, hi=1), X @ g))", "--shape", "X=3,2", "g=2,3"]
    assert main([*args, "--wrt", "X", "g", "--no-exact"]) == 0, capsys.readouterr().out


def _autograd_of_reference(d, values):
    tensors = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
    reference.forward(d, tensors, {}).backward()
    return {name: t.grad.numpy() for name, t in tensors.items()}


@pytest.mark.parametrize("backend", codegen.BACKENDS)
@pytest.mark.parametrize(
    "text",
    [
        # the sum compared whole in the forward, regrouped by SymPy in the mask's argument (-(b + c) = -b - c)
        "sum(minimum(clip(Y - Z + X @ g, lo=0, hi=1), X @ g + Y - Z))",
        "sum(maximum(relu(Y + X @ g + Z), Z + X @ g + Y))",
        "sum(maximum(leaky_relu(X @ g - Z, 0.5), X @ g - Z) + max(relu(Y - X @ g), axis=1))",
    ],
)
def test_masks_read_the_values_the_forward_compared(text, backend):
    X, g, Y, Z = sd.matrix("X", 3, 2), sd.matrix("g", 2, 3), sd.matrix("Y", 3, 3), sd.matrix("Z", 3, 3)
    d = sd.derive(sd.parse(text, X=X, g=g, Y=Y, Z=Z), [X, g, Y, Z])
    module = codegen.compile(d, backend)
    for seed in range(20):  # ties wherever clip(z) = z, relu(z) = z, leaky_relu(z) = z: half the entries
        rng = np.random.default_rng(seed)
        values = {"X": rng.uniform(-1, 1, (3, 2)), "g": rng.uniform(-1, 1, (2, 3))}
        values |= {"Y": rng.uniform(-0.5, 0.5, (3, 3)), "Z": rng.uniform(-0.5, 0.5, (3, 3))}
        as_backend = (lambda v: v) if backend == "numpy" else torch.tensor
        grads = module.backward(module.forward(*[as_backend(values[n]) for n in module.INPUTS])[1])
        truth = _autograd_of_reference(d, values)
        for name in values:
            np.testing.assert_allclose(np.asarray(grads[name]), truth[name], atol=1e-12, err_msg=f"{name}, seed {seed}")


def test_the_std_of_a_column_constant_up_to_rounding_is_zero_with_zero_gradient(capsys):
    """batchnorm of a constant column is the constant y; torch.std of (y, y, y) may be 1.7e-17 rather than 0, and
    safe_recip of that turned the rounding of the deviations into a gradient of -1.22 (the truth is 0: the
    output is 0 for every input). The backward also recomputed batchnorm's output and its std (std(batchnorm(X))
    in std's rule was not matched with the forward's expansion), rather than reading what the forward saved."""
    text = "std(batchnorm(abs(softmax(W, axis=1)), b, y, 0.001), ddof=1)"
    args = ["check", text, "--shape", "W=k,1", "b=1,1", "y=1,1", "--wrt", "W", "b", "y", "--sizes", "k=3"]
    for seed in ("5941", "0", "3"):
        assert main([*args, "--seed", seed, "--no-exact"]) == 0, capsys.readouterr().out
    source = codegen.emit(sd.derive(sd.parse(text, **_batch(3)), list(_batch(3).values())), "torch")
    backward = source[source.index("def backward") :].split('"""')[2]
    assert "std_or_zero(" not in backward and "safe_recip(h" in backward  # the forward's std, saved


def _batch(k):
    return {"W": sd.matrix("W", k, 1), "b": sd.matrix("b", 1, 1), "y": sd.matrix("y", 1, 1)}


@pytest.mark.parametrize("backend", codegen.BACKENDS)
def test_std_is_zero_only_within_rounding(backend):
    """A constant column has std 0 and gradient 0; a spread of 1e-9 beside 1 is a spread, with its gradient."""
    X = sd.matrix("X", 3, 2)
    d = sd.derive(sd.parse("sum(std(X, axis=0, ddof=1))", X=X), [X])
    module = codegen.compile(d, backend)
    values = np.array([[0.7, 1.0], [0.7, 1.0 + 1e-9], [0.7, 1.0]])  # numpy.std of (0.7, 0.7, 0.7) is 1.4e-16
    as_backend = (lambda v: v) if backend == "numpy" else torch.tensor
    out, saved = module.forward(as_backend(values))
    assert float(out) == pytest.approx(np.std(values[:, 1], ddof=1), rel=1e-12)
    truth = _autograd_of_reference(d, {"X": values})["X"]
    assert np.all(truth[:, 0] == 0)
    np.testing.assert_allclose(np.asarray(module.backward(saved)["X"]), truth, rtol=1e-6, atol=0)
