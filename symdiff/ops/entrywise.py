r"""A function applied entry by entry: the ``Elementwise`` op and its one rule.

``Elementwise`` applies a one-variable Lambda to every entry of a matrix; its
rule takes the scalar derivative from SymPy (``fdiff`` of symdiff's
activations, SymPy's own for exp, log, tanh, ...), writes it through the
forward output where it can (so sigma' becomes s(1 - s) and tanh' becomes
1 - t^2), and lifts it back to matrix operations. The scalar functions
themselves, with their cards, are in ``activations``.
"""

from __future__ import annotations

import sympy as sp
from sympy import Lambda
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError, UnsupportedError
from .card import (
    SYMMETRIC,
    MatrixOp,
    Printed,
    is_matrix,
    made_of_matrices,
    properties,
    register,
    require_matrix,
    shape_text,
)
from .constants import OneMatrix
from .linear import Broadcast, add, broadcast, scale, sum_all
from .products import hadamard, hpow

VAR = sp.Dummy("v", real=True)  # the one bound variable of elementwise Lambdas, so equal ops compare equal
# the bound variables of a Mapped's Lambda, one per operand (VAR first), fixed for the same reason
VARS = (VAR, *sp.symbols("p1:8", cls=sp.Dummy, real=True))


def derivative(body, x, where):
    """d body / dx from SymPy; a Dirac delta (the derivative of sign or a step) is 0, as in PyTorch."""
    derivative = sp.diff(body, x).replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    unknown = (derivative.atoms(sp.Derivative) | derivative.atoms(sp.Subs)) - body.atoms(sp.Derivative, sp.Subs)
    if unknown:  # SymPy left d f(x)/dx unevaluated: f is a function it does not know
        functions = sorted({str(getattr(u, "expr", u).func) for u in unknown})
        raise UnsupportedError(f"no derivative known for {', '.join(functions)} (in {where})")
    return derivative


class Elementwise(MatrixOp):
    """``f`` applied to every entry of a matrix; ``f`` is a one-variable Lambda."""

    def __new__(cls, function, arg):
        arg = require_matrix(arg, "an elementwise function")
        if not isinstance(function, Lambda) or len(function.variables) != 1:
            raise TypeError("Elementwise needs a Lambda of one variable")
        return super().__new__(cls, function, arg)

    function = property(lambda self: self.args[0])
    arg = property(lambda self: self.args[1])
    shape = property(lambda self: self.arg.shape)

    @property
    def is_mask(self) -> bool:
        """Whether the function is a mask (step, clip_step, ...) of the entries themselves."""
        body = self.function.expr
        return getattr(body, "is_mask", False) and body.args[0] == self.function.variables[0]

    @property
    def precedence(self):
        return PRECEDENCE["Atom"] if self.named() else sp.printing.precedence.precedence(self.function.expr)

    def named(self):
        """``(f, params)`` when the function is ``f(x, *params)``, else None."""
        (var,), body = self.function.variables, self.function.expr
        if isinstance(body, sp.Function) and body.args[0] == var:
            params = body.args[1:]
            if not any(p.has(var) for p in params):
                return body.func, params
        return None

    def _entry(self, i, j, **kwargs):
        return self.function(self.arg[i, j])

    def _printed(self, printer, **kwargs):
        """The function's body with the printed argument in place of its variable: in parentheses where it binds
        less tightly than an atom, unless (in code) the body's printing puts it alone in a call's already."""
        arg = printer._print(self.arg)
        (var,), body = self.function.variables, self.function.expr
        if not self.named() and sp.printing.precedence.precedence(self.arg) < PRECEDENCE["Atom"]:
            if printer.printmethod == "_latex":
                arg = rf"\left({arg}\right)"
            else:
                bare = printer._print(body.xreplace({var: Printed(arg)}), **kwargs)
                if bare.count(arg) == bare.count(f"({arg})"):  # sqrt(x) prints numpy.sqrt(A @ B), not ((A @ B))
                    return bare
                arg = f"({arg})"
        return printer._print(body.xreplace({var: Printed(arg)}), **kwargs)

    _sympystr = _latex = _numpycode = _torchcode = _printed


def elementwise(function: Lambda, m):
    """``function`` applied to every entry of ``m``; a part of its body made of matrices (sum(W) in sum(W) ** X)
    becomes an operand, a ``Mapped``, so that the gradient reaches it."""
    (var,), body = function.variables, function.expr
    if body == var:
        return m
    inner = _matrix_scalars(body, var)
    if inner:
        operands = VARS[1 : 1 + len(inner)]
        return Mapped(Lambda((var, *operands), body.xreplace(dict(zip(inner, operands)))), m, *inner)
    return Elementwise(function, m)


def _matrix_scalars(e, var) -> list:
    """The largest parts of the scalar ``e`` made of matrices and free of ``var``, each once, in order."""
    if not made_of_matrices(e):
        return []
    if var not in e.free_symbols:  # not e.has(var): a Lambda inside (sum(relu(G))) binds var too
        return [e]
    return list(dict.fromkeys(part for a in e.args for part in _matrix_scalars(a, var)))


def applied(function, m):
    """SymPy's ``M.applyfunc(f)`` as an Elementwise op with a real variable."""
    if isinstance(function, Lambda):
        body = function.expr.xreplace({function.variables[0]: VAR})
    else:
        body = function(VAR)
    return elementwise(Lambda(VAR, body), m)


def applied_arg(m, f):
    """A when m is the elementwise f(A) (f a one-argument function), else None."""
    if isinstance(m, Elementwise) and m.function.expr == f(m.function.variables[0]):
        return m.arg
    return None


def lift(expr, bound: dict):
    """The matrix formula applying the scalar formula ``expr`` entrywise, each of its variables standing for the
    entries of a matrix (``bound``: variable -> matrix, all of one shape); a part in several variables is
    ``Mapped`` over their matrices. (Free symbols, not ``has``: every elementwise Lambda binds VAR.)"""
    used = [v for v in bound if v in expr.free_symbols]
    if expr in bound:
        return bound[expr]
    shape = next(iter(bound.values())).shape
    if not used:
        return scale(expr, OneMatrix(*shape))
    if isinstance(expr, sp.Add):
        return add(*[lift(t, bound) for t in expr.args])
    if isinstance(expr, sp.Mul):
        const = sp.Mul(*[f for f in expr.args if not f.free_symbols & set(used)])
        return scale(const, hadamard(*[lift(f, bound) for f in expr.args if f.free_symbols & set(used)]))
    if isinstance(expr, sp.Pow) and not expr.exp.free_symbols & set(used):
        return hpow(lift(expr.base, bound), expr.exp)
    if len(used) == 1:
        return elementwise(Lambda(VAR, expr.xreplace({used[0]: VAR})), bound[used[0]])
    function = Lambda(VARS[: len(used)], expr.xreplace(dict(zip(used, VARS))))
    return Mapped(function, *(bound[v] for v in used))


def grad_elementwise(ans, g, function, a):
    r"""$Y = f(A)$ entrywise: $\bar A = \bar Y \odot f'(A)$, with $f'$ written through $Y$ where possible."""
    (x,), body = function.variables, function.expr
    y = sp.Dummy("y", real=True)
    dy_dx = derivative(body, x, function)
    return None, hadamard(g, lift(dy_dx.subs(body, y), {x: a, y: ans}))


class Mapped(MatrixOp):
    """``f`` applied entry by entry to a matrix and its parameters: $Y_{ij} = f(A_{ij}, p_{ij}, \\dots)$, each
    parameter a scalar or a matrix of A's shape (a learned row or column is broadcast to it first: PReLU's
    per-channel slope). ``f`` is a Lambda of one variable per operand; the first operand is the matrix A."""

    def __new__(cls, function, arg, *params):
        arg = require_matrix(arg, "an elementwise function")
        if not isinstance(function, Lambda) or len(function.variables) != 1 + len(params):
            raise TypeError("Mapped needs a Lambda of one variable per operand")
        for p in params:
            if is_matrix(p) and tuple(p.shape) != tuple(arg.shape):
                raise ShapeError(
                    f"the parameter {p} of an elementwise function is {shape_text(p)}, its argument {shape_text(arg)}"
                )
        return super().__new__(cls, function, arg, *params)

    function = property(lambda self: self.args[0])
    operands = property(lambda self: self.args[1:])
    shape = property(lambda self: self.args[1].shape)

    def _entry(self, i, j, **kwargs):
        return self.function(*(o[i, j] if is_matrix(o) else o for o in self.operands))

    def _printed(self, printer, **kwargs):
        """The function's body with its operands printed in place of its variables; a broadcast parameter as the
        row or column it broadcasts, which numpy and torch broadcast themselves."""
        first = self.operands[0]
        printed = []
        for k, o in enumerate(self.operands):
            inner = o.arg if k and isinstance(o, Broadcast) and not isinstance(first, Broadcast) else o
            code = printer._print(inner)
            if sp.printing.precedence.precedence(inner) < PRECEDENCE["Atom"]:
                code = rf"\left({code}\right)" if printer.printmethod == "_latex" else f"({code})"
            printed.append(Printed(code))
        return printer._print(self.function.expr.xreplace(dict(zip(self.function.variables, printed))), **kwargs)

    _sympystr = _latex = _numpycode = _torchcode = _printed


def grad_mapped(ans, g, function, *operands):
    r"""$Y = f(A, p, \dots)$ entrywise: each operand's share is $\bar Y \odot \partial f / \partial p$ (from
    SymPy's scalar derivative, written through $Y$ where possible); a scalar parameter's is its sum,
    $\sum_{ij} \bar Y_{ij}\, \partial f / \partial p (A_{ij}, p)$."""
    variables, body = function.variables, function.expr
    y = sp.Dummy("y", real=True)
    scalars = {v: o for v, o in zip(variables, operands) if not is_matrix(o)}
    bound = {v: o for v, o in zip(variables, operands) if is_matrix(o)} | {y: ans}
    shares = []
    for v, o in zip(variables, operands):
        partial = derivative(body, v, function).subs(body, y).xreplace(scalars)
        share = hadamard(g, lift(partial, bound))
        shares.append(share if is_matrix(o) else sum_all(share))
    return (None, *shares)


def parametrized(f, arg, *params):
    """``f(arg, *params)`` entry by entry: an ``Elementwise`` where the parameters are numbers or scalar symbols,
    else ``Mapped`` over ``arg`` and the parameters (a row or column broadcast to ``arg``'s shape; a scalar made of
    matrices, such as std(X), kept whole), so that the gradient reaches whatever a parameter is made of."""
    if not any(made_of_matrices(p) for p in params):  # numbers and scalar symbols: constants of the Lambda
        return elementwise(Lambda(VAR, f(VAR, *params)), arg)
    operands = [arg] + [broadcast(p, *arg.shape) if is_matrix(p) else p for p in params]
    distinct = list(dict.fromkeys(operands))  # one operand twice is one variable: clip(X, V, V) is V
    variables = [VARS[distinct.index(o)] for o in operands]
    body = f(*variables)
    if body in variables:  # clip(X, c, c) is c, as a matrix of X's shape
        kept = distinct[VARS.index(body)]
        return kept if is_matrix(kept) else scale(kept, OneMatrix(*arg.shape))
    if len(distinct) == 1:  # leaky_relu(X, X): X's own function
        return elementwise(Lambda(VAR, body), arg)
    return Mapped(Lambda(VARS[: len(distinct)], body), *distinct)


register(
    Mapped,
    "Elementwise function with parameters",
    "f(E, P) for f above, P a row, column or matrix: leaky_relu(X, a)",
    lambda function, *operands: Mapped(function, *operands),
    grad_mapped,
)


register(
    Elementwise,
    "Elementwise function",
    "f(E) for f above; c ** E",
    elementwise,
    grad_elementwise,
    structure=lambda e: properties(e.arg) & {SYMMETRIC},  # f(0) may not be 0: only symmetry carries over
)
