"""Printers built from the op cards: the expression language and LaTeX math here, numpy and torch in codegen.

A printer class names its dialect; ``spelled`` gives it a ``_print_<Op>``
method for every card that spells SymPy's own classes (symdiff's classes
print themselves through SymPy's hooks, so plain SymPy printers, ``str`` and
``sympy.lambdify`` print them too). ``ArrayCode`` holds what the array
dialects share for the cards' spellings to use: precedence, parentheses, and
a broadcast row or column printed bare where broadcasting restores it
(``X @ W + b``). What ``text`` prints, ``parse`` reads.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp
from sympy import MatrixExpr, S, preorder_traversal
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .ops import CARDS, Broadcast, split_coeff
from .ops.card import Printed


def spelled(printer_class: type, dialect: str) -> type:
    """``printer_class`` with a ``_print_<Op>`` for every card that spells an op in ``dialect`` by table."""
    for op, card in CARDS.items():
        spell = card.spell.get(dialect)
        if spell is not None:
            setattr(printer_class, f"_print_{op.__name__}", lambda self, e, _spell=spell, **kw: _spell(self, e, **kw))
    printer_class.dialect = dialect
    return printer_class


def _array_valued(e) -> bool:
    """Whether ``e`` is computed from arrays (a sum, trace, or an elementwise function's argument)."""
    return any(isinstance(a, (MatrixExpr, Printed)) for a in preorder_traversal(e))


def decimal(r) -> str | None:
    """A rational whose denominator is a multiple of 10 with no prime but 2 and 5, as the decimal it is.

    Such rationals come from decimals a user typed (the parser keeps them
    exact); the shortest float literal is used where it is exact, else every
    digit (so the decimal parses back to the same rational).
    """
    q = int(r.q)
    if q % 10:
        return None
    rest, digits = q, 0
    while rest % 10 == 0:
        rest, digits = rest // 10, digits + 1
    for prime in (2, 5):
        while rest % prime == 0:
            rest, digits = rest // prime, digits + 1
    if rest != 1:
        return None
    shortest = repr(float(r))
    if Fraction(shortest) == Fraction(int(r.p), q):
        return shortest
    scaled = abs(int(r.p)) * 10**digits // q
    whole, frac = divmod(scaled, 10**digits)
    return f"{'-' if r.p < 0 else ''}{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def float_literal(n, exact: bool = True) -> str | None:
    """An integer beyond 2**53 as a float literal (``1e+20``, typed so or not), else None.

    Generated code computes in float64, where such an integer is the float it rounds to, and torch refuses a
    Python int beyond int64; ``exact``: only where the float is the integer itself (text that parses back).
    """
    if abs(int(n)) <= 2**53:
        return None
    written = repr(float(n))
    return written if not exact or Fraction(written) == int(n) else None


def _irrational_constant(e) -> bool:
    return isinstance(e, sp.Expr) and not isinstance(e, MatrixExpr) and e.is_number and not e.is_Rational


class ArrayCode:
    """Precedence and parentheses for array code; the cards' array spellings use these."""

    ADD, PRODUCT, POWER, ATOM = PRECEDENCE["Add"], PRECEDENCE["Mul"], PRECEDENCE["Pow"], PRECEDENCE["Atom"]

    def _prec(self, e) -> int:
        if isinstance(e, MatAdd):
            return self.ADD
        if isinstance(e, (MatMul, HadamardProduct)):
            return self.PRODUCT
        if isinstance(e, HadamardPower):  # a negative power prints as a division, 1 / A**2
            return self.PRODUCT if e.exp.could_extract_minus_sign() else self.POWER
        if isinstance(e, MatrixExpr):
            return getattr(e, "precedence", self.ATOM)
        if isinstance(e, sp.Rational) and e > 0 and decimal(e):
            return self.ATOM
        return precedence(e)

    def _paren(self, e, level: int, strict: bool = False) -> str:
        s = self._print(e)
        p = self._prec(e)
        return f"({s})" if p < level or (strict and p == level) else s

    def _operand(self, e, siblings) -> str:
        """``e`` as an operand of a sum or product: a broadcast or ones matrix bare beside a full matrix."""
        c, core = split_coeff(e)
        full = any(not isinstance(split_coeff(s)[1], (Broadcast, OneMatrix)) for s in siblings if s is not e)
        if full and isinstance(core, Broadcast):
            inner = self._paren(core.arg, self.PRODUCT, strict=True)
            sign = "-" if c.could_extract_minus_sign() else ""
            c = -c if sign else c
            return sign + (inner if c == 1 else f"{self._paren(c, self.PRODUCT)} * {inner}")
        if full and isinstance(core, OneMatrix):
            return self._print(c)
        return self._paren(e, self.PRODUCT, strict=True)

    def _print_MatrixSymbol(self, e):
        return e.name

    def _print(self, e, **kwargs):
        if self.dialect != "text" and _irrational_constant(e):  # sqrt(2), log(2), pi / e: torch wants tensors
            return repr(float(e))
        return super()._print(e, **kwargs)

    def _print_Pow(self, e, rational=False):
        if self.dialect != "text" and e.exp in (S.Half, -S.Half):
            if _array_valued(e.base):
                root = f"{self._module_format(self.dialect + '.sqrt')}({self._print(e.base)})"
            else:  # dims and scalar inputs may be Python numbers, which torch.sqrt refuses
                root = f"{self._paren(e.base, self.POWER, strict=True)}**0.5"
            return root if e.exp == S.Half else f"1 / {root}"
        # Python's ** and / work on numbers and arrays alike (torch.pow(B, -1) fails on an int dim)
        return StrPrinter._print_Pow(self, e, rational)

    def _print_Rational(self, e):
        return decimal(e) or super()._print_Rational(e)

    def _print_Integer(self, e):
        return float_literal(e, exact=self.dialect == "text") or super()._print_Integer(e)

    def _print_Mul(self, e, **kwargs):
        coeff, rest = e.as_coeff_Mul()
        written = decimal(abs(coeff)) if coeff.is_Rational else None
        if written is None or rest == 1:
            return super()._print_Mul(e, **kwargs)
        return f"{'-' if coeff < 0 else ''}{written} * {self.parenthesize(rest, PRECEDENCE['Mul'])}"

    def _print_Pi(self, e):
        return "pi"

    def _print_Exp1(self, e):
        return "e"


class TextPrinter(ArrayCode, StrPrinter):
    """Prints SymPy and symdiff expressions as expression-language strings."""


spelled(TextPrinter, "text")


def text(expr) -> str:
    """``expr`` in the expression language."""
    return TextPrinter().doprint(expr)


class LatexPrinter(SympyLatexPrinter):
    r"""SymPy's LaTeX printer with the cards' spellings; ``names`` gives symbols (adjoints) their LaTeX and
    ``constants`` numbers theirs (batchnorm's eps as :math:`\epsilon`)."""

    def __init__(self, names: dict | None = None, constants: dict | None = None):
        super().__init__({"mat_symbol_style": "plain", "mul_symbol": None})
        self.names = names or {}
        self.constants = constants or {}

    def _print(self, expr, **kwargs):
        if self.constants and isinstance(expr, sp.Number) and expr in self.constants:
            return self.constants[expr]
        return super()._print(expr, **kwargs)

    def _print_MatrixSymbol(self, e):
        return self.names.get(e, super()._print_MatrixSymbol(e))

    def _print_Symbol(self, e, style="plain"):
        return self.names.get(e, super()._print_Symbol(e))

    def _print_Rational(self, e):
        """Typed decimals as decimals, ``1e-05`` as :math:`10^{-5}`, ``1e20`` as :math:`10^{20}`."""
        written = float_literal(e) if e.is_Integer else decimal(e)
        if written is None:
            return super()._print_Rational(e)
        mantissa, _, exponent = written.partition("e")
        if not exponent:
            return written
        power = f"10^{{{int(exponent)}}}"
        return power if mantissa in ("1", "1.0") else f"{mantissa} \\cdot {power}"

    def _print_Mul(self, e):
        coeff, rest = e.as_coeff_Mul()
        written = self._print_Rational(abs(coeff)) if coeff.is_Rational and decimal(abs(coeff)) else None
        if written is None or rest == 1:
            try:
                return super()._print_Mul(e)
            # SymPy's fraction() simplifies the exponent of exp(-sum(A) / 2), and squares A (ValueError); its
            # signsimp rebuilds an elementwise product of matrices around a scalar sign (TypeError, soak seed 23008)
            except (ValueError, TypeError):
                return r" \, ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in e.args)
        return f"{'-' if coeff < 0 else ''}{written} {self.parenthesize(rest, PRECEDENCE['Mul'])}"


spelled(LatexPrinter, "latex")


def latex(expr) -> str:
    """``expr`` as LaTeX math."""
    return LatexPrinter().doprint(expr)
