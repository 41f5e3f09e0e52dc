"""One table-driven test per op: the engine's gradient, checked exactly and by finite differences."""

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import symdiff as sd
from symdiff.testing import assert_gradient
from symdiff.verify import gradcheck
from symdiff.verify.exact import explicit

q, n, p = sd.dims("q n p")
X, Y = sd.matrix("X", q, n), sd.matrix("Y", q, n)
W = sd.matrix("W", n, p)
A, B = sd.matrix("A", n, n), sd.matrix("B", n, n)
b, c = sd.matrix("b", 1, n), sd.matrix("c", q, 1)
x, v = sd.matrix("x", n, 1), sd.matrix("v", 1, n)
G = sd.matrix("G", q, n)
s = sd.scalar("s")
y, z = sd.matrix("y", q, 1), sd.matrix("z", n, 1)  # class labels: one per row of X, one per column
ENV = dict(X=X, Y=Y, W=W, A=A, B=B, b=b, c=c, x=x, v=v, G=G, s=s, y=y, z=z, q=q, n=n, p=p)

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
    ("Determinant", "determinant of a scaled matrix", "tanh(log(det(A + A)))", "A", {"A": "spd"}),
    ("LogDet", "log of a scaled determinant", "log(det(A / 3))", "A", {"A": "spd"}),
    ("Inverse", "inverse of a scaled matrix", "trace(B @ inv(-2 * A))", "A", {"A": "spd"}),
    ("MatPow", "matrix power", "trace(B @ matrix_power(A, 3))", "A", {}),
    ("MatPow", "negative matrix power", "trace(B @ matrix_power(A, -2))", "A", {"A": "spd"}),
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
    ("Sym", "symmetric part", "sum(B * sym(A @ A))", "A", {}),
    ("Slice", "slice", "sum(G[:, 0:1] * tanh(X[:, n - 1:n] * X[:, 0:1]))", "X", {}),
    ("Pad", "pad", "sum(pad(X * X, (1, 0), (q + 1, n))[0:q, :] * G)", "X", {}),
    ("Concat", "concatenation of columns", "sum(tanh(concat([X, G * X, Y], axis=1)) * concat([G, Y, X], 1))", "X", {}),
    ("Concat", "concatenation of rows", "sum(concat([X, b, X * X]) ** 2)", "X", {}),
    ("Where", "where, the branch taken", "sum(G * where(X > Y, exp(X), X * Y))", "X", {}),
    ("Where", "where, the other branch", "sum(G * where(X >= 0.2, exp(X), Y * Y))", "Y", {}),
    ("Where", "where with a scalar branch", "sum(G * where(X <= Y, tanh(X), -30))", "X", {}),
    ("step", "comparisons as masks", "sum(G * ((X < Y) + (X == Y) - (X != Y)) * X**2)", "X", {}),
    ("softplus", "logsigmoid", "sum(G * logsigmoid(X))", "X", {}),
    ("Tril", "lower triangle", "sum(B * tril(A @ A))", "A", {}),
    ("Tril", "below the diagonal", "sum(B * tril(A, -1)**2)", "A", {}),
    ("Triu", "upper triangle from the first superdiagonal", "sum(B * triu(A, 1) * A)", "A", {}),
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
    ("LayerNorm", "layer_norm input", "sum(G * layer_norm(X, b, b * b, 0.001))", "X", {}),
    ("LayerNorm", "layer_norm gamma", "sum(G * layer_norm(X, b, v, 0.001))", "b", {}),
    ("LayerNorm", "layer_norm beta", "sum(G * layer_norm(X, b, v, 0.001))", "v", {}),
    ("Var", "var along an axis", "sum(b * var(X, axis=0))", "X", {}),
    ("Var", "unbiased var of all entries", "var(X, ddof=1)", "X", {}),
    ("Std", "std along an axis", "sum(c * std(X, axis=1, ddof=1))", "X", {}),
    ("Std", "std of all entries", "std(X)", "X", {}),
    ("safe_recip", "safe_recip", "sum(G * safe_recip(X))", "X", {"X": "nonzero"}),
    ("Norm", "norm", "norm(X)", "X", {}),
    ("Unit", "unit direction", "sum(G * unit(X))", "X", {}),
    ("AxisMax", "max along an axis", "sum(b * max(X, axis=0))", "X", {}),
    ("AxisMax", "max of all entries", "max(X)", "X", {}),
    ("AxisMax", "min along an axis", "sum(c * min(X, axis=1))", "X", {}),
    ("MaxMask", "max_mask", "sum(G * max_mask(X, axis=1) * X)", "X", {}),
    ("Mapped", "a learned slope per column (PReLU)", "sum(G * leaky_relu(X, b))", "b", {}),
    ("Mapped", "a learned scalar slope", "sum(G * leaky_relu(X, s))", "s", {}),
    ("Mapped", "softplus with a learned beta per row", "sum(G * softplus(X, exp(c)))", "c", {}),
    ("Mapped", "clip with learned bounds", "sum(G * clip(X, b - 1, c + 1))", "b", {}),
    ("OneHot", "one_hot", "sum(G * one_hot(y, n) * X**2)", "X", {}),
    ("Take", "take along rows (cross-entropy)", "-mean(take(log_softmax(X, axis=1), y, axis=1))", "X", {}),
    ("Take", "take along columns", "sum(b * take(X * X, z, axis=0))", "X", {}),
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


def _kinks(*values):
    """A 4 x 3 input whose first entries are ``values`` (kinks, ties, bounds), the rest random."""

    def make(rng):
        x = rng.normal(size=(4, 3))
        x.flat[: len(values)] = values
        return x

    return make


def _scaled(scale):
    return lambda rng: rng.normal(size=(4, 3)) * scale


# (name, expression in X (4 x 3), Y, G, g and b (1 x 3), c (4 x 1), PyTorch's own function of the same tensors, X's values)
AGAINST_TORCH = [
    ("relu at 0", "sum(G * relu(X))", lambda t: t["G"] * torch.relu(t["X"]), _kinks(0.0, 0.0)),
    ("leaky_relu at 0", "sum(G * leaky_relu(X, 0.1))", lambda t: t["G"] * F.leaky_relu(t["X"], 0.1), _kinks(0.0)),
    ("abs at 0", "sum(G * abs(X))", lambda t: t["G"] * torch.abs(t["X"]), _kinks(0.0)),
    (
        "sqrt of relu where relu is 0",
        "sum(G * sqrt(relu(X)))",
        lambda t: t["G"] * torch.sqrt(torch.relu(t["X"])),
        _kinks(0.0, -1.0, -2.0, 0.0),
    ),
    (
        "clip on its bounds",
        "sum(G * clip(X, -0.5, 0.5))",
        lambda t: t["G"] * torch.clamp(t["X"], -0.5, 0.5),
        _kinks(-0.5, 0.5),
    ),
    ("maximum at ties", "sum(G * maximum(X, Y))", lambda t: t["G"] * torch.maximum(t["X"], t["Y"]), "ties"),
    ("minimum at ties", "sum(G * minimum(X, Y))", lambda t: t["G"] * torch.minimum(t["X"], t["Y"]), "ties"),
    (
        "max along an axis, tied",
        "sum(g * max(X, axis=0))",
        lambda t: t["g"] * torch.amax(t["X"], 0, True),
        _kinks(2.0, 1.0, 1.0, 2.0),
    ),
    ("max of all entries, tied", "max(X)", lambda t: torch.amax(t["X"]), _kinks(3.0, 3.0, 3.0)),
    (
        "min along an axis",
        "sum(c * min(X, axis=1))",
        lambda t: t["c"] * torch.amin(t["X"], 1, True),
        _kinks(-2.0, -2.0),
    ),
    ("sigmoid saturated", "sum(G * sigmoid(X))", lambda t: t["G"] * torch.sigmoid(t["X"]), _scaled(800)),
    ("softplus saturated", "sum(G * softplus(X, 2))", lambda t: t["G"] * F.softplus(t["X"], beta=2), _scaled(800)),
    ("gelu saturated", "sum(G * gelu(X))", lambda t: t["G"] * F.gelu(t["X"]), _scaled(30)),
    (
        "gelu tanh",
        'sum(G * gelu(X, approximate="tanh"))',
        lambda t: t["G"] * F.gelu(t["X"], approximate="tanh"),
        _scaled(3),
    ),
    ("silu saturated", "sum(G * silu(X))", lambda t: t["G"] * F.silu(t["X"]), _scaled(800)),
    ("log1p near 0", "sum(G * log1p(X))", lambda t: t["G"] * torch.log1p(t["X"]), _scaled(1e-12)),
    ("expm1 near 0", "sum(G * expm1(X))", lambda t: t["G"] * torch.expm1(t["X"]), _scaled(1e-12)),
    ("erf", "sum(G * erf(X))", lambda t: t["G"] * torch.erf(t["X"]), _scaled(3)),
    (
        "logsumexp saturated",
        "sum(c * logsumexp(X, axis=1))",
        lambda t: t["c"] * torch.logsumexp(t["X"], 1, True),
        _scaled(800),
    ),
    (
        "var, unbiased",
        "sum(g * var(X, axis=0, ddof=1))",
        lambda t: t["g"] * torch.var(t["X"], 0, keepdim=True),
        _scaled(1),
    ),
    ("std", "sum(c * std(X, axis=1))", lambda t: t["c"] * torch.std(t["X"], 1, correction=0, keepdim=True), _scaled(1)),
    (
        "std at zero spread",
        "sum(c * std(X, axis=1)) + std(X)**3",
        lambda t: t["c"] * torch.std(t["X"], 1, correction=0, keepdim=True) + torch.std(t["X"], correction=0) ** 3 / 4,
        _scaled(0),
    ),
    ("norm", "norm(X)", lambda t: torch.linalg.norm(t["X"]), _scaled(1)),
    (
        "norm at 0",
        "norm(X) + norm(X)**3",
        lambda t: torch.linalg.norm(t["X"]) * (1 + torch.linalg.norm(t["X"]) ** 2),
        _scaled(0),
    ),
    (
        "layer_norm",
        "sum(G * layer_norm(X, g, b, 0.001))",
        lambda t: t["G"] * F.layer_norm(t["X"], (3,), t["g"].reshape(-1), t["b"].reshape(-1), 0.001),
        _scaled(2),
    ),
]


AGAINST_TORCH += [  # comparisons and selections at ties (PyTorch's: > false, >= and == true), logsigmoid saturated
    ("greater at ties", "sum(G * (X > Y) * X)", lambda t: t["G"] * (t["X"] > t["Y"]) * t["X"], "ties"),
    ("greater or equal at ties", "sum(G * (X >= Y) * X)", lambda t: t["G"] * (t["X"] >= t["Y"]) * t["X"], "ties"),
    ("less or equal at ties", "sum(G * (X <= Y) * X)", lambda t: t["G"] * (t["X"] <= t["Y"]) * t["X"], "ties"),
    ("equal at ties", "sum(G * (X == Y) * X)", lambda t: t["G"] * (t["X"] == t["Y"]) * t["X"], "ties"),
    (
        "where at ties",
        "sum(G * where(X >= Y, X**2, 3 * X))",
        lambda t: t["G"] * torch.where(t["X"] >= t["Y"], t["X"] ** 2, 3 * t["X"]),
        "ties",
    ),
    ("logsigmoid saturated", "sum(G * logsigmoid(X))", lambda t: t["G"] * F.logsigmoid(t["X"]), _scaled(800)),
]


@pytest.mark.parametrize("name, expression, reference, make_x", AGAINST_TORCH, ids=[row[0] for row in AGAINST_TORCH])
def test_generated_code_agrees_with_pytorch_at_kinks_and_saturation(name, expression, reference, make_x):
    """The emitted torch code's value and gradient against PyTorch's own function of the same inputs."""
    rng = np.random.default_rng(0)
    env = {"X": sd.matrix("X", 4, 3), "Y": sd.matrix("Y", 4, 3), "G": sd.matrix("G", 4, 3)}
    env |= {"g": sd.matrix("g", 1, 3), "b": sd.matrix("b", 1, 3), "c": sd.matrix("c", 4, 1)}
    values = {"Y": rng.normal(size=(4, 3)), "G": rng.normal(size=(4, 3)), "g": rng.normal(size=(1, 3)) + 2}
    values["b"], values["c"] = rng.normal(size=(1, 3)), rng.normal(size=(4, 1))
    values["X"] = values["Y"].copy() if make_x == "ties" else make_x(rng)
    if make_x == "ties":
        values["X"].flat[6:] = rng.normal(size=6)  # half the entries tie
    module = sd.compile(sd.derive(sd.parse(expression, **env), [env["X"]]), "torch")
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=(k == "X")) for k, v in values.items()}
    out, saved = module.forward(*[tensors[k].detach() for k in module.INPUTS])
    expected = reference(tensors).sum()
    expected.backward()
    torch.testing.assert_close(out, expected.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(module.backward(saved)["X"], tensors["X"].grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op, name, expression, wrt, domains", OPS, ids=[row[1] for row in OPS])
def test_op_code_in_both_backends(op, name, expression, wrt, domains):
    """Every card spelled in numpy and torch: the generated torch code against finite differences and
    autograd, and the generated numpy code against the torch code."""
    d = sd.derive(sd.parse(expression, **ENV), [ENV[wrt]])
    report = gradcheck.check(d, domains=domains, sizes={"q": 3, "n": 4, "p": 2}, exact=False)
    assert report.ok, report.summary()
    numpy_module, torch_module = sd.compile(d, "numpy"), sd.compile(d, "torch")
    dims, names, arrays = gradcheck.draw_inputs(d, sizes={"q": 3, "n": 4, "p": 2}, domains=domains)
    values = gradcheck.arguments(numpy_module, dict(zip(names, arrays)), dims)
    from_numpy = numpy_module.backward(numpy_module.forward(*values)[1])[wrt]
    tensors = [torch.as_tensor(v) for v in values]  # float64, and int64 class labels
    from_torch = torch_module.backward(torch_module.forward(*tensors)[1])[wrt]
    np.testing.assert_allclose(np.asarray(from_numpy, dtype=float), from_torch.numpy(), rtol=1e-10, atol=1e-12)


def test_matrix_powers_are_limited():
    """The gradient of A^n is a sum of |n| products: a huge exponent is refused, not expanded for minutes."""
    with pytest.raises(sd.UnsupportedError, match="limited to -32..32"):
        sd.parse("trace(matrix_power(A, 100000))", **ENV)
    with pytest.raises(sd.UnsupportedError, match="limited to -32..32"):
        sd.grad(sp.Trace(A**-40), A)


def test_a_long_product_of_one_matrix_is_the_product_typed():
    """A @ A @ ... @ A, 41 factors, is the product the user wrote, not a refused matrix_power(A, 41): its
    gradient has one term a factor, no longer than the product."""
    for product in (" @ ".join(["A"] * 41), " @ ".join(["inv(A)"] * 34)):
        d = sd.derive(sd.parse(f"trace(B @ {product})", **ENV), [A])
        report = gradcheck.check(d, sizes={"n": 2}, domains={"A": "spd"}, exact=False)
        assert report.ok, report.summary()


def test_scalars_come_out_of_inverse_and_determinant():
    """inv(cA) = inv(A) / c and det(cA) = c^n det(A): log det(2A) has the gradient of log det(A).
    (SymPy's Determinant cannot hold 2 * A: tanh(log(det(A + A))) failed inside SymPy.)"""
    assert sd.text(sd.parse("inv(-2 * A)", **ENV)) == "-1/2 * inv(A)"
    assert sd.text(sd.parse("det(2 * A)", **ENV)) == "2**n*det(A)"
    assert sd.text(sd.grad(sd.parse("log(det(2 * A))", **ENV), A)) == "inv(A.T)"
    assert sd.text(sd.grad(sd.parse("tanh(log(det(A + A)))", **ENV), A)).endswith("* inv(A.T)")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_log_of_a_scaled_determinant_is_computed_as_logdet(backend):
    """log(det(2A)) = n log 2 + logdet(A) in the code: finite where det(2A) overflows float64."""
    module = sd.compile(sd.derive(sd.parse("log(det(2 * A))", **ENV), [A]), backend)
    big = np.diag([1e200, 1e200, 1e200])
    value = module.forward(big if backend == "numpy" else torch.tensor(big))[0]
    assert np.isclose(float(value), 3 * np.log(2) + 3 * np.log(1e200), rtol=1e-14)
