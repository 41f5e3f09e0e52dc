"""Closed-form clean-up: what a person would write.

``simplify`` walks a canonical expression bottom-up and, at each node,
distributes Hadamard products over sums where factors cancel and factors
common matrix factors out of sums: ``2 X^T R W + 2 R^T X W`` becomes
``2 (X^T R + R^T X) W``. Changed nodes are rebuilt through the ops' smart
constructors, so the result is canonical too.
"""

from __future__ import annotations

from collections import Counter

import sympy as sp
from sympy import MatAdd, MatMul, OneMatrix
from sympy.matrices.expressions import HadamardPower, HadamardProduct

from .graph import transform
from .ops import (
    AxisSum,
    Broadcast,
    Identity,
    add,
    diag,
    fuse_softmax_all,
    hadamard,
    matmul,
    scale,
    split_coeff,
    sum_all,
    transpose,
)
from .ops.shapes import DiagMatrix, diagonal


def _factors(term):
    coeff, core = split_coeff(term)
    return coeff, list(core.args) if isinstance(core, MatMul) else [core]


def _factor_side(terms, side: int):
    """Group terms sharing their first (side 0) or last (side -1) matrix factor."""
    groups: dict = {}
    for t in terms:
        coeff, mats = _factors(t)
        key = mats[side] if len(mats) > 1 else None
        groups.setdefault(key, []).append((coeff, mats))
    out = []
    for key, members in groups.items():
        if key is None or len(members) < 2:
            out.extend(matmul(c, *m) for c, m in members)
            continue
        rest = [matmul(c, *(m[1:] if side == 0 else m[:-1])) for c, m in members]
        inner = factor(add(*rest))
        out.append(matmul(key, inner) if side == 0 else matmul(inner, key))
    return out


def factor(expr):
    """Pull matrix factors shared by several terms of a sum out of the sum."""
    if not isinstance(expr, MatAdd):
        return expr
    terms = _factor_side(list(expr.args), -1)
    terms = _factor_side(terms, 0)
    common = _common_factor([split_coeff(t)[0] for t in terms])
    if len(terms) > 1 and common != 1:  # 2/q A - 2/q B -> 2/q (A - B)
        return matmul(common, add(*[scale(split_coeff(t)[0] / common, split_coeff(t)[1]) for t in terms]))
    return add(*terms)


def _common_factor(coeffs):
    """The scalar factor shared by all coefficients, negative only if they all are; 1 if only a sign is shared."""
    if all(c in (1, -1) for c in coeffs):  # the usual case, answered without factor_terms
        return sp.S.One
    proxies = sp.symbols(f"t0:{len(coeffs)}", cls=sp.Dummy)
    # scalars of matrices (trace(A), sum(X)) are atoms to factor_terms, which would otherwise recurse into them
    opaque = {e: sp.Dummy() for c in coeffs for e in sp.preorder_traversal(c) if _scalar_of_matrices(e)}
    scalars = sp.Add(*[c.xreplace(opaque) * t for c, t in zip(coeffs, proxies)])
    common, _ = sp.factor_terms(scalars).as_independent(*proxies, as_Add=False)
    common = common.xreplace({v: k for k, v in opaque.items()})
    # only factors that SymPy cancels on division: dividing (x/2 + y/2 + 1/2) A + (x + y + 1) B by x + y + 1
    # leaves (x/2 + y/2 + 1/2)/(x + y + 1), 0/0 where x + y + 1 is 0, and exp(a) exp(s) / exp(a) stays
    # exp(-a) exp(a) exp(s), which overflows where exp(a) does
    common = sp.Mul(*[f for f in sp.Mul.make_args(common) if all(_cancels(c, f) for c in coeffs)])
    if common.could_extract_minus_sign() != all(c.could_extract_minus_sign() for c in coeffs):
        common = -common
    number, symbolic = common.as_coeff_Mul()
    if not all(_small_multiple(c.as_coeff_Mul()[0], number) for c in coeffs):
        common = symbolic  # 1.5957691216057308 A + 0.50001 B stays so, not 1.2e-15 (1329807601338109 A + ...)
    if not all(_cancels(c, common) for c in coeffs):  # the sign made -2 (1 - t) into 2 t - 2, which stays 0/0 at t = 1
        return sp.S.One
    return sp.S.One if common in (1, -1) else common


def _cancels(coeff, factor) -> bool:
    """Whether dividing ``coeff`` by ``factor`` removes it (a number, or a factor SymPy's Mul cancels)."""
    return factor.is_number or sp.count_ops(coeff / factor) <= sp.count_ops(coeff)


def _scalar_of_matrices(e) -> bool:
    return not isinstance(e, sp.MatrixExpr) and any(isinstance(a, sp.MatrixExpr) for a in e.args)


def _small_multiple(number, unit) -> bool:
    quotient = number / unit
    return quotient.is_Integer and abs(quotient) <= 1000


def _weight(m) -> int:
    """How many Hadamard factors m has, counting integer powers with multiplicity."""
    _, core = split_coeff(m)
    factors = core.args if isinstance(core, HadamardProduct) else (core,)
    total = 0
    for f in factors:
        if isinstance(f, HadamardPower):
            total += int(abs(f.exp)) if f.exp.is_Integer else 1
        elif not isinstance(f, OneMatrix):
            total += 1
    return total


def distribute(expr):
    """A Hadamard product over a sum, distributed where factors cancel: S * (Y / S + B) -> Y + S * B."""
    if not isinstance(expr, HadamardProduct):
        return expr
    for k, f in enumerate(expr.args):
        if isinstance(f, MatAdd):
            others = expr.args[:k] + expr.args[k + 1 :]
            products = [hadamard(*others, t) for t in f.args]
            base = sum(_weight(o) for o in others)
            if any(_weight(p) < base + _weight(t) for p, t in zip(products, f.args)):
                return add(*products)
    return expr


def symmetric_sum(expr):
    """(A + A^T)^T -> A + A^T: the transpose of a sum that is its own transpose term by term."""
    if isinstance(expr, sp.Transpose) and isinstance(expr.arg, MatAdd):
        terms = expr.arg.args
        if Counter(transpose(t) for t in terms) == Counter(terms):
            return expr.arg
    return expr


def _tidy(expr):
    return fuse_softmax_all(expr) or factor(distribute(symmetric_sum(expr)))


def simplify(expr):
    """Canonical, factored form of a scalar or matrix expression."""
    return transform(expr, rewrite=_tidy)


def _merged_diagonals(e):
    """diag(a) diag(b) -> diag(a * b) in a product; c diag(a) + diag(b) -> diag(c a + b) in a sum; a sum along
    an axis of a product that starts (ends) with diag(w) -> w^T times the rest (the rest times w); a 1 x 1 matrix
    broadcast in an elementwise product, and a scalar inside diag, -> a scalar factor outside."""
    if isinstance(e, MatMul):
        coeff, mats = e.as_coeff_matrices()
        merged: list = []
        for m in mats:
            if merged and isinstance(m, DiagMatrix) and isinstance(merged[-1], DiagMatrix):
                merged[-1] = diag(hadamard(diagonal(merged[-1]), diagonal(m)))
            else:
                merged.append(m)
        return matmul(coeff, *merged) if len(merged) < len(mats) else None
    if isinstance(e, HadamardProduct):  # (1^T t 1) broadcast, times s: the scalar sum(t) times s
        scalars = [f for f in e.args if isinstance(f, Broadcast) and tuple(f.arg.shape) == (1, 1)]
        if not scalars or len(scalars) == len(e.args):
            return None
        rest = [f for f in e.args if f not in scalars]
        return scale(sp.Mul(*[sum_all(f.arg) for f in scalars]), hadamard(*rest))
    if isinstance(e, DiagMatrix):  # diag(c v) = c diag(v); diag(c 1) = c I
        c, core = split_coeff(e.args[0])
        if isinstance(core, Broadcast) and tuple(core.arg.shape) == (1, 1):
            return scale(c * sum_all(core.arg), Identity(e.shape[0]))
        return scale(c, diag(core)) if c != 1 else None
    if isinstance(e, AxisSum) and isinstance(e.arg, MatMul):  # 1^T diag(w) M = w^T M; M diag(w) 1 = M w
        coeff, mats = e.arg.as_coeff_matrices()
        end = mats[0] if e.axis == 0 else mats[-1]
        if isinstance(end, DiagMatrix):
            w = diagonal(end)
            return matmul(coeff, transpose(w), *mats[1:]) if e.axis == 0 else matmul(coeff, *mats[:-1], w)
        return None
    if isinstance(e, MatAdd):
        diagonals = [t for t in e.args if isinstance(split_coeff(t)[1], DiagMatrix)]
        if len(diagonals) < 2:
            return None
        vector = add(*[scale(c, diagonal(core)) for c, core in map(split_coeff, diagonals)])
        return add(diag(vector), *[t for t in e.args if t not in diagonals])
    return None


MERGES = 8  # passes of merge_diagonals at most


def merge_diagonals(expr):
    """Products and sums of diagonal matrices written as one diagonal matrix (a Jacobian's chain rule leaves
    X^T diag(a) (diag(b) - diag(c)) X; a person writes X^T diag(a * (b - c)) X)."""
    for _ in range(MERGES):  # a merge makes new products and diagonals, which may merge in turn
        merged = transform(expr, rewrite=_merged_diagonals)
        if merged == expr:
            break
        expr = merged
    return simplify(expr)
