r"""Reductions: variance and standard deviation (numpy's ``ddof``), the norm, maxima and minima.

The norm's gradient at 0 is 0, as ``torch.linalg.norm`` chooses (``unit``).

Along an axis the axis is kept (1 x n or m x 1); over all entries the result is
a scalar, reduced from the entries as one column. Ties of a maximum share the
gradient evenly, as ``torch.amax``.
"""

from __future__ import annotations

import sympy as sp
from sympy import Integer, Lambda

from ..errors import ShapeError
from .activations import safe_recip
from .card import (
    AXIS,
    MATRIX,
    MatrixOp,
    Reduction,
    ScalarOp,
    call,
    is_matrix,
    language,
    register,
    shape_text,
    slice_total,
)
from .entrywise import VAR, elementwise
from .linear import SumAll, add, broadcast, scale, spread
from .products import hadamard
from .shapes import reshape


def _as_column(x):
    """All entries of x as one column (row-major), for reductions over all entries."""
    return reshape(x, x.shape[0] * x.shape[1], 1)


def _over(x, axis, reduce):
    """``reduce(m, axis)`` along ``axis``, or over all entries (a scalar) when axis is None."""
    if not is_matrix(x):
        raise ShapeError("a reduction needs a matrix, got a scalar")
    if axis is None:
        return SumAll(reduce(_as_column(x), 0))
    return reduce(x, axis)


class Var(Reduction):
    """The variance along an axis (kept), with ``ddof`` subtracted from the count as numpy does."""

    name = "var"

    def __new__(cls, arg, axis, ddof):
        return super().__new__(cls, arg, axis, Integer(ddof))

    ddof = property(lambda self: self.args[2])

    def _entry(self, i, j, **kwargs):
        n = self.arg.shape[self.axis]
        mean = slice_total(self.arg, i, j, self.axis, lambda a: a) / n
        return slice_total(self.arg, i, j, self.axis, lambda a: (a - mean) ** 2) / (n - self.ddof)

    # spelled through ``name`` (Std prints its own helper: 0 where the spread is rounding)
    def _sympystr(self, printer):
        return f"{self.name}({printer._print(self.arg)}, axis={self.axis}, ddof={self.ddof})"

    def _numpycode(self, printer):
        function = printer._module_format(f"numpy.{self.name}")
        return f"{function}({printer._print(self.arg)}, axis={self.axis}, ddof={self.ddof}, keepdims=True)"

    def _torchcode(self, printer):
        function = printer._module_format(f"torch.{self.name}")
        return f"{function}({printer._print(self.arg)}, dim={self.axis}, correction={self.ddof}, keepdim=True)"

    def _latex(self, printer):
        return rf"\operatorname{{{self.name}}}_{{{self.axis}}}\left({printer._print(self.arg)}\right)"


def variance(x, axis, ddof=0):
    if x.shape[axis] - ddof == 0:
        raise ShapeError(f"var: axis {axis} of a {shape_text(x)} matrix has {x.shape[axis]} entries, ddof is {ddof}")
    return Var(x, axis, ddof)


def grad_var(ans, g, a, axis, ddof):
    r"""$v = \frac{1}{n - d}\sum_k (a_k - \bar a)^2$ along an axis: $\bar A = \frac{2}{n - d} (A - \mathbf{1}\bar a) \odot \mathbf{1}\bar v$."""
    n = a.shape[int(axis)]
    centered = add(a, scale(-1 / n, spread(a, a, int(axis))))
    return scale(2 / (n - ddof), hadamard(centered, broadcast(g, *a.shape))), None, None


register(Var, "Variance", "var(E, axis, ddof=0)", variance, grad_var)


@language("var", ("x", "axis", "ddof"), {"axis": None, "ddof": 0}, {"x": MATRIX, "axis": AXIS}, constants=("ddof",))
def var(x, axis=None, ddof=0):
    """numpy.var: the variance along an axis, or of all entries; ``ddof`` = 1 for the unbiased estimate."""
    return _over(x, axis, lambda m, ax: variance(m, ax, int(ddof)))


class Std(Var):
    """The standard deviation along an axis (kept): the square root of ``var``; in code, 0 where the spread is
    within the rounding error of the variance (a constant column, which torch.std may give as 1e-17)."""

    name = "std"

    def _entry(self, i, j, **kwargs):
        return sp.sqrt(super()._entry(i, j, **kwargs))

    def _numpycode(self, printer):
        return call(printer, "numpy", "std_or_zero", printer._print(self.arg), str(self.axis), str(self.ddof))

    def _torchcode(self, printer):
        return call(printer, "torch", "std_or_zero", printer._print(self.arg), str(self.axis), str(self.ddof))


def standard_deviation(x, axis, ddof=0):
    variance(x, axis, ddof)  # the same refusal when no entries are left
    return Std(x, axis, ddof)


def grad_std(ans, g, a, axis, ddof):
    r"""$s = \sqrt{v}$: $\bar v = \bar s / (2 s)$, and 0 where $s = 0$ (PyTorch's choice), then var's rule."""
    g_var = scale(sp.S.Half, hadamard(g, elementwise(Lambda(VAR, safe_recip(VAR)), ans)))
    return grad_var(None, g_var, a, axis, ddof)


# A spread within the rounding error of the two-pass variance, n eps v + (n eps mean)^2 (Chan, Golub and LeVeque,
# "Algorithms for computing the sample variance", as scikit-learn's _is_constant_feature), is a constant's: std is
# 0 there, and its gradient 0 (safe_recip), where 1e-17 of noise would turn rounding into a unit gradient.
register(
    Std,
    "Standard deviation",
    "std(E, axis, ddof=0)",
    standard_deviation,
    grad_std,
    helpers={
        "numpy": {
            "std_or_zero": "def std_or_zero(x, axis, ddof):\n"
            "    var, mean = x.var(axis=axis, ddof=ddof, keepdims=True), x.mean(axis=axis, keepdims=True)\n"
            "    n, eps = x.shape[axis], numpy.finfo(var.dtype).eps\n"
            "    return numpy.sqrt(numpy.where(var <= n * eps * var + (n * eps * mean) ** 2, 0.0, var))"
        },
        "torch": {
            "std_or_zero": "def std_or_zero(x, axis, ddof):\n"
            "    var, mean = torch.var_mean(x, dim=axis, correction=ddof, keepdim=True)\n"
            "    n, eps = x.shape[axis], torch.finfo(var.dtype).eps\n"
            "    constant = var <= n * eps * var + (n * eps * mean) ** 2\n"
            "    return torch.sqrt(torch.where(constant, torch.zeros_like(var), var))"
        },
    },
)


@language("std", ("x", "axis", "ddof"), {"axis": None, "ddof": 0}, {"x": MATRIX, "axis": AXIS}, constants=("ddof",))
def std(x, axis=None, ddof=0):
    """numpy.std: the square root of ``var``; its gradient is 0 where the spread is 0, as torch.std."""
    return _over(x, axis, lambda m, ax: standard_deviation(m, ax, int(ddof)))


class Norm(ScalarOp):
    r"""$\lVert X \rVert$, the Frobenius norm (the 2-norm of a vector): $\sqrt{\sum_{ij} X_{ij}^2}$."""

    name = "norm"

    def value(self, explicit):
        return sp.sqrt(sp.Add(*[x**2 for x in explicit]))

    def _sympystr(self, printer):
        return f"norm({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.linalg.norm')}({printer._print(self.arg)})"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.linalg.norm')}({printer._print(self.arg)})"

    def _latex(self, printer, exp=None):
        out = rf"\left\lVert {printer._print(self.arg)} \right\rVert"
        return f"{out}^{{{exp}}}" if exp else out


def grad_norm(ans, g, a):
    r"""$y = \lVert A \rVert$: $\bar A = \bar y \, A / \lVert A \rVert$, and 0 at $A = 0$ (as torch.linalg.norm)."""
    return (scale(g, Unit(a)),)


register(Norm, "Norm", "norm(E)", Norm, grad_norm)
language("norm", kinds={"x": MATRIX})(Norm)


class Unit(MatrixOp):
    r"""$X / \lVert X \rVert$, and 0 where $X = 0$: the norm's gradient, with PyTorch's choice at the kink."""

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: self.arg.shape)

    def _entry(self, i, j, **kwargs):
        return self.arg[i, j] / Norm(self.arg).value(sp.Matrix(self.arg.as_explicit()))

    def _sympystr(self, printer):
        return f"unit({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "unit", printer._print(self.arg))

    def _torchcode(self, printer):
        return call(printer, "torch", "unit", printer._print(self.arg))

    def _latex(self, printer):
        arg = printer._print(self.arg)
        return rf"\frac{{{arg}}}{{\left\lVert {arg} \right\rVert}}"


def grad_unit(ans, g, a):
    r"""$U = A / \lVert A \rVert$: $\bar A = (\bar U - U \sum_{ij} (\bar U \odot U)_{ij}) / \lVert A \rVert$, and 0 at
    $A = 0$ (where unit is 0: a relu before it gives 0, as PyTorch, rather than 0 times infinity)."""
    return (scale(safe_recip(Norm(a)), add(g, scale(-SumAll(hadamard(g, ans)), ans))),)


register(
    Unit,
    "Unit direction",
    "unit(E)",
    Unit,
    grad_unit,
    helpers={  # where X = 0, X / 1 = 0
        "numpy": {"unit": "def unit(x):\n    norm = numpy.linalg.norm(x)\n    return x / (norm if norm > 0 else 1.0)"},
        "torch": {
            "unit": "def unit(x):\n    norm = torch.linalg.norm(x)\n"
            "    return x / torch.where(norm > 0, norm, torch.ones_like(norm))"
        },
    },
)
language("unit", kinds={"x": MATRIX})(Unit)


class AxisMax(Reduction):
    """The maximum along an axis (kept): 1 x n for axis 0, m x 1 for axis 1."""

    name = "max"

    def _entry(self, i, j, **kwargs):
        count = self.arg.shape[self.axis]
        return sp.Max(*[self.arg[k, j] if self.axis == 0 else self.arg[i, k] for k in range(int(count))])

    def _sympystr(self, printer):
        return f"max({printer._print(self.arg)}, axis={self.axis})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.max')}({printer._print(self.arg)}, axis={self.axis}, keepdims=True)"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.amax')}({printer._print(self.arg)}, dim={self.axis}, keepdim=True)"

    def _latex(self, printer):
        return rf"\max_{{{self.axis}}}\left({printer._print(self.arg)}\right)"


class MaxMask(Reduction):
    """Where each entry attains the maximum along an axis, divided by how many entries there tie: dmax/dA."""

    name = "max_mask"
    shape = property(lambda self: self.arg.shape)
    is_mask = True

    def _entry(self, i, j, **kwargs):
        top = AxisMax(self.arg, self.axis)[0 if self.axis == 0 else i, j if self.axis == 0 else 0]
        count = slice_total(self.arg, i, j, self.axis, lambda a: sp.Piecewise((1, sp.Eq(a, top)), (0, True)))
        return sp.Piecewise((1 / count, sp.Eq(self.arg[i, j], top)), (0, True))

    def _sympystr(self, printer):
        return f"max_mask({printer._print(self.arg)}, axis={self.axis})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "max_mask", printer._print(self.arg), str(self.axis))

    def _torchcode(self, printer):
        return call(printer, "torch", "max_mask", printer._print(self.arg), str(self.axis))

    def _latex(self, printer):
        return rf"\operatorname{{argmax}}_{{{self.axis}}}\left({printer._print(self.arg)}\right)"


def axis_max(x, axis):
    return x if x.shape[axis] == 1 else AxisMax(x, axis)


def grad_max(ans, g, a, axis):
    r"""$y = \max_k a_k$ along an axis: $\bar A = \mathbf{1}\bar y \odot M$, $M_{k} = [a_k = y] / \#\{l : a_l = y\}$
    (ties share the gradient evenly, as torch.amax)."""
    return hadamard(broadcast(g, *a.shape), MaxMask(a, axis)), None


register(AxisMax, "Maximum along an axis", "max(E, axis)", lambda x, axis: axis_max(x, int(axis)), grad_max)


def grad_max_mask(ans, g, a, axis):
    r"""$M = \partial \max / \partial A$ is piecewise constant: $\bar A = 0$."""
    return None, None


register(
    MaxMask,
    "Where the maximum is",
    "max_mask(E, axis)",
    lambda x, axis: MaxMask(x, axis),
    grad_max_mask,
    helpers={
        "numpy": {
            "max_mask": "def max_mask(x, axis):\n"
            "    hit = x == x.max(axis=axis, keepdims=True)\n"
            "    return hit / hit.sum(axis=axis, keepdims=True)"
        },
        "torch": {
            "max_mask": "def max_mask(x, axis):\n"
            "    hit = (x == x.amax(dim=axis, keepdim=True)).to(x.dtype)\n"
            "    return hit / hit.sum(dim=axis, keepdim=True)"
        },
    },
)
language("max_mask", ("x", "axis"), kinds={"x": MATRIX, "axis": AXIS})(MaxMask)


@language("max", ("x", "axis"), {"axis": None}, {"x": MATRIX, "axis": AXIS})
def maximum_of(x, axis=None):
    """The maximum along an axis (kept) or of all entries; ties share the gradient evenly, as torch.amax."""
    return _over(x, axis, axis_max)


@language("min", ("x", "axis"), {"axis": None}, {"x": MATRIX, "axis": AXIS})
def minimum_of(x, axis=None):
    """The minimum, as -max(-x)."""
    top = maximum_of(scale(-1, x), axis)
    return scale(-1, top) if is_matrix(top) else -top
