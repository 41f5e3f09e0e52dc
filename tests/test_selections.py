"""Comparisons, where and logsigmoid: causal attention with its mask built inside the expression against
PyTorch's scaled_dot_product_attention, and the errors that name what is wrong."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import symdiff as sd
from symdiff.errors import SymdiffError
from symdiff.verify import gradcheck

q, d = sd.dims("q d")
Q, K, V, G = (sd.matrix(name, q, d) for name in "QKVG")
X, Y = sd.matrix("X", q, d), sd.matrix("Y", q, d)
CAUSAL = "sum(G * (softmax(where(tril(ones((q, q))) > 0, Q @ K.T / sqrt(d), -1e30), axis=1) @ V))"


def test_causal_attention_with_the_mask_in_the_expression_agrees_with_pytorch():
    derivation = sd.derive(sd.parse(CAUSAL, Q=Q, K=K, V=V, G=G, q=q, d=d), [Q, K, V])
    assert gradcheck.check(derivation, sizes={"q": 5, "d": 3}).ok
    module = sd.compile(derivation, "torch")
    rng = np.random.default_rng(0)
    values = {name: torch.tensor(rng.normal(size=(6, 4)), requires_grad=name != "G") for name in "QKVG"}
    out, saved = module.forward(*[values[name].detach() for name in module.INPUTS])
    attention = F.scaled_dot_product_attention(values["Q"], values["K"], values["V"], is_causal=True)
    expected = (values["G"] * attention).sum()
    expected.backward()
    torch.testing.assert_close(out, expected.detach(), rtol=1e-12, atol=1e-12)
    grads = module.backward(saved)
    for name in "QKV":
        torch.testing.assert_close(grads[name], values[name].grad, rtol=1e-10, atol=1e-12)


def test_the_branch_not_taken_never_reaches_the_result():
    """where(X > 0, log(X), 0): log of a negative entry is NaN in the branch not taken, as in torch.where."""
    module = sd.compile(sd.derive(sd.parse("sum(where(X > 0, log(X), 0))", X=X), [X]), "numpy")
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 2.0, 4.0]])
    with np.errstate(invalid="ignore"):
        value, saved = module.forward(x)
        grad = module.backward(saved)["X"]
    assert np.isclose(value, np.log(x[x > 0]).sum())
    assert np.array_equal(grad, np.where(x > 0, 1 / x, 0.0))


@pytest.mark.parametrize(
    "text, message",
    [
        ("sum(X < Y < X)", "a chained comparison is not allowed"),
        ("sum(where(1, X, Y))", "where\\(\\): mask must be a matrix"),
        ("sum(where(X > 0, X, ones((2, 2))))", "does not broadcast"),
        ("sum((X is Y) * X)", "the comparison Is is not allowed"),
    ],
)
def test_selection_errors_name_the_problem(text, message):
    with pytest.raises(SymdiffError, match=message):
        sd.parse(text, X=X, Y=Y)


def test_an_expression_compared_with_itself_is_the_constant_of_a_tie():
    """Soak seed 23003: ((H + 1) > (H + 1)) computed two ways may differ in rounding, and the mask would amplify it;
    one expression on both sides is the tie's constant (> false, >= and == true), whatever the rounding."""
    H = sd.matrix("H", q, 1)
    assert sd.text(sd.parse("sum(((H + 1) > (H + 1)) * H)", H=H)) == "0"
    assert sd.text(sd.parse("sum(((H + 1) >= (H + 1)) * H)", H=H)) == "sum(H)"
    assert sd.text(sd.parse("sum((H == H) * H)", H=H)) == "sum(H)"
