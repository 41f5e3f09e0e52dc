"""The operations symdiff differentiates, beyond what SymPy already has.

Three kinds of things live here:

* scalar activation functions (``sigmoid``, ``softplus``, ``relu``, ...) as SymPy
  ``Function`` classes, each with its elementary ``definition()``;
* matrix operations SymPy lacks (elementwise application, sums along an axis,
  broadcasting, reshapes, softmax, batchnorm) as ``MatrixExpr`` subclasses, each
  with ``explicit(...)`` giving its entries from explicit matrices (the
  definition the exact verifier expands; it never uses a gradient rule);
* smart constructors (``add``, ``matmul``, ``hadamard``, ...) that build
  expressions in a canonical, readable form: scalars in front, no ones-matrix
  products, no Hadamard products with ones, equal Hadamard factors merged.

Conventions at kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = a,
abs'(0) = 0.
"""

from __future__ import annotations

import sympy as sp
from sympy import Expr, Integer, Lambda, MatrixExpr
from sympy.matrices.expressions import (
    HadamardPower,
    HadamardProduct,
    Identity,
    Inverse,
    MatAdd,
    MatMul,
    MatPow,
    MatrixSymbol,
    OneMatrix,
    Transpose,
    ZeroMatrix,
)
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix

from .errors import ShapeError

# --------------------------------------------------------------------------
# Scalar activation functions
# --------------------------------------------------------------------------


class Activation(sp.Function):
    """A scalar function with an elementary (or piecewise) definition."""

    def definition(self) -> Expr:
        raise NotImplementedError

    def _eval_evalf(self, prec):
        return self.definition()._eval_evalf(prec)


class sigmoid(Activation):
    r"""$\sigma(x) = 1 / (1 + e^{-x})$."""

    nargs = 1

    def definition(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def fdiff(self, argindex=1):
        return self * (1 - self)


class softplus(Activation):
    r"""$\operatorname{softplus}_\beta(x) = \frac{1}{\beta}\log(1 + e^{\beta x})$."""

    nargs = 2

    def definition(self):
        x, beta = self.args
        return sp.log(1 + sp.exp(beta * x)) / beta

    def fdiff(self, argindex=1):
        x, beta = self.args
        if argindex == 1:
            return sigmoid(beta * x)
        return x * sigmoid(beta * x) / beta - self / beta


class relu(Activation):
    r"""$\operatorname{relu}(x) = \max(x, 0)$; $\operatorname{relu}'(0) = 0$ as in PyTorch."""

    nargs = 1

    def definition(self):
        x = self.args[0]
        return sp.Piecewise((x, x > 0), (0, True))

    def fdiff(self, argindex=1):
        return step(self.args[0])


class step(Activation):
    r"""$\operatorname{step}(x) = [x > 0]$, the derivative of relu (0 at 0)."""

    nargs = 1

    def definition(self):
        return sp.Piecewise((1, self.args[0] > 0), (0, True))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class leaky_relu(Activation):
    r"""$x$ for $x > 0$, else $a x$; $\operatorname{leaky\_relu}'(0) = a$ as in PyTorch."""

    nargs = 2

    def definition(self):
        x, a = self.args
        return sp.Piecewise((x, x > 0), (a * x, True))

    def fdiff(self, argindex=1):
        x, a = self.args
        if argindex == 1:
            return leaky_step(x, a)
        return x - relu(x)


class leaky_step(Activation):
    r"""$1$ for $x > 0$, else $a$: the derivative of leaky_relu."""

    nargs = 2

    def definition(self):
        x, a = self.args
        return sp.Piecewise((1, x > 0), (a, True))

    def fdiff(self, argindex=1):
        if argindex == 1:
            return sp.S.Zero
        return 1 - step(self.args[0])


ACTIVATIONS = (sigmoid, softplus, relu, step, leaky_relu, leaky_step)


def elementary(expr: Expr) -> Expr:
    """Replace every activation in ``expr`` by its elementary definition."""
    return expr.replace(lambda e: isinstance(e, Activation), lambda e: e.definition())


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


def is_matrix(e) -> bool:
    return isinstance(e, MatrixExpr)


def shape_text(e) -> str:
    if not is_matrix(e):
        return "scalar"
    return f"{e.shape[0]} x {e.shape[1]}"


def _require_matrix(e, op: str):
    if not is_matrix(e):
        raise ShapeError(f"{op} needs a matrix, got the scalar {e}")
    return e


# --------------------------------------------------------------------------
# Matrix operations
# --------------------------------------------------------------------------


VAR = sp.Dummy("v", real=True)  # the one bound variable of elementwise Lambdas, so equal ops compare equal


class Elementwise(MatrixExpr):
    """``f`` applied to every entry of a matrix; ``f`` is a one-variable Lambda."""

    def __new__(cls, function, arg):
        _require_matrix(arg, "an elementwise function")
        if not isinstance(function, Lambda) or len(function.variables) != 1:
            raise TypeError("Elementwise needs a Lambda of one variable")
        return super().__new__(cls, function, arg)

    function = property(lambda self: self.args[0])
    arg = property(lambda self: self.args[1])
    shape = property(lambda self: self.arg.shape)

    def named(self):
        """``(f, params)`` when the function is ``f(x, *params)``, else None."""
        (var,), body = self.function.variables, self.function.expr
        if isinstance(body, sp.Function) and body.args[0] == var:
            params = body.args[1:]
            if not any(p.has(var) for p in params):
                return body.func, params
        return None

    def explicit(self, function, a):
        return a.applyfunc(function)


class SumAll(Expr):
    """The sum of all entries of a matrix (a scalar)."""

    is_commutative = True

    def __new__(cls, arg):
        return super().__new__(cls, _require_matrix(arg, "sum"))

    arg = property(lambda self: self.args[0])

    def explicit(self, a):
        return sp.Add(*a)


class AxisSum(MatrixExpr):
    """Sums along one axis, keeping it: axis 0 gives 1 x n, axis 1 gives m x 1."""

    def __new__(cls, arg, axis):
        _require_matrix(arg, "sum along an axis")
        axis = Integer(axis)
        if axis not in (0, 1):
            raise ShapeError(f"sum: axis must be 0 or 1, got {axis}")
        return super().__new__(cls, arg, axis)

    arg = property(lambda self: self.args[0])
    axis = property(lambda self: int(self.args[1]))

    @property
    def shape(self):
        rows, cols = self.arg.shape
        return (Integer(1), cols) if self.axis == 0 else (rows, Integer(1))

    def explicit(self, a, axis):
        if axis == 0:
            return sp.ImmutableMatrix(1, a.cols, lambda _, j: sp.Add(*a[:, j]))
        return sp.ImmutableMatrix(a.rows, 1, lambda i, _: sp.Add(*a[i, :]))


class Broadcast(MatrixExpr):
    """A 1 x n row repeated over m rows, an m x 1 column over n columns, or a 1 x 1 everywhere."""

    def __new__(cls, arg, rows, cols):
        _require_matrix(arg, "broadcasting")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        r, c = arg.shape
        if (r != 1 and r != rows) or (c != 1 and c != cols):
            raise ShapeError(f"cannot broadcast a {shape_text(arg)} matrix to {rows} x {cols}")
        return super().__new__(cls, arg, rows, cols)

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.args[1], self.args[2]))

    def explicit(self, a, rows, cols):
        return sp.ImmutableMatrix(int(rows), int(cols), lambda i, j: a[i % a.rows, j % a.cols])


class Reshape(MatrixExpr):
    """The same entries in row-major order with a new shape (squeeze / unsqueeze)."""

    def __new__(cls, arg, rows, cols):
        _require_matrix(arg, "reshape")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        if sp.simplify(arg.shape[0] * arg.shape[1] - rows * cols) != 0:
            raise ShapeError(f"cannot reshape a {shape_text(arg)} matrix to {rows} x {cols}")
        return super().__new__(cls, arg, rows, cols)

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.args[1], self.args[2]))

    def explicit(self, a, rows, cols):
        return a.reshape(int(rows), int(cols))


def _exp_rows(a, axis):
    """Entries exp(a_ij) and, per slice along ``axis``, their sum."""
    e = a.applyfunc(sp.exp)
    sums = [sp.Add(*(e[:, j] if axis == 0 else e[j, :])) for j in range(a.cols if axis == 0 else a.rows)]
    return e, sums


class _AlongAxis(MatrixExpr):
    """A same-shape op normalizing along axis 0 (columns) or 1 (rows)."""

    def __new__(cls, arg, axis):
        _require_matrix(arg, cls.__name__.lower())
        if int(axis) not in (0, 1):
            raise ShapeError(f"{cls.__name__.lower()}: axis must be 0 or 1, got {axis}")
        return super().__new__(cls, arg, Integer(axis))

    arg = property(lambda self: self.args[0])
    axis = property(lambda self: int(self.args[1]))
    shape = property(lambda self: self.arg.shape)


class Softmax(_AlongAxis):
    """softmax along an axis: exp(x_ij) / sum over the axis of exp."""

    def explicit(self, a, axis):
        e, sums = _exp_rows(a, axis)
        return sp.ImmutableMatrix(a.rows, a.cols, lambda i, j: e[i, j] / sums[j if axis == 0 else i])


class LogSoftmax(_AlongAxis):
    """log_softmax along an axis: x_ij - log(sum over the axis of exp)."""

    def explicit(self, a, axis):
        _, sums = _exp_rows(a, axis)
        return sp.ImmutableMatrix(a.rows, a.cols, lambda i, j: a[i, j] - sp.log(sums[j if axis == 0 else i]))


def _batch_stats(a, eps):
    """Per column of ``a``: mean and sqrt(biased variance + eps)."""
    q = a.rows
    means = [sp.Add(*a[:, j]) / q for j in range(a.cols)]
    stds = [sp.sqrt(sp.Add(*[(a[i, j] - means[j]) ** 2 for i in range(q)]) / q + eps) for j in range(a.cols)]
    return means, stds


class BatchStd(MatrixExpr):
    """Per-feature batch standard deviation sqrt(var + eps), 1 x p (biased variance)."""

    def __new__(cls, arg, eps):
        _require_matrix(arg, "batchnorm")
        return super().__new__(cls, arg, sp.sympify(eps))

    arg = property(lambda self: self.args[0])
    eps = property(lambda self: self.args[1])
    shape = property(lambda self: (Integer(1), self.arg.shape[1]))

    def explicit(self, a, eps):
        _, stds = _batch_stats(a, eps)
        return sp.ImmutableMatrix([stds])


class BatchNormalize(MatrixExpr):
    """x_hat = (X - mean over the batch) / sqrt(var + eps), per feature (column)."""

    def __new__(cls, arg, eps):
        _require_matrix(arg, "batchnorm")
        return super().__new__(cls, arg, sp.sympify(eps))

    arg = property(lambda self: self.args[0])
    eps = property(lambda self: self.args[1])
    shape = property(lambda self: self.arg.shape)

    def explicit(self, a, eps):
        means, stds = _batch_stats(a, eps)
        return sp.ImmutableMatrix(a.rows, a.cols, lambda i, j: (a[i, j] - means[j]) / stds[j])


class BatchNorm(MatrixExpr):
    """Batch normalization in training mode: gamma * x_hat + beta, gamma and beta 1 x p."""

    def __new__(cls, x, gamma, beta, eps):
        _require_matrix(x, "batchnorm")
        for name, v in (("gamma", gamma), ("beta", beta)):
            if not is_matrix(v) or v.shape != (1, x.shape[1]):
                raise ShapeError(
                    f"batchnorm: {name} must be 1 x {x.shape[1]} for an input of shape "
                    f"{shape_text(x)}, got {shape_text(v)}"
                )
        return super().__new__(cls, x, gamma, beta, sp.sympify(eps))

    x = property(lambda self: self.args[0])
    gamma = property(lambda self: self.args[1])
    beta = property(lambda self: self.args[2])
    eps = property(lambda self: self.args[3])
    shape = property(lambda self: self.x.shape)

    def explicit(self, x, gamma, beta, eps):
        means, stds = _batch_stats(x, eps)
        return sp.ImmutableMatrix(
            x.rows, x.cols, lambda i, j: gamma[0, j] * (x[i, j] - means[j]) / stds[j] + beta[0, j]
        )


# --------------------------------------------------------------------------
# Smart constructors
# --------------------------------------------------------------------------


def zero_like(e):
    return ZeroMatrix(*e.shape) if is_matrix(e) else sp.S.Zero


def is_zero(e) -> bool:
    return isinstance(e, ZeroMatrix) or (not is_matrix(e) and e == 0)


def split_coeff(m):
    """``(c, M)`` with m = c M, c a scalar and M free of scalar factors."""
    if isinstance(m, MatMul):
        coeff, mats = m.as_coeff_matrices()
        if not mats:
            return coeff, Identity(1)
        return coeff, mats[0] if len(mats) == 1 else MatMul(*mats)
    return sp.S.One, m


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
        elif not isinstance(t, ZeroMatrix):
            c, core = split_coeff(t)
            coeffs[core] = coeffs.get(core, sp.S.Zero) + c
    kept = [scale(c, m) for m, c in sorted(coeffs.items(), key=lambda mc: sp.default_sort_key(mc[0])) if c != 0]
    if not kept:
        return ZeroMatrix(*terms[0].shape)
    return kept[0] if len(kept) == 1 else MatAdd(*kept)


def scale(c, m):
    """c * m for a scalar c and a matrix m."""
    if c == 0:
        return ZeroMatrix(*m.shape)
    if c == 1:
        return m
    return matmul(c, m)


def matmul(*factors):
    """Matrix product with scalars in front; ones-matrix products become sums and broadcasts."""
    product = MatMul(*factors)
    coeff, mats = product.as_coeff_matrices()
    if len(mats) == 1 and isinstance(mats[0], MatAdd):  # keep c * (A + B); SymPy would distribute c
        return MatMul(coeff, mats[0]) if coeff != 1 else mats[0]
    product = product.doit(deep=False)
    if not isinstance(product, MatMul):
        return product
    coeff, mats = product.as_coeff_matrices()
    if any(isinstance(m, ZeroMatrix) for m in mats):
        return ZeroMatrix(*product.shape)
    if len(mats) > 1 and isinstance(mats[0], OneMatrix):
        rest = matmul(*mats[1:])
        return scale(coeff, broadcast(axis_sum(rest, 0), mats[0].shape[0], rest.shape[1]))
    if len(mats) > 1 and isinstance(mats[-1], OneMatrix):
        rest = matmul(*mats[:-1])
        return scale(coeff, broadcast(axis_sum(rest, 1), rest.shape[0], mats[-1].shape[1]))
    return product


def transpose(m):
    """m^T, pushed through products and ops but kept whole over sums: (A + B)^T stays."""
    if isinstance(m, Transpose):
        return m.arg
    if tuple(m.shape) == (1, 1):
        return m
    if isinstance(m, MatMul):
        coeff, mats = m.as_coeff_matrices()
        return matmul(coeff, *[transpose(f) for f in reversed(mats)])
    if isinstance(m, HadamardProduct):
        return hadamard(*[transpose(f) for f in m.args])
    if isinstance(m, HadamardPower):
        return hpow(transpose(m.base), m.exp)
    if isinstance(m, Broadcast):
        return Broadcast(transpose(m.arg), m.shape[1], m.shape[0])
    if isinstance(m, (MatAdd, MATRIX_OPS)):
        return Transpose(m)
    return Transpose(m).doit(deep=False)


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
        elif isinstance(m, ZeroMatrix):
            return ZeroMatrix(*shape)
        elif not isinstance(m, OneMatrix):
            base, e = (m.base, m.exp) if isinstance(m, HadamardPower) else (m, sp.S.One)
            exponents[base] = exponents.get(base, sp.S.Zero) + e
    fused = _fuse_softmax(exponents)
    if fused is not None:
        return scale(coeff, hadamard(*fused))
    mats = [hpow(b, e) for b, e in sorted(exponents.items(), key=lambda be: sp.default_sort_key(be[0]))]
    mats = [m for m in mats if not isinstance(m, OneMatrix)]
    core = OneMatrix(*shape) if not mats else mats[0] if len(mats) == 1 else HadamardProduct(*mats)
    return scale(coeff, core)


def applied_arg(m, f):
    """A when m is the elementwise f(A) (f a one-argument function), else None."""
    if isinstance(m, Elementwise) and m.function.expr == f(m.function.variables[0]):
        return m.arg
    return None


def _fuse_softmax(exponents: dict):
    """Factors with exp(A) / sum(exp(A), axis) written as softmax(A, axis), or None if there is no such pair."""
    for base, e in exponents.items():
        if e != 1 or not isinstance(base, Broadcast):
            continue
        inner = list(base.arg.args) if isinstance(base.arg, HadamardProduct) else [base.arg]
        for k, f in enumerate(inner):
            if not (isinstance(f, HadamardPower) and f.exp == -1 and isinstance(f.base, AxisSum)):
                continue
            a = applied_arg(f.base.arg, sp.exp)
            if a is not None and a.shape == base.shape and exponents.get(f.base.arg, sp.S.Zero).is_positive:
                rest = [hpow(b, p - 1 if b == f.base.arg else p) for b, p in exponents.items() if b != base]
                spread = [broadcast(hadamard(*inner[:k], *inner[k + 1 :]), *base.shape)] if len(inner) > 1 else []
                return rest + spread + [Softmax(a, f.base.axis)]
    return None


def hpow(m, p):
    """Elementwise power m^{∘p}."""
    p = sp.sympify(p)
    if p == 0 or isinstance(m, OneMatrix):
        return OneMatrix(*m.shape)
    if p == 1:
        return m
    if isinstance(m, HadamardPower):
        return hpow(m.base, m.exp * p)
    c, core = split_coeff(m)
    if c != 1 and (p.is_integer or c.is_positive):
        return scale(c**p, hpow(core, p))
    if isinstance(m, HadamardProduct) and p.is_integer:
        return hadamard(*[hpow(f, p) for f in m.args])
    return HadamardPower(m, p)


def elementwise(function: Lambda, m):
    (var,) = function.variables
    if function.expr == var:
        return m
    return Elementwise(function, m)


def sum_all(m):
    """Sum of all entries, as a scalar."""
    c, core = split_coeff(m)
    if c != 1:
        return c * sum_all(core)
    if isinstance(m, ZeroMatrix):
        return sp.S.Zero
    if isinstance(m, OneMatrix):
        return m.shape[0] * m.shape[1]
    if isinstance(m, Broadcast):
        factor = (m.shape[0] / m.arg.shape[0]) * (m.shape[1] / m.arg.shape[1])
        return factor * sum_all(m.arg)
    if isinstance(m, (AxisSum, Transpose)):
        return sum_all(m.arg)
    return SumAll(m)


def axis_sum(m, axis: int):
    """Sum along ``axis`` (0: down the rows, giving 1 x n; 1: along the columns, giving m x 1)."""
    rows, cols = m.shape
    shape = (1, cols) if axis == 0 else (rows, 1)
    if m.shape[axis] == 1:
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, axis_sum(core, axis))
    if isinstance(m, ZeroMatrix):
        return ZeroMatrix(*shape)
    if isinstance(m, OneMatrix):
        return scale(m.shape[axis], OneMatrix(*shape))
    if isinstance(m, DiagMatrix):
        v = m.args[0]
        column = v if v.shape[1] == 1 else transpose(v)
        return transpose(column) if axis == 0 else column
    if isinstance(m, Broadcast):
        if m.arg.shape[axis] == 1:
            return scale(m.shape[axis], broadcast(m.arg, *shape))
        return broadcast(axis_sum(m.arg, axis), *shape)
    return AxisSum(m, axis)


def broadcast(m, rows, cols):
    """Repeat a row, column or 1 x 1 matrix to rows x cols."""
    if tuple(m.shape) == (rows, cols):
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, broadcast(core, rows, cols))
    if isinstance(m, ZeroMatrix):
        return ZeroMatrix(rows, cols)
    if isinstance(m, OneMatrix):
        return OneMatrix(rows, cols)
    if isinstance(m, Broadcast):
        return broadcast(m.arg, rows, cols)
    return Broadcast(m, rows, cols)


def reshape(m, rows, cols):
    """Row-major reshape; between a column and a row vector it is a transpose."""
    rows, cols = sp.sympify(rows), sp.sympify(cols)
    if tuple(m.shape) == (rows, cols):
        return m
    if isinstance(m, Reshape):
        return reshape(m.arg, rows, cols)
    if 1 in m.shape and (rows, cols) == tuple(reversed(m.shape)):
        return transpose(m)
    return Reshape(m, rows, cols)


MATRIX_OPS = (Elementwise, AxisSum, Broadcast, Reshape, Softmax, LogSoftmax, BatchNorm, BatchNormalize, BatchStd)
SCALAR_OPS = (SumAll,)


def matpow(m, n):
    """Integer matrix power; negative powers are powers of the inverse."""
    if n.is_Integer and n < 0:
        inverse = Inverse(m)
        return inverse if n == -1 else MatPow(inverse, -n)
    return MatPow(m, n).doit(deep=False)


def applied(function, m):
    """SymPy's ``M.applyfunc(f)`` as an Elementwise op with a real variable."""
    if isinstance(function, Lambda):
        body = function.expr.xreplace({function.variables[0]: VAR})
    else:
        body = function(VAR)
    return elementwise(Lambda(VAR, body), m)


REBUILD = {
    MatAdd: add,
    MatMul: matmul,
    HadamardProduct: hadamard,
    HadamardPower: hpow,
    Transpose: transpose,
    MatPow: matpow,
    ElementwiseApplyFunction: applied,
    Elementwise: elementwise,
    SumAll: sum_all,
    AxisSum: lambda m, axis: axis_sum(m, int(axis)),
    Broadcast: broadcast,
    Reshape: reshape,
}


def rebuild(expr, post=lambda e: e):
    """``expr`` rebuilt bottom-up through the smart constructors: its canonical form.

    Also turns SymPy's own spellings into symdiff's (``applyfunc``, negative
    matrix powers, ones-matrix products). ``post`` is applied to every rebuilt node.
    """
    memo: dict = {}

    def visit(e):
        if e not in memo:
            if isinstance(e, (MatrixSymbol, sp.Symbol, sp.Number, Lambda)) or not e.args:
                memo[e] = e
            else:
                memo[e] = post(REBUILD.get(type(e), e.func)(*[visit(a) for a in e.args]))
        return memo[e]

    return visit(expr)
