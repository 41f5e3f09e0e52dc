r"""Neural-network ops with compact fused backward forms: softmax, log-softmax, log-sum-exp, batchnorm.

softmax:      Bridle (1990); the VJP never materializes the Jacobian diag(s) - s s^T.
batchnorm:    Ioffe & Szegedy (2015), section 3, in the compact form of seed 002 (3.2 a).
"""

from __future__ import annotations

import sympy as sp
from sympy import Integer
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatMul

from ..errors import ParseError, ShapeError
from .card import (
    AXIS,
    MATRIX,
    MatrixOp,
    Reduction,
    ScalarOp,
    atom,
    call,
    is_matrix,
    language,
    register,
    require_matrix,
    shape_text,
    slice_total,
    total,
)
from .entrywise import applied, applied_arg
from .linear import (
    HADAMARD_FUSIONS,
    AxisSum,
    Broadcast,
    OneMatrix,
    SumAll,
    add,
    axis_sum,
    broadcast,
    hadamard,
    hpow,
    scale,
    spread,
)


class _AlongAxis(Reduction):
    """An op normalizing along axis 0 (columns) or 1 (rows): the shape of its argument."""

    shape = property(lambda self: self.arg.shape)

    def _sympystr(self, printer):
        return f"{self.name}({printer._print(self.arg)}, axis={self.axis})"

    def _numpycode(self, printer):
        return call(printer, "numpy", self.name, printer._print(self.arg), str(self.axis))

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.' + self.name)}({printer._print(self.arg)}, dim={self.axis})"

    def _latex(self, printer):
        name = self.name.replace("_", "")
        return rf"\operatorname{{{name}}}_{{{self.axis}}}\left({printer._print(self.arg)}\right)"


def _axis(x, axis, name):
    """The axis a softmax-like op normalizes along: given, or the only one a vector has."""
    if not is_matrix(x):
        raise ShapeError(f"{name} needs a matrix or vector, got a scalar")
    if axis is None:
        if x.shape[1] == 1:
            return 0
        if x.shape[0] == 1:
            return 1
        raise ParseError(f"{name} of a {shape_text(x)} matrix needs an axis: {name}(E, axis=1) normalizes each row")
    return axis


# --------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------


class Softmax(_AlongAxis):
    """softmax along an axis: exp(x_ij) / sum over the axis of exp."""

    name = "softmax"

    def _entry(self, i, j, **kwargs):
        return sp.exp(self.arg[i, j]) / slice_total(self.arg, i, j, self.axis, sp.exp)


@language("softmax", ("x", "axis"), {"axis": None}, {"axis": AXIS})
def softmax(x, axis=None):
    return Softmax(x, _axis(x, axis, "softmax"))


def grad_softmax(ans, g, a, axis):
    r"""$S = \operatorname{softmax}(A)$: $\bar A = S \odot (\bar S - \mathbf{1}\,\operatorname{sum}(\bar S \odot S))$."""
    return hadamard(ans, add(g, scale(-1, spread(hadamard(g, ans), ans, int(axis))))), None


def _fuse_softmax(exponents: dict):
    """Factors with exp(A) / sum(exp(A), axis) written as softmax(A, axis), or None if there is no such pair."""
    for base, e in exponents.items():
        if e != 1 or not isinstance(base, Broadcast):
            continue
        inner = list(base.arg.args) if isinstance(base.arg, HadamardProduct) else [base.arg]
        for k, f in enumerate(inner):
            if not (isinstance(f, HadamardPower) and f.exp == -1 and isinstance(f.base, AxisSum)):
                continue
            a = applied_arg(f.base.arg, sp.exp)
            if a is not None and a.shape == base.shape and exponents.get(f.base.arg, sp.S.Zero).is_positive:
                rest = [hpow(b, p - 1 if b == f.base.arg else p) for b, p in exponents.items() if b != base]
                spread = [broadcast(hadamard(*inner[:k], *inner[k + 1 :]), *base.shape)] if len(inner) > 1 else []
                return rest + spread + [Softmax(a, f.base.axis)]
    return None


HADAMARD_FUSIONS.append(_fuse_softmax)  # a softmax typed out by hand is derived with the softmax rule
register(
    Softmax,
    "Softmax",
    "softmax(E, axis)",
    lambda x, axis: Softmax(x, axis),
    grad_softmax,
    helpers={
        "numpy": {
            "softmax": "def softmax(x, axis):\n"
            "    e = numpy.exp(x - x.max(axis=axis, keepdims=True))\n"
            "    return e / e.sum(axis=axis, keepdims=True)"
        }
    },
)


class LogSoftmax(_AlongAxis):
    """log_softmax along an axis: x_ij - log(sum over the axis of exp)."""

    name = "log_softmax"

    def _entry(self, i, j, **kwargs):
        return self.arg[i, j] - sp.log(slice_total(self.arg, i, j, self.axis, sp.exp))


@language("log_softmax", ("x", "axis"), {"axis": None}, {"axis": AXIS})
def log_softmax(x, axis=None):
    return LogSoftmax(x, _axis(x, axis, "log_softmax"))


def grad_log_softmax(ans, g, a, axis):
    r"""$Y = \log\operatorname{softmax}(A)$: $\bar A = \bar Y - \operatorname{softmax}(A) \odot \mathbf{1}\operatorname{sum}(\bar Y)$."""
    return add(g, scale(-1, hadamard(Softmax(a, axis), spread(g, a, int(axis))))), None


def reuse_log_softmax(node):
    """A forward log_softmax(A) gives the backward softmax(A) = exp(log_softmax(A)): one pass, not five."""
    return {Softmax(node.arg, node.axis): applied(sp.exp, node)}


register(
    LogSoftmax,
    "Log-softmax",
    "log_softmax(E, axis)",
    lambda x, axis: LogSoftmax(x, axis),
    grad_log_softmax,
    reuse=reuse_log_softmax,
    helpers={
        "numpy": {
            "log_softmax": "def log_softmax(x, axis):\n"
            "    shifted = x - x.max(axis=axis, keepdims=True)\n"
            "    return shifted - numpy.log(numpy.exp(shifted).sum(axis=axis, keepdims=True))"
        }
    },
)


# --------------------------------------------------------------------------
# Log-sum-exp, and the softmax over all entries
# --------------------------------------------------------------------------


class LogSumExp(Reduction):
    """log(sum(exp(A), axis)), keeping the axis (1 x n for axis 0, m x 1 for axis 1)."""

    name = "logsumexp"

    def _entry(self, i, j, **kwargs):
        return sp.log(slice_total(self.arg, i, j, self.axis, sp.exp))

    def _sympystr(self, printer):
        return f"logsumexp({printer._print(self.arg)}, axis={self.axis})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "logsumexp", printer._print(self.arg), str(self.axis))

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.logsumexp')}({printer._print(self.arg)}, dim={self.axis}, keepdim=True)"

    def _latex(self, printer):
        return rf"\operatorname{{logsumexp}}_{{{self.axis}}}\left({printer._print(self.arg)}\right)"


class LogSumExpAll(ScalarOp):
    """log(sum(exp(A))) over all entries (a scalar)."""

    name = "logsumexp"

    def value(self, explicit):
        return sp.log(sp.Add(*[sp.exp(x) for x in explicit]))

    def _sympystr(self, printer):
        return f"logsumexp({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "logsumexp_all", printer._print(self.arg))

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.logsumexp')}(({printer._print(self.arg)}).reshape(-1), dim=0)"

    def _latex(self, printer, exp=None):
        out = rf"\operatorname{{logsumexp}}\left({printer._print(self.arg)}\right)"
        return rf"\left({out}\right)^{{{exp}}}" if exp else out


@language("logsumexp", ("x", "axis"), {"axis": None}, {"x": MATRIX, "axis": AXIS})
def logsumexp(x, axis=None):
    """log of the sum of exp over an axis (kept), or over all entries (a scalar)."""
    if axis is None:
        return LogSumExpAll(x)
    return x if x.shape[axis] == 1 else LogSumExp(x, axis)


def grad_logsumexp(ans, g, a, axis):
    r"""$y = \log \sum_k e^{a_k}$ along an axis: $\bar A = \mathbf{1}\bar y \odot \operatorname{softmax}(A)$."""
    return hadamard(broadcast(g, *a.shape), Softmax(a, axis)), None


def grad_logsumexp_all(ans, g, a):
    r"""$y = \log \sum_{ij} e^{a_{ij}}$: $\bar A = \bar y \, e^{A} / \sum_{ij} e^{a_{ij}}$ (the softmax of all entries)."""
    return (scale(g, SoftmaxAll(a)),)


def _lower_logsumexp(e):
    """log(sum(exp(A), axis)) as logsumexp(A, axis), log(sum(exp(A))) as logsumexp(A)."""
    log_of = applied_arg(e, sp.log)
    if isinstance(log_of, AxisSum) and applied_arg(log_of.arg, sp.exp) is not None:
        return LogSumExp(applied_arg(log_of.arg, sp.exp), log_of.axis)
    if isinstance(e, sp.log) and isinstance(e.args[0], SumAll) and applied_arg(e.args[0].arg, sp.exp) is not None:
        return LogSumExpAll(applied_arg(e.args[0].arg, sp.exp))
    return None


register(
    LogSumExp,
    "Log-sum-exp",
    "logsumexp(E, axis)",
    logsumexp,
    grad_logsumexp,
    helpers={
        "numpy": {
            "logsumexp": "def logsumexp(x, axis):\n"
            "    top = x.max(axis=axis, keepdims=True)\n"
            "    return top + numpy.log(numpy.exp(x - top).sum(axis=axis, keepdims=True))"
        }
    },
    lower=_lower_logsumexp,
)
register(
    LogSumExpAll,
    "Log-sum-exp of all entries",
    "logsumexp(E)",
    LogSumExpAll,
    grad_logsumexp_all,
    helpers={
        "numpy": {
            "logsumexp_all": "def logsumexp_all(x):\n    top = x.max()\n    return top + numpy.log(numpy.exp(x - top).sum())"
        }
    },
)


class SoftmaxAll(MatrixOp):
    """exp(A) / sum(exp(A)) over all entries."""

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: self.arg.shape)

    def _entry(self, i, j, **kwargs):
        rows, cols = self.arg.shape
        return sp.exp(self.arg[i, j]) / total(lambda r: total(lambda c: sp.exp(self.arg[r, c]), cols), rows)

    def _sympystr(self, printer):
        arg = printer._print(self.arg)
        return f"softmax({arg})" if 1 in tuple(self.shape) else f"exp({arg} - logsumexp({arg}))"

    def _numpycode(self, printer):
        return call(printer, "numpy", "softmax_all", printer._print(self.arg))

    def _torchcode(self, printer):
        arg = printer._print(self.arg)
        return f"{printer._module_format('torch.softmax')}(({arg}).reshape(-1), dim=0).reshape(({arg}).shape)"

    def _latex(self, printer):
        return rf"\operatorname{{softmax}}\left({printer._print(self.arg)}\right)"


def grad_softmax_all(ans, g, a):
    r"""$S = e^{A} / \sum e^{A}$: $\bar A = S \odot (\bar S - \sum_{ij} (\bar S \odot S)_{ij})$."""
    return (hadamard(ans, add(g, scale(-SumAll(hadamard(g, ans)), OneMatrix(*a.shape)))),)


def fuse_softmax_all(e):
    """c exp(A) / sum(exp(A)) (over all entries) as c softmax_all(A): what simplify writes and code computes."""
    if isinstance(e, MatMul):
        coeff, mats = e.as_coeff_matrices()
        a = applied_arg(mats[0], sp.exp) if len(mats) == 1 else None
        if a is not None and coeff.has(SumAll(mats[0])):
            return scale(coeff * SumAll(mats[0]), SoftmaxAll(a))
    return None


register(
    SoftmaxAll,
    "Softmax of all entries",
    "exp(E) / sum(exp(E))",
    SoftmaxAll,
    grad_softmax_all,
    helpers={"numpy": {"softmax_all": "def softmax_all(x):\n    e = numpy.exp(x - x.max())\n    return e / e.sum()"}},
    lower=fuse_softmax_all,
)


# --------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------


def _column_stats(a, j, eps):
    """Mean and sqrt(biased variance + eps) of column j of ``a``."""
    q = a.shape[0]
    mean = total(lambda k: a[k, j], q) / q
    return mean, sp.sqrt(total(lambda k: (a[k, j] - mean) ** 2, q) / q + eps)


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
        x = require_matrix(x, "batchnorm")
        for name, v in (("gamma", gamma), ("beta", beta)):
            if not is_matrix(v) or v.shape != (1, x.shape[1]):
                raise ShapeError(
                    f"batchnorm: {name} must be 1 x {x.shape[1]} for an input of shape "
                    f"{shape_text(x)}, got {shape_text(v)}"
                )
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
        x = require_matrix(x, "layer_norm")
        for name, v in (("gamma", gamma), ("beta", beta)):
            if not is_matrix(v) or v.shape != (1, x.shape[1]):
                raise ShapeError(
                    f"layer_norm: {name} must be 1 x {x.shape[1]} for an input of shape "
                    f"{shape_text(x)}, got {shape_text(v)}"
                )
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
    from .linear import transpose

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
