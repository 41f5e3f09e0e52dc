"""Rules of linear-algebra ops: inverse, determinant, integer matrix powers.

Source: M. B. Giles, "An extended collection of matrix derivative results for
forward and reverse mode automatic differentiation" (2008), section 2.2;
The Matrix Cookbook (Petersen & Pedersen, 2012), eqs. (49) and (59).
"""

from sympy import Determinant, Inverse, MatPow

from ..errors import UnsupportedError
from ..ops import add, matmul, scale, transpose
from . import vjp


@vjp(Inverse)
def grad_inverse(ans, g, a, *exponent):
    r"""$Y = A^{-1}$: $\bar A = -Y^T \bar Y Y^T$ (Giles 2008). (SymPy stores the exponent -1 as an arg.)"""
    return (scale(-1, matmul(transpose(ans), g, transpose(ans))), *([None] * len(exponent)))


@vjp(Determinant)
def grad_determinant(ans, g, a):
    r"""$y = \det A$: $\bar A = \bar y \, y \, A^{-T}$ (Matrix Cookbook eq. 49)."""
    return (scale(g * ans, transpose(Inverse(a))),)


@vjp(MatPow)
def grad_matpow(ans, g, a, n):
    r"""$Y = A^n$, $n \ge 1$: $\bar A = \sum_{k=0}^{n-1} (A^k)^T \bar Y (A^{n-1-k})^T$."""
    if not (n.is_Integer and n >= 1):
        raise UnsupportedError(f"matrix power with exponent {n}: only positive integers (write inv(A) for -1)")
    n = int(n)
    terms = [matmul(*([transpose(a)] * k), g, *([transpose(a)] * (n - 1 - k))) for k in range(n)]
    return add(*terms), None
