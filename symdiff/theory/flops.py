r"""A FLOP count of a matrix expression, symbolic in its dimensions: the cost model of the seed's layer counts
applied to every derivation's forward and closed-form backward.

Each distinct subexpression is counted once (the generated code computes a
shared one once). A product of an $m \times n$ and an $n \times p$ matrix costs
$2mnp$, and a diagonal factor a scaling of its neighbour's entries; a sum, an elementwise product or power, an elementwise function, a
scalar factor or a reduction costs one per entry; a transpose, a broadcast and
the constant matrices cost nothing; an inverse or a determinant of an
$n \times n$ matrix costs $n^3$; any other op one per entry of its result and
of its matrix arguments (a pass over each); scalar arithmetic one per operation.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import (
    DiagMatrix,
    HadamardPower,
    HadamardProduct,
    Identity,
    Inverse,
    MatAdd,
    MatMul,
    OneMatrix,
    Transpose,
    ZeroMatrix,
)

from ..ops import Broadcast, Elementwise, is_matrix
from ..ops.extrema import Maximum, Minimum
from ..ops.linalg import Determinant, LogDet

FREE = (Transpose, Broadcast, DiagMatrix, OneMatrix, Identity, ZeroMatrix, sp.MatrixSymbol, sp.Symbol, sp.Number)


def flops(*exprs) -> sp.Expr:
    """FLOPs of computing all of ``exprs``, each distinct subexpression once, as a polynomial in the dims."""
    seen, total = set(), sp.S.Zero
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if node in seen or not isinstance(node, sp.Basic) or isinstance(node, sp.Lambda):
                continue
            seen.add(node)
            total += _own_cost(node)
    return sp.expand(total)


def _entries(m) -> sp.Expr:
    return m.shape[0] * m.shape[1] if is_matrix(m) else sp.S.One


def _own_cost(node) -> sp.Expr:
    """The FLOPs of ``node`` itself, given its arguments."""
    if isinstance(node, FREE) or not node.args:
        return sp.S.Zero
    if isinstance(node, MatMul):
        matrices = [a for a in node.args if is_matrix(a)]
        cost = sum((_entries(node) for a in node.args if not is_matrix(a)), sp.S.Zero)  # scalar factors
        # generated code scales a diagonal factor's neighbour by its vector rather than multiply by it
        for k, m in enumerate(matrices):
            if isinstance(m, DiagMatrix) and len(matrices) > 1:
                cost += _entries(matrices[k + 1] if k + 1 < len(matrices) else matrices[k - 1])
        plain = [m for m in matrices if not isinstance(m, DiagMatrix)] if len(matrices) > 1 else matrices
        rows = plain[0].shape[0] if plain else 1
        for left, right in zip(plain, plain[1:]):
            cost += 2 * rows * left.shape[1] * right.shape[1]
        return cost
    if isinstance(node, (MatAdd, HadamardProduct)):
        return (len(node.args) - 1) * _entries(node)
    if isinstance(node, HadamardPower):
        return _entries(node)
    if isinstance(node, (Inverse, Determinant, LogDet)):
        return node.arg.shape[0] ** 3
    if isinstance(node, (sp.Add, sp.Mul)):
        return sp.Integer(len(node.args) - 1)
    if isinstance(node, (sp.Pow, sp.Function)) and not is_matrix(node):
        return sp.S.One
    if isinstance(node, (Elementwise, Maximum, Minimum)):
        return _entries(node)
    if is_matrix(node) or any(is_matrix(a) for a in node.args):  # reductions and other ops: a pass over each
        return _entries(node) + sum((_entries(a) for a in node.args if is_matrix(a)), sp.S.Zero)
    return sp.S.One


def leading(count: sp.Expr) -> sp.Expr:
    """The highest-degree terms of a FLOP polynomial (the count at large sizes)."""
    dims = sorted(count.free_symbols, key=str)
    if not dims:
        return count
    poly = sp.Poly(count, *dims)
    top = poly.total_degree()
    return sp.Add(*[c * sp.Mul(*[d**e for d, e in zip(dims, m)]) for m, c in poly.terms() if sum(m) == top])
