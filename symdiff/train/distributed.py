"""Run 6: the batchnorm MLP under DistributedDataParallel, 2 CPU processes, gloo on loopback.

Each process holds both networks (nn.BatchNorm1d, and the generated batchnorm
autograd.Function) with the same initial weights, and trains them on its
half of every batch; after each backward, DDP has all-reduced the gradients,
and the process compares the two networks' averaged gradients.
"""

from __future__ import annotations

import os
import socket
import tempfile

import numpy as np
import torch

from .batchnorm import batchnorm_network, parameters_by_role
from .common import Run, digits, max_relative_difference, minibatches

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, steps: int, dtype: str, result_path: str, progress: bool):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from ..progress import progress as bar

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    kind = getattr(torch, dtype)
    (X, _, y), _ = digits()
    X, y = torch.tensor(X, dtype=kind), torch.tensor(y)
    models = {k: batchnorm_network(k == "generated", kind, "cpu") for k in ("nn.BatchNorm1d", "generated")}
    wrapped = {k: DistributedDataParallel(m) for k, m in models.items()}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k, m in wrapped.items()}
    losses = {k: [] for k in models}
    gradient_differences = []
    batches = minibatches(len(X), 128, 100, 4)[:steps]
    for idx in bar(batches, "DDP steps (rank 0)", progress and rank == 0):
        mine = torch.tensor(idx[rank::WORLD])  # this process's half of the batch
        grads = {}
        for name, model in wrapped.items():
            optimizers[name].zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[mine]), y[mine])
            loss.backward()
            losses[name].append(loss.item())
            grads[name] = {k: p.grad.reshape(-1).clone() for k, p in parameters_by_role(models[name]).items()}
            optimizers[name].step()
        gradient_differences.append(max_relative_difference(grads["generated"], grads["nn.BatchNorm1d"]))
    if rank == 0:
        final = {k: {r: v.detach().clone() for r, v in parameters_by_role(m).items()} for k, m in models.items()}
        torch.save({"losses": losses, "gradient_differences": gradient_differences, "final": final}, result_path)
    dist.destroy_process_group()


def ddp(device, quick, dtype, progress) -> Run:
    """Generated batchnorm Functions give the same all-reduced gradients as nn.BatchNorm1d under DDP."""

    steps = 5 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "result.pt")
        torch.multiprocessing.spawn(_worker, args=(_free_port(), steps, dtype, path, progress), nprocs=WORLD, join=True)
        result = torch.load(path)
    run = Run(
        "ddp",
        f"DistributedDataParallel, {WORLD} CPU processes (gloo): generated batchnorm vs nn.BatchNorm1d",
        "cpu",
        dtype,
    )
    losses = result["losses"]
    run.curves["rank 0's half-batch loss"] = (losses["nn.BatchNorm1d"], losses["generated"])
    final = result["final"]
    run.parameters["rank 0's half-batch loss"] = max_relative_difference(final["generated"], final["nn.BatchNorm1d"])
    run.checks["all-reduced gradients, max rel difference over steps"] = (
        float(np.max(result["gradient_differences"])),
        run.tolerance,
    )
    if device != "cpu":
        run.facts["device"] = f"{device} was asked for; this run uses CPU processes (gloo) by design"
    return run
