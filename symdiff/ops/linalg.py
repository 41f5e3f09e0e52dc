r"""Linear-algebra ops: inverse, determinant, log-determinant, integer matrix powers.

Source: M. B. Giles, "An extended collection of matrix derivative results for
forward and reverse mode automatic differentiation" (2008), section 2.2;
The Matrix Cookbook (Petersen & Pedersen, 2012), eqs. (49), (57) and (59).
"""

from __future__ import annotations

import sympy as sp
from sympy import Inverse, MatPow
from sympy.matrices.expressions import Determinant as SympyDeterminant

from ..errors import ParseError, UnsupportedError
from .card import SPD, ScalarOp, call, language, properties, register, shape_text
from .constants import split_coeff
from .linear import add, matmul, require_square, scale, transpose
from .powers import MATPOW_LIMIT


def _calls(name: str, numpy: str, torch: str, latex) -> dict:
    """Spellings of a one-matrix function: name(A) in text, numpy / torch library calls, ``latex(arg)``."""
    return {
        "text": lambda printer, e, **kw: f"{name}({printer._print(e.args[0])})",
        "numpy": lambda printer, e, **kw: f"{printer._module_format(numpy)}({printer._print(e.args[0])})",
        "torch": lambda printer, e, **kw: f"{printer._module_format(torch)}({printer._print(e.args[0])})",
        "latex": lambda printer, e, **kw: latex(printer._print(e.args[0])),
    }


@language("inv")
def inverse(m):
    """A^{-1}, for a square matrix; a scalar comes out, (cA)^{-1} = A^{-1} / c."""
    require_square(m, "inv")
    if isinstance(m, Inverse):
        return m.arg
    c, core = split_coeff(m)
    if c != 1:
        return scale(1 / c, inverse(core))
    return Inverse(m)


def grad_inverse(ans, g, a, *exponent):
    r"""$Y = A^{-1}$: $\bar A = -Y^T \bar Y Y^T$ (Giles 2008)."""
    # SymPy stores the exponent -1 as an argument of Inverse: it gets no gradient
    return (scale(-1, matmul(transpose(ans), g, transpose(ans))), *([None] * len(exponent)))


register(
    Inverse,
    "Inverse",
    "inv(A)",
    lambda m, *exponent: inverse(m),
    grad_inverse,
    spell=_calls("inv", "numpy.linalg.inv", "torch.linalg.inv", lambda a: rf"\left({a}\right)^{{-1}}"),
    structure=lambda e: properties(e.arg),  # the inverse of a symmetric (spd, lower) matrix is one too
)


class Determinant(SympyDeterminant):
    r"""$\det A$ (SymPy's class, printable by ``sympy.lambdify``)."""

    SPELL = _calls("det", "numpy.linalg.det", "torch.linalg.det", lambda a: rf"\det\left({a}\right)")

    def doit(self, **hints):  # SymPy's builds its own class (A._eval_determinant()), unknown to the printers
        done = super().doit(**hints)
        if not done.has(SympyDeterminant):
            return done
        return done.replace(lambda e: type(e) is SympyDeterminant, lambda e: Determinant(e.arg))

    def _sympystr(self, printer):
        return self.SPELL["text"](printer, self)

    def _numpycode(self, printer):
        return self.SPELL["numpy"](printer, self)

    def _torchcode(self, printer):
        return self.SPELL["torch"](printer, self)

    def _latex(self, printer, exp=None):
        out = self.SPELL["latex"](printer, self)
        return f"{out}^{{{exp}}}" if exp else out


@language("det")
def det(m):
    """det A; a scalar comes out, det(cA) = c^n det A for n x n A (SymPy's own determinant
    cannot hold a scaled matrix: its argument checks rebuild det(2 X) around a non-matrix 2 X)."""
    c, core = split_coeff(require_square(m, "det"))
    if c != 1:
        return c ** m.shape[0] * det(core)
    return Determinant(m)


def grad_determinant(ans, g, a):
    r"""$y = \det A$: $\bar A = \bar y \, y \, A^{-T}$ (Matrix Cookbook eq. 49)."""
    return (scale(g * ans, transpose(Inverse(a))),)


register(Determinant, "Determinant", "det(A)", det, grad_determinant, also=(SympyDeterminant,))


class LogDet(ScalarOp):
    r"""$\log \det A$ for a matrix with positive determinant, computed stably (slogdet); of a matrix known to be
    symmetric positive definite, from its Cholesky factor L, $2 \sum_i \log L_{ii}$ (half the work of an LU
    factorization, and an error rather than a NaN where the matrix is not positive definite)."""

    name = "logdet"

    def value(self, explicit):
        return sp.log(explicit.det())

    def _sympystr(self, printer):
        return f"logdet({printer._print(self.arg)})"

    def _numpycode(self, printer):
        if SPD in properties(self.arg):
            return call(printer, "numpy", "logdet_spd", printer._print(self.arg))
        return f"{printer._module_format('numpy.linalg.slogdet')}({printer._print(self.arg)})[1]"

    def _torchcode(self, printer):
        if SPD in properties(self.arg):
            return call(printer, "torch", "logdet_spd", printer._print(self.arg))
        return f"{printer._module_format('torch.logdet')}({printer._print(self.arg)})"

    def _latex(self, printer, exp=None):
        out = rf"\log\det\left({printer._print(self.arg)}\right)"
        return rf"\left({out}\right)^{{{exp}}}" if exp else out


@language("logdet")
def logdet(m):
    return LogDet(require_square(m, "logdet"))


def grad_logdet(ans, g, a):
    r"""$y = \log\det A$: $\bar A = \bar y \, A^{-T}$ (Matrix Cookbook eq. 57)."""
    return (scale(g, transpose(Inverse(a))),)


def _lower_logdet(e):
    """log(det(A)) typed out becomes logdet(A); log(k det(A)) with k > 0 (det(cA) = c^n det A) log(k) + logdet(A)."""
    if not isinstance(e, sp.log):
        return None
    k, determinant = e.args[0].as_independent(SympyDeterminant, as_Add=False)
    if isinstance(determinant, SympyDeterminant) and (k == 1 or k.is_positive):
        return sp.expand_log(sp.log(k), force=True) + LogDet(determinant.arg)  # n log 2, not log(2**n)
    return None


register(
    LogDet,
    "Log-determinant",
    "logdet(A)",
    logdet,
    grad_logdet,
    lower=_lower_logdet,
    helpers={
        "numpy": {
            "logdet_spd": "def logdet_spd(a):\n    return 2 * numpy.log(numpy.diagonal(numpy.linalg.cholesky(a))).sum()"
        },
        "torch": {
            "logdet_spd": "def logdet_spd(a):\n    return 2 * torch.log(torch.diagonal(torch.linalg.cholesky(a))).sum()"
        },
    },
)


def matpow(m, n):
    """Integer matrix power; negative powers are powers of the inverse."""
    n = sp.sympify(n)
    if n.is_Integer and abs(n) > MATPOW_LIMIT:
        raise UnsupportedError(
            f"matrix power {n} of a {shape_text(m)} matrix: exponents are limited to -{MATPOW_LIMIT}..{MATPOW_LIMIT} "
            f"(the gradient of A^n is a sum of |n| products)"
        )
    if n.is_Integer and n < 0:
        inverse_ = inverse(m)
        return inverse_ if n == -1 else MatPow(inverse_, -n)
    return MatPow(m, n).doit(deep=False)


@language("matrix_power", ("x", "n"))
def _matrix_power(x, n):
    require_square(x, "matrix_power")
    if not isinstance(n, sp.Integer):
        raise ParseError(f"matrix_power needs an integer exponent, got {n}")
    return matpow(x, n)


def grad_matpow(ans, g, a, n):
    r"""$Y = A^n$: $\bar A = \sum_{k=0}^{n-1} (A^k)^T \bar Y (A^{n-1-k})^T$ for $n \ge 1$; for $n \le -1$,
    $B = A^{-1}$, $\bar B = \sum_{k=0}^{-n-1} (B^k)^T \bar Y (B^{-n-1-k})^T$ and $\bar A = -B^T \bar B B^T$."""
    if not n.is_Integer or n == 0:
        raise UnsupportedError(f"matrix power with exponent {n}: only nonzero integers")
    base = a if n > 0 else inverse(a)
    terms = [matmul(*([transpose(base)] * k), g, *([transpose(base)] * (abs(int(n)) - 1 - k))) for k in range(abs(n))]
    if n > 0:
        return add(*terms), None
    return scale(-1, matmul(transpose(base), add(*terms), transpose(base))), None


def _power_spell(fqn):
    return lambda printer, e, **kw: f"{printer._module_format(fqn)}({printer._print(e.base)}, {printer._print(e.exp)})"


register(
    MatPow,
    "Matrix power",
    "matrix_power(A, n)",
    matpow,
    grad_matpow,
    spell={
        "text": lambda printer, e, **kw: f"matrix_power({printer._print(e.base)}, {printer._print(e.exp)})",
        "numpy": _power_spell("numpy.linalg.matrix_power"),
        "torch": _power_spell("torch.linalg.matrix_power"),
        "latex": lambda printer, e, **kw: f"{printer.parenthesize(e.base, 60)}^{{{printer._print(e.exp)}}}",
    },
    structure=lambda e: properties(e.base),
)
