r"""Stable forms of the log / exp family: each the ``lower`` of the card whose op it writes.

Generated code evaluates these instead of the form a user typed (``codegen.lower`` applies them to the
forward and to the gradients, bottom-up, each node until none applies; derivations and documents keep the
typed form). Each is an identity, finite wherever the function it rewrites is:

* sigmoid: $(1 + e^{B})^{\circ -p} \to \sigma(-B)^{\circ p}$, $e^{B} \odot \sigma(-B) \to \sigma(B)$,
  $(1 - \sigma(B))^{\circ -p} \to \sigma(-B)^{\circ -p}$;
* softplus: $\operatorname{log1p}(e^{B}) \to \operatorname{softplus}(B)$,
  $\log \sigma(B) \to -\operatorname{softplus}(-B)$, $\operatorname{log1p}(-\sigma(B)) \to -\operatorname{softplus}(B)$;
* log1p: $\log(1 + U) \to \operatorname{log1p}(U)$;  expm1: $c e^{U} - c \to c \operatorname{expm1}(U)$;
* log_softmax: $\log \operatorname{softmax}(A) \to \operatorname{log\_softmax}(A)$, and the log of the softmax
  of all entries as $A - \operatorname{logsumexp}(A)$;
* log: $\log e^{B} \to B$.

So $\log(1 + e^{B})$ becomes softplus through log1p, and $\log(1 - \sigma(B))$ becomes $-\operatorname{softplus}(B)$.
$1 - \sigma(B)$ alone stays as it is (finite; $\sigma(-B)$ would cost the sigmoid backward a second exp, and
torch's own sigmoid backward computes $1 - y$ too). $\log(1 - e^{x})$ becomes $\log(-\operatorname{expm1}(x))$,
finite for every $x < 0$; torch has no log1mexp to do better for $x \ll 0$.

The log1p, expm1, softplus and log patterns match a matrix (the function applied entrywise) and a scalar
alike; the sigmoid and log_softmax ones are about matrices.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd

from .activations import expm1, log1p, sigmoid, softplus
from .card import CARDS, is_matrix
from .constants import OneMatrix, split_coeff
from .entrywise import applied, applied_arg
from .linear import add, scale
from .nn import LogSoftmax, LogSumExpAll, Softmax, SoftmaxAll
from .products import hadamard, hpow


def _arg_of(e, f):
    """A when ``e`` is f(A), entrywise on a matrix or on a scalar, else None."""
    if e is None:
        return None
    if is_matrix(e):
        return applied_arg(e, f)
    return e.args[0] if isinstance(e, f) and len(e.args) == 1 else None


def _apply(f, a):
    """f(a): entrywise on a matrix ``a``."""
    return applied(f, a) if is_matrix(a) else f(a)


def _negated(a):
    return scale(-1, a) if is_matrix(a) else -a


def _terms(e) -> list:
    """``[(c, core)]`` with e = sum of c core; a constant's core is 1 (the ones matrix for a matrix)."""
    if is_matrix(e):
        return [split_coeff(t) for t in (e.args if isinstance(e, MatAdd) else (e,))]
    return [t.as_coeff_Mul() for t in (e.args if isinstance(e, sp.Add) else (e,))]


def _is_constant(core) -> bool:
    return isinstance(core, sp.OneMatrix) or core == 1


def _sum(terms: list, like):
    """The sum of ``[(c, core)]``, a matrix or a scalar as ``like`` is."""
    if is_matrix(like):
        return add(*(scale(c, m) for c, m in terms))
    return sp.Add(*(c * m for c, m in terms))


def _one_plus(e):
    """U when ``e`` = 1 + U (a matrix: the ones matrix plus U), else None."""
    terms = _terms(e)
    for k, (c, core) in enumerate(terms):
        if c == 1 and _is_constant(core) and len(terms) > 1:
            return _sum(terms[:k] + terms[k + 1 :], e)
    return None


def _negative(e):
    """A when ``e`` = -A, else None."""
    (c, core), *more = _terms(e)
    return None if more or c != -1 else core


def _lower_log1p(e):
    """log(1 + U) as log1p(U)."""
    inner = _arg_of(e, sp.log)
    u = None if inner is None else _one_plus(inner)
    return None if u is None else _apply(log1p, u)


def _lower_expm1(e):
    """c exp(U) - c as c expm1(U), in a sum of any length (the first such pair)."""
    if not isinstance(e, (MatAdd, sp.Add)):
        return None
    terms = _terms(e)
    for k, (c, core) in enumerate(terms):
        u = _arg_of(core, sp.exp)
        pair = next((j for j, (d, other) in enumerate(terms) if d == -c and _is_constant(other)), None)
        if u is not None and pair is not None:
            rest = [t for i, t in enumerate(terms) if i not in (k, pair)]
            return _sum(rest + [(c, _apply(expm1, u))], e)
    return None


def _softplus(b):
    return _apply(lambda v: softplus(v, 1), b)


def _lower_softplus(e):
    """log1p(exp(B)) as softplus(B), log(sigmoid(B)) as -softplus(-B), log1p(-sigmoid(B)) as -softplus(B)."""
    u = _arg_of(e, log1p)
    if _arg_of(u, sp.exp) is not None:
        return _softplus(_arg_of(u, sp.exp))
    if u is not None and _arg_of(_negative(u), sigmoid) is not None:
        return _negated(_softplus(_arg_of(_negative(u), sigmoid)))
    b = _arg_of(_arg_of(e, sp.log), sigmoid)
    return None if b is None else _negated(_softplus(_negated(b)))


def _fuse_sigmoid(factors):
    """Factors with one exp(B) sigma(-B) written as sigma(B), or None if there is no such pair."""
    for k, f in enumerate(factors):
        b = applied_arg(f, sp.exp)
        for j, g in enumerate(factors):
            base, p = (g.base, g.exp) if isinstance(g, HadamardPower) else (g, sp.S.One)
            if b is not None and (p - 1).is_nonnegative and applied_arg(base, sigmoid) == scale(-1, b):
                rest = [h for i, h in enumerate(factors) if i not in (j, k)]
                return rest + [applied(sigmoid, b), hpow(base, p - 1)]
    return None


def _lower_sigmoid(e):
    """(1 + exp(B))^-p as sigma(-B)^p; (1 - sigma(B))^-p as sigma(-B)^-p (1 - sigma(B) rounds to 0 long before
    sigma(-B) underflows); exp(B) sigma(-B) as sigma(B): SymPy's e^-x / (1 + e^-x)^2 is sigma(x) sigma(-x)."""
    if isinstance(e, HadamardPower) and e.exp.is_negative and _one_plus(e.base) is not None:
        b = _arg_of(_one_plus(e.base), sp.exp)
        if b is not None:
            return hpow(applied(sigmoid, scale(-1, b)), -e.exp)
        b = _arg_of(_negative(_one_plus(e.base)), sigmoid)
        if b is not None:
            return hpow(applied(sigmoid, scale(-1, b)), e.exp)
    if isinstance(e, HadamardProduct):
        factors, fused = list(e.args), _fuse_sigmoid(list(e.args))
        if fused is None:
            return None
        while fused is not None:
            factors, fused = fused, _fuse_sigmoid(fused)
        return hadamard(*factors)
    return None


def _lower_log_softmax(e):
    """log(softmax(A, axis)) as log_softmax(A, axis); the log of the softmax of all entries as A - logsumexp(A)."""
    s = applied_arg(e, sp.log)
    if isinstance(s, Softmax):
        return LogSoftmax(s.arg, s.axis)
    if isinstance(s, SoftmaxAll):
        return add(s.arg, scale(-LogSumExpAll(s.arg), OneMatrix(*s.shape)))
    return None


def _lower_log_exp(e):
    """log(exp(B)) as B."""
    return _arg_of(_arg_of(e, sp.log), sp.exp)


CARDS[sigmoid].lower = _lower_sigmoid
CARDS[softplus].lower = _lower_softplus
CARDS[log1p].lower = _lower_log1p
CARDS[expm1].lower = _lower_expm1
CARDS[LogSoftmax].lower = _lower_log_softmax
CARDS[sp.log].lower = _lower_log_exp
