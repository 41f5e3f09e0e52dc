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
