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

# (op card, name, expression, wrt, input domains): one row per card at least
OPS = [
    ("MatMul", "matmul", "sum(G @ W @ W.T)", "W", {}),
    ("MatAdd", "add", "sum(G * (X + Y))", "X", {}),
    ("MatAdd", "subtract", "sum(G * (X - Y))", "Y", {}),
    ("MatMul", "scalar multiple", "sum(G * (3 * X / 2))", "X", {}),
    ("MatMul", "scalar variable", "sum(G * (s * X))", "s", {}),
    ("Transpose", "transpose", "trace(A.T @ B)", "A", {}),
    ("Trace", "trace", "trace(A @ A)", "A", {}),
    ("HadamardProduct", "hadamard", "sum(G * X * Y)", "Y", {}),
    ("HadamardProduct", "division numerator", "sum(G * X / Y)", "X", {"Y": "nonzero"}),
    ("HadamardPower", "division denominator", "sum(G * X / Y)", "Y", {"Y": "nonzero"}),
    ("HadamardPower", "power", "sum(G * X**3)", "X", {}),
    ("HadamardPower", "negative power", "sum(G * X**-2)", "X", {"X": "nonzero"}),
    ("HadamardPower", "fractional power", "sum(X**1.5)", "X", {"X": "positive"}),
    ("Elementwise", "power of a constant", "sum(G * 2**X)", "X", {}),
    ("exp", "exp", "sum(G * exp(X))", "X", {}),
    ("log", "log", "sum(G * log(X))", "X", {"X": "positive"}),
    ("tanh", "tanh", "sum(G * tanh(X))", "X", {}),
    ("sigmoid", "sigmoid", "sum(G * sigmoid(X))", "X", {}),
    ("softplus", "softplus", "sum(G * softplus(X, 2))", "X", {}),
    ("relu", "relu", "sum(G * relu(X))", "X", {"X": "nonzero"}),
    ("step", "step", "sum(G * step(X) * X)", "X", {"X": "nonzero"}),
    ("leaky_relu", "leaky_relu", "sum(G * leaky_relu(X, 0.1))", "X", {"X": "nonzero"}),
    ("leaky_step", "leaky_step", "sum(G * leaky_step(X, 0.1) * X)", "X", {"X": "nonzero"}),
    ("Elementwise", "sqrt", "sum(G * sqrt(X))", "X", {"X": "positive"}),
    ("Abs", "abs", "sum(G * abs(X))", "X", {"X": "nonzero"}),
    ("sign", "sign", "sum(G * sign(X) * X**2)", "X", {"X": "nonzero"}),
    ("log1p", "log1p", "sum(G * log1p(X))", "X", {"X": "positive"}),
    ("expm1", "expm1", "sum(G * expm1(X))", "X", {}),
    ("erf", "erf", "sum(G * erf(X))", "X", {}),
    ("gelu", "gelu", "sum(G * gelu(X))", "X", {}),
    ("gelu_tanh", "gelu tanh", 'sum(G * gelu(X, approximate="tanh"))', "X", {}),
    ("silu", "silu", "sum(G * silu(X))", "X", {}),
    ("clip", "clip", "sum(G * clip(X, -0.5, 0.5))", "X", {}),
    ("clip_step", "clip_step", "sum(G * clip_step(X, -0.5, 0.5) * X)", "X", {}),
    ("Maximum", "maximum", "sum(G * maximum(X, Y))", "X", {}),
    ("Minimum", "minimum", "sum(G * minimum(X, Y))", "Y", {}),
    ("tie_step", "tie_step", "sum(G * tie_step(X) * X)", "X", {"X": "nonzero"}),
    ("Inverse", "inverse", "trace(B @ inv(A))", "A", {"A": "spd"}),
    ("Determinant", "determinant", "det(A)", "A", {}),
    ("LogDet", "log-determinant", "logdet(A)", "A", {"A": "spd"}),
    ("LogDet", "log of a determinant", "log(det(A))", "A", {"A": "spd"}),
    ("MatPow", "matrix power", "trace(B @ matrix_power(A, 3))", "A", {}),
    ("SumAll", "sum", "sum(X * X)", "X", {}),
    ("AxisSum", "row sums", "sum(c * sum(X, axis=1))", "X", {}),
    ("AxisSum", "column sums", "sum(b * sum(X, axis=0))", "X", {}),
    ("SumAll", "mean", "mean(X**2)", "X", {}),
    ("AxisSum", "mean along an axis", "sum(mean(X, axis=0)**2)", "X", {}),
    ("Broadcast", "broadcast row", "sum(G * (X + b)**2)", "b", {}),
    ("Broadcast", "broadcast column", "sum(G * (X + c)**2)", "c", {}),
    ("Broadcast", "expand a vector", "sum(G.T * broadcast_to(x, (n, q)))", "x", {}),
    ("Reshape", "squeeze", "sum(x * squeeze(v, 0))", "v", {}),
    ("Reshape", "unsqueeze", "sum(v * unsqueeze(x, 0))", "x", {}),
    ("Reshape", "reshape", "sum(G * reshape(X.T, (q, n))**2)", "X", {}),
    ("DiagMatrix", "diag", "trace(A @ diag(x))", "x", {}),
    ("Diagonal", "diagonal", "sum(x * diagonal(A @ A))", "A", {}),
    ("Softmax", "softmax rows", "sum(G * softmax(X, axis=1))", "X", {}),
    ("Softmax", "softmax columns", "sum(G * softmax(X, axis=0))", "X", {}),
    ("LogSoftmax", "log_softmax", "sum(G * log_softmax(X, axis=1))", "X", {}),
    ("LogSumExp", "logsumexp rows", "sum(c * logsumexp(X, axis=1))", "X", {}),
    ("LogSumExpAll", "logsumexp of all entries", "logsumexp(X)", "X", {}),
    ("SoftmaxAll", "softmax of all entries", "sum(G * exp(X) / sum(exp(X)))", "X", {}),
    ("BatchNorm", "batchnorm input", "sum(G * batchnorm(X, b, b * b, 0.001))", "X", {}),
    ("BatchNorm", "batchnorm gamma", "sum(G * batchnorm(X, b, v, 0.001))", "b", {}),
    ("BatchNorm", "batchnorm beta", "sum(G * batchnorm(X, b, v, 0.001))", "v", {}),
    ("BatchNormalize", "batch_normalize", "sum(G * batch_normalize(X, 0.001))", "X", {}),
    ("BatchStd", "batch_std", "sum(b * batch_std(X, 0.001))", "X", {}),
    ("MatMul", "quadratic form", "x.T @ A @ x", "x", {}),
    ("Trace", "scalar function of a trace", "log(trace(A @ A.T))", "A", {}),
    ("Elementwise", "the constants pi and e", "sum(G * exp(pi * X / e))", "X", {}),
]


@pytest.mark.parametrize("op, name, expression, wrt, domains", OPS, ids=[row[1] for row in OPS])
def test_op_gradient(op, name, expression, wrt, domains):
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
