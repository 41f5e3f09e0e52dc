"""Matrix powers as SymPy writes products: the limit on an exponent, and long products kept as typed."""

from __future__ import annotations

import sympy as sp
from sympy import MatMul

MATPOW_LIMIT = 32  # |n| of matrix_power(A, n): the gradient of A^n has |n| terms


def long_powers_written_out(product):
    """SymPy's doit writes X @ X @ ... @ X as a matrix power: past MATPOW_LIMIT factors the product stays as
    typed (its gradient, one term a factor, is no longer than the product itself)."""
    factors = product.args if isinstance(product, MatMul) else (product,)
    if not any(_long_power(f) for f in factors):
        return product
    out = []
    for f in factors:
        if _long_power(f):
            base = f.base if f.exp > 0 else f.base.arg if isinstance(f.base, sp.Inverse) else sp.Inverse(f.base)
            out.extend([base] * abs(int(f.exp)))
        else:
            out.append(f)
    return MatMul(*out)


def _long_power(f) -> bool:
    return isinstance(f, sp.MatPow) and f.exp.is_Integer and abs(f.exp) > MATPOW_LIMIT
