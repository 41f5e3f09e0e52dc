"""Rules of elementwise ops: functions applied entrywise and elementwise powers.

One rule serves every elementwise function: the scalar derivative comes from
SymPy (``fdiff`` of our activations, SymPy's own for exp, log, tanh, ...), is
rewritten in terms of the forward output where it can be (so sigma' becomes
s(1 - s) and tanh' becomes 1 - t^2), and is lifted back to matrix operations.
"""

import sympy as sp
from sympy import Lambda, OneMatrix
from sympy.matrices.expressions import HadamardPower

from ..errors import UnsupportedError
from ..ops import VAR, Elementwise, add, elementwise, hadamard, hpow, scale, sum_all
from . import vjp


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


@vjp(Elementwise)
def grad_elementwise(ans, g, function, a):
    r"""$Y = f(A)$ entrywise: $\bar A = \bar Y \odot f'(A)$, with $f'$ written through $Y$ where possible."""
    (x,), body = function.variables, function.expr
    y = sp.Dummy("y", real=True)
    derivative = sp.diff(body, x)
    if derivative.has(sp.Derivative, sp.Subs):
        raise UnsupportedError(f"no derivative known for the elementwise function {function}")
    return None, hadamard(g, lift(derivative.subs(body, y), x, y, a, ans))


@vjp(HadamardPower)
def grad_hadamard_power(ans, g, a, p):
    r"""$Y = A^{\circ p}$: $\bar A = p \, \bar Y \odot A^{\circ (p-1)}$; $\bar p = \sum (\bar Y \odot Y \odot \log A)$."""
    log_a = Elementwise(Lambda(VAR, sp.log(VAR)), a)
    grad_p = None if p.is_Number else sum_all(hadamard(g, ans, log_a))
    return scale(p, hadamard(g, hpow(a, p - 1))), grad_p
