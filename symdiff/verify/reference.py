r"""An independent forward evaluator: the expression tree evaluated directly with PyTorch's own functions.

``evaluate(expr, values, sizes)`` walks a SymPy expression as symdiff builds
it (parsed, plain SymPy, or a derivation's forward steps) and computes it with
torch, dispatching on each node's class to a rule written here: ``softmax`` is
``torch.softmax``, ``gelu`` is ``torch.nn.functional.gelu``, ``batchnorm`` is
``torch.nn.functional.batch_norm(training=True)``, ``logdet`` is
``torch.linalg.slogdet``, and so on. It is a second implementation of every
op's meaning, sharing no code with the code generator (``symdiff.codegen``,
``symdiff.printing``) or with the op cards' spellings and helpers, so torch
autograd and finite differences of it are references independent of the
emitted module (``verify.gradcheck.check`` uses them so).

Matrices are 2-D tensors, scalars 0-d tensors; a scalar function applied to a
matrix (``Elementwise``, SymPy's ``M.applyfunc(f)``) evaluates its body with
the bound variable standing for the whole tensor, entry by entry. Dimension
symbols take their sizes from ``sizes`` or from the shapes of the inputs. A
node of a class without a rule here raises ``SymdiffError`` naming the class.
"""

from __future__ import annotations

import math

import sympy as sp
import torch
import torch.nn.functional as F
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix as SympyDiagMatrix

from ..errors import SymdiffError
from ..ops import activations as act
from ..ops import (
    constants,
    entrywise,
    extrema,
    labels,
    linear,
    products,
    selections,
    shapes,
    structure,
)
from . import reference_nn  # noqa: F401  (its rules register on import)
from .evaluator import RULES, Evaluator, device_of, rule, sizes_from

# --------------------------------------------------------------------------
# Leaves: numbers, symbols, constant matrices
# --------------------------------------------------------------------------


@rule(sp.Number, sp.NumberSymbol)
def _number(node, ev):
    return ev.tensor(float(node))  # a Rational correctly rounded


@rule(sp.Symbol, sp.Dummy)
def _symbol(node, ev):
    if node in ev.bound:
        return ev.bound[node]
    if node.name in ev.values:
        return ev.tensor(ev.values[node.name]) if not torch.is_tensor(ev.values[node.name]) else ev.values[node.name]
    if node.name in ev.sizes:
        return ev.tensor(float(ev.sizes[node.name]))
    raise SymdiffError(f"the reference evaluator has no value for {node.name!r}")


@rule(sp.MatrixSymbol)
def _matrix_symbol(node, ev):
    if node.name not in ev.values:
        raise SymdiffError(f"the reference evaluator has no value for the matrix {node.name!r}")
    value = ev.values[node.name]
    value = value if torch.is_tensor(value) else ev.tensor(value)
    if tuple(value.shape) != ev.shape(node):
        raise SymdiffError(f"{node.name} should have shape {ev.shape(node)}, got {tuple(value.shape)}")
    return value


@rule(sp.OneMatrix, constants.OneMatrix)
def _ones(node, ev):
    return torch.ones(ev.shape(node), dtype=ev.dtype, device=ev.device)


@rule(sp.ZeroMatrix, constants.ZeroMatrix)
def _zeros(node, ev):
    return torch.zeros(ev.shape(node), dtype=ev.dtype, device=ev.device)


@rule(sp.Identity, constants.Identity)
def _eye(node, ev):
    return torch.eye(ev.int(node.shape[0]), dtype=ev.dtype, device=ev.device)


@rule(sp.matrices.expressions.matexpr.MatrixElement)
def _element(node, ev):
    parent, i, j = node.args
    return ev(parent)[ev.int(i), ev.int(j)]


@rule(sp.MatrixBase)
def _explicit(node, ev):
    rows = [torch.stack([ev(node[i, j]).reshape(()) for j in range(node.cols)]) for i in range(node.rows)]
    return torch.stack(rows)


# --------------------------------------------------------------------------
# Scalar algebra (also entry by entry inside elementwise functions)
# --------------------------------------------------------------------------


@rule(sp.Add)
def _add(node, ev):
    out = ev(node.args[0])
    for a in node.args[1:]:
        out = out + ev(a)
    return out


@rule(sp.Mul)
def _mul(node, ev):
    out = ev(node.args[0])
    for a in node.args[1:]:
        out = out * ev(a)
    return out


@rule(sp.Pow)
def _pow(node, ev):
    base, exp = node.args
    p = ev.number(exp)
    if p is None:
        b = ev.number(base)
        return torch.pow(b if b is not None else ev(base), ev(exp))
    if p == 0.5:
        return torch.sqrt(ev(base))
    return torch.pow(ev(base), p)


def _unary(fn):
    return lambda node, ev: fn(ev(node.args[0]))


SCALAR_FUNCTIONS = {
    sp.exp: torch.exp,
    sp.sin: torch.sin,
    sp.cos: torch.cos,
    sp.tan: torch.tan,
    sp.sinh: torch.sinh,
    sp.cosh: torch.cosh,
    sp.tanh: torch.tanh,
    sp.asin: torch.asin,
    sp.acos: torch.acos,
    sp.atan: torch.atan,
    sp.asinh: torch.asinh,
    sp.acosh: torch.acosh,
    sp.atanh: torch.atanh,
    sp.Abs: torch.abs,
    act.Abs: torch.abs,
    sp.sign: torch.sign,
    sp.erf: torch.erf,
    sp.erfc: torch.erfc,
    act.sigmoid: torch.sigmoid,
    act.relu: torch.relu,
    act.log1p: torch.log1p,
    act.expm1: torch.expm1,
    act.erf: torch.erf,
    act.gelu: F.gelu,
    act.gelu_tanh: lambda x: F.gelu(x, approximate="tanh"),
    act.silu: F.silu,
}
for _f, _torch in SCALAR_FUNCTIONS.items():
    rule(_f)(_unary(_torch))


@rule(sp.log)
def _log(node, ev):
    """log, with log(sum(exp(A))) through torch.logsumexp (stable where exp overflows)."""
    if len(node.args) == 2:  # SymPy keeps log(x, b) only unevaluated
        return torch.log(ev(node.args[0])) / math.log(ev.number(node.args[1]))
    inner = node.args[0]
    if isinstance(inner, linear.SumAll):
        a = _exp_of(inner.arg)
        if a is not None:
            return torch.logsumexp(ev(a).reshape(-1), 0)
    return torch.log(ev(inner))


def _exp_of(node):
    """A when ``node`` is exp applied entrywise to A, else None."""
    if isinstance(node, (entrywise.Elementwise, ElementwiseApplyFunction)):
        function = node.args[0] if isinstance(node, entrywise.Elementwise) else node.function
        if isinstance(function, sp.Lambda) and function.expr == sp.exp(function.variables[0]):
            return node.args[1] if isinstance(node, entrywise.Elementwise) else node.expr
        if function is sp.exp:
            return node.expr
    return None


@rule(act.softplus)
def _softplus(node, ev):
    x, beta = ev(node.args[0]), ev.scalar(node.args[1])
    return F.softplus(x * beta, threshold=40.0) / beta  # beyond 40 softplus(y) = y to double precision


@rule(act.safe_recip)
def _safe_recip(node, ev):
    """1 / x, and 0 at x = 0."""
    x = ev(node.args[0])
    return torch.where(x != 0, torch.ones_like(x), torch.zeros_like(x)) / torch.where(x != 0, x, torch.ones_like(x))


@rule(act.step)
def _step(node, ev):
    x = ev(node.args[0])
    return torch.heaviside(x.detach(), torch.zeros((), dtype=x.dtype, device=x.device))


@rule(act.leaky_relu)
def _leaky_relu(node, ev):
    x, a = ev(node.args[0]), ev.scalar(node.args[1])
    return F.leaky_relu(x, a) if isinstance(a, float) else torch.where(x > 0, x, a * x)


@rule(act.leaky_step)
def _leaky_step(node, ev):
    x, a = ev(node.args[0]), ev.scalar(node.args[1])
    return torch.where(x.detach() > 0, torch.ones_like(x), a * torch.ones_like(x))


@rule(act.clip)
def _clip(node, ev):
    x, lo, hi = ev(node.args[0]), ev.scalar(node.args[1]), ev.scalar(node.args[2])
    if isinstance(lo, float) and isinstance(hi, float):
        return torch.clamp(x, lo, hi)
    lo, hi = (v if torch.is_tensor(v) else ev.tensor(v) for v in (lo, hi))
    return torch.clamp(x, lo, hi)


@rule(act.clip_step)
def _clip_step(node, ev):
    x, lo, hi = (ev(a).detach() for a in node.args)
    return torch.logical_and(x >= lo, x <= hi).to(ev.dtype)


@rule(act.tie_step)
def _tie_step(node, ev):
    x = ev(node.args[0]).detach()
    return torch.heaviside(x, torch.full((), 0.5, dtype=x.dtype, device=x.device))


@rule(sp.re, sp.conjugate)
def _real(node, ev):
    return torch.real(ev(node.args[0]))  # real tensors: the value itself (SymPy writes |exp(z)| as exp(re(z)))


@rule(sp.im)
def _imaginary(node, ev):
    return torch.zeros_like(ev(node.args[0]))


@rule(sp.Max, sp.Min)
def _max_min(node, ev):
    pick = torch.maximum if isinstance(node, sp.Max) else torch.minimum
    out = ev(node.args[0])
    for a in node.args[1:]:
        out = pick(out, ev(a))
    return out


@rule(sp.Heaviside)
def _heaviside(node, ev):
    x = ev(node.args[0]).detach()
    at_zero = ev.tensor(0.5 if len(node.args) == 1 else ev.number(node.args[1]))
    return torch.heaviside(x, at_zero)


@rule(sp.Piecewise)
def _piecewise(node, ev):
    out = None
    for value, condition in reversed(node.args):
        v = ev(value)
        if condition == sp.true and out is None:
            out = v
            continue
        c = ev(condition)
        out = torch.where(c, v, out if out is not None else torch.full_like(v, math.nan))
    return out


COMPARISONS = {
    sp.StrictGreaterThan: torch.gt,
    sp.GreaterThan: torch.ge,
    sp.StrictLessThan: torch.lt,
    sp.LessThan: torch.le,
    sp.Equality: torch.eq,
    sp.Unequality: torch.ne,
}
for _c, _torch in COMPARISONS.items():
    rule(_c)(lambda node, ev, _torch=_torch: _torch(ev(node.args[0]).detach(), ev(node.args[1]).detach()))


@rule(sp.And, sp.Or)
def _logic(node, ev):
    combine = torch.logical_and if isinstance(node, sp.And) else torch.logical_or
    out = ev(node.args[0])
    for a in node.args[1:]:
        out = combine(out, ev(a))
    return out


@rule(sp.Not)
def _not(node, ev):
    return torch.logical_not(ev(node.args[0]))


@rule(sp.logic.boolalg.BooleanTrue, sp.logic.boolalg.BooleanFalse)
def _truth(node, ev):
    return torch.tensor(bool(node), device=ev.device)


# --------------------------------------------------------------------------
# Functions applied entry by entry
# --------------------------------------------------------------------------


@rule(entrywise.Elementwise)
def _elementwise(node, ev):
    function, arg = node.args
    (variable,) = function.variables
    if function.expr == sp.log(variable) and isinstance(arg, linear.AxisSum) and _exp_of(arg.arg) is not None:
        return torch.logsumexp(ev(_exp_of(arg.arg)), dim=arg.axis, keepdim=True)  # log(sum(exp(A), axis))
    return ev.within(variable, ev(arg))(function.expr)


@rule(entrywise.Mapped)
def _mapped(node, ev):
    """The body with each variable standing for its operand: a matrix (a broadcast parameter at full shape) or a
    scalar."""
    within = ev
    for variable, operand in zip(node.function.variables, node.operands):
        within = within.within(variable, ev(operand))
    return within(node.function.expr)


@rule(ElementwiseApplyFunction)
def _applyfunc(node, ev):
    function = node.function
    if not isinstance(function, sp.Lambda):
        variable = sp.Dummy("x", real=True)
        function = sp.Lambda(variable, function(variable))
    (variable,) = function.variables
    return ev.within(variable, ev(node.expr))(function.expr)


# --------------------------------------------------------------------------
# Class labels
# --------------------------------------------------------------------------


def _indices(node, ev):
    """A label column's class indices as a flat int64 tensor."""
    return ev(node).reshape(-1).long()


@rule(labels.OneHot)
def _one_hot(node, ev):
    return F.one_hot(_indices(node.labels, ev), ev.int(node.classes)).to(ev.dtype)


@rule(labels.Take)
def _take(node, ev):
    arg = ev(node.arg)
    return arg[torch.arange(arg.shape[0], device=arg.device), _indices(node.labels, ev)].reshape(-1, 1)


@rule(extrema.Maximum)
def _maximum(node, ev):
    return torch.maximum(ev(node.args[0]), ev(node.args[1]))


@rule(extrema.Minimum)
def _minimum(node, ev):
    return torch.minimum(ev(node.args[0]), ev(node.args[1]))


# --------------------------------------------------------------------------
# Linear and structural ops
# --------------------------------------------------------------------------


@rule(sp.MatAdd)
def _matadd(node, ev):
    return _add(node, ev)


@rule(sp.MatMul)
def _matmul(node, ev):
    coefficient, product = None, None
    for a in node.args:
        value = ev(a)
        if getattr(a, "is_Matrix", False):
            product = value if product is None else product @ value
        else:
            coefficient = value if coefficient is None else coefficient * value
    return product if coefficient is None else coefficient * product


@rule(sp.Transpose)
def _transpose(node, ev):
    return torch.transpose(ev(node.args[0]), 0, 1)


@rule(sp.HadamardProduct)
def _hadamard(node, ev):
    return _mul(node, ev)


@rule(sp.HadamardPower, products.HadamardPower)
def _hadamard_power(node, ev):
    return _pow(node, ev)


@rule(sp.Trace, linear.Trace)
def _trace(node, ev):
    return torch.trace(ev(node.args[0]))


@rule(linear.SumAll)
def _sum_all(node, ev):
    return torch.sum(ev(node.arg))


@rule(linear.AxisSum)
def _axis_sum(node, ev):
    return torch.sum(ev(node.arg), dim=node.axis, keepdim=True)


@rule(linear.Broadcast)
def _broadcast(node, ev):
    return torch.broadcast_to(ev(node.arg), ev.shape(node))


@rule(shapes.Reshape)
def _reshape(node, ev):
    return torch.reshape(ev(node.arg), ev.shape(node))


@rule(shapes.Diagonal)
def _diagonal(node, ev):
    return torch.diag(ev(node.arg)).unsqueeze(1)


@rule(SympyDiagMatrix, shapes.DiagMatrix)
def _diag(node, ev):
    return torch.diag(ev(node.args[0]).flatten())


@rule(shapes.Slice)
def _slice(node, ev):
    r0, r1, c0, c1 = (ev.int(b) for b in node.bounds)
    return ev(node.arg)[r0:r1, c0:c1]


@rule(shapes.Concat)
def _concat(node, ev):
    return torch.cat([ev(p) for p in node.parts], dim=node.axis)


@rule(shapes.Pad)
def _pad(node, ev):
    (r0, c0), (rows, cols) = (ev.int(b) for b in node.offsets), (ev.int(b) for b in node.shape)
    g = ev(node.arg)
    return F.pad(g, (c0, cols - c0 - g.shape[1], r0, rows - r0 - g.shape[0]))


@rule(selections.Where)
def _where(node, ev):
    mask, a, b = (ev(x) for x in node.args)
    return torch.where(mask != 0, a, b)


@rule(structure.Sym)
def _sym(node, ev):
    a = ev(node.arg)
    return 0.5 * a + 0.5 * a.T


@rule(structure.Tril)
def _tril(node, ev):
    return torch.tril(ev(node.arg), diagonal=node.k)


@rule(structure.Triu)
def _triu(node, ev):
    return torch.triu(ev(node.arg), diagonal=node.k)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def evaluate(expr, values: dict, sizes: dict | None = None, dtype=torch.float64) -> torch.Tensor:
    """``expr`` evaluated with torch at ``values`` (name -> tensor or array); ``sizes``: dimension -> int."""
    values = {str(k): v for k, v in values.items()}
    ev = Evaluator(values, sizes_from([expr], values, sizes), dtype, device_of(values))
    return ev(sp.sympify(expr))


def forward(d, values: dict, sizes: dict | None = None, dtype=torch.float64) -> torch.Tensor:
    """The output of derivation ``d``: its forward steps evaluated in order (a 1 x 1 output as a 0-d tensor)."""
    values = {str(k): v for k, v in values.items()}
    known = sizes_from([s.expr for s in d.forward], values, sizes)
    env = dict(values)
    out = None
    for step in d.forward:
        out = Evaluator(env, known, dtype, device_of(values))(step.expr)
        env[step.name] = out
    return out.reshape(()) if out.numel() == 1 and d.kind == "gradient" else out


def missing(classes) -> list[str]:
    """Names of the classes in ``classes`` that have no rule of their own here."""
    return sorted(cls.__name__ for cls in classes if cls not in RULES)
