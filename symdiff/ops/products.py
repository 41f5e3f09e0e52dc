r"""The elementwise (Hadamard) product and power, and how array code and LaTeX print them.

``hadamard`` keeps products canonical: scalars pulled out, ones dropped, equal
bases merged into powers, fused forms other cards add (``HADAMARD_FUSIONS``:
a softmax typed out by hand) recognised. The linear ops it builds on are in
``linear``.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import HadamardPower as SympyHadamardPower
from sympy.matrices.expressions import HadamardProduct
from sympy.printing.precedence import PRECEDENCE

from .card import FUNCTIONS, LOWER, SPD, SYMMETRIC, UPPER, atom, call, properties, register, written_out
from .constants import OneMatrix, ZeroMatrix, split_coeff
from .linear import AxisSum, Broadcast, scale, small_operand, sum_all, transpose

# --------------------------------------------------------------------------
# Elementwise product and power
# --------------------------------------------------------------------------

HADAMARD_FUSIONS: list = []  # fn(exponents: {base: power}) -> factors, or None: fused forms other cards add


def hadamard(*factors):
    """Elementwise product: scalars pulled out, ones dropped, equal bases merged into powers."""
    shape = factors[0].shape
    coeff, exponents = sp.S.One, {}
    pending = list(factors)
    while pending:
        c, m = split_coeff(pending.pop(0))
        coeff *= c
        if isinstance(m, HadamardProduct):
            pending.extend(m.args)
        elif isinstance(m, sp.ZeroMatrix):
            return ZeroMatrix(*shape)
        elif not isinstance(m, sp.OneMatrix):
            base, e = (m.base, m.exp) if isinstance(m, SympyHadamardPower) else (m, sp.S.One)
            exponents[base] = exponents.get(base, sp.S.Zero) + e
    for fuse in HADAMARD_FUSIONS:
        fused = fuse(exponents)
        if fused is not None:
            return scale(coeff, hadamard(*fused))
    mats = [hpow(b, e) for b, e in sorted(exponents.items(), key=lambda be: sp.default_sort_key(be[0]))]
    mats = [m for m in mats if not isinstance(m, sp.OneMatrix)]
    core = OneMatrix(*shape) if not mats else mats[0] if len(mats) == 1 else HadamardProduct(*mats)
    return scale(coeff, core)


def grad_hadamard(ans, g, *factors):
    r"""$Y = A_1 \odot \cdots \odot A_n$: $\bar A_k = \bar Y \odot \prod_{j \ne k} A_j$."""
    return tuple(hadamard(g, *(factors[:k] + factors[k + 1 :])) for k in range(len(factors)))


def _product_structure(e) -> frozenset:
    """Symmetric factors give a symmetric product, positive definite ones a positive definite product (Schur's
    product theorem); one lower (upper) triangular factor makes it lower (upper) triangular."""
    each = [properties(f) for f in e.args]
    found = frozenset.intersection(*each) & {SYMMETRIC, SPD}
    return found | (frozenset.union(*each) & {LOWER, UPPER})


def is_divisor(f) -> bool:
    """Whether the factor ``f`` is a negative power, which a product's code divides by."""
    core = f.arg if isinstance(f, Broadcast) else f
    return isinstance(core, SympyHadamardPower) and core.exp.could_extract_minus_sign()


def prints_masked(printer, e) -> bool:
    """Whether array code prints the product ``e`` as a mask selecting a quotient (see ``_array_hadamard``)."""
    return (
        printer.dialect != "text" and any(getattr(f, "is_mask", False) for f in e.args) and any(map(is_divisor, e.args))
    )


def _array_hadamard(printer, e, coeff=None):
    """The product as array code: a mask selecting a quotient; in the expression language as written; else the
    factors in the order array code evaluates them (``product_factors``). Code generation lays out torch's and
    numpy's (in-place updates: ``codegen/layout.py``)."""
    if prints_masked(printer, e):
        return _masked_code(printer, e, coeff)
    if printer.dialect == "text":  # as written: the expression language reads it back
        code = " * ".join(printer._operand(f, e.args) for f in e.args if not is_divisor(f)) or "1"
        denominators = [_reciprocal(f) for f in e.args if is_divisor(f)]
        return code + "".join(f" / {printer._paren(d, printer.PRODUCT, strict=True)}" for d in denominators)
    factors = product_factors(printer, e, coeff)
    if factors[0][0] == "/":  # 1 / x, not x
        factors.insert(0, ("*", "1", None))
    return factors[0][1] + "".join(f" {op} {code}" for op, code, _ in factors[1:])


def _masked_code(printer, e, coeff=None) -> str:
    """A mask (step(x), ...) times a quotient that may be infinite where the mask is 0, as sqrt(relu(x))'s
    step(x) / (2 sqrt(relu(x))): 0 there, as PyTorch's backward selects rather than multiplies."""
    mask = next(f for f in e.args if getattr(f, "is_mask", False))
    rest = [f for f in e.args if f is not mask]
    value = printer._print(HadamardProduct(*rest) if len(rest) > 1 else rest[0])
    masked = call(printer, printer.dialect, "masked", printer._print(mask), value)
    return masked if coeff is None else f"{printer._paren(coeff, printer.PRODUCT)} * {masked}"


def product_factors(printer, e, coeff=None) -> list:
    """The factors of the product ``e`` (and the scalar ``coeff``) in the order array code evaluates them, as
    (operator, code, the factor or None for ``coeff``): the rows, columns and scalars first, so that they meet
    the full matrices once (t0 * h2 / B * h0: one pass over h0, where 1 / B * h0 * t0 * h2 makes three), then
    the full matrices; numerators before denominators in each."""
    small = [f for f in e.args if small_operand(f)]
    full = [f for f in e.args if f not in small]
    factors = [("*", printer._paren(coeff, printer.PRODUCT), None)] if coeff is not None else []
    for group in (small, full):
        factors += [("*", printer._operand(f, e.args), f) for f in group if not is_divisor(f)]
        factors += [
            ("/", printer._paren(_reciprocal(f), printer.PRODUCT, strict=True), f) for f in group if is_divisor(f)
        ]
    return factors


def _reciprocal(f):
    core = f.arg if isinstance(f, Broadcast) else f
    return hpow(core.base, -core.exp)


def _latex_operand(printer, item, level) -> str:
    # axis sums and broadcasts print as products with a ones vector: group them under odot and powers
    if isinstance(item, (AxisSum, Broadcast)):
        return printer._add_parens(printer._print(item))
    return printer.parenthesize(item, level)


register(
    HadamardProduct,
    "Elementwise product",
    "A * B, A / B",
    hadamard,
    grad_hadamard,
    spell={
        "text": _array_hadamard,
        "numpy": _array_hadamard,
        "torch": _array_hadamard,
        "latex": lambda printer, e: r" \odot ".join(_latex_operand(printer, f, PRECEDENCE["Mul"]) for f in e.args),
    },
    helpers={  # mask * x, and 0 where the mask is 0 even if x is infinite there
        "numpy": {
            "masked": 'def masked(mask, x):\n    with numpy.errstate(invalid="ignore"):\n'
            "        return numpy.where(mask != 0, mask * x, 0.0)"
        },
        "torch": {
            "masked": "def masked(mask, x):\n    return torch.where(mask != 0, mask * x, torch.zeros_like(mask * x))"
        },
    },
    structure=_product_structure,
)


class HadamardPower(SympyHadamardPower):
    r"""$A^{\circ p}$ entrywise (SymPy's class, printable by ``sympy.lambdify``)."""

    def _array(self, printer):
        if self.exp.could_extract_minus_sign():
            inverse = hpow(self.base, -self.exp)
            if isinstance(inverse, SympyHadamardPower):
                return f"1 / {_array_power(printer, inverse)}"
            return f"1 / {atom(printer, inverse)}"
        return _array_power(printer, self)

    _sympystr = _numpycode = _torchcode = _array

    def _eval_transpose(self):  # SymPy's builds its own class, which the code printers do not know
        return hpow(transpose(self.base), self.exp)

    def doit(self, **hints):
        base = written_out(self.base.doit(**hints)) if hints.get("deep", True) else self.base
        if isinstance(base, sp.MatrixBase):
            return base.applyfunc(lambda x: x**self.exp)
        return self.func(base, self.exp)

    def _latex(self, printer):
        return f"{_latex_operand(printer, self.base, PRECEDENCE['Pow'])}^{{\\circ {printer._print(self.exp)}}}"


def _array_power(printer, e) -> str:
    exp = printer._print(e.exp) if e.exp.is_Integer or e.exp.is_Symbol else f"({printer._print(e.exp)})"
    return f"{atom(printer, e.base)}**{exp}"


def hpow(m, p):
    """Elementwise power m^{∘p}."""
    p = sp.sympify(p)
    if p == 0 or isinstance(m, sp.OneMatrix):
        return OneMatrix(*m.shape)
    if p == 1:
        return m
    if isinstance(m, SympyHadamardPower):
        return hpow(m.base, m.exp * p)
    c, core = split_coeff(m)
    if c != 1 and (p.is_integer or c.is_positive):
        return scale(c**p, hpow(core, p))
    if isinstance(m, HadamardProduct) and p.is_integer:
        return hadamard(*[hpow(f, p) for f in m.args])
    return HadamardPower(m, p)


def grad_hadamard_power(ans, g, a, p):
    r"""$Y = A^{\circ p}$: $\bar A = p \, \bar Y \odot A^{\circ (p-1)}$; $\bar p = \sum (\bar Y \odot Y \odot \log A)$."""
    log = FUNCTIONS["log"].build  # the elementwise log, from the activations' card (which builds on this module)
    grad_p = None if p.is_Number else sum_all(hadamard(g, ans, log(a)))
    return scale(p, hadamard(g, hpow(a, p - 1))), grad_p


def _power_structure(e) -> frozenset:
    """A symmetric base gives a symmetric power; a triangular one a triangular power for p > 0 (0^p = 0)."""
    found = properties(e.base) & {SYMMETRIC}
    return found | (properties(e.base) & {LOWER, UPPER} if e.exp.is_positive else frozenset())


register(
    HadamardPower,
    "Elementwise power",
    "A ** p",
    hpow,
    grad_hadamard_power,
    also=(SympyHadamardPower,),
    structure=_power_structure,
)
