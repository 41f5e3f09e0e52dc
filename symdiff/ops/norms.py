r"""Normalization layers with compact fused backward forms: batch norm (and its pieces) and layer norm.

batchnorm:    Ioffe & Szegedy (2015), section 3, in the compact form of seed 002 (3.2 a).
layer norm:   Ba, Kiros & Hinton (2016): batch norm's statistics taken over each row's features.
"""

from __future__ import annotations

import sympy as sp
from sympy import Integer

from ..errors import ShapeError
from .card import (
    MATRIX,
    MatrixOp,
    atom,
    call,
    is_matrix,
    language,
    register,
    require_matrix,
    shape_text,
    total,
)
from .linear import add, axis_sum, broadcast, scale, spread, transpose
from .products import hadamard, hpow

# --------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------


def _column_stats(a, j, eps):
    """Mean and sqrt(biased variance + eps) of column j of ``a``."""
    q = a.shape[0]
    mean = total(lambda k: a[k, j], q) / q
    return mean, sp.sqrt(total(lambda k: (a[k, j] - mean) ** 2, q) / q + eps)


def _require_affine(op: str, x, gamma, beta):
    """``x`` as a matrix, with ``gamma`` and ``beta`` rows of its width (an affine normalization's arguments)."""
    x = require_matrix(x, op)
    for name, v in (("gamma", gamma), ("beta", beta)):
        if not is_matrix(v) or v.shape != (1, x.shape[1]):
            raise ShapeError(
                f"{op}: {name} must be 1 x {x.shape[1]} for an input of shape {shape_text(x)}, got {shape_text(v)}"
            )
    return x


class _Normalization(MatrixOp):
    """An op of a matrix and eps; ``name`` is its spelling (and its helpers' name)."""

    name = ""

    def __new__(cls, arg, eps):
        arg = require_matrix(arg, "batchnorm")
        return super().__new__(cls, arg, sp.sympify(eps))

    arg = property(lambda self: self.args[0])
    eps = property(lambda self: self.args[1])

    def _printed_args(self, printer):
        return [printer._print(a) for a in self.args]

    def _sympystr(self, printer):
        return f"{self.name}({', '.join(self._printed_args(printer))})"

    def _numpycode(self, printer):
        return call(printer, "numpy", self.name, *self._printed_args(printer))

    def _torchcode(self, printer):
        return call(printer, "torch", self.name, *self._printed_args(printer))


class BatchStd(_Normalization):
    """Per-feature batch standard deviation sqrt(var + eps), 1 x p (biased variance)."""

    name = "batch_std"
    shape = property(lambda self: (Integer(1), self.arg.shape[1]))

    def _entry(self, i, j, **kwargs):
        return _column_stats(self.arg, j, self.eps)[1]

    def _latex(self, printer):
        return rf"\operatorname{{std}}_{{{printer._print(self.eps)}}}\left({printer._print(self.arg)}\right)"


class BatchNormalize(_Normalization):
    """x_hat = (X - mean over the batch) / sqrt(var + eps), per feature (column)."""

    name = "batch_normalize"
    shape = property(lambda self: self.arg.shape)

    def _entry(self, i, j, **kwargs):
        mean, std = _column_stats(self.arg, j, self.eps)
        return (self.arg[i, j] - mean) / std

    def _latex(self, printer):
        return rf"\operatorname{{norm}}_{{{printer._print(self.eps)}}}\left({printer._print(self.arg)}\right)"


class BatchNorm(_Normalization):
    """Batch normalization in training mode: gamma * x_hat + beta, gamma and beta 1 x p."""

    name = "batchnorm"

    def __new__(cls, x, gamma, beta, eps):
        x = _require_affine("batchnorm", x, gamma, beta)
        return MatrixOp.__new__(cls, x, gamma, beta, sp.sympify(eps))

    x = property(lambda self: self.args[0])
    gamma = property(lambda self: self.args[1])
    beta = property(lambda self: self.args[2])
    eps = property(lambda self: self.args[3])
    shape = property(lambda self: self.x.shape)

    def _entry(self, i, j, **kwargs):
        mean, std = _column_stats(self.x, j, self.eps)
        return self.gamma[0, j] * (self.x[i, j] - mean) / std + self.beta[0, j]

    def _latex(self, printer):
        gamma, beta, eps, x = (printer._print(a) for a in (self.gamma, self.beta, self.eps, self.x))
        return rf"\operatorname{{BN}}_{{{gamma}, {beta}, {eps}}}\left({x}\right)"


def _normalize_grad(g_hat, x_hat, std, column_scale=None):
    r"""$\bar X = (c \odot \sigma^{-1}) \odot (\bar{\hat X} - \operatorname{mean}_s \bar{\hat X} - \hat X \odot
    \operatorname{mean}_s(\bar{\hat X} \odot \hat X))$ for $\bar{\hat X}$ = ``g_hat`` times the row ``column_scale`` c
    (1 if None): a per-column factor moves out of the column sums, so it multiplies the small row only."""
    q = x_hat.shape[0]
    inverse_std = hpow(std, -1) if column_scale is None else hadamard(column_scale, hpow(std, -1))
    inner = add(
        g_hat,
        scale(-1 / q, spread(g_hat, x_hat, 0)),
        scale(-1 / q, hadamard(x_hat, spread(hadamard(g_hat, x_hat), x_hat, 0))),
    )
    return hadamard(broadcast(inverse_std, *x_hat.shape), inner)


def grad_batch_normalize(ans, g, x, eps):
    r"""$\hat X = (X - \mu)/\sigma$ per column: $\bar X = \sigma^{-1}(\bar{\hat X} - \operatorname{mean}_s \bar{\hat X} - \hat X \operatorname{mean}_s(\bar{\hat X} \odot \hat X))$."""
    return _normalize_grad(g, ans, BatchStd(x, eps)), None


def grad_batch_std(ans, g, x, eps):
    r"""$\sigma = \sqrt{\operatorname{var} + \epsilon}$ per column: $\bar X = \frac{1}{q} \hat X \odot \mathbf{1}\bar\sigma$."""
    q = x.shape[0]
    return scale(1 / q, hadamard(BatchNormalize(x, eps), broadcast(g, *x.shape))), None


def grad_batchnorm(ans, g, x, gamma, beta, eps):
    r"""$Y = \gamma \odot \hat X + \beta$: $\bar\beta = \mathbf{1}^T \bar Y$, $\bar\gamma = \mathbf{1}^T(\bar Y \odot \hat X)$,
    $\bar X = (\gamma \odot \sigma^{-1}) \odot (\bar Y - \operatorname{mean}_s \bar Y - \hat X \odot \operatorname{mean}_s(\bar Y \odot \hat X))$:
    the normalize rule for $\bar{\hat X} = \bar Y \odot \gamma$ (seed 002, 3.2 a), $\gamma$ out of the column sums."""
    x_hat = BatchNormalize(x, eps)
    return (
        _normalize_grad(g, x_hat, BatchStd(x, eps), gamma),
        axis_sum(hadamard(g, x_hat), 0),
        axis_sum(g, 0),
        None,
    )


EPS = sp.Rational(1, 100000)  # torch's default eps
STATS_HELPERS = {
    "numpy": {
        "batch_std": "def batch_std(x, eps):\n    return numpy.sqrt(x.var(axis=0, keepdims=True) + eps)",
        "batch_normalize": "def batch_normalize(x, eps):\n"
        "    return (x - x.mean(axis=0, keepdims=True)) / batch_std(x, eps)",
        "batchnorm": "def batchnorm(x, gamma, beta, eps):\n    return gamma * batch_normalize(x, eps) + beta",
    },
    "torch": {
        "batch_std": "def batch_std(x, eps):\n    return torch.sqrt(x.var(dim=0, unbiased=False, keepdim=True) + eps)",
        "batch_normalize": "def batch_normalize(x, eps):\n"
        "    return (x - x.mean(dim=0, keepdim=True)) / batch_std(x, eps)",
        "batchnorm": "def batchnorm(x, gamma, beta, eps):\n    return gamma * batch_normalize(x, eps) + beta",
    },
}


def _helpers(*names):
    return {dialect: {n: table[n] for n in names} for dialect, table in STATS_HELPERS.items()}


register(
    BatchStd, "Batch standard deviation", "batch_std(X, eps)", BatchStd, grad_batch_std, helpers=_helpers("batch_std")
)


def expand_batch_normalize(node):
    r"""$\hat X = (X - \mathbf{1}\mu) \odot \mathbf{1}\sigma^{\circ -1}$, with $\sigma$ = batch_std(X): the backward's
    $\hat X$ and $\sigma$ are then the forward's."""
    x = node.arg
    centered = add(x, scale(-1 / x.shape[0], spread(x, x, 0)))
    return hadamard(centered, broadcast(hpow(BatchStd(x, node.eps), -1), *x.shape))


def expand_batchnorm(node):
    r"""$\gamma \odot \hat X + \beta$, with $\hat X$ = batch_normalize(X) (itself expanded)."""
    shape = node.x.shape
    x_hat = BatchNormalize(node.x, node.eps)
    return add(hadamard(broadcast(node.gamma, *shape), x_hat), broadcast(node.beta, *shape))


register(
    BatchNormalize,
    "Batch normalization (normalize)",
    "batch_normalize(X, eps)",
    BatchNormalize,
    grad_batch_normalize,
    helpers=_helpers("batch_normalize"),
    expand=expand_batch_normalize,
)
register(
    BatchNorm,
    "Batch normalization",
    "batchnorm(X, gamma, beta, eps=1e-5)",
    BatchNorm,
    grad_batchnorm,
    helpers=_helpers("batchnorm"),
    expand=expand_batchnorm,
)
language("batchnorm", ("x", "gamma", "beta", "eps"), {"eps": EPS}, {"gamma": MATRIX, "beta": MATRIX})(BatchNorm)
language("batch_normalize", ("x", "eps"), {"eps": EPS})(BatchNormalize)
language("batch_std", ("x", "eps"), {"eps": EPS})(BatchStd)


# --------------------------------------------------------------------------
# Layer normalization (over the last axis: each row of X)
# --------------------------------------------------------------------------


class LayerNorm(MatrixOp):
    """Layer normalization: each row normalized over its p features, then gamma * x_hat + beta (gamma, beta 1 x p)."""

    def __new__(cls, x, gamma, beta, eps):
        x = _require_affine("layer_norm", x, gamma, beta)
        return super().__new__(cls, x, gamma, beta, sp.sympify(eps))

    x = property(lambda self: self.args[0])
    gamma = property(lambda self: self.args[1])
    beta = property(lambda self: self.args[2])
    eps = property(lambda self: self.args[3])
    shape = property(lambda self: self.x.shape)

    def _entry(self, i, j, **kwargs):
        p = self.x.shape[1]
        mean = total(lambda k: self.x[i, k], p) / p
        std = sp.sqrt(total(lambda k: (self.x[i, k] - mean) ** 2, p) / p + self.eps)
        return self.gamma[0, j] * (self.x[i, j] - mean) / std + self.beta[0, j]

    def _printed_args(self, printer):
        return [printer._print(a) for a in self.args]

    def _sympystr(self, printer):
        return f"layer_norm({', '.join(self._printed_args(printer))})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "layer_norm", *self._printed_args(printer))

    def _torchcode(self, printer):
        x, eps = printer._print(self.x), printer._print(self.eps)
        gamma, beta = atom(printer, self.gamma), atom(printer, self.beta)
        shape = printer._print(self.x.shape[1])
        layer_norm = printer._module_format("torch.nn.functional.layer_norm")
        return f"{layer_norm}({x}, ({shape},), {gamma}.reshape(-1), {beta}.reshape(-1), {eps})"

    def _latex(self, printer):
        gamma, beta, eps, x = (printer._print(a) for a in (self.gamma, self.beta, self.eps, self.x))
        return rf"\operatorname{{LN}}_{{{gamma}, {beta}, {eps}}}\left({x}\right)"


def grad_layer_norm(ans, g, x, gamma, beta, eps):
    r"""$Y = \gamma \odot \hat X + \beta$, $\hat X$ normalizing each row: the batchnorm rule on $X^T$
    (Ba, Kiros & Hinton 2016): $\bar X = (\operatorname{norm-rule}(\bar{\hat X}^T, \hat X^T, \sigma^T))^T$,
    $\bar{\hat X} = \bar Y \odot \gamma$, $\bar\gamma = \mathbf{1}^T(\bar Y \odot \hat X)$, $\bar\beta = \mathbf{1}^T \bar Y$."""

    x_hat_t = BatchNormalize(transpose(x), eps)  # x_hat^T: the rows of X are the columns of X^T
    g_hat = hadamard(g, broadcast(gamma, *x.shape))
    return (
        transpose(_normalize_grad(transpose(g_hat), x_hat_t, BatchStd(transpose(x), eps))),
        axis_sum(hadamard(g, transpose(x_hat_t)), 0),
        axis_sum(g, 0),
        None,
    )


register(
    LayerNorm,
    "Layer normalization",
    "layer_norm(X, gamma, beta, eps=1e-5)",
    LayerNorm,
    grad_layer_norm,
    helpers={
        "numpy": {
            "layer_norm": "def layer_norm(x, gamma, beta, eps):\n"
            "    centered = x - x.mean(axis=1, keepdims=True)\n"
            "    return gamma * centered / numpy.sqrt(x.var(axis=1, keepdims=True) + eps) + beta"
        }
    },
)
language("layer_norm", ("x", "gamma", "beta", "eps"), {"eps": EPS}, {"gamma": MATRIX, "beta": MATRIX})(LayerNorm)
