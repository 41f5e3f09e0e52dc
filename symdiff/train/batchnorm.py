"""The batchnorm MLP that two runs train: ``batchnorm-mlp`` (runs.py) and ``ddp`` (distributed.py)."""

from __future__ import annotations

import torch

from ..generated import load


def batchnorm_network(generated: bool, kind, device, seed: int = 0):
    """64 -> 64 -> batchnorm -> relu -> 10, with nn.BatchNorm1d or the generated batchnorm Module."""
    torch.manual_seed(seed)
    first, second = torch.nn.Linear(64, 64), torch.nn.Linear(64, 10)
    norm = torch.nn.BatchNorm1d(64)
    if generated:
        norm = load("002_batchnorm", "torch").Module(norm.weight.detach()[None, :], norm.bias.detach()[None, :])
    return torch.nn.Sequential(first, norm, torch.nn.ReLU(), second).to(device, kind)


def parameters_by_role(model) -> dict:
    """The parameters of a ``batchnorm_network`` by layer and role, so both batchnorm variants compare."""
    first, norm, _, second = model
    gamma, beta = (norm.weight, norm.bias) if isinstance(norm, torch.nn.BatchNorm1d) else (norm.gamma, norm.beta)
    return {"W1": first.weight, "b1": first.bias, "gamma": gamma, "beta": beta, "W2": second.weight, "b2": second.bias}
