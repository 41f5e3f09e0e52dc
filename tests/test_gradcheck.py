"""Numeric checks: symdiff.check / `symdiff check`, and assert_grad_close on users' own backward functions."""

import numpy as np
import pytest
import torch
from conftest import GRADIENT_SPECS

import symdiff as sd
from symdiff import catalog
from symdiff.cli import main
from symdiff.errors import SymdiffError
from symdiff.testing import assert_grad_close
from symdiff.verify import gradcheck


@pytest.mark.parametrize("name", GRADIENT_SPECS)
def test_every_generated_gradient_passes_the_numeric_check(name):
    spec = catalog.load(name)
    report = gradcheck.check(spec.derive(), domains=spec.domains, seed=1, exact=False)  # exact: test_catalog
    assert report.ok, report.summary()
    assert set(report.comparisons) == set(spec.wrt)


def test_a_wrong_gradient_fails_with_the_worst_entry():
    d = catalog.load("000_linear_regression_batch").derive()
    d.gradients["W"] = d.gradients["W"] * 1.01  # a 1 % slip the checks must see
    report = gradcheck.check(d)
    assert not report.ok and report.summary().endswith("FAIL")
    fd, oracle = report.comparisons["W"]
    assert not fd.ok and not oracle.ok and 5e-3 < fd.max_rel < 2e-2
    assert not report.exact["W"].ok and report.exact["b"].ok
    assert "FAIL  d/dW exact entrywise check" in report.summary()
    assert all(c.ok for w in ("b", "X", "Y") for c in report.comparisons[w])


@pytest.mark.parametrize("rows, finite_differences", [(3, "finite differences"), (1200, "directional FD")])
def test_a_wrongly_shaped_gradient_fails_and_says_so(monkeypatch, rows, finite_differences):
    """A generated gradient with too few entries is a FAIL line naming both shapes, not a reshape traceback
    (entry by entry, and along directions for large inputs)."""
    from symdiff import codegen

    compile_ = codegen.compile

    def first_row_only(d, backend="torch", *args, **kwargs):
        module = compile_(d, backend, *args, **kwargs)
        backward = module.backward
        module.backward = lambda saved, *a, **k: {w: g[:1] for w, g in backward(saved, *a, **k).items()}
        return module

    monkeypatch.setattr(codegen, "compile", first_row_only)
    d = sd.derive(sd.parse("sum(tanh(X @ W))", X=sd.matrix("X", rows, 2), W=sd.matrix("W", 2, 2)), wrt=["X", "W"])
    report = gradcheck.check(d, exact=False)
    assert not report.ok
    assert (
        f"FAIL  d/dX vs {finite_differences} (reference evaluator): it has shape (1, 2), the reference ({rows}, 2)"
        in (report.summary())
    )
    assert "FAIL  d/dX vs torch autograd" in report.summary()


def test_large_inputs_use_directional_derivatives():
    d = catalog.load("000_linear_regression_batch").derive()
    report = gradcheck.check(d, sizes={"q": 400, "n": 10, "p": 3})
    assert report.ok, report.summary()
    fd = report.comparisons["X"][0]
    assert fd.reference.startswith("directional") and fd.worst[0] == "direction"


def test_user_inputs_fix_the_sizes_and_nan_is_rejected():
    d = catalog.load("000_linear_regression_batch").derive()
    rng = np.random.default_rng(0)
    given = {"X": rng.normal(size=(7, 3)), "W": rng.normal(size=(3, 2))}
    report = gradcheck.check(d, inputs=given)
    assert report.sizes == {"n": 3, "p": 2, "q": 7} and report.ok
    given["X"][2, 1] = np.nan
    with pytest.raises(SymdiffError, match=r"'X' has 1 NaN or Inf entries \(first at index \(2, 1\)\)"):
        gradcheck.check(d, inputs=given)
    with pytest.raises(SymdiffError, match="n = 4, but n = 3"):
        gradcheck.check(d, inputs={"X": np.ones((7, 3)), "W": np.ones((4, 2))})


def test_check_command(tmp_path, capsys):
    assert main(["check", "002_cross_entropy"]) == 0
    out = capsys.readouterr().out
    assert "d/dx vs finite differences" in out and "d/dx vs torch autograd" in out and out.strip().endswith("PASS")
    path = tmp_path / "inputs.npz"
    np.savez(path, X=np.full((3, 4), 800.0))
    assert (
        main(["check", "sum(log(sum(exp(X), axis=1)))", "--shape", "X=q,n", "--wrt", "X", "--inputs", str(path)]) == 0
    )
    assert "sizes n=4, q=3" in capsys.readouterr().out
    assert main(["check", "000_linear_regression_batch", "--sizes", "q=0"]) == 2
    assert main(["check", "003_softmax"]) == 2  # a Jacobian has no generated code
    assert "not a Jacobian" in capsys.readouterr().err
    assert main(["check", "sum(X)", "--shape", "X=q,n", "--wrt", "X", "--inputs", str(tmp_path / "missing.npz")]) == 2
    np.savez(path, Z=np.ones((2, 2)))
    assert main(["check", "sum(X)", "--shape", "X=q,n", "--wrt", "X", "--inputs", str(path)]) == 2
    assert "'Z' is not an input" in capsys.readouterr().err
    assert main(["check", "sum(log(x))", "--shape", "x=n,1", "--wrt", "x", "--domain", "x=positive"]) == 0
    assert main(["check", "sum(log(x))", "--shape", "x=n,1", "--wrt", "x", "--domain", "x=big"]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_check_on_cuda_also_compares_with_cpu():
    report = gradcheck.check(catalog.load("002_batchnorm").derive(), device="cuda")
    assert report.ok and all(len(cs) == 3 for cs in report.comparisons.values()), report.summary()


# -- assert_grad_close on functions that are not symdiff's ------------------------------------------


def _tanh_layer(X, W):
    return np.tanh(X @ W)


def _tanh_layer_backward(G, X, W):
    local = G * (1 - np.tanh(X @ W) ** 2)
    return local @ W.T, X.T @ local


def test_assert_grad_close_accepts_a_correct_hand_written_backward():
    rng = np.random.default_rng(0)
    comparisons = assert_grad_close(
        _tanh_layer, [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))], _tanh_layer_backward
    )
    assert all(c.max_rel < 1e-8 for c in comparisons.values())


def test_assert_grad_close_shows_the_numbers_of_a_wrong_backward():
    rng = np.random.default_rng(0)

    def transposed_slip(G, X, W):  # dW missing the derivative of tanh: a classic hand-derivation slip
        return _tanh_layer_backward(G, X, W)[0], X.T @ G

    with pytest.raises(AssertionError) as failure:
        assert_grad_close(_tanh_layer, [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))], transposed_slip)
    message = str(failure.value)
    assert "PASS  d/d(input 0)" in message and "FAIL  d/d(input 1)" in message and "worst at" in message


def test_assert_grad_close_on_torch_autograd_and_a_custom_function():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * g  # wrong: should be 3 x^2 g

    x = torch.randn(4, 3, dtype=torch.float64)
    assert_grad_close(lambda a, b: torch.softmax(a @ b, dim=1), [x, torch.randn(3, 2, dtype=torch.float64)])
    with pytest.raises(AssertionError, match="FAIL"):
        assert_grad_close(Cube.apply, [x])


def test_assert_grad_close_rejects_non_finite_inputs():
    with pytest.raises(SymdiffError, match="NaN or Inf"):
        assert_grad_close(_tanh_layer, [np.array([[np.inf]]), np.ones((1, 1))], _tanh_layer_backward)


def test_assert_grad_close_names_a_backward_that_does_not_return_one_gradient_per_input():
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))]
    with pytest.raises(SymdiffError, match="returned 1 gradients for 2 inputs"):
        assert_grad_close(_tanh_layer, inputs, lambda G, X, W: _tanh_layer_backward(G, X, W)[:1])
    with pytest.raises(SymdiffError, match="one gradient per input \\(2, as a tuple or list\\), got ndarray"):
        assert_grad_close(_tanh_layer, inputs, lambda G, X, W: _tanh_layer_backward(G, X, W)[1])
    with pytest.raises(SymdiffError, match="positions of inputs are 0..1, not 2"):
        assert_grad_close(_tanh_layer, inputs, _tanh_layer_backward, wrt=[2])
    # one input, one array: its gradient
    assert_grad_close(np.tanh, [inputs[0]], lambda G, X: G * (1 - np.tanh(X) ** 2))


def test_assert_grad_close_fails_a_gradient_of_the_wrong_shape():
    """dW flattened to (6,) for a 3 x 2 W holds the right numbers in the wrong shape: a failure, not a pass."""
    rng = np.random.default_rng(0)

    def flattened(G, X, W):
        dX, dW = _tanh_layer_backward(G, X, W)
        return dX, dW.ravel()

    with pytest.raises(AssertionError, match=r"input 1 is \(3, 2\), its gradient \(6,\)"):
        assert_grad_close(_tanh_layer, [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))], flattened)


@pytest.mark.parametrize(
    "source, domains",
    [
        ("sum(X / Y)", {"Y": "nonzero"}),
        ("sum(log(X) + sqrt(Y))", {"X": "positive", "Y": "positive"}),
        ("log(det(A)) + trace(inv(A))", {"A": "spd"}),
        ("sum(X * Y)", {}),
        ("sum(log(X @ A))", {}),  # not an input used directly: left to the user
    ],
)
def test_inputs_are_drawn_from_the_domain_the_expression_needs(source, domains):
    import symdiff as sd
    from symdiff.verify.numeric import natural_domains

    q, n = sd.dims("q n")
    env = {"X": sd.matrix("X", q, n), "Y": sd.matrix("Y", q, n), "A": sd.matrix("A", n, n)}
    expr = sd.parse(source, **env)
    assert natural_domains(expr) == domains
    for seed in range(5 if domains else 0):  # near a pole finite differences would fail; away from it all pass
        report = gradcheck.check(sd.derive(expr, [env[name] for name in sorted(domains)]), seed=seed, exact=False)
        assert report.ok, report.summary()


def test_a_dim_that_no_input_carries_is_an_int_argument(capsys):
    """x cancels from the expression, leaving std(zeros((r, n))): no input's shape tells the module r, which it
    takes as an argument of its own, and the checks pass it its size (second-order soak seed 4714 found this)."""
    expr = "(std((maximum(x, max(x)) - maximum(x, max(x))), axis=0) @ Z**1.5)"
    shape = ["--shape", "x=r,n", "Z=n,1", "--wrt", "Z"]
    assert main(["check", expr, *shape, "--sizes", "r=4", "n=4", "--domain", "Z=positive", "--no-exact"]) == 0
    assert capsys.readouterr().out.strip().endswith("PASS")
    assert main(["emit", expr, *shape, "--backend", "torch"]) == 0
    source = capsys.readouterr().out
    assert "def forward(Z, r):" in source and "    r: a dimension (int)" in source
