"""The reference evaluator's rules for linear algebra, the neural-network ops (softmax, log-sum-exp, batch and
layer norm) and the reductions (var, std, norm, max), each computed with PyTorch's own function. They register
in ``evaluator.RULES`` on import, as ``reference``'s own rules do; ``reference`` imports this module."""

from __future__ import annotations

import math

import sympy as sp
import torch
import torch.nn.functional as F

from ..errors import SymdiffError
from ..ops import linalg, nn, norms, reductions
from .evaluator import rule

# --------------------------------------------------------------------------
# Linear algebra
# --------------------------------------------------------------------------


@rule(sp.Inverse)
def _inverse(node, ev):
    return torch.linalg.inv(ev(node.args[0]))


@rule(sp.Determinant, linalg.Determinant)
def _det(node, ev):
    return torch.linalg.det(ev(node.args[0]))


@rule(linalg.LogDet)
def _logdet(node, ev):
    sign, logabs = torch.linalg.slogdet(ev(node.arg))
    return torch.where(sign > 0, logabs, torch.full_like(logabs, math.nan))  # log det of a negative det: NaN


@rule(sp.MatPow)
def _matpow(node, ev):
    n = ev.number(node.exp)
    if n is None or n != int(n):
        raise SymdiffError(f"the reference evaluator needs an integer matrix power, got {node.exp}")
    return torch.linalg.matrix_power(ev(node.base), int(n))


# --------------------------------------------------------------------------
# Neural-network ops and reductions
# --------------------------------------------------------------------------


@rule(nn.Softmax)
def _softmax(node, ev):
    return torch.softmax(ev(node.arg), dim=node.axis)


@rule(nn.LogSoftmax)
def _log_softmax(node, ev):
    return torch.log_softmax(ev(node.arg), dim=node.axis)


@rule(nn.LogSumExp)
def _logsumexp(node, ev):
    return torch.logsumexp(ev(node.arg), dim=node.axis, keepdim=True)


@rule(nn.LogSumExpAll)
def _logsumexp_all(node, ev):
    return torch.logsumexp(ev(node.arg).reshape(-1), dim=0)


@rule(nn.SoftmaxAll)
def _softmax_all(node, ev):
    x = ev(node.arg)
    return torch.softmax(x.reshape(-1), dim=0).reshape(x.shape)


def _batch_stats(x, eps, dim):
    """Mean and sqrt(biased variance + eps) along ``dim``, kept."""
    var, mean = torch.var_mean(x, dim=dim, correction=0, keepdim=True)
    return mean, torch.sqrt(var + eps)


@rule(norms.BatchStd)
def _batch_std(node, ev):
    return _batch_stats(ev(node.arg), ev.scalar(node.eps), 0)[1]


def _batch_norm(x, gamma, beta, eps):
    """torch's training-mode batch norm over the rows (features in columns); its formula where torch has none."""
    if isinstance(eps, float) and x.shape[0] > 1:
        weight = None if gamma is None else gamma.reshape(-1)
        bias = None if beta is None else beta.reshape(-1)
        return F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)
    mean, std = _batch_stats(x, eps, 0)
    out = (x - mean) / std
    return out if gamma is None else gamma * out + beta


@rule(norms.BatchNormalize)
def _batch_normalize(node, ev):
    return _batch_norm(ev(node.arg), None, None, ev.scalar(node.eps))


@rule(norms.BatchNorm)
def _batchnorm(node, ev):
    return _batch_norm(ev(node.x), ev(node.gamma), ev(node.beta), ev.scalar(node.eps))


@rule(norms.LayerNorm)
def _layer_norm(node, ev):
    x, gamma, beta, eps = ev(node.x), ev(node.gamma), ev(node.beta), ev.scalar(node.eps)
    if isinstance(eps, float):
        return F.layer_norm(x, (x.shape[1],), gamma.reshape(-1), beta.reshape(-1), eps)
    mean, std = _batch_stats(x, eps, 1)
    return gamma * (x - mean) / std + beta


@rule(reductions.Var)
def _var(node, ev):
    return torch.var(ev(node.arg), dim=node.axis, correction=int(node.ddof), keepdim=True)


@rule(reductions.Std)
def _std(node, ev):
    """torch.std, and 0 where the variance is within its own rounding error (symdiff's std of a constant)."""
    x, axis, ddof = ev(node.arg), int(node.axis), int(node.ddof)
    spread = torch.std(x, dim=axis, correction=ddof, keepdim=True)
    n, eps = x.shape[axis], torch.finfo(x.dtype).eps
    rounding = n * eps * spread**2 + (n * eps * x.mean(dim=axis, keepdim=True)) ** 2
    return torch.where(spread**2 > rounding, spread, torch.zeros_like(spread))


@rule(reductions.Norm)
def _norm(node, ev):
    return torch.linalg.norm(ev(node.arg))


@rule(reductions.Unit)
def _unit(node, ev):
    """A / ||A||, and 0 at A = 0 (torch.linalg.norm's gradient there)."""
    x = ev(node.arg)
    return x / torch.linalg.norm(x).clamp_min(torch.finfo(x.dtype).tiny)


@rule(reductions.AxisMax)
def _axis_max(node, ev):
    return torch.amax(ev(node.arg), dim=node.axis, keepdim=True)


@rule(reductions.MaxMask)
def _max_mask(node, ev):
    """d max / dA along the axis, as torch.amax's own backward gives it (ties share evenly); a constant."""
    # torch.func.grad, unlike autograd.grad, composes with torch.func's transforms (an HVP's jvp of grad)
    return torch.func.grad(lambda t: torch.amax(t, dim=node.axis).sum())(ev(node.arg).detach())
