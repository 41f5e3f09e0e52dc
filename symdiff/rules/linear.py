"""Rules of linear and bilinear ops: sums, products, transposes, traces, reshapes.

A linear op's rule is its transpose (adjoint) map; a bilinear op's rule gives
each side the cotangent contracted with the other side.
"""

from sympy import Identity, MatAdd, MatMul, OneMatrix, Trace, Transpose
from sympy.matrices.expressions import HadamardProduct

from ..ops import (
    AxisSum,
    Broadcast,
    Reshape,
    SumAll,
    axis_sum,
    broadcast,
    hadamard,
    is_matrix,
    matmul,
    reshape,
    scale,
    sum_all,
    transpose,
)
from . import vjp


@vjp(MatAdd)
def grad_add(ans, g, *terms):
    r"""$Y = \sum_k A_k$: $\bar A_k = \bar Y$."""
    return (g,) * len(terms)


@vjp(MatMul)
def grad_matmul(ans, g, *factors):
    r"""$Y = c A_1 \cdots A_n$: $\bar A_k = c (A_1 \cdots A_{k-1})^T \bar Y (A_{k+1} \cdots A_n)^T$,
    and for a scalar factor $\bar c = \sum_{ij} (\bar Y \odot Y / c)_{ij}$."""
    scalars = [f for f in factors if not is_matrix(f)]
    mats = [f for f in factors if is_matrix(f)]
    grads, k = [], 0
    for f in factors:
        if is_matrix(f):
            before = [transpose(matmul(*mats[:k]))] if k else []
            after = [transpose(matmul(*mats[k + 1 :]))] if k + 1 < len(mats) else []
            grads.append(matmul(*scalars, *before, g, *after))
            k += 1
        else:
            others = [x for x in factors if x is not f]
            grads.append(sum_all(hadamard(g, matmul(*others))))
    return tuple(grads)


@vjp(Transpose)
def grad_transpose(ans, g, a):
    r"""$Y = A^T$: $\bar A = \bar Y^T$."""
    return (transpose(g),)


@vjp(Trace)
def grad_trace(ans, g, a):
    r"""$y = \operatorname{tr} A$: $\bar A = \bar y I$."""
    return (scale(g, Identity(a.shape[0])),)


@vjp(SumAll)
def grad_sum(ans, g, a):
    r"""$y = \sum_{ij} A_{ij}$: $\bar A = \bar y \mathbf{1}\mathbf{1}^T$."""
    return (scale(g, OneMatrix(*a.shape)),)


@vjp(AxisSum)
def grad_axis_sum(ans, g, a, axis):
    r"""$y = \mathbf{1}^T A$ (axis 0) or $A \mathbf{1}$ (axis 1): $\bar A$ is $\bar y$ broadcast back."""
    return broadcast(g, *a.shape), None


@vjp(Broadcast)
def grad_broadcast(ans, g, a, rows, cols):
    r"""$Y = \mathbf{1} b$ (or $c \mathbf{1}^T$): $\bar b$ is $\bar Y$ summed over the repeated axis."""
    for axis in (0, 1):
        if a.shape[axis] == 1 and ans.shape[axis] != 1:
            g = axis_sum(g, axis)
    return g, None, None


@vjp(Reshape)
def grad_reshape(ans, g, a, rows, cols):
    r"""$Y = \operatorname{reshape}(A)$: $\bar A = \operatorname{reshape}(\bar Y)$ to $A$'s shape."""
    return reshape(g, *a.shape), None, None


@vjp(HadamardProduct)
def grad_hadamard(ans, g, *factors):
    r"""$Y = A_1 \odot \cdots \odot A_n$: $\bar A_k = \bar Y \odot \prod_{j \ne k} A_j$."""
    return tuple(hadamard(g, *(factors[:k] + factors[k + 1 :])) for k in range(len(factors)))
