r"""Lowering before printing: stable fused forms for what a user may type naively.

A derivation keeps the form it was given, and its gradient the form the rules
produce; both can overflow when printed literally. This pass rewrites, in any
expression about to be printed:

* $\log \sum_k e^{A_k}$ (along an axis or over all entries) as a shifted log-sum-exp;
* $e^{A} / \sum e^{A}$ over all entries as a softmax of all entries (along an
  axis, ``ops.hadamard`` already writes it as softmax);
* $(1 + e^{B})^{\circ -p}$ as $\sigma(-B)^{\circ p}$ and $e^{B} \odot \sigma(-B)$ as $\sigma(B)$,
  so SymPy's sigmoid derivative $e^{-x} / (1 + e^{-x})^2$ becomes $\sigma(x)\sigma(-x)$;
* $\log(1 + e^{B})$ as softplus.

Each rewrite is an identity; tests compare the printed code with the original
expression at moderate inputs and with autograd at extreme ones.
"""

from __future__ import annotations

import sympy as sp
from sympy import Expr, Integer, MatrixExpr
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix

from ..ops import AxisSum, SumAll, applied, applied_arg, hadamard, hpow, rebuild, scale, sigmoid, softplus


class LogSumExp(MatrixExpr):
    """log(sum(exp(A), axis)), keeping the axis (1 x n for axis 0, m x 1 for axis 1)."""

    def __new__(cls, arg, axis):
        return super().__new__(cls, arg, Integer(axis))

    arg = property(lambda self: self.args[0])
    axis = property(lambda self: int(self.args[1]))
    shape = property(lambda self: AxisSum(self.arg, self.axis).shape)


class LogSumExpAll(Expr):
    """log(sum(exp(A))) over all entries (a scalar)."""

    is_commutative = True
    arg = property(lambda self: self.args[0])


class SoftmaxAll(MatrixExpr):
    """exp(A) / sum(exp(A)) over all entries."""

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: self.arg.shape)


def _one_plus_exp(e):
    """B when e = 1 + exp(B) elementwise, else None."""
    if isinstance(e, MatAdd) and len(e.args) == 2 and any(isinstance(a, OneMatrix) for a in e.args):
        (other,) = [a for a in e.args if not isinstance(a, OneMatrix)]
        return applied_arg(other, sp.exp)
    return None


def _fuse_sigmoid(factors):
    """Factors with one exp(B) sigma(-B) written as sigma(B), or None if there is no such pair."""
    for k, f in enumerate(factors):
        b = applied_arg(f, sp.exp)
        for j, g in enumerate(factors):
            base, p = (g.base, g.exp) if isinstance(g, HadamardPower) else (g, sp.S.One)
            if b is not None and p >= 1 and applied_arg(base, sigmoid) == scale(-1, b):
                rest = [h for i, h in enumerate(factors) if i not in (j, k)]
                return rest + [applied(sigmoid, b), hpow(base, p - 1)]
    return None


def _lower_product(e):
    factors, fused = list(e.args), _fuse_sigmoid(list(e.args))
    if fused is None:
        return e
    while fused is not None:
        factors, fused = fused, _fuse_sigmoid(fused)
    return hadamard(*factors)


def _lower_node(e):
    log_of = applied_arg(e, sp.log)
    if log_of is not None:
        if isinstance(log_of, AxisSum) and applied_arg(log_of.arg, sp.exp) is not None:
            return LogSumExp(applied_arg(log_of.arg, sp.exp), log_of.axis)
        if _one_plus_exp(log_of) is not None:
            return applied(lambda v: softplus(v, 1), _one_plus_exp(log_of))
    if isinstance(e, sp.log) and isinstance(e.args[0], SumAll) and applied_arg(e.args[0].arg, sp.exp) is not None:
        return LogSumExpAll(applied_arg(e.args[0].arg, sp.exp))
    if isinstance(e, HadamardPower) and e.exp.is_negative and _one_plus_exp(e.base) is not None:
        return hpow(applied(sigmoid, scale(-1, _one_plus_exp(e.base))), -e.exp)
    if isinstance(e, HadamardProduct):
        return _lower_product(e)
    if isinstance(e, MatMul):
        coeff, mats = e.as_coeff_matrices()
        a = applied_arg(mats[0], sp.exp) if len(mats) == 1 else None
        total = SumAll(mats[0]) if a is not None else None
        if total is not None and coeff.has(total):
            return scale(coeff * total, SoftmaxAll(a))
    return e


def lower(expr):
    """``expr`` with naive log-sum-exp, softmax, sigmoid and softplus forms replaced by stable ones."""
    return rebuild(expr, post=_lower_node)
