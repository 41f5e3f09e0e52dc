r"""The linear and structural ops: scalar multiples, sums, matrix products, transposes, traces, sums of
entries, broadcasts.

The smart constructors (``add``, ``matmul``, ``transpose``, ...) keep expressions
canonical: scalars in front, no ones-matrix products (they become sums and
broadcasts), like terms collected. Every later stage relies on that and rebuilds
only what it changes. Three of them meet the elementwise product, whose card
(``products``) builds on this module: they build it through its card
(``elementwise_product``) rather than import it.

A linear op's rule is its transpose (adjoint) map; a bilinear op's rule gives
each side the cotangent contracted with the other side.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import (
    HadamardPower as SympyHadamardPower,
)
from sympy.matrices.expressions import HadamardProduct, MatAdd, MatMul, Transpose
from sympy.matrices.expressions import (
    Trace as SympyTrace,
)
from sympy.matrices.expressions.diagonal import DiagMatrix as SympyDiagMatrix
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError
from .card import (
    AXIS,
    CARDS,
    LOWER,
    SHAPE,
    SPD,
    SYMMETRIC,
    UNSTRUCTURED,
    UPPER,
    MatrixOp,
    Reduction,
    ScalarOp,
    atom,
    is_matrix,
    is_symmetric,
    language,
    made_of_matrices,
    properties,
    register,
    require_matrix,
    shape_text,
    slice_total,
    transposed_properties,
)
from .constants import Identity, OneMatrix, ZeroMatrix, is_zero, shape_args, split_coeff
from .powers import long_powers_written_out

# --------------------------------------------------------------------------
# Scalar multiples
# --------------------------------------------------------------------------


def scale(c, m):
    """c * m for a scalar c and a matrix m."""
    if c == 0:
        return ZeroMatrix(*m.shape)
    if c == 1:
        return m
    return matmul(c, m)


def elementwise_product(*factors):
    """``hadamard(*factors)``, built by the elementwise product's card (``products`` imports this module)."""
    return CARDS[HadamardProduct].construct(*factors)


# --------------------------------------------------------------------------
# Sum
# --------------------------------------------------------------------------


def add(*terms):
    """Sum of scalars or of same-shape matrices, zeros dropped, like terms collected.

    Written here rather than with SymPy's MatAdd.doit, whose term collection
    multiplies through ``c * M`` and so distributes scalars and pushes
    transposes into sums.
    """
    if not terms:
        raise ValueError("add() of nothing: pass at least one (possibly zero) term")
    zero, terms = terms[0], [t for t in terms if not is_zero(t)]
    if not terms:
        return zero
    if not is_matrix(terms[0]):
        return sp.Add(*terms)
    coeffs: dict = {}
    pending = list(terms)
    while pending:
        t = pending.pop(0)
        if isinstance(t, MatAdd):
            pending[:0] = list(t.args)
        elif not isinstance(t, sp.ZeroMatrix):
            c, core = split_coeff(t)
            coeffs[core] = coeffs.get(core, sp.S.Zero) + c
    kept = [scale(c, m) for m, c in sorted(coeffs.items(), key=lambda mc: sp.default_sort_key(mc[0])) if c != 0]
    if not kept:
        return ZeroMatrix(*terms[0].shape)
    return kept[0] if len(kept) == 1 else MatAdd(*kept)


def grad_add(ans, g, *terms):
    r"""$Y = \sum_k A_k$: $\bar A_k = \bar Y$."""
    return (g,) * len(terms)


def signed_terms(printer, e) -> list:
    """The terms of the sum ``e`` as (sign, code without it, the term), the positive terms first."""
    terms = []
    for term in e.args:
        s = printer._operand(term, e.args) if small_operand(term) else printer._print(term)
        sign, code = ("-", s[1:]) if s.startswith("-") else ("+", s)
        if sign == "-" and sums_at_top(code):  # -a - b: the operand of the subtraction is (a + b), not a - b
            negated = scale(-1, term)
            code = f"({printer._operand(negated, e.args) if small_operand(negated) else printer._print(negated)})"
        terms.append((sign, code, term))
    return sorted(terms, key=lambda term: term[0] == "-")


def sums_at_top(code: str) -> bool:
    """Whether ``code`` adds or subtracts outside parentheses (``a - b``; not ``-a``, ``(a - b) * c``, ``1e-05``)."""
    depth = 0
    for k, ch in enumerate(code):
        depth += ch in "(["
        depth -= ch in ")]"
        if depth == 0 and ch in "+-" and code[k - 1 : k] == " " and code[k + 1 : k + 2] == " ":
            return True
    return False


def _array_add(printer, e):
    """The sum as array code, positive terms first (``X @ W + b - Y``); code generation lays out torch's and
    numpy's (fused products, in-place updates: ``codegen/layout.py``)."""
    terms = signed_terms(printer, e)
    head = ("-" if terms[0][0] == "-" else "") + terms[0][1]
    return head + "".join(f" {sign} {code}" for sign, code, _ in terms[1:])


def _latex_add(printer, e):
    terms = sorted((printer._print(t) for t in e.args), key=lambda t: t.startswith("-"))  # X W + b - Y
    return terms[0] + "".join(f" - {t[1:]}" if t.startswith("-") else f" + {t}" for t in terms[1:])


def _sum_structure(e) -> frozenset:
    """A sum is what all its terms are, and symmetric if its terms' transposes are its terms (A + A^T)."""
    found = frozenset.intersection(*(properties(t) for t in e.args))
    if SYMMETRIC not in found and {transpose(t) for t in e.args} == set(e.args):
        found |= {SYMMETRIC}
    return found


register(
    MatAdd,
    "Sum",
    "A + B, A - B",
    add,
    grad_add,
    spell={"text": _array_add, "numpy": _array_add, "torch": _array_add, "latex": _latex_add},
    structure=_sum_structure,
)


# --------------------------------------------------------------------------
# Matrix product
# --------------------------------------------------------------------------


def matmul(*factors):
    """Matrix product with scalars in front; ones-matrix products become sums and broadcasts."""
    product = MatMul(*factors)
    coeff, mats = product.as_coeff_matrices()
    if len(mats) == 1 and isinstance(mats[0], MatAdd):  # keep c * (A + B); SymPy would distribute c
        return MatMul(coeff, mats[0]) if coeff != 1 else mats[0]
    if coeff != 1 and made_of_matrices(coeff):
        # SymPy's MatMul.doit asks coeff.is_zero, and its assumptions rebuild a matrix sum inside
        # (sum(X**2 + 1/2)) as a scalar one: simplify the matrices alone, then put the coefficient back
        c, core = split_coeff(matmul(*mats))
        return core if isinstance(core, sp.ZeroMatrix) else MatMul(coeff * c, core)
    product = long_powers_written_out(product.doit(deep=False))
    if not isinstance(product, MatMul):
        return product
    coeff, mats = product.as_coeff_matrices()
    if any(isinstance(m, sp.ZeroMatrix) for m in mats):
        return ZeroMatrix(*product.shape)
    if len(mats) > 1 and isinstance(mats[0], sp.OneMatrix):
        rest = matmul(*mats[1:])
        return scale(coeff, broadcast(axis_sum(rest, 0), mats[0].shape[0], rest.shape[1]))
    if len(mats) > 1 and isinstance(mats[-1], sp.OneMatrix):
        rest = matmul(*mats[:-1])
        return scale(coeff, broadcast(axis_sum(rest, 1), rest.shape[0], mats[-1].shape[1]))
    return product


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
            grads.append(sum_all(elementwise_product(g, matmul(*others))))
    return tuple(grads)


def _array_matmul(printer, e):
    c, mats = e.as_coeff_matrices()
    sign = ""
    if c.could_extract_minus_sign():
        c, sign = -c, "-"
    if len(mats) == 1:
        body = printer._paren(mats[0], printer.PRODUCT)
    else:
        body = " @ ".join(printer._paren(m, printer.PRODUCT, strict=True) for m in mats)
    if c == 1:
        return sign + body
    if printer.dialect != "text" and len(mats) == 1 and isinstance(mats[0], HadamardProduct):
        return sign + printer._print_HadamardProduct(mats[0], coeff=c)  # the scalar joins the product's small factors
    return f"{sign}{printer._paren(c, printer.PRODUCT)} * {body}"


def _latex_matmul(printer, e):
    c, mats = e.as_coeff_matrices()
    sign = ""
    if c.could_extract_minus_sign():
        c, sign = -c, "-"
    # SymPy's parenthesize(strict=False) wraps anything binding no tighter than a product
    level = PRECEDENCE["Add" if len(mats) == 1 else "Mul"]
    coeff = "" if c == 1 else printer.parenthesize(c, PRECEDENCE["Mul"], strict=True) + " "
    return sign + coeff + " ".join(printer.parenthesize(m, level) for m in mats)


def _product_structure(e) -> frozenset:
    """c A: what A is (positive definite only for c > 0); a product of lower (upper) triangular matrices is
    lower (upper) triangular; one that reads the same transposed backwards (A^T S A, x x^T) is symmetric."""
    coeff, mats = e.as_coeff_matrices()
    if len(mats) == 1:
        found = properties(mats[0])
        return found if coeff.is_positive else found - {SPD}
    if any(m.shape[0] != m.shape[1] for m in mats):
        found = UNSTRUCTURED
    else:
        found = frozenset.intersection(*(properties(m) for m in mats)) & {LOWER, UPPER}
    if all(transpose(a) == b for a, b in zip(mats, reversed(mats))):
        found |= {SYMMETRIC}
    return found


register(
    MatMul,
    "Matrix product",
    "A @ B, c * A",
    matmul,
    grad_matmul,
    spell={"text": _array_matmul, "numpy": _array_matmul, "torch": _array_matmul, "latex": _latex_matmul},
    structure=_product_structure,
)


# --------------------------------------------------------------------------
# Transpose
# --------------------------------------------------------------------------


def transpose(m):
    """m^T, pushed through products and ops but kept whole over sums: (A + B)^T stays; a symmetric m (by
    ``properties``: S declared symmetric, inv(S), A^T S A) is its own transpose."""
    if isinstance(m, Transpose):
        return m.arg
    if tuple(m.shape) == (1, 1) or is_symmetric(m):
        return m
    if isinstance(m, MatMul):
        coeff, mats = m.as_coeff_matrices()
        return matmul(coeff, *[transpose(f) for f in reversed(mats)])
    if isinstance(m, HadamardProduct):
        return elementwise_product(*[transpose(f) for f in m.args])
    if isinstance(m, SympyHadamardPower):
        return CARDS[SympyHadamardPower].construct(transpose(m.base), m.exp)
    if isinstance(m, Broadcast):
        return Broadcast(transpose(m.arg), m.shape[1], m.shape[0])
    if isinstance(m, (MatAdd, MatrixOp)):
        return Transpose(m)
    return Transpose(m).doit(deep=False)


def grad_transpose(ans, g, a):
    r"""$Y = A^T$: $\bar A = \bar Y^T$."""
    return (transpose(g),)


register(
    Transpose,
    "Transpose",
    "A.T",
    transpose,
    grad_transpose,
    spell={
        "text": lambda printer, e: f"{printer._paren(e.arg, printer.ATOM)}.T",
        "numpy": lambda printer, e: f"{printer._paren(e.arg, printer.ATOM)}.T",
        "torch": lambda printer, e: f"{printer._paren(e.arg, printer.ATOM)}.mT",
        "latex": lambda printer, e: f"{printer.parenthesize(e.arg, PRECEDENCE['Pow'])}^{{T}}",
    },
    structure=lambda e: transposed_properties(properties(e.arg)),
)


# --------------------------------------------------------------------------
# Trace
# --------------------------------------------------------------------------


class Trace(SympyTrace):
    r"""$\operatorname{tr} A$ (SymPy's class, printable by ``sympy.lambdify``)."""

    def doit(self, **hints):  # SymPy's builds its own class (also for tr(A + B) = tr A + tr B), unknown to printers
        done = super().doit(**hints)
        return done.replace(lambda e: type(e) is SympyTrace, lambda e: Trace(e.arg)) if done.has(SympyTrace) else done

    def _sympystr(self, printer):
        return f"trace({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.trace')}({printer._print(self.arg)})"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.trace')}({printer._print(self.arg)})"

    def _latex(self, printer, exp=None):
        out = rf"\operatorname{{tr}}\left({printer._print(self.arg)}\right)"
        return f"{out}^{{{exp}}}" if exp else out


def require_square(x, name):
    if not is_matrix(x) or x.shape[0] != x.shape[1]:
        raise ShapeError(f"{name} needs a square matrix, got {shape_text(x)}")
    return x


@language("trace")
def trace(m):
    """tr m, for a square matrix."""
    require_square(m, "trace")
    if isinstance(m, Transpose):
        return trace(m.arg)
    if tuple(m.shape) == (1, 1):
        return sum_all(m)
    return Trace(m)


def grad_trace(ans, g, a):
    r"""$y = \operatorname{tr} A$: $\bar A = \bar y I$."""
    return (scale(g, Identity(a.shape[0])),)


register(Trace, "Trace", "trace(A)", trace, grad_trace, also=(SympyTrace,))


# --------------------------------------------------------------------------
# Sums
# --------------------------------------------------------------------------


class SumAll(ScalarOp):
    """The sum of all entries of a matrix (a scalar)."""

    name = "sum"

    def value(self, explicit):
        return sp.Add(*explicit)

    def _sympystr(self, printer):
        return f"sum({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.sum')}({printer._print(self.arg)})"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.sum')}({printer._print(self.arg)})"

    def _latex(self, printer, exp=None):
        out = rf"\mathbf{{1}}^{{T}} {printer.parenthesize(self.arg, PRECEDENCE['Mul'])} \mathbf{{1}}"
        return rf"\left({out}\right)^{{{exp}}}" if exp else out


def sum_all(m):
    """Sum of all entries, as a scalar."""
    c, core = split_coeff(m)
    if c != 1:
        return c * sum_all(core)
    if isinstance(m, sp.ZeroMatrix):
        return sp.S.Zero
    if isinstance(m, sp.OneMatrix):
        return m.shape[0] * m.shape[1]
    if isinstance(m, MatrixOp) and m.sums_to_one is not None:  # one 1 per row (one_hot): as many as there are rows
        return m.shape[1 - m.sums_to_one]
    if isinstance(m, Broadcast):
        factor = (m.shape[0] / m.arg.shape[0]) * (m.shape[1] / m.arg.shape[1])
        return factor * sum_all(m.arg)
    if isinstance(m, (AxisSum, Transpose)):
        return sum_all(m.arg)
    if isinstance(m, HadamardProduct) and any(isinstance(f, sp.Identity) for f in m.args):
        return trace(elementwise_product(*[f for f in m.args if not isinstance(f, sp.Identity)]))  # sum(I * A) = tr A
    return SumAll(m)


def grad_sum(ans, g, a):
    r"""$y = \sum_{ij} A_{ij}$: $\bar A = \bar y \mathbf{1}\mathbf{1}^T$."""
    return (scale(g, OneMatrix(*a.shape)),)


register(SumAll, "Sum of all entries", "sum(A)", sum_all, grad_sum)


class AxisSum(Reduction):
    """Sums along one axis, keeping it: axis 0 gives 1 x n, axis 1 gives m x 1."""

    name = "sum"

    def _entry(self, i, j, **kwargs):
        return slice_total(self.arg, i, j, self.axis, lambda a: a)

    def _sympystr(self, printer):
        return f"sum({printer._print(self.arg)}, axis={self.axis})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.sum')}({printer._print(self.arg)}, axis={self.axis}, keepdims=True)"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.sum')}({printer._print(self.arg)}, dim={self.axis}, keepdim=True)"

    def _latex(self, printer):
        arg = printer.parenthesize(self.arg, PRECEDENCE["Mul"])
        return rf"\mathbf{{1}}^{{T}} {arg}" if self.axis == 0 else rf"{arg} \mathbf{{1}}"


def axis_sum(m, axis: int):
    """Sum along ``axis`` (0: down the rows, giving 1 x n; 1: along the columns, giving m x 1)."""
    rows, cols = m.shape
    shape = (1, cols) if axis == 0 else (rows, 1)
    if m.shape[axis] == 1:
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, axis_sum(core, axis))
    if isinstance(m, sp.ZeroMatrix):
        return ZeroMatrix(*shape)
    if isinstance(m, sp.OneMatrix):
        return scale(m.shape[axis], OneMatrix(*shape))
    if isinstance(m, MatrixOp) and m.sums_to_one == axis:
        return OneMatrix(*shape)
    if isinstance(m, SympyDiagMatrix):
        v = m.args[0]
        column = v if v.shape[1] == 1 else transpose(v)
        return transpose(column) if axis == 0 else column
    if isinstance(m, Broadcast):
        if m.arg.shape[axis] == 1:
            return scale(m.shape[axis], broadcast(m.arg, *shape))
        return broadcast(axis_sum(m.arg, axis), *shape)
    return AxisSum(m, axis)


def grad_axis_sum(ans, g, a, axis):
    r"""$y = \mathbf{1}^T A$ (axis 0) or $A \mathbf{1}$ (axis 1): $\bar A$ is $\bar y$ broadcast back."""
    return broadcast(g, *a.shape), None


register(AxisSum, "Sum along an axis", "sum(A, axis=0)", lambda m, axis: axis_sum(m, int(axis)), grad_axis_sum)


@language("sum", ("x", "axis"), {"axis": None}, {"axis": AXIS})
def _sum(x, axis=None):
    if not is_matrix(x):
        return x
    return sum_all(x) if axis is None else axis_sum(x, axis)


@language("mean", ("x", "axis"), {"axis": None}, {"axis": AXIS})
def _mean(x, axis=None):
    if not is_matrix(x):
        return x
    if axis is None:
        return sum_all(x) / (x.shape[0] * x.shape[1])
    return scale(1 / x.shape[axis], axis_sum(x, axis))


# --------------------------------------------------------------------------
# Broadcast
# --------------------------------------------------------------------------


class Broadcast(MatrixOp):
    """A 1 x n row repeated over m rows, an m x 1 column over n columns, or a 1 x 1 everywhere."""

    def __new__(cls, arg, rows, cols):
        arg = require_matrix(arg, "broadcasting")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        r, c = arg.shape
        if (r != 1 and r != rows) or (c != 1 and c != cols):
            raise ShapeError(f"cannot broadcast a {shape_text(arg)} matrix to {rows} x {cols}")
        return super().__new__(cls, arg, rows, cols)

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.args[1], self.args[2]))

    def _entry(self, i, j, **kwargs):
        rows, cols = self.arg.shape
        return self.arg[0 if rows == 1 else i, 0 if cols == 1 else j]

    def _sympystr(self, printer):
        return f"broadcast_to({printer._print(self.arg)}, {shape_args(printer, self)})"

    def _numpycode(self, printer):
        return (
            f"{printer._module_format('numpy.broadcast_to')}({printer._print(self.arg)}, {shape_args(printer, self)})"
        )

    def _torchcode(self, printer):
        return f"{atom(printer, self.arg)}.expand{shape_args(printer, self)}"

    def _latex(self, printer):
        arg = printer.parenthesize(self.arg, PRECEDENCE["Mul"])
        rows, cols = self.arg.shape
        if rows == 1 and cols == 1:
            return rf"{arg} \mathbf{{1}} \mathbf{{1}}^{{T}}"
        return rf"\mathbf{{1}} {arg}" if rows == 1 else rf"{arg} \mathbf{{1}}^{{T}}"


def broadcast(m, rows, cols):
    """Repeat a row, column or 1 x 1 matrix to rows x cols."""
    if tuple(m.shape) == (rows, cols):
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, broadcast(core, rows, cols))
    if isinstance(m, sp.ZeroMatrix):
        return ZeroMatrix(rows, cols)
    if isinstance(m, sp.OneMatrix):
        return OneMatrix(rows, cols)
    if isinstance(m, Broadcast):
        return broadcast(m.arg, rows, cols)
    return Broadcast(m, rows, cols)


def small_operand(f) -> bool:
    """A row, column or scalar broadcast over the matrix (printed bare, broadcasting restores it)."""
    return isinstance(split_coeff(f)[1], (Broadcast, sp.OneMatrix))


def spread(m, like, axis):
    """axis_sum(m, axis) broadcast back to the shape of ``like``."""
    return broadcast(axis_sum(m, axis), *like.shape)


def grad_broadcast(ans, g, a, rows, cols):
    r"""$Y = \mathbf{1} b$ (or $c \mathbf{1}^T$): $\bar b$ is $\bar Y$ summed over the repeated axis."""
    for axis in (0, 1):
        if a.shape[axis] == 1 and ans.shape[axis] != 1:
            g = axis_sum(g, axis)
    return g, None, None


register(Broadcast, "Broadcasting", "X + b, broadcast_to(b, (q, n))", broadcast, grad_broadcast)


@language("broadcast_to", ("x", "shape"), kinds={"shape": SHAPE})
def _broadcast_to(x, shape):
    if not is_matrix(x):
        return scale(x, OneMatrix(*shape))
    return broadcast(x, *shape)
