"""Derivations: gradients with their forward steps and adjoint steps kept explicit.

A :class:`Derivation` records, for a scalar output computed through named
intermediates (the way the seed homework writes Ŷ = XW + 1b, R = Ŷ - Y,
C = (1/q) sum R∘R):

* ``forward``: each intermediate's definition in terms of inputs and earlier
  intermediates (``ForwardStep``);
* ``steps``: each adjoint (∂C/∂name) as the sum of its consumers' local
  contributions, written with the consumers' adjoint symbols, then resolved
  (``AdjointStep``);
* ``gradients``: the gradient of every ``wrt`` variable in closed form over the
  inputs, forward intermediates and named adjoints, simplified;
  ``closed_form(name)`` also substitutes the adjoints and intermediates so only
  inputs remain;
* ``shapes``: the shape of every named quantity.

A large adjoint that several steps read (a deep layer's, in a layered network)
stays a name in the values that read it (``AdjointStep.named``), as backprop
written by hand keeps it: written out, every layer below would repeat the whole
chain above it, and deriving an L-layer network would take time quadratic in L.

Denominator layout throughout: a gradient has the shape of its variable.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass, field

import sympy as sp
from sympy import Basic, HadamardProduct, Lambda, MatAdd, MatMul, MatrixSymbol

from .engine import backward
from .errors import InputError, InternalError, ShapeError, SymdiffError, UnsupportedError
from .graph import canonical, substitute, transform
from .ops import (
    AxisSum,
    Broadcast,
    Elementwise,
    Identity,
    OneMatrix,
    SumAll,
    ZeroMatrix,
    add,
    diag,
    in_convention,
    is_matrix,
    matmul,
    scale,
    shape_text,
    split_coeff,
    sum_all,
    transpose,
    zero_like,
)
from .ops.card import made_of_matrices
from .ops.entrywise import VARS, Mapped
from .ops.labels import label_classes
from .ops.structure import StructuredMatrix
from .simplify import simplify

# --------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------


def dims(names: str):
    """Positive integer dimension symbols: ``q, n, p = dims("q n p")`` (one name gives one symbol)."""
    return sp.symbols(names, integer=True, positive=True)


def matrix(name: str, rows, cols, structure: str | None = None):
    """A matrix variable (SymPy MatrixSymbol); vectors are ``matrix("x", n, 1)``. ``structure``: "symmetric",
    "spd" (symmetric positive definite), "diagonal", "lower" or "upper" (triangular), for a square matrix whose
    gradient is then taken in that structure (``ops/structure.py``)."""
    _check_name(name, "matrix")
    call = f"matrix({name!r}, {rows!r:.40}, {cols!r:.40})"
    rows, cols = _dimension(rows, f"{call}: rows"), _dimension(cols, f"{call}: cols")
    if structure is None:
        return MatrixSymbol(name, rows, cols)
    return StructuredMatrix(name, rows, cols, structure)


def scalar(name: str):
    """A real scalar variable."""
    _check_name(name, "scalar")
    return sp.Symbol(name, real=True)


def _check_name(name, what: str):
    if not isinstance(name, str) or not name:
        raise InputError(f"{what}(): the name must be a non-empty string, got {name!r:.60}")


def _dimension(d, what: str):
    """``d`` as a dimension: a positive integer, or an expression in ``dims`` that is one (n, 2 n)."""
    if isinstance(d, str):
        raise InputError(f"{what} is the string {d!r:.40}: pass a number or a dimension ({d} = sd.dims({d!r:.40}))")
    if isinstance(d, bool) or not isinstance(d, (int, sp.Expr)) and not hasattr(d, "__index__"):
        raise InputError(f"{what} must be a positive integer or a dimension from sd.dims, got {d!r:.40}")
    d = sp.Integer(d.__index__()) if not isinstance(d, sp.Basic) else d
    if not (d.is_integer and d.is_positive):
        raise InputError(
            f"{what} must be a positive integer or a dimension from sd.dims (a positive integer symbol), got {d}"
        )
    return d


# --------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------


def _shape(e):
    return tuple(e.shape) if is_matrix(e) else None


def _check_output(expr):
    if not isinstance(expr, Basic):
        raise InputError(f"expected a SymPy expression, got {type(expr).__name__} {expr!r:.60}")
    _check_real(expr)
    if is_matrix(expr) and tuple(expr.shape) != (1, 1):
        raise ShapeError(
            f"grad needs a scalar expression, got a {shape_text(expr)} matrix "
            "(reduce it with sum/trace, or use jacobian for a vector)"
        )


def _check_real(expr):
    unreal = expr.atoms(sp.I.func, sp.nan.func, sp.zoo.func, sp.oo.func, (-sp.oo).func)
    if unreal:
        raise UnsupportedError(
            f"{expr} contains {', '.join(map(str, unreal))}: symdiff differentiates real expressions with finite "
            "constants"
        )


def _check_names(output, intermediates):
    """One name, one thing: generated code and documents name a value by its name, so a matrix called like a
    dimension (``B`` of shape B x D) would have the code read B's size where it means the matrix."""
    exprs = [output, *(intermediates or {}).keys(), *(intermediates or {}).values()]
    symbols = {s for e in exprs if isinstance(e, sp.Basic) for s in e.free_symbols}
    matrices = sorted((s for s in symbols if isinstance(s, MatrixSymbol)), key=str)
    symbols |= {d for m in matrices for d in m.shape if isinstance(d, sp.Symbol)}
    by_name: dict = {}
    for s in symbols:
        by_name.setdefault(str(s), set()).add(s)

    def use(s) -> str:
        if isinstance(s, MatrixSymbol):
            return f"a {shape_text(s)} matrix"
        holders = [m.name for m in matrices if s in m.shape]
        return f"a dimension (of {', '.join(holders)})" if holders else "a scalar"

    for name, meanings in sorted(by_name.items()):
        if len(meanings) > 1:
            uses = sorted(use(s) for s in meanings)
            raise InputError(f"the name {name} stands for both {' and '.join(uses)}: give them different names")


def _variables(output, intermediates, wrt) -> list:
    """``wrt`` as symbols: a name stands for the symbol of that name in ``output`` or the intermediates; a single
    variable stands for a list of one (iterating a MatrixSymbol would give its entries)."""
    if isinstance(wrt, (str, Basic)) or not hasattr(wrt, "__iter__"):
        wrt = [wrt]
    exprs = [output, *(intermediates or {}).values()]
    symbols = {str(s): s for e in exprs if isinstance(e, sp.Basic) for s in e.free_symbols}
    variables = []
    for w in wrt:
        if isinstance(w, str) and w not in symbols:
            known = ", ".join(sorted(symbols)) or "none"
            raise InputError(f"{w!r:.60} is not a symbol of the expression (its symbols: {known})")
        w = symbols[w] if isinstance(w, str) else w
        if not isinstance(w, (MatrixSymbol, sp.Symbol)):
            raise InputError(f"can only differentiate with respect to a matrix or scalar symbol, got {w!r:.60}")
        variables.append(w)
    return variables


def _check_variables(expr, wrt: list):
    shapes = {d for m in expr.atoms(MatrixSymbol) for d in m.shape}
    labels = label_classes(expr)
    for w in wrt:
        if isinstance(w, sp.Symbol) and w in shapes:
            raise SymdiffError(f"{w} is a dimension of a matrix in the expression, not a variable")
        if w in labels:
            raise SymdiffError(f"{w} holds integer class labels (in one_hot or take): it has no gradient")


def _reported(derive_fn):
    """Exceptions from inside SymPy become an InternalError naming the expression, never a bare traceback."""

    signature = inspect.signature(derive_fn)

    @functools.wraps(derive_fn)
    def run(*args, **kwargs):
        signature.bind(*args, **kwargs)  # a wrong call is the caller's TypeError, not SymPy's failure
        try:
            return derive_fn(*args, **kwargs)
        except SymdiffError:
            raise
        except (TypeError, ValueError, AttributeError, NotImplementedError, RecursionError) as err:
            expr = args[0] if args else next(iter(kwargs.values()), "")
            raise InternalError(
                f"SymPy failed while differentiating {expr}: {type(err).__name__}: {err} "
                "(a case symdiff does not handle yet; please report it)"
            ) from err

    return run


def _unit_cotangent(expr):
    """The cotangent of a scalar output: 1 (a 1 x 1 ones matrix for a 1 x 1 output)."""
    return OneMatrix(1, 1) if is_matrix(expr) else sp.S.One


def _missing(expr, wrt):
    """The zero gradient of a variable the backward pass did not reach, with a warning saying why."""
    if expr.has(wrt):  # it occurs only where it cancels (var along an axis of length 1, X - X)
        warnings.warn(f"the gradient of {expr} with respect to {wrt} is identically zero", stacklevel=3)
    else:
        warnings.warn(f"{wrt} does not occur in {expr}: its gradient is zero", stacklevel=3)
    return zero_like(wrt)


@_reported
def grad(expr, wrt, convention: str = "structured"):
    """Gradient of a scalar expression with respect to ``wrt``, in closed form (denominator layout); for a
    structured ``wrt``, in ``convention`` (``ops.structure.in_convention``)."""
    _check_output(expr)
    (wrt,) = _variables(expr, None, [wrt])
    expr = _parameters_as_operands(canonical(expr), [wrt])
    _check_variables(expr, [wrt])
    adjoints = backward(expr, [wrt], _unit_cotangent(expr))
    if wrt not in adjoints:
        return _missing(expr, wrt)
    return simplify(in_convention(simplify(adjoints[wrt]), wrt, convention))


def _coefficient(e, u):
    """The matrix M with e = M u, for an expression e linear in the column vector u."""
    if e == u:
        return Identity(u.shape[0])
    if not e.has(u):
        raise UnsupportedError(f"{e} does not depend linearly on the cotangent")
    c, core = split_coeff(e)
    if c.has(u):  # (1^T (v * u)) k = k 1^T diag(v) u: a scalar linear in u times a matrix free of it
        k, total = c.as_independent(u, as_Add=False)
        if not isinstance(total, SumAll) or core.has(u) or total.arg.shape[1] != 1:
            raise UnsupportedError(f"cannot extract a Jacobian from {e}")
        row = matmul(OneMatrix(1, total.arg.shape[0]), _coefficient(total.arg, u))
        return scale(k, matmul(core, row))
    if c != 1:
        return scale(c, _coefficient(core, u))
    if isinstance(e, MatAdd):
        return add(*[_coefficient(t, u) for t in e.args])
    if isinstance(e, MatMul):
        mats = list(e.args)
        k = next(i for i, m in enumerate(mats) if m.has(u))
        right = matmul(*mats[k + 1 :]) if k + 1 < len(mats) else None
        if right is not None and tuple(right.shape) != (1, 1):
            if mats[k].shape[0] != 1 or right.shape[1] != 1:
                raise UnsupportedError(f"cannot extract a Jacobian from {e}")
            # L (a^T r) with a^T r 1 x 1: L r^T a, a = (a^T)^T linear in u (x (u^T x) = x x^T u)
            return matmul(*mats[:k], transpose(right), _coefficient(transpose(mats[k]), u))
        inner = _coefficient(mats[k], u)
        if right is not None:
            inner = scale(sum_all(right), inner)
        return matmul(*mats[:k], inner) if k else inner
    if isinstance(e, HadamardProduct):
        k = next(i for i, m in enumerate(e.args) if m.has(u))
        others = [f for i, f in enumerate(e.args) if i != k]
        return _diag_times(HadamardProduct(*others) if len(others) > 1 else others[0], _coefficient(e.args[k], u))
    if isinstance(e, Broadcast) and tuple(e.arg.shape) == (1, 1):
        return matmul(OneMatrix(e.shape[0], 1), _coefficient(e.arg, u))
    if isinstance(e, AxisSum) and e.axis == 0:
        return matmul(OneMatrix(1, e.arg.shape[0]), _coefficient(e.arg, u))
    raise UnsupportedError(f"cannot extract a Jacobian from {type(e).__name__}: {e}")


def _diag_times(v, m):
    """diag(v) @ m, with diag(v) @ 1 r written as v r."""
    if isinstance(m, MatAdd):
        return add(*[_diag_times(v, t) for t in m.args])
    c, core = split_coeff(m)
    if isinstance(core, sp.Identity):
        return scale(c, diag(v))
    if isinstance(core, Broadcast) and core.arg.shape[0] == 1:
        return scale(c, matmul(v, core.arg))
    return matmul(diag(v), m)


@_reported
def jacobian(y, x):
    """Jacobian of a column vector y (m x 1) by a column vector x (n x 1): n x m (denominator layout)."""
    (x,) = _variables(y, None, [x])
    for name, v in (("y", y), ("x", x)):
        if not is_matrix(v) or v.shape[1] != 1:
            raise ShapeError(f"jacobian needs column vectors; {name} is {shape_text(v)}")
    _check_real(y)
    _check_variables(y, [x])
    y = canonical(y)
    u = MatrixSymbol("_cotangent", y.shape[0], 1)
    adjoints = backward(y, [x], u)
    if x not in adjoints:
        warnings.warn(f"{x} does not occur in {y}: its Jacobian is zero", stacklevel=2)
        return ZeroMatrix(x.shape[0], y.shape[0])
    return simplify(_coefficient(simplify(adjoints[x]), u))


# --------------------------------------------------------------------------
# Derivations with named intermediates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardStep:
    """``symbol = expr``: a named intermediate and its definition."""

    name: str
    symbol: Basic
    expr: Basic


@dataclass(frozen=True)
class AdjointStep:
    """The adjoint ∂out/∂name: its consumers' contributions, their sum, and the resolved value."""

    name: str
    symbol: Basic  # placeholder for the adjoint, used in later steps' contributions
    contributions: tuple  # ((consumer name, contribution in terms of the consumer's adjoint symbol), ...)
    local: Basic  # sum of contributions, still in adjoint symbols
    value: Basic  # resolved: in inputs, forward intermediates and the named adjoints above
    named: bool = False  # whether the steps below read this adjoint by its symbol rather than its value


@dataclass
class Derivation:
    """A gradient derivation; see the module docstring."""

    inputs: dict
    forward: list
    output: str
    wrt: list
    steps: list
    gradients: dict
    kind: str = "gradient"  # or "jacobian"; "hvp" and "hessian" (``second_order``)
    shapes: dict = field(default_factory=dict)
    # a structured variable's gradient: "structured" (the projection onto its subspace) or "coordinates"
    convention: str = "structured"
    # second order: the scalar differentiated twice (over the inputs), the direction of an HVP (an input's
    # name), and the variable a Hessian's columns are taken by (d^2 f / dx dy: y; x itself by default)
    function: Basic | None = None
    direction: str | None = None
    partner: str | None = None
    # a layer with several outputs: (output step's name, the input standing for its upstream gradient), in order
    # (``outputs.derive_outputs``)
    outputs: tuple = ()
    # name -> (gradient, its closed form), computed once
    _closed: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def expand(self, expr):
        """Substitute every named adjoint by its value, then every forward intermediate by its definition."""
        values: dict = {}
        for step in self.named_adjoints:  # a value reads only adjoints named before it
            values[step.symbol] = substitute(step.value, values)
        return _expand(self.forward, substitute(expr, values))

    @property
    def named_adjoints(self) -> list:
        """The adjoint steps that values read by name, in the order they are computed."""
        return [s for s in self.steps if s.named]

    def closed_form(self, name: str):
        """The gradient of ``name`` over the inputs only, simplified (once: a document and its exact checks
        both ask)."""
        gradient = self.gradients[name]
        known = self._closed.get(name)
        if known is None or known[0] is not gradient:
            known = self._closed[name] = (gradient, simplify(self.expand(gradient)))
        return known[1]

    @property
    def output_expr(self):
        """The output over the inputs only."""
        return self.expand(self.forward[-1].symbol)

    def step(self, name: str) -> AdjointStep:
        return next(s for s in self.steps if s.name == name)


NAMED_SIZE = 48  # nodes: an adjoint this large, read by two steps or more, is read by name (see above)


def _size(e) -> int:
    return sum(1 for _ in sp.preorder_traversal(e))


def placeholder(name: str, like):
    """A symbol standing for an intermediate (or adjoint) with the shape of ``like``."""
    return MatrixSymbol(name, *like.shape) if is_matrix(like) else sp.Symbol(name, real=True)


@_reported
def derive(
    output, wrt, intermediates=None, output_name: str = "out", inputs=None, convention: str = "structured"
) -> Derivation:
    """Derive the gradient of the scalar ``output`` w.r.t. each symbol in ``wrt`` (symbols or their names, or
    one of them), step by step.

    ``intermediates`` maps placeholder symbols (made with ``placeholder`` or
    ``matrix``) to their definitions, in order; definitions and ``output`` may
    use earlier placeholders. The gradients come out over inputs and
    intermediates; ``Derivation.closed_form`` expands the intermediates.
    ``inputs`` (symbols or names) orders ``Derivation.inputs``, and so the
    arguments of generated code's ``forward``; inputs it leaves out follow in
    alphabetical order (all of them, without it). A structured variable's gradient is in ``convention``
    (``ops.structure.in_convention``): its steps are those of the general gradient G, its gradient P(G).
    """
    _check_output(output)
    in_convention(sp.S.Zero, None, convention)  # an unknown convention fails before any work
    _check_names(output, intermediates)
    wrt = _variables(output, intermediates, wrt)
    forward = _forward(output, intermediates, output_name, wrt)
    out = forward[-1]
    expanded = _expand(forward[:-1], out.expr)
    _check_variables(expanded, wrt)
    names = {s.symbol: s.name for s in forward} | {w: str(w) for w in wrt}
    wanted = _needed(forward, set(wrt))
    output_name = forward[-1].name
    adjoint_symbol = {s.name: placeholder(f"d{output_name}_d{s.name}", s.symbol) for s in forward[:-1]}
    contributions: dict = {}
    step_names = _step_names(forward[:-1])
    for step in reversed(forward):
        if step is not out and step.name not in contributions:
            continue
        cotangent = _unit_cotangent(step.expr) if step is out else adjoint_symbol[step.name]
        free = step.expr.free_symbols
        targets = [t for t in wanted if t in free]
        adjoints = backward(step.expr, targets, cotangent)
        for t in targets:
            if t in adjoints:
                share = _name_steps(simplify(adjoints[t]), step_names)
                contributions.setdefault(names[t], []).append((step.name, simplify(share)))
    readers = {}
    for terms in contributions.values():
        for consumer, _ in terms:
            readers[consumer] = readers.get(consumer, 0) + 1
    steps, resolved = [], {}
    for name in [s.name for s in reversed(forward[:-1])] + [str(w) for w in wrt]:
        terms = contributions.get(name)
        if not terms:
            continue
        local = simplify(add(*[t for _, t in terms]))
        value = simplify(substitute(local, {adjoint_symbol[c]: resolved[c] for c, _ in terms if c in resolved}))
        named = name in adjoint_symbol and readers.get(name, 0) >= 2 and _size(value) > NAMED_SIZE
        resolved[name] = adjoint_symbol[name] if named else value
        steps.append(AdjointStep(name, adjoint_symbol.get(name), tuple(terms), local, value, named))
    gradients = {str(w): resolved[str(w)] if str(w) in resolved else _missing(expanded, w) for w in wrt}
    for w in wrt:
        if str(w) in resolved:
            gradients[str(w)] = simplify(in_convention(resolved[str(w)], w, convention))
    d = _derivation(forward, expanded, wrt, steps, gradients, "gradient", inputs)
    d.convention = convention
    return d


@_reported
def derive_jacobian(output, wrt, intermediates=None, output_name: str = "y", inputs=None) -> Derivation:
    """Like ``derive`` for a column-vector output: each ``wrt`` gets its Jacobian (n x m)."""
    _check_names(output, intermediates)
    wrt = _variables(output, intermediates, wrt)
    forward = _forward(output, intermediates, output_name, wrt)
    expanded = _expand(forward[:-1], forward[-1].expr)
    gradients = {str(x): simplify(_name_steps(jacobian(expanded, x), _step_names(forward))) for x in wrt}
    return _derivation(forward, expanded, wrt, [], gradients, "jacobian", inputs)


def _forward(output, intermediates, output_name, wrt=()) -> list:
    """The forward steps; the output's name is ``output_name``, or with ``_`` appended until no input,
    variable, dimension or intermediate has it (an output named like an input or a dimension would overwrite
    it in generated code; a variable counts though the output may have cancelled it, as sum(Z - Z))."""
    forward = [
        ForwardStep(str(sym), sym, _parameters_as_operands(canonical(expr), wrt))
        for sym, expr in (intermediates or {}).items()
    ]
    exprs = [output, *(intermediates or {}).values(), *wrt]
    taken = {str(s) for e in exprs for s in e.free_symbols} | {s.name for s in forward}
    taken |= {str(d) for e in exprs for m in e.atoms(MatrixSymbol) for d in m.shape}
    while output_name in taken:
        output_name += "_"
    forward.append(
        ForwardStep(output_name, placeholder(output_name, output), _parameters_as_operands(canonical(output), wrt))
    )
    return forward


def _parameters_as_operands(expr, wrt):
    """``expr`` with each elementwise function whose parameters use a scalar variable (leaky_relu(X, a) in a)
    written as ``Mapped`` over its argument and those variables, so that the engine differentiates in them."""
    variables = {w for w in wrt if isinstance(w, sp.Symbol)}
    if not variables:
        return expr

    def rewrite(e):
        used = sorted(e.function.expr.free_symbols & variables, key=str) if isinstance(e, Elementwise) else []
        if not used:
            return None
        (var,), body = e.function.variables, e.function.expr
        operands = VARS[1 : 1 + len(used)]
        return Mapped(Lambda((var, *operands), body.xreplace(dict(zip(used, operands)))), e.arg, *used)

    return transform(expr, rewrite=rewrite)


def _step_names(forward) -> dict:
    """Each forward step's value -> its symbol (two steps alike: the first names it)."""
    named: dict = {}
    for step in forward:
        constant = not made_of_matrices(step.expr) and all(x.is_integer for x in step.expr.free_symbols)
        if not constant:  # a constant output, 1 or 1/q: every 1 (in shapes too) or 1/q would be named so
            named.setdefault(step.expr, step.symbol)
    return named


def _name_steps(expr, step_names: dict):
    """Call each forward step's value by its name (``_step_names``): rules write out what a step computes.

    One pass: a node that is a step's value is named before its arguments are looked at (the outer step wins),
    and a node that becomes one once its arguments are named is named after them."""
    return transform(expr, rewrite=step_names.get, mapping=step_names)


def _expand(forward, expr):
    """Substitute the forward steps' definitions for their symbols: each definition expanded once, in order,
    so a deep network's expansion takes time linear in its depth."""
    full: dict = {}
    for step in forward:
        full[step.symbol] = substitute(step.expr, full)
    return substitute(expr, full)


def _derivation(forward, expanded, wrt, steps, gradients, kind, order=None) -> Derivation:
    symbols = expanded.free_symbols | set(wrt)  # a variable that does not occur still has a (zero) gradient
    # a dim only inside compound shapes (m of a g that is r x (m + 2)) is an input, an argument of generated code
    # (which reads a dim from a shape only where it is the whole entry), even where the output cancels it
    matrices = [s for s in symbols if isinstance(s, MatrixSymbol)]
    carried = {x for m in matrices for x in m.shape if isinstance(x, sp.Symbol)}
    symbols |= {x for m in matrices for d in m.shape for x in sp.sympify(d).free_symbols} - carried
    by_name = {str(s): s for s in symbols if isinstance(s, (MatrixSymbol, sp.Symbol))}
    first = list(dict.fromkeys(str(s) for s in order or () if str(s) in by_name))
    inputs = {name: by_name[name] for name in first + sorted(set(by_name) - set(first))}
    shapes = {name: _shape(v) for name, v in inputs.items()} | {s.name: _shape(s.expr) for s in forward}
    return Derivation(inputs, forward, forward[-1].name, [str(w) for w in wrt], steps, gradients, kind, shapes)


def _needed(forward, wrt: set) -> set:
    """Variables and intermediate symbols through which the output depends on ``wrt``."""
    needed = set(wrt)
    for step in forward:
        if step.expr.free_symbols & needed:
            needed.add(step.symbol)
    return needed
