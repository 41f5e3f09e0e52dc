"""Training runs that use generated backward code, each against torch autograd.

Every run trains twice from the same seed, on the same batches: once with
torch autograd and once with symdiff's generated backward, and reports the
per-step loss difference and the final parameter difference (max relative).
``run(name)`` runs one; ``symdiff train NAME`` is the command line.

The runs need torch (and matplotlib, scikit-learn), so ``RUNS`` names where
each one is and its module is imported when it runs: ``import symdiff.train``
and ``symdiff --help`` do not start torch. runs.py and distributed.py share the
batchnorm network of batchnorm.py; neither imports the other.
"""

from __future__ import annotations

import importlib

from ..errors import SymdiffError
from ..verify.gradcheck import resolve_device
from .common import TOLERANCE, Run

# name -> (module of symdiff.train, function building the Run)
RUNS = {
    "linear-regression": ("runs", "linear_regression"),
    "sigmoid-mlp": ("runs", "sigmoid_mlp"),
    "numpy-mlp": ("runs", "numpy_mlp"),
    "batchnorm-mlp": ("runs", "batchnorm_mlp"),
    "autoencoder": ("runs", "autoencoder"),
    "ddp": ("distributed", "ddp"),
    "newton-cg": ("newton", "newton_run"),
    "gaussian-covariance": ("covariance", "gaussian_covariance"),
}
WITH_OPTIMIZER = ("linear-regression", "sigmoid-mlp", "autoencoder")  # runs that take --optimizer
WITH_SHARPNESS = ("linear-regression", "sigmoid-mlp", "autoencoder")  # runs with a curvature version (curvature.py)


def run(
    name: str,
    device: str = "auto",
    quick: bool = False,
    dtype: str = "float64",
    out=None,
    progress=True,
    optimizer=None,
    sharpness: bool = False,
) -> Run:
    """Run ``name`` (one of ``RUNS``) and save its figures in ``out`` (default: no figures).

    ``optimizer`` (sgd, momentum or nesterov; runs in ``WITH_OPTIMIZER``) trains the generated side with
    symdiff's update from the proved forms and the autograd side with torch.optim.SGD. ``sharpness`` (runs in
    ``WITH_SHARPNESS``): the run's curvature version instead, lambda_max of the Hessian by the emitted HVP.
    """
    if name not in RUNS:
        raise SymdiffError(f"no training run named {name!r} (runs: {', '.join(RUNS)})")
    if dtype not in TOLERANCE:
        raise SymdiffError(f"dtype must be float64 or float32, got {dtype!r}")
    if optimizer is not None and name not in WITH_OPTIMIZER:
        raise SymdiffError(f"--optimizer is for the runs {', '.join(WITH_OPTIMIZER)}; {name} does not take one")
    if sharpness and (name not in WITH_SHARPNESS or optimizer is not None):
        raise SymdiffError(f"--sharpness is for the runs {', '.join(WITH_SHARPNESS)}, with plain gradient descent")
    module, function = ("curvature", RUNS[name][1]) if sharpness else RUNS[name]
    build = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    options = {"optimizer": optimizer} if optimizer is not None else {}
    result = build(resolve_device(device), quick, dtype, progress, **options)
    if out is not None:
        result.save_figures(out)
    return result


__all__ = ["RUNS", "TOLERANCE", "WITH_OPTIMIZER", "WITH_SHARPNESS", "Run", "run"]
