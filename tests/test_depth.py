"""Deep networks: the adjoints of the layers above are read by name, and the gradients stay right."""

import numpy as np
import pytest
import sympy as sp
import torch

from symdiff import codegen
from symdiff.bench.scaling import mlp_spec, mlp_spec_text
from symdiff.cli import main
from symdiff.derivation import NAMED_SIZE


def _autograd_gradients(depth: int, values: dict) -> dict:
    """The MLP's gradients by torch autograd of a forward written here, independently of symdiff."""
    leaves = {k: torch.tensor(v, requires_grad=k not in ("X", "Y")) for k, v in values.items()}
    y = leaves["X"]
    for layer in range(1, depth + 1):
        z = leaves[f"A{layer}"] @ y + leaves[f"b{layer}"]
        y = torch.sigmoid(z) if layer < depth else z
    (((y - leaves["Y"]) ** 2).sum() / 2).backward()
    return {k: t.grad.numpy() for k, t in leaves.items() if t.grad is not None}


@pytest.mark.parametrize("depth", [3, 12])
def test_deep_mlp_gradients_match_autograd(depth):
    d = mlp_spec(depth).derive()
    rng = np.random.default_rng(depth)
    width = 5
    values = {"X": rng.normal(size=(width, 1)), "Y": rng.normal(size=(1, 1))}
    for layer in range(1, depth + 1):
        rows = 1 if layer == depth else width
        values[f"A{layer}"] = rng.normal(size=(rows, width))
        values[f"b{layer}"] = rng.normal(size=(rows, 1))
    expected = _autograd_gradients(depth, values)
    for backend in ("numpy", "torch"):
        module = codegen.compile(d, backend)
        args = [values[n] if backend == "numpy" else torch.tensor(values[n]) for n in module.INPUTS]
        _, saved = module.forward(*args)
        grads = module.backward(saved, 1.0)
        assert set(grads) == set(expected)
        for name, g in grads.items():
            np.testing.assert_allclose(np.asarray(g), expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_deep_layer_reads_the_adjoints_above_by_name():
    d = mlp_spec(12).derive()
    named = d.named_adjoints
    assert named, "a 12-layer network names some adjoints"
    symbols = {s.symbol for s in named}
    first_layer = d.gradients["A1"]
    # A1's gradient reads a named adjoint instead of writing out the eleven layers above it
    assert first_layer.free_symbols & symbols
    for step in d.steps:
        value_size = sum(1 for _ in sp.preorder_traversal(step.value))
        assert value_size <= 3 * NAMED_SIZE, f"{step.name}'s value swelled to {value_size} nodes"
    # expanding the names gives back an expression over the inputs and intermediates only
    expanded = d.expand(first_layer)
    assert not expanded.free_symbols & symbols
    assert not expanded.free_symbols & {s.symbol for s in d.forward}


def test_a_shallow_network_names_no_adjoint():
    d = mlp_spec(2).derive()
    assert d.named_adjoints == []


def test_derive_prints_the_named_adjoints_first(tmp_path, capsys):
    spec = tmp_path / "deep.toml"
    spec.write_text(mlp_spec_text(8))
    assert main(["derive", str(spec), "--wrt", "A1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    named = [line.split(" = ")[0] for line in lines if line.startswith("dloss_d")]
    assert named, lines
    gradient = next(line for line in lines if line.startswith("dloss/dA1"))
    assert any(name in gradient for name in named), gradient
