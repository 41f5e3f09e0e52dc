"""Property tests: random expressions, differentiated by the engine, checked by finite differences."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff.verify.numeric import finite_differences

n = sd.dims("n")
MATS = {name: sd.matrix(name, n, n) for name in "ABC"}

UNARY = ["exp({})", "tanh({})", "sigmoid({})", "({}).T", "softplus({}, 2)", "({})**2", "softmax({}, axis=1)"]
BINARY = ["({}) @ ({})", "({}) + ({})", "({}) - ({})", "({}) * ({})"]


def expressions(depth):
    leaf = st.sampled_from(sorted(MATS))
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda f, e: f.format(e), st.sampled_from(UNARY), sub),
        st.builds(lambda f, a, b: f.format(a, b), st.sampled_from(BINARY), sub, sub),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(3), st.sampled_from(["sum({})", "trace({})"]), st.sampled_from(sorted(MATS)))
def test_engine_gradients_match_finite_differences(body, reduce, wrt):
    expr = sd.parse(reduce.format(body), **MATS)
    g = sd.grad(expr, MATS[wrt]) if MATS[wrt] in expr.free_symbols else None
    if g is None:
        return
    assert g.shape == (n, n)
    result = finite_differences(expr, MATS[wrt], g, {n: 3}, seed=1)
    assert result.ok, f"{reduce.format(body)} d/d{wrt} = {sd.text(g)}: {result.summary()}"
