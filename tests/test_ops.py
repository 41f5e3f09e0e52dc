"""One table-driven test per op: the engine's gradient, checked exactly and by finite differences."""

import pytest
import sympy as sp

import symdiff as sd
from symdiff.testing import assert_gradient
from symdiff.verify.exact import explicit

q, n, p = sd.dims("q n p")
X, Y = sd.matrix("X", q, n), sd.matrix("Y", q, n)
W = sd.matrix("W", n, p)
A, B = sd.matrix("A", n, n), sd.matrix("B", n, n)
b, c = sd.matrix("b", 1, n), sd.matrix("c", q, 1)
x, v = sd.matrix("x", n, 1), sd.matrix("v", 1, n)
G = sd.matrix("G", q, n)
s = sd.scalar("s")
ENV = dict(X=X, Y=Y, W=W, A=A, B=B, b=b, c=c, x=x, v=v, G=G, s=s, q=q, n=n, p=p)

# (op, expression, wrt, input domains)
OPS = [
    ("matmul", "sum(G @ W @ W.T)", "W", {}),
    ("add", "sum(G * (X + Y))", "X", {}),
    ("subtract", "sum(G * (X - Y))", "Y", {}),
    ("scalar multiple", "sum(G * (3 * X / 2))", "X", {}),
    ("scalar variable", "sum(G * (s * X))", "s", {}),
    ("transpose", "trace(A.T @ B)", "A", {}),
    ("trace", "trace(A @ A)", "A", {}),
    ("hadamard", "sum(G * X * Y)", "Y", {}),
    ("division numerator", "sum(G * X / Y)", "X", {"Y": "nonzero"}),
    ("division denominator", "sum(G * X / Y)", "Y", {"Y": "nonzero"}),
    ("power", "sum(G * X**3)", "X", {}),
    ("negative power", "sum(G * X**-2)", "X", {"X": "nonzero"}),
    ("fractional power", "sum(X**1.5)", "X", {"X": "positive"}),
    ("exp", "sum(G * exp(X))", "X", {}),
    ("log", "sum(G * log(X))", "X", {"X": "positive"}),
    ("tanh", "sum(G * tanh(X))", "X", {}),
    ("sigmoid", "sum(G * sigmoid(X))", "X", {}),
    ("softplus", "sum(G * softplus(X, 2))", "X", {}),
    ("relu", "sum(G * relu(X))", "X", {"X": "nonzero"}),
    ("leaky_relu", "sum(G * leaky_relu(X, 0.1))", "X", {"X": "nonzero"}),
    ("sqrt", "sum(G * sqrt(X))", "X", {"X": "positive"}),
    ("abs", "sum(G * abs(X))", "X", {"X": "nonzero"}),
    ("inverse", "trace(B @ inv(A))", "A", {"A": "spd"}),
    ("determinant", "det(A)", "A", {}),
    ("log-determinant", "logdet(A)", "A", {"A": "spd"}),
    ("matrix power", "trace(B @ matrix_power(A, 3))", "A", {}),
    ("sum", "sum(X * X)", "X", {}),
    ("row sums", "sum(c * sum(X, axis=1))", "X", {}),
    ("column sums", "sum(b * sum(X, axis=0))", "X", {}),
    ("mean", "mean(X**2)", "X", {}),
    ("mean along an axis", "sum(mean(X, axis=0)**2)", "X", {}),
    ("broadcast row", "sum(G * (X + b)**2)", "b", {}),
    ("broadcast column", "sum(G * (X + c)**2)", "c", {}),
    ("expand a vector", "sum(G.T * broadcast_to(x, (n, q)))", "x", {}),
    ("squeeze", "sum(x * squeeze(v, 0))", "v", {}),
    ("unsqueeze", "sum(v * unsqueeze(x, 0))", "x", {}),
    ("softmax rows", "sum(G * softmax(X, axis=1))", "X", {}),
    ("softmax columns", "sum(G * softmax(X, axis=0))", "X", {}),
    ("log_softmax", "sum(G * log_softmax(X, axis=1))", "X", {}),
    ("batchnorm input", "sum(G * batchnorm(X, b, b * b, 0.001))", "X", {}),
    ("batchnorm gamma", "sum(G * batchnorm(X, b, v, 0.001))", "b", {}),
    ("batchnorm beta", "sum(G * batchnorm(X, b, v, 0.001))", "v", {}),
    ("quadratic form", "x.T @ A @ x", "x", {}),
    ("scalar function of a trace", "log(trace(A @ A.T))", "A", {}),
]


@pytest.mark.parametrize("op, expression, wrt, domains", OPS, ids=[row[0] for row in OPS])
def test_op_gradient(op, expression, wrt, domains):
    assert_gradient(sd.parse(expression, **ENV), ENV[wrt], domains=domains)


KINKS = [  # PyTorch's choices at non-differentiable points
    ("relu", "sum(relu(X))", 0),
    ("leaky_relu", "sum(leaky_relu(X, 0.25))", sp.Rational(1, 4)),
    ("abs", "sum(abs(X))", 0),
]


@pytest.mark.parametrize("name, expression, slope", KINKS, ids=[k[0] for k in KINKS])
def test_derivative_at_zero_follows_pytorch(name, expression, slope):
    g = sd.grad(sd.parse(expression, X=X), X)
    at_zero = explicit(g, {q: 2, n: 2, X: sp.zeros(2, 2)})
    assert at_zero == sp.ImmutableMatrix(2, 2, [slope] * 4)


def test_a_wrong_gradient_fails_the_checker():
    expr = sd.parse("sum(G * tanh(X))", **ENV)
    with pytest.raises(AssertionError, match="FAIL"):
        assert_gradient(expr, X, grad=sd.parse("G * tanh(X)", **ENV))
