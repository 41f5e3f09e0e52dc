"""The independent forward evaluator: every op has a rule, and it agrees with the generated forward."""

import numpy as np
import pytest
import sympy as sp
import torch
from test_ops import ENV, OPS

import symdiff as sd
from symdiff.errors import SymdiffError
from symdiff.ops.card import CARDS
from symdiff.ops.labels import label_classes
from symdiff.verify import reference
from symdiff.verify.numeric import natural_domains, random_input

SIZES = {"q": 3, "n": 4, "p": 2}


def test_every_card_op_has_a_reference_rule():
    assert reference.missing(CARDS) == [], "the reference evaluator has no rule for these card ops"


def test_plain_sympy_classes_have_rules():
    classes = [
        sp.MatAdd, sp.MatMul, sp.Add, sp.Mul, sp.Pow, sp.MatrixSymbol, sp.Symbol, sp.Transpose, sp.Inverse,
        sp.Trace, sp.Determinant, sp.HadamardProduct, sp.HadamardPower, sp.Identity, sp.ZeroMatrix, sp.OneMatrix,
        sp.exp, sp.log, sp.tanh, sp.Abs, sp.sign, sp.sin, sp.Piecewise, sp.MatPow, sp.re, sp.im,
    ]  # fmt: skip
    assert reference.missing(classes) == []


def _values(d, domains, rng):
    dims = {sp.Symbol(k, integer=True, positive=True): v for k, v in SIZES.items()}
    wanted = {**natural_domains(d.output_expr), **domains}
    labels = label_classes(d.output_expr)
    values = {}
    for name, symbol in d.inputs.items():
        if symbol in dims:
            continue
        shape = tuple(int(sp.sympify(s).xreplace(dims)) for s in getattr(symbol, "shape", ()))
        if symbol in labels:  # class indices, int64 as torch takes them
            values[name] = rng.integers(0, int(sp.sympify(labels[symbol]).xreplace(dims)), shape)
        else:
            values[name] = random_input(shape, wanted.get(name, "any" if shape else "positive"), rng)
    return values


@pytest.mark.parametrize("op, name, expression, wrt, domains", OPS, ids=[row[1] for row in OPS])
def test_reference_agrees_with_the_generated_forward(op, name, expression, wrt, domains):
    d = sd.derive(sd.parse(expression, **ENV), [ENV[wrt]])
    values = _values(d, domains, np.random.default_rng(0))
    module = sd.compile(d, "torch")
    tensors = {k: torch.as_tensor(v) for k, v in values.items()}  # float64, and int64 class labels
    generated = module.forward(*[tensors[k] for k in module.INPUTS])[0]
    expected = reference.forward(d, tensors, SIZES)
    assert expected.shape == () and torch.isfinite(expected)
    torch.testing.assert_close(
        torch.as_tensor(generated, dtype=torch.float64).reshape(()), expected, rtol=1e-10, atol=1e-12
    )


def test_plain_sympy_expressions():
    A, B = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("B", 3, 3)
    d = sp.Dummy("d")
    a, b = np.random.default_rng(1).normal(size=(2, 3, 3))
    a = a @ a.T + 3 * np.eye(3)
    values = {"A": a, "B": b}
    cases = [
        (sp.Trace(A * B), np.trace(a @ b)),
        (sp.Determinant(A), np.linalg.det(a)),
        (sp.Trace(sp.Inverse(A) * B.T), np.trace(np.linalg.inv(a) @ b.T)),
        (sp.Trace(sp.HadamardProduct(A, B)), np.trace(a * b)),
        (sp.Trace(sp.HadamardPower(A, -2)), np.trace(a**-2.0)),
        (sp.Trace(A**3), np.trace(np.linalg.matrix_power(a, 3))),
        (sp.Trace(A.applyfunc(sp.sin)), np.trace(np.sin(a))),
        (
            sp.Trace(B.applyfunc(sp.Lambda(d, sp.Piecewise((d**2, d > 0), (-d, True))))),
            np.trace(np.where(b > 0, b**2, -b)),
        ),
        (sp.log(sp.Trace(sp.OneMatrix(1, 3) * A * sp.OneMatrix(3, 1))), np.log(a.sum())),
        (sp.sqrt(sp.Trace(A.T * A)) + sp.Trace(sp.Identity(3) + sp.ZeroMatrix(3, 3)), np.sqrt(np.sum(a * a)) + 3),
        ((sp.OneMatrix(1, 3) * B.applyfunc(sp.exp) * sp.OneMatrix(3, 1))[0, 0], np.exp(b).sum()),
    ]
    for expr, expected in cases:
        value = reference.evaluate(expr, values)
        assert float(value.reshape(())) == pytest.approx(expected, rel=1e-12), expr


def test_scalars_dims_and_stable_log_sum_exp():
    q, n = sd.dims("q n")
    X, s = sd.matrix("X", q, n), sd.scalar("s")
    expr = sd.parse("s * sum(log(sum(exp(X), axis=1))) / q + logsumexp(X) + exp(2) + sqrt(n)", X=X, s=s, q=q, n=n)
    x = np.full((3, 4), 800.0)
    value = float(reference.evaluate(expr, {"X": x, "s": 2.0}))
    expected = 2 * (800 + np.log(4)) + 800 + np.log(12) + np.exp(2) + 2
    assert value == pytest.approx(expected, rel=1e-12)


def test_an_unknown_node_is_named():
    class Strange(sp.Function):
        pass

    with pytest.raises(SymdiffError, match="no rule for Strange"):
        reference.evaluate(Strange(sp.Symbol("x")), {"x": 1.0})
    with pytest.raises(SymdiffError, match="no value for the matrix 'X'"):
        reference.evaluate(sp.Trace(sp.MatrixSymbol("X", 2, 2)), {})


def test_check_uses_the_reference_and_catches_a_misprinted_forward(monkeypatch):
    """The references differentiate the reference evaluator, and the generated output is compared with it."""
    from symdiff import codegen
    from symdiff.verify import gradcheck

    q, n = sd.dims("q n")
    G, X = sd.matrix("G", q, n), sd.matrix("X", q, n)
    d = sd.derive(sd.parse("sum(G * tanh(X))", G=G, X=X), [X])
    report = gradcheck.check(d, exact=False)
    assert report.ok and report.forward.ok, report.summary()
    fd, oracle = report.comparisons["X"]
    assert fd.reference == "finite differences (reference evaluator)"
    assert oracle.reference == "torch autograd (reference evaluator)"
    compile_ = codegen.compile

    def misprinted(d, backend="numpy", *args, **kwargs):  # a forward off by a constant: the same gradients
        module = compile_(d, backend, *args, **kwargs)
        forward = module.forward
        module.forward = lambda *inputs: (forward(*inputs)[0] + 1, forward(*inputs)[1])
        return module

    monkeypatch.setattr(codegen, "compile", misprinted)
    report = gradcheck.check(d, exact=False)
    assert not report.ok and not report.forward.ok and all(c.ok for c in report.comparisons["X"])
    assert "FAIL  forward value vs the reference evaluator" in report.summary()
