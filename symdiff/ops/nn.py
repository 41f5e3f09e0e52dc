r"""Neural-network ops with compact fused backward forms: softmax, log-softmax, log-sum-exp.

softmax:      Bridle (1990); the VJP never materializes the Jacobian diag(s) - s s^T.
The normalizations (batch norm, layer norm) are in ``norms``.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatMul

from ..errors import ParseError, ShapeError
from .card import (
    AXIS,
    MATRIX,
    MatrixOp,
    Reduction,
    ScalarOp,
    call,
    is_matrix,
    language,
    register,
    shape_text,
    slice_total,
    total,
)
from .constants import OneMatrix
from .entrywise import applied, applied_arg
from .linear import AxisSum, Broadcast, SumAll, add, broadcast, scale, spread
from .products import HADAMARD_FUSIONS, hadamard, hpow


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
