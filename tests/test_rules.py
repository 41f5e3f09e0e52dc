"""Rules: clear failures, and fused rules against their primitives (coverage of the cards: test_cards.py)."""

import pytest
import sympy as sp

import symdiff as sd
from symdiff.engine import rule_for
from symdiff.verify.exact import same

q, p = sd.dims("q p")
Z, G = sd.matrix("Z", q, p), sd.matrix("G", q, p)
gamma, beta = sd.matrix("gamma", 1, p), sd.matrix("beta", 1, p)
ENV = dict(Z=Z, G=G, gamma=gamma, beta=beta, q=q, p=p)


def test_unsupported_node_is_named():
    X = sd.matrix("X", 2, 2)
    with pytest.raises(sd.UnsupportedError, match="MatrixElement"):
        sd.grad(X[0, 1] * sd.parse("sum(X)", X=X), X)
    with pytest.raises(sd.UnsupportedError, match="MatrixElement"):
        rule_for(X[0, 0])


def test_undefined_function_is_named():
    X, f = sd.matrix("X", 2, 2), sp.Function("f")
    with pytest.raises(sd.UnsupportedError, match="f"):
        sd.grad(sp.Trace(X.applyfunc(f)), X)
    with pytest.raises(sd.UnsupportedError, match="no derivative known for f"):
        sd.grad(f(sp.Trace(X)), X)


# fused rule vs the same function written with primitives (exp, sums, division)
FUSED = [
    ("softmax", "sum(G * softmax(Z, axis=1))", "sum(G * exp(Z) / sum(exp(Z), axis=1))", "Z"),
    ("softmax axis 0", "sum(G * softmax(Z, axis=0))", "sum(G * exp(Z) / sum(exp(Z), axis=0))", "Z"),
    ("log_softmax", "sum(G * log_softmax(Z, axis=1))", "sum(G * (Z - log(sum(exp(Z), axis=1))))", "Z"),
    *[
        (
            f"batchnorm {w}",
            "sum(G * batchnorm(Z, gamma, beta, 0.01))",
            "sum(G * (gamma * (Z - mean(Z, axis=0)) / sqrt(mean((Z - mean(Z, axis=0))**2, axis=0) + 0.01) + beta))",
            w,
        )
        for w in ("Z", "gamma", "beta")
    ],
]


@pytest.mark.parametrize("name, fused, composed, wrt", FUSED, ids=[f[0] for f in FUSED])
def test_fused_rule_matches_composition_of_primitives(name, fused, composed, wrt):
    g_fused = sd.grad(sd.parse(fused, **ENV), ENV[wrt])
    g_composed = sd.grad(sd.parse(composed, **ENV), ENV[wrt])
    result = same(g_fused, g_composed, {q: 3, p: 2})
    assert result.ok, result.summary()


def test_softmax_rule_is_compact():
    g = sd.grad(sd.parse("sum(G * softmax(Z, axis=1))", **ENV), Z)
    assert sd.text(g) == "(G - sum(G * softmax(Z, axis=1), axis=1)) * softmax(Z, axis=1)"
    assert not g.atoms(sp.matrices.expressions.diagonal.DiagMatrix)
