"""The stable forms generated code evaluates (ops/stable.py): finite where the math is, and accurate.

Each form as a user types it is compiled in both backends and evaluated at saturating and tiny inputs; value and
gradient are compared with the same textbook formula evaluated by mpmath at 420 digits (or with torch's own
stable log_softmax), never with symdiff's code.
"""

import functools

import mpmath
import numpy as np
import pytest

import symdiff as sd
from symdiff import codegen

torch = pytest.importorskip("torch")

mp = mpmath.mp

POINTS = {
    np.float64: [-800.0, -100.0, -30.0, -1.0, -1e-5, -1e-20, 0.0, 1e-20, 1e-5, 1.0, 30.0, 100.0, 800.0],
    np.float32: [-100.0, -30.0, -1.0, -1e-5, -1e-20, 0.0, 1e-20, 1e-5, 1.0, 30.0, 100.0],
}

# typed form of a 1 x 1 X -> (the same function of x for mpmath, the inputs it takes)
SCALAR_FORMS = {
    "sum(log(sigmoid(X)))": (lambda x: mp.log(1 / (1 + mp.exp(-x))), lambda x: True),
    "sum(log(1 - sigmoid(X)))": (lambda x: mp.log(1 - 1 / (1 + mp.exp(-x))), lambda x: True),
    "sum(1 / (1 - sigmoid(X)))": (lambda x: 1 / (1 - 1 / (1 + mp.exp(-x))), lambda x: True),
    "sum(log(1 + exp(X)))": (lambda x: mp.log(1 + mp.exp(x)), lambda x: True),
    "sum(log(1 + exp(-X)))": (lambda x: mp.log(1 + mp.exp(-x)), lambda x: True),
    "sum(log(exp(X) / (1 + exp(X))))": (lambda x: mp.log(mp.exp(x) / (1 + mp.exp(x))), lambda x: True),
    "sum(log(1 + X))": (lambda x: mp.log(1 + x), lambda x: x > -1),
    "sum(log(1 - X))": (lambda x: mp.log(1 - x), lambda x: x < 1),
    "sum(exp(X) - 1)": (lambda x: mp.exp(x) - 1, lambda x: True),
    "sum(1 - exp(X))": (lambda x: 1 - mp.exp(x), lambda x: True),
    # log(-expm1(x)): relative accuracy near 0, and finite down to -800 (no log1mexp for x << 0)
    "sum(log(1 - exp(X)))": (lambda x: mp.log(1 - mp.exp(x)), lambda x: x < 0 and (x > -1 or x < -700)),
    "sum(log(exp(X)))": (lambda x: mp.log(mp.exp(x)), lambda x: True),
    "log(1 + sum(X**2))": (lambda x: mp.log(1 + x**2), lambda x: True),
    "exp(sum(X)) - 1": (lambda x: mp.exp(x) - 1, lambda x: True),
}


DIGITS = 420  # e^-800 is 10^-348: the textbook formulas cancel nothing at this precision


@functools.cache
def _reference(f, x: float):
    """f(x) and f'(x) at 420 digits."""
    with mp.workdps(DIGITS):
        x = mp.mpf(x)
        return f(x), mp.diff(f, x)


def _module(source, backend, **shapes):
    env = {name: sd.matrix(name, *shape) for name, shape in shapes.items()}
    return codegen.compile(sd.derive(sd.parse(source, **env), [env["X"]]), backend)


def _run(module, backend, inputs: dict):
    """(value, gradient wrt X) of a compiled module, as float64 numpy."""
    if backend == "torch":
        inputs = {name: torch.tensor(v) for name, v in inputs.items()}
    out, saved = module.forward(*(inputs[name] for name in module.INPUTS))
    grad = module.backward(saved)["X"]
    as_array = (lambda t: t.double().numpy()) if backend == "torch" else (lambda a: np.asarray(a, dtype=float))
    return float(as_array(out)), as_array(grad)


def _close(got: float, expected, dtype, scale=0.0) -> bool:
    """|got - expected| within the dtype's rounding of max(|expected|, scale), or below its smallest normal."""
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    return abs(got - float(expected)) <= rtol * max(abs(float(expected)), scale) + np.finfo(dtype).tiny


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("source", SCALAR_FORMS)
def test_typed_form_is_finite_and_accurate_at_saturation(source, dtype, backend):
    """Value and gradient at +-800 (float64), +-100 (float32) and near 0 against mpmath, wherever both are finite.

    Values are compared entry by entry (log1p and expm1 are about relative accuracy); gradients on the scale of
    their O(1) part: the gradient of log sigmoid(x) is 1 - sigmoid(x), as torch's sigmoid backward computes it.
    """
    function, domain = SCALAR_FORMS[source]
    module = _module(source, backend, X=(1, 1))
    biggest = np.finfo(dtype).max
    for x in POINTS[dtype]:
        value, slope = _reference(function, float(dtype(x)))
        if not domain(x) or abs(value) > biggest or abs(slope) > biggest:
            continue  # the math itself is infinite in this dtype
        got_value, got_slope = _run(module, backend, {"X": np.full((1, 1), x, dtype=dtype)})
        where = f"{source} at x = {x} ({np.dtype(dtype).name}, {backend})"
        assert np.isfinite(got_value) and np.isfinite(got_slope).all(), f"{where}: {got_value}, {got_slope}"
        assert _close(got_value, value, dtype), f"{where}: value {got_value} vs {mpmath.nstr(value, 17)}"
        assert _close(got_slope.item(), slope, dtype, scale=1.0), f"{where}: slope {got_slope} vs {slope}"


LOG_SOFTMAX_FORMS = {
    "sum(Y * log(softmax(X, axis=1)))": lambda X: torch.log_softmax(X, 1),
    "sum(Y * log(softmax(X, axis=0)))": lambda X: torch.log_softmax(X, 0),
    "sum(Y * log(exp(X) / sum(exp(X), axis=1)))": lambda X: torch.log_softmax(X, 1),
    "sum(Y * log(exp(X) / sum(exp(X))))": lambda X: torch.log_softmax(X.reshape(-1), 0).reshape(X.shape),
}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype, magnitude", [(np.float64, 800.0), (np.float32, 100.0)])
@pytest.mark.parametrize("source", LOG_SOFTMAX_FORMS)
def test_log_of_softmax_is_log_softmax(source, dtype, magnitude, backend):
    """log(softmax) typed out: finite at saturating logits and equal to autograd of torch.log_softmax in float64."""
    rng = np.random.default_rng(1)
    x = (rng.choice([-1.0, 1.0], (3, 4)) * magnitude * rng.uniform(0.5, 1, (3, 4))).astype(dtype)
    x[0, :2] = magnitude  # a row with a tie at the top
    y = rng.uniform(-1, 1, (3, 4)).astype(dtype)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    expected = (torch.tensor(y, dtype=torch.float64) * LOG_SOFTMAX_FORMS[source](xt)).sum()
    expected.backward()
    got_value, got_grad = _run(_module(source, backend, X=(3, 4), Y=(3, 4)), backend, {"X": x, "Y": y})
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.isfinite(got_value) and np.isfinite(got_grad).all(), source
    assert abs(got_value - expected.item()) <= rtol * abs(expected.item()), source
    np.testing.assert_allclose(got_grad, xt.grad.numpy(), rtol=rtol, atol=rtol)


FOCAL = (
    "-sum(T * (1 - sigmoid(X @ W + b))**2 * log(sigmoid(X @ W + b))"
    " + (1 - T) * sigmoid(X @ W + b)**2 * log(1 - sigmoid(X @ W + b))) / N"
)


@functools.cache
def _focal_case(dtype, magnitude):
    """Inputs with |Z| up to ``magnitude``, most entries saturated, and the reference at them."""
    rng = np.random.default_rng(20)
    x = rng.choice([-1.0, 1.0], (4, 10))
    w = rng.normal(size=(10, 30))  # 330 gradient entries, as in the issue
    w *= magnitude / np.abs(x @ w).max()
    values = {"X": x, "W": w, "b": np.zeros((1, 30)), "T": rng.integers(0, 2, (4, 30)) * 1.0}
    values = {name: v.astype(dtype) for name, v in values.items()}
    return values, _focal_reference(values["X"], values["W"], values["b"], values["T"])


def _focal_reference(x, w, b, t):
    """The focal loss and its gradients wrt W and b: the textbook formula per entry of Z, differentiated by
    mpmath at 420 digits, and the chain through Z = X W + 1 b in exact arithmetic."""

    def focal(z, t):
        s = 1 / (1 + mp.exp(-z))
        return -(t * (1 - s) ** 2 * mp.log(s) + (1 - t) * s**2 * mp.log(1 - s))

    with mp.workdps(DIGITS):
        x, w, b, t = (mpmath.matrix(a.astype(float).tolist()) for a in (x, w, b, t))
        z = x * w + mpmath.ones(x.rows, 1) * b
        rows, cols = z.rows, z.cols
        n = mp.mpf(rows)
        loss = sum(focal(z[i, j], t[i, j]) for i in range(rows) for j in range(cols)) / n
        dz = mpmath.matrix(rows, cols)
        for i in range(rows):
            for j in range(cols):
                dz[i, j] = mp.diff(lambda v, tij=t[i, j]: focal(v, tij), z[i, j]) / n
        dw, db = x.T * dz, mpmath.ones(1, rows) * dz
        as_float = lambda m: np.array(m.tolist(), dtype=float)
        return float(loss), as_float(dw), as_float(db)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype, magnitude", [(np.float64, 800.0), (np.float32, 100.0)])
def test_focal_loss_written_the_textbook_way_has_finite_exact_gradients(dtype, magnitude, backend):
    """Issue 20: focal loss with log(sigmoid) and log(1 - sigmoid) at |Z| ~ 100 gave NaN value and NaN in all
    330 gradient entries; lowered, value and gradients equal a 420-digit reference."""
    N, n, k = sd.dims("N n k")
    env = {"X": sd.matrix("X", N, n), "W": sd.matrix("W", n, k), "b": sd.matrix("b", 1, k), "T": sd.matrix("T", N, k)}
    module = codegen.compile(sd.derive(sd.parse(FOCAL, N=N, **env), [env["W"], env["b"]]), backend)
    values, (loss, dw, db) = _focal_case(dtype, magnitude)
    args = [values[name] if backend == "numpy" else torch.tensor(values[name]) for name in module.INPUTS]
    out, saved = module.forward(*args)
    grads = module.backward(saved)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    assert np.isclose(float(out), loss, rtol=rtol, atol=0), (float(out), loss)
    for name, expected in (("W", dw), ("b", db)):
        got = np.asarray(grads[name].double() if backend == "torch" else grads[name], dtype=float)
        assert np.isfinite(got).all(), f"d/d{name}: {np.isnan(got).sum()} NaN of {got.size}"
        assert np.abs(got - expected).max() <= rtol * np.abs(expected).max(), f"d/d{name}"
