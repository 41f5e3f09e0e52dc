"""The operations symdiff differentiates: one card per op, grouped by family.

* ``constants``: ones, zeros and the identity; a product's scalar factor;
* ``linear``: scalar multiples, sums, matrix products, transposes, traces, sums
  of entries, broadcasts;
* ``products``: the elementwise product and power;
* ``shapes``: reshapes, a matrix's diagonal, the diagonal matrix of a vector;
* ``entrywise``: a function applied entry by entry, and its one rule;
* ``activations``: the scalar functions and activations it applies;
* ``extrema``: the entrywise maximum and minimum of two matrices;
* ``linalg``: inverse, determinant, log-determinant, matrix powers (``powers``: their limit);
* ``nn``: softmax, log-softmax, log-sum-exp;
* ``norms``: batch and layer normalization;
* ``reductions``: variance, standard deviation, norm, maxima and minima;
* ``labels``: integer class labels: one_hot(y, C) and take(E, y, axis) (torch's gather);
* ``selections``: comparisons as 0/1 masks, where(mask, A, B), logsigmoid;
* ``structure``: structured variables (symmetric, spd, diagonal, lower, upper), the projections sym, tril
  and triu, and the gradient in a structure's convention;
* ``stable``: the stable forms of the log / exp family (log sigmoid as softplus, log1p, expm1, log_softmax),
  each the ``lower`` of the card whose op it writes.

``card`` says what a card declares; the registries (``CARDS``, the language's
``FUNCTIONS``, the helpers of generated code) are built from the cards as the
family modules are imported.
"""

from . import (  # noqa: F401
    activations,
    constants,
    entrywise,
    extrema,
    labels,
    linalg,
    linear,
    nn,
    norms,
    products,
    reductions,
    selections,
    shapes,
    stable,
    structure,
)
from .activations import Activation, elementary, scalar_rule
from .card import CARDS, DIALECTS, FUNCTIONS, Card, MatrixOp, card_of, is_matrix, shape_text
from .constants import Identity, OneMatrix, ZeroMatrix, is_zero, split_coeff, zero_like
from .entrywise import VAR, Elementwise, applied, applied_arg, elementwise
from .linalg import LogDet, inverse, matpow
from .linear import (
    AxisSum,
    Broadcast,
    SumAll,
    add,
    axis_sum,
    broadcast,
    matmul,
    scale,
    sum_all,
    trace,
    transpose,
)
from .nn import LogSoftmax, Softmax, fuse_softmax_all
from .norms import BatchNorm, BatchNormalize, BatchStd
from .products import hadamard, hpow
from .shapes import Reshape, diag, pad, reshape, slice_of
from .structure import StructuredMatrix, in_convention, structure_of

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
    "StructuredMatrix",
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
    "in_convention",
    "inverse",
    "is_matrix",
    "is_zero",
    "matmul",
    "matpow",
    "pad",
    "reshape",
    "slice_of",
    "scalar_rule",
    "scale",
    "shape_text",
    "split_coeff",
    "structure_of",
    "sum_all",
    "trace",
    "transpose",
    "zero_like",
]
