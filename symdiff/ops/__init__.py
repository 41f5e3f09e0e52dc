"""The operations symdiff differentiates: one card per op, grouped by family.

* ``linear``: sums, products, transposes, traces, broadcasts, reshapes, the
  elementwise product and power, constant and diagonal matrices;
* ``activations``: functions applied entry by entry, the activations,
  elementwise maximum and minimum;
* ``linalg``: inverse, determinant, log-determinant, matrix powers (``powers``: their limit);
* ``nn``: softmax, log-softmax, log-sum-exp, batch and layer normalization;
* ``reductions``: variance, standard deviation, norm, maxima and minima.

``card`` says what a card declares; the registries (``CARDS``, the language's
``FUNCTIONS``, the helpers of generated code) are built from the cards as the
family modules are imported.
"""

from . import activations, linalg, linear, nn, reductions  # noqa: F401  (each module registers its cards)
from .activations import VAR, Activation, Elementwise, applied, applied_arg, elementary, elementwise, scalar_rule
from .card import CARDS, DIALECTS, FUNCTIONS, Card, MatrixOp, card_of, is_matrix, shape_text
from .linalg import LogDet, inverse, matpow
from .linear import (
    AxisSum,
    Broadcast,
    Identity,
    OneMatrix,
    Reshape,
    SumAll,
    ZeroMatrix,
    add,
    axis_sum,
    broadcast,
    diag,
    hadamard,
    hpow,
    is_zero,
    matmul,
    reshape,
    scale,
    split_coeff,
    sum_all,
    trace,
    transpose,
    zero_like,
)
from .nn import BatchNorm, BatchNormalize, BatchStd, LogSoftmax, Softmax, fuse_softmax_all

__all__ = [
    "CARDS",
    "DIALECTS",
    "FUNCTIONS",
    "VAR",
    "Activation",
    "AxisSum",
    "BatchNorm",
    "BatchNormalize",
    "BatchStd",
    "Broadcast",
    "Card",
    "Elementwise",
    "Identity",
    "LogDet",
    "LogSoftmax",
    "MatrixOp",
    "OneMatrix",
    "Reshape",
    "Softmax",
    "SumAll",
    "ZeroMatrix",
    "add",
    "applied",
    "applied_arg",
    "axis_sum",
    "broadcast",
    "card_of",
    "diag",
    "elementary",
    "elementwise",
    "fuse_softmax_all",
    "hadamard",
    "hpow",
    "inverse",
    "is_matrix",
    "is_zero",
    "matmul",
    "matpow",
    "reshape",
    "scalar_rule",
    "scale",
    "shape_text",
    "split_coeff",
    "sum_all",
    "trace",
    "transpose",
    "zero_like",
]
