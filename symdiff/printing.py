"""Printing expressions as array code: the expression language, and (in codegen) numpy and torch.

``ArrayCode`` holds what every array dialect shares: ``@`` for matrix
products, ``*`` and ``/`` elementwise, a scalar coefficient in front, a
broadcast row or column printed bare where broadcasting restores it
(``X @ W + b``). ``TextPrinter`` prints the expression language, so what
``text`` prints, ``parse`` reads.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from .ops import Broadcast, hpow, split_coeff

ADD, PRODUCT, POWER, ATOM = 40, 50, 60, 1000


class ArrayCode:
    """Printing shared by the backends; ``NAMES`` maps symdiff names to library calls."""

    NAMES: dict = {}

    def __init__(self, settings=None):
        super().__init__(settings)
        self.helpers_used: set = set()  # unqualified names the printed code calls

    def _call(self, name: str, *args: str) -> str:
        target = self.NAMES.get(name, name)
        if "." not in target:
            self.helpers_used.add(target)
            return f"{target}({', '.join(args)})"
        return f"{self._module_format(target)}({', '.join(args)})"

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
        c, core = split_coeff(e)
        full = any(not isinstance(split_coeff(s)[1], (Broadcast, OneMatrix)) for s in siblings if s is not e)
        if full and isinstance(core, Broadcast):
            inner = self._paren(core.arg, PRODUCT, strict=True)
            sign = "-" if c.could_extract_minus_sign() else ""
            c = -c if sign else c
            return sign + (inner if c == 1 else f"{self._paren(c, PRODUCT)} * {inner}")
        if full and isinstance(core, OneMatrix):
            return self._print(c)
        return self._paren(e, PRODUCT, strict=True)

    def _print_MatMul(self, e):
        c, mats = e.as_coeff_matrices()
        sign = ""
        if c.could_extract_minus_sign():
            c, sign = -c, "-"
        if len(mats) == 1:
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
        parts.sort(key=lambda part: part[0] == "-")
        out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        return out + "".join(f" {sign} {s}" for sign, s in parts[1:])

    def _print_HadamardProduct(self, e):
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

    def _print_MatrixSymbol(self, e):
        return e.name

    def _print_Pow(self, e, rational=False):
        # Python's ** and / work on numbers and arrays alike (torch.pow(B, -1) fails on an int dim)
        return StrPrinter._print_Pow(self, e, rational)

    def _print_Elementwise(self, e):
        arg = self._print(e.arg)
        named = e.named()
        if named is not None:
            f, params = named
            return self._call(f.__name__, arg, *map(self._print, params))
        (var,), body = e.function.variables, e.function.expr
        if body == sp.sqrt(var):
            return self._call("sqrt", arg)
        return self._print(body.xreplace({var: sp.Symbol(f"({arg})")}))

    def _print_Function(self, e):
        name = type(e).__name__
        if name in self.NAMES:
            return self._call(name, *map(self._print, e.args))
        return super()._print_Function(e)

    def _print_SumAll(self, e):
        return self._call("sum", self._print(e.arg))

    def _print_Trace(self, e):
        return self._call("trace", self._print(e.arg))

    def _print_Determinant(self, e):
        return self._call("det", self._print(e.arg))

    def _print_Inverse(self, e):
        return self._call("inv", self._print(e.arg))

    def _print_MatPow(self, e):
        return self._call("matrix_power", self._print(e.base), self._print(e.exp))

    def _print_log(self, e):
        if isinstance(e.args[0], sp.Determinant):
            return self._call("logdet", self._print(e.args[0].arg))
        return self._call("log", self._print(e.args[0]))

    def _print_DiagMatrix(self, e):
        return self._call("diag", self._print(e.args[0]))

    def _print_Softmax(self, e):
        return self._call("softmax", self._print(e.arg), str(e.axis))

    def _print_LogSoftmax(self, e):
        return self._call("log_softmax", self._print(e.arg), str(e.axis))

    def _print_BatchNorm(self, e):
        return self._call("batchnorm", *map(self._print, e.args))

    def _print_BatchNormalize(self, e):
        return self._call("batch_normalize", self._print(e.arg), self._print(e.eps))

    def _print_BatchStd(self, e):
        return self._call("batch_std", self._print(e.arg), self._print(e.eps))

    def _print_Transpose(self, e):
        return f"{self._paren(e.arg, ATOM)}.T"

    def _print_Reshape(self, e):
        return f"{self._paren(e.arg, ATOM)}.reshape{self._shape(e)}"

    def _shape(self, e) -> str:
        return f"({self._print(e.shape[0])}, {self._print(e.shape[1])})"


class TextPrinter(ArrayCode, StrPrinter):
    """Prints SymPy and symdiff expressions as expression-language strings."""

    NAMES = {"Abs": "abs"}

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

    def _print_OneMatrix(self, e):
        return f"ones({self._shape(e)})"

    def _print_ZeroMatrix(self, e):
        return f"zeros({self._shape(e)})"

    def _print_Identity(self, e):
        return f"eye({self._print(e.shape[0])})"


def text(expr) -> str:
    """``expr`` in the expression language."""
    return TextPrinter().doprint(expr)
