"""Second order: Hessian-vector products and Hessians in closed form.

Forward over reverse on the closed form (DESIGN.md): the HVP of f at X in the
direction V is the gradient of the scalar <grad f(X), V> with respect to X,
which the engine derives from the gradient expression with the rules of the
first order. A mask in the gradient (step(z) of relu, max_mask of max) is
piecewise constant: its own rule gives it no derivative, as PyTorch's double
backward does. The Hessian of a column-vector variable x is the Jacobian of
the gradient, kept factored (A + A^T, X^T diag(w) X, diag(s) - s s^T) and,
being symmetric, printed in the form that reads as such.

``derive_hvp`` and ``derive_hessian`` give Derivations (kind "hvp" and
"hessian") that documents, code generation and the checks take; an HVP's is
the gradient derivation of <grad f, V>, so its generated module's backward
returns the HVP. ``derive_double_backward`` gives the HVP in all of f's
variables at once, sum_i <df/dX_i, V_i> differentiated in each, which a
generated torch Function's double backward runs. ``gnvp`` gives the
Gauss-Newton product J^T H J V of a loss composed with a model, where the
caller says which part is the model; ``derive_gnvp`` its Derivation (kind
"gnvp"), whose generated module has ``gnvp(saved)``.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import sympy as sp
from sympy import MatrixSymbol

from .derivation import (
    _check_output,
    _expand,
    _forward,
    _name_steps,
    _reported,
    _step_names,
    _variables,
    derive,
    grad,
    jacobian,
)
from .errors import InputError, ShapeError
from .graph import substitute
from .ops import ZeroMatrix, hadamard, is_matrix, shape_text, sum_all, transpose
from .ops.structure import like
from .printing import text
from .simplify import merge_diagonals, simplify

DIRECTION = "V"  # the direction's name, with _ appended while the expression uses it
PAIRING = "gv"  # the scalar <grad f, V> an HVP derivation differentiates
FUNCTION = "f"  # what documents and the command line call the function differentiated twice


def _gradient(f, x):
    """grad f w.r.t. x, or None where f does not depend on x (no warning: the second order of a function
    linear in x is zero, and says so itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grad(f, x)
    return None if isinstance(g, sp.ZeroMatrix) or g == 0 else g


def _inner(a, b):
    """<a, b> = sum(a * b), the pairing a gradient meets a direction in."""
    return sum_all(hadamard(a, b))


def _require_direction(f, X, V):
    if not isinstance(V, MatrixSymbol):
        raise InputError(f"the direction of an HVP must be a matrix symbol, got {V!r:.60}")
    if not is_matrix(X) or tuple(V.shape) != tuple(X.shape):
        raise ShapeError(f"the direction {V} is {shape_text(V)}, but {X} is {shape_text(X)}: they must match")
    if V in f.free_symbols:
        raise InputError(f"the direction {V} occurs in the function; name the direction differently")


@_reported
def hvp(f, X, V):
    """The Hessian-vector product of the scalar ``f`` w.r.t. the matrix ``X`` in the direction ``V`` (a matrix
    symbol of X's shape): d/dX <grad f(X), V>, a closed-form matrix of X's shape."""
    _check_output(f)
    (X,) = _variables(f, None, [X])
    _require_direction(f, X, V)
    g = _gradient(f, X)
    second = None if g is None else _gradient(_inner(g, V), X)
    return ZeroMatrix(*X.shape) if second is None else second


def symmetric_form(h):
    """A symmetric matrix ``h`` written as such: of h and its transpose, the one without a transpose outside
    ((A + A^T)^T reads A + A^T)."""
    flipped = simplify(transpose(h))
    return flipped if isinstance(h, sp.Transpose) and not isinstance(flipped, sp.Transpose) else h


@_reported
def hessian(f, x, y=None):
    """The Hessian of the scalar ``f`` w.r.t. the column vector ``x`` (n x 1): the n x n matrix of
    d^2 f / dx_i dx_j in factored closed form; with ``y`` (m x 1), the n x m mixed second derivatives
    d^2 f / dx_i dy_j."""
    _check_output(f)
    x, y = _variables(f, None, [x, x if y is None else y])
    for v in (x, y):
        if not is_matrix(v) or v.shape[1] != 1:
            raise ShapeError(
                f"hessian needs column-vector variables; {v} is {shape_text(v)} "
                "(for a matrix variable, use hvp: the Hessian-vector product has the variable's shape)"
            )
    g = _gradient(f, y)
    if g is None or not g.has(x):
        return ZeroMatrix(x.shape[0], y.shape[0])
    h = merge_diagonals(jacobian(g, x))
    return symmetric_form(h) if x == y else h


def _names_in(f) -> set:
    """The names ``f`` uses: its symbols and its matrices' dimensions (a direction takes none of them)."""
    return {str(s) for s in f.free_symbols} | {str(d) for m in f.atoms(MatrixSymbol) for d in m.shape}


def _fresh(name: str, taken: set) -> str:
    """``name`` with _ appended until it is not in ``taken``."""
    while name in taken:
        name += "_"
    return name


def direction_symbol(f, X, name: str | None = None) -> MatrixSymbol:
    """The direction of an HVP of ``f`` w.r.t. ``X``: ``name``, or V with _ appended until ``f`` has no symbol
    or dimension of that name."""
    taken = _names_in(f)
    if name is not None and name in taken:
        raise InputError(f"the direction's name {name} is already a name in the expression")
    return like(X, _fresh(DIRECTION, taken) if name is None else name)  # a structured X's direction is in its structure


def _derive_pairing(first, f, pairing, variables: list, directions: list, inputs):
    """The gradient derivation (kind "hvp") of ``pairing`` = <grad f, V> in ``variables``, whose forward steps are
    the intermediates and named adjoints of ``first`` (f's gradient derivation: a deep network's layers are read
    by name, not written out again), and whose inputs are ``inputs`` (f's), then the ``directions``."""
    steps = {s.symbol: s.expr for s in first.forward[:-1]} | {s.symbol: s.value for s in first.named_adjoints}
    order = [*(inputs or ()), *sorted(str(s) for s in f.free_symbols), *(v.name for v in directions)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # f linear in a variable: its part of the HVP is zero, as it should be
        d = derive(pairing, variables, steps, output_name=PAIRING, inputs=order)
    return replace(d, kind="hvp", function=f, **_all_inputs(d, f, order))


@_reported
def derive_hvp(output, wrt, direction=None, intermediates=None, inputs=None):
    """The HVP of the scalar ``output`` w.r.t. the matrix ``wrt`` as a Derivation (kind "hvp"): the gradient
    derivation of <grad output, V>, whose one gradient is the HVP. ``direction``: V's name (default V, or V_
    ... where V is taken).

    The gradient keeps the intermediates and the adjoints its derivation names (a deep network's layers): they
    are the forward steps of the second derivation, whose backward pass runs through them, so the HVP reads
    them by name rather than writing every layer out."""
    f = _expand(_forward(output, intermediates, FUNCTION)[:-1], output)
    _check_output(f)
    (X,) = _variables(f, None, [wrt])
    V = direction_symbol(f, X, direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = derive(output, [X], intermediates, output_name=FUNCTION)
    g = first.gradients[X.name]
    if g.is_ZeroMatrix or not first.expand(g).has(X):
        raise InputError(f"{text(f)} is linear in {X} or does not depend on it: its Hessian is zero")
    return replace(_derive_pairing(first, f, _inner(g, V), [X], [V], inputs), direction=V.name)


@_reported
def derive_double_backward(output, wrt, intermediates=None, inputs=None) -> tuple:
    """What a generated Function's double backward runs: the gradient derivation (kind "hvp") of
    <grad f, V> = sum_i <df/dX_i, V_i> over the variables ``wrt``, each X_i with its own direction V_i (named V_X,
    with _ appended where taken), so that its gradient in X_j is (H V)_j, the Hessian applied to all directions at
    once. Returns (derivation, {variable: its direction's name}); the derivation's inputs are ``inputs`` (f's, in
    that order), then the directions in ``wrt``'s order."""
    f = _expand(_forward(output, intermediates, FUNCTION)[:-1], output)
    _check_output(f)
    variables = _variables(f, None, wrt)
    taken, directions = _names_in(f), {}
    for x in variables:
        name = _fresh(f"{DIRECTION}_{x.name}", taken)
        taken.add(name)
        directions[x] = MatrixSymbol(name, *x.shape) if is_matrix(x) else sp.Symbol(name, real=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = derive(output, variables, intermediates, output_name=FUNCTION)
    pairing = sp.Add(*[_pair(first.gradients[x.name], v) for x, v in directions.items()])
    d = _derive_pairing(first, f, pairing, variables, list(directions.values()), inputs)
    return d, {x.name: v.name for x, v in directions.items()}


def _pair(g, v):
    """<g, v>: a gradient against its direction (a product, for a scalar variable)."""
    return _inner(g, v) if is_matrix(g) else g * v


def _all_inputs(d, f, order: list) -> dict:
    """``d``'s inputs and shapes with every input of ``f`` among them, in ``order``: an input the gradient lost
    (b in sum(A) * s + norm(M * b), differentiated in M, keeps b only through a scalar; sum(A) not at all) is
    still an argument of generated code and a value the checks evaluate f at."""
    dims = {s for m in f.atoms(MatrixSymbol) for s in m.shape if isinstance(s, sp.Symbol)}
    symbols = {str(s): s for s in f.free_symbols if s not in dims} | d.inputs
    names = [n for n in dict.fromkeys([*map(str, order), *sorted(symbols)]) if n in symbols]
    inputs = {n: symbols[n] for n in names}
    shapes = {n: tuple(s.shape) if is_matrix(s) else None for n, s in inputs.items()}
    return {"inputs": inputs, "shapes": {**d.shapes, **shapes}}


@_reported
def derive_hessian(output, wrt, partner=None, intermediates=None, inputs=None):
    """The Hessian of the scalar ``output`` w.r.t. the column vector ``wrt`` (and ``partner``: mixed) as a
    Derivation (kind "hessian") whose one gradient, by ``wrt``'s name, is the Hessian: its steps derive the
    gradient the Hessian differentiates, and the Hessian reads the intermediates by name (s, not softmax(z))."""
    forward = _forward(output, intermediates, FUNCTION)
    f = _expand(forward[:-1], output)
    x, y = _variables(f, None, [wrt, wrt if partner is None else partner])
    h = simplify(_name_steps(hessian(f, x, y), _step_names(forward[:-1])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a Hessian of f linear in y is zero, and says so itself
        d = derive(output, [y], intermediates, output_name=FUNCTION, inputs=inputs)
    partner = None if y == x else y.name
    return replace(d, kind="hessian", wrt=[x.name], gradients={x.name: h}, function=f, partner=partner)


@_reported
def derive_gnvp(loss, model: dict, wrt, direction=None, inputs=None):
    """The Gauss-Newton product of ``loss`` after ``model`` ({Z: Z's definition}) in the variable ``wrt`` as a
    Derivation (kind "gnvp") whose one gradient, by ``wrt``'s name, is J^T H J V (``gnvp``): its forward steps
    are those of the composition's gradient, and its inputs the composition's (in ``inputs``' order), then V."""
    ((Z, definition),) = model.items() if isinstance(model, dict) and len(model) == 1 else ((None, None),)
    if Z is None:
        raise InputError("model maps the model's output Z (a matrix symbol of the loss) to its definition: {Z: ...}")
    composition = substitute(loss, {Z: definition})
    (X,) = _variables(definition, None, [wrt])
    V = direction_symbol(composition, X, direction)
    product = gnvp(loss, model, X, V)
    d = derive(composition, [X], output_name=FUNCTION, inputs=inputs)
    product = simplify(_name_steps(product, _step_names(d.forward[:-1])))
    order = [*(inputs or ()), *sorted(str(s) for s in composition.free_symbols), V.name]
    inputs = {**d.inputs, V.name: V}
    d = replace(d, kind="gnvp", gradients={X.name: product}, function=composition, direction=V.name, inputs=inputs)
    return replace(d, **_all_inputs(d, composition, order))


@_reported
def gnvp(loss, model: dict, X, V):
    """The Gauss-Newton product J^T H J V: ``loss`` a scalar of the model's output Z, ``model`` {Z: Z's
    definition in X} (which part is the model is the caller's to say), J = dZ/dX as a linear map, H the Hessian
    of the loss in Z, V a matrix symbol of X's shape; a closed-form matrix of X's shape. Where the model is linear
    in X it is the HVP of the composition; elsewhere it leaves out the model's curvature, and is positive
    semidefinite wherever the loss is convex in Z."""
    if not isinstance(model, dict) or len(model) != 1:
        raise InputError("model maps the model's output Z (a matrix symbol of the loss) to its definition: {Z: ...}")
    ((Z, definition),) = model.items()
    if not isinstance(Z, MatrixSymbol) or not is_matrix(definition) or tuple(Z.shape) != tuple(definition.shape):
        raise ShapeError(f"the model's output {Z} must be a matrix symbol of its definition's shape")
    _check_output(loss)
    (X,) = _variables(definition, None, [X])
    _require_direction(definition, X, V)
    if X in loss.free_symbols:
        raise InputError(f"the loss uses {X} itself; it must depend on {X} only through the model's output {Z}")
    # J V, the model's derivative along V: the gradient in U of <J^T U, V>, which is linear in U
    U, W, R = (MatrixSymbol(name, *Z.shape) for name in ("_cotangent", "_tangent", "_residual"))
    transposed = _gradient(_inner(definition, U), X)
    along = None if transposed is None else _gradient(_inner(transposed, V), U)
    curved = hvp(loss, Z, W)  # the loss's Hessian along W, at Z
    if along is None or curved.is_ZeroMatrix:
        return ZeroMatrix(*X.shape)
    back = _gradient(_inner(definition, R), X)  # J^T R
    product = substitute(curved, {W: along, Z: definition})  # H (J V), at the model's output
    return simplify(substitute(back, {R: product}))
