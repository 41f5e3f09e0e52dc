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

from ..errors import UnsupportedError
from .card import SYMMETRIC, MatrixOp, Printed, properties, register, require_matrix
from .constants import OneMatrix
from .linear import add, scale
from .products import hadamard, hpow

VAR = sp.Dummy("v", real=True)  # the one bound variable of elementwise Lambdas, so equal ops compare equal


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
    (var,) = function.variables
    if function.expr == var:
        return m
    return Elementwise(function, m)


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


def lift(expr, x, y, X, Y):
    """The matrix formula applying the scalar formula ``expr(x, y)`` entrywise to ``X``, ``Y``."""
    if expr == x:
        return X
    if expr == y:
        return Y
    if not expr.has(x, y):
        return scale(expr, OneMatrix(*X.shape))
    if isinstance(expr, sp.Add):
        return add(*[lift(t, x, y, X, Y) for t in expr.args])
    if isinstance(expr, sp.Mul):
        const = sp.Mul(*[f for f in expr.args if not f.has(x, y)])
        return scale(const, hadamard(*[lift(f, x, y, X, Y) for f in expr.args if f.has(x, y)]))
    if isinstance(expr, sp.Pow) and not expr.exp.has(x, y):
        return hpow(lift(expr.base, x, y, X, Y), expr.exp)
    if not expr.has(y):
        return elementwise(Lambda(VAR, expr.xreplace({x: VAR})), X)
    if not expr.has(x):
        return elementwise(Lambda(VAR, expr.xreplace({y: VAR})), Y)
    raise UnsupportedError(f"cannot write the derivative {expr} as a matrix expression")


def grad_elementwise(ans, g, function, a):
    r"""$Y = f(A)$ entrywise: $\bar A = \bar Y \odot f'(A)$, with $f'$ written through $Y$ where possible."""
    (x,), body = function.variables, function.expr
    y = sp.Dummy("y", real=True)
    dy_dx = derivative(body, x, function)
    return None, hadamard(g, lift(dy_dx.subs(body, y), x, y, a, ans))


register(
    Elementwise,
    "Elementwise function",
    "f(E) for f above; c ** E",
    elementwise,
    grad_elementwise,
    structure=lambda e: properties(e.arg) & {SYMMETRIC},  # f(0) may not be 0: only symmetry carries over
)
