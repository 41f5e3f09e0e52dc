"""Printing expressions back in the expression language (numpy conventions).

What ``text`` prints, ``parse`` reads: ``@`` for matrix products, ``*`` and
``/`` elementwise, ``.T``, ``sum(E, axis=0)``, and a broadcast row or column
printed bare where numpy broadcasting restores it (``X @ W + b``).
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from .ops import Broadcast, hpow, split_coeff

ADD, PRODUCT, POWER, ATOM = 40, 50, 60, 1000

FUNCTION_NAMES = {"Abs": "abs"}


class TextPrinter(StrPrinter):
    """Prints SymPy and symdiff expressions as expression-language strings."""

    def _prec(self, e) -> int:
        if isinstance(e, MatAdd):
            return ADD
        if isinstance(e, (MatMul, HadamardProduct)):
            return PRODUCT
        if isinstance(e, HadamardPower):
            return POWER
        if isinstance(e, MatrixExpr):
            return ATOM
        return precedence(e)

    def _paren(self, e, level: int, strict: bool = False) -> str:
        s = self._print(e)
        p = self._prec(e)
        return f"({s})" if p < level or (strict and p == level) else s

    def _operand(self, e, siblings) -> str:
        """An elementwise operand; a broadcast is printed bare when a sibling has the full shape."""
        c, core = split_coeff(e)
        full = any(not isinstance(split_coeff(s)[1], (Broadcast, OneMatrix)) for s in siblings if s is not e)
        if full and isinstance(core, Broadcast):
            return self._print(sp.Mul(c, sp.Symbol(self._paren(core.arg, PRODUCT))))
        if full and isinstance(core, OneMatrix):
            return self._print(c)
        return self._paren(e, PRODUCT, strict=True)

    # -- linear algebra ------------------------------------------------------
    def _print_MatMul(self, e):
        c, mats = e.as_coeff_matrices()
        sign = ""
        if c.could_extract_minus_sign():
            c, sign = -c, "-"
        if len(mats) == 1:  # c * A: Python's left-to-right * and @ need no parentheses
            body = self._paren(mats[0], PRODUCT)
        else:
            body = " @ ".join(self._paren(m, PRODUCT, strict=True) for m in mats)
        if c == 1:
            return sign + body
        return f"{sign}{self._paren(c, PRODUCT)} * {body}"

    def _print_MatAdd(self, e):
        parts = []
        for term in e.args:
            broadcast = isinstance(split_coeff(term)[1], (Broadcast, OneMatrix))
            s = self._operand(term, e.args) if broadcast else self._print(term)
            parts.append(("-", s[1:]) if s.startswith("-") else ("+", s))
        parts.sort(key=lambda part: part[0] == "-")  # positive terms first: X @ W + b - Y
        out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        return out + "".join(f" {sign} {s}" for sign, s in parts[1:])

    def _print_HadamardProduct(self, e):
        """Factors with negative exponents go after a /: Y * Z / sqrt(Z**2 + 1)."""
        numerator, denominator = [], []
        for f in e.args:
            core = f.arg if isinstance(f, Broadcast) else f
            if isinstance(core, HadamardPower) and core.exp.could_extract_minus_sign():
                denominator.append(hpow(core.base, -core.exp))
            else:
                numerator.append(self._operand(f, e.args))
        out = " * ".join(numerator) or "1"
        return out + "".join(f" / {self._paren(d, PRODUCT, strict=True)}" for d in denominator)

    def _print_HadamardPower(self, e):
        if e.exp.could_extract_minus_sign():
            return f"1 / {self._paren(hpow(e.base, -e.exp), PRODUCT, strict=True)}"
        exp = self._print(e.exp) if e.exp.is_Integer or e.exp.is_Symbol else f"({self._print(e.exp)})"
        return f"{self._paren(e.base, POWER, strict=True)}**{exp}"

    def _print_Transpose(self, e):
        return f"{self._paren(e.arg, ATOM)}.T"

    def _print_MatrixSymbol(self, e):
        return e.name

    def _print_Trace(self, e):
        return f"trace({self._print(e.arg)})"

    def _print_Determinant(self, e):
        return f"det({self._print(e.arg)})"

    def _print_Inverse(self, e):
        return f"inv({self._print(e.arg)})"

    def _print_MatPow(self, e):
        return f"matrix_power({self._print(e.base)}, {self._print(e.exp)})"

    def _print_log(self, e):
        if isinstance(e.args[0], sp.Determinant):
            return f"logdet({self._print(e.args[0].arg)})"
        return f"log({self._print(e.args[0])})"

    def _shape(self, e):
        return f"({self._print(e.shape[0])}, {self._print(e.shape[1])})"

    def _print_OneMatrix(self, e):
        return f"ones({self._shape(e)})"

    def _print_ZeroMatrix(self, e):
        return f"zeros({self._shape(e)})"

    def _print_Identity(self, e):
        return f"eye({self._print(e.shape[0])})"

    def _print_DiagMatrix(self, e):
        return f"diag({self._print(e.args[0])})"

    # -- symdiff ops ---------------------------------------------------------
    def _print_Elementwise(self, e):
        named = e.named()
        arg = self._print(e.arg)
        if named is not None:
            f, params = named
            name = FUNCTION_NAMES.get(f.__name__, f.__name__)
            return f"{name}({', '.join([arg, *map(self._print, params)])})"
        (var,), body = e.function.variables, e.function.expr
        if body == sp.sqrt(var):
            return f"sqrt({arg})"
        return self._print(body.xreplace({var: sp.Symbol(self._paren(e.arg, ATOM))}))

    def _print_Function(self, e):
        name = FUNCTION_NAMES.get(type(e).__name__, type(e).__name__)
        return f"{name}({', '.join(map(self._print, e.args))})"

    _print_Abs = _print_Function

    def _print_SumAll(self, e):
        return f"sum({self._print(e.arg)})"

    def _print_AxisSum(self, e):
        return f"sum({self._print(e.arg)}, axis={e.axis})"

    def _print_Broadcast(self, e):
        return f"broadcast_to({self._print(e.arg)}, {self._shape(e)})"

    def _print_Reshape(self, e):
        return f"reshape({self._print(e.arg)}, {self._shape(e)})"

    def _print_Softmax(self, e):
        return f"softmax({self._print(e.arg)}, axis={e.axis})"

    def _print_LogSoftmax(self, e):
        return f"log_softmax({self._print(e.arg)}, axis={e.axis})"

    def _print_BatchNorm(self, e):
        return f"batchnorm({', '.join(map(self._print, e.args))})"

    def _print_BatchNormalize(self, e):
        return f"batch_normalize({self._print(e.arg)}, {self._print(e.eps)})"

    def _print_BatchStd(self, e):
        return f"batch_std({self._print(e.arg)}, {self._print(e.eps)})"


def text(expr) -> str:
    """``expr`` in the expression language."""
    return TextPrinter().doprint(expr)
