"""Property tests: random expressions, differentiated by the engine, checked by finite differences."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff.verify.numeric import finite_differences

n = sd.dims("n")
MATS = {name: sd.matrix(name, n, n) for name in "ABC"}

UNARY = ["exp({})", "tanh({})", "sigmoid({})", "({}).T", "softplus({}, 2)", "({})**2", "softmax({}, axis=1)"]
BINARY = ["({}) @ ({})", "({}) + ({})", "({}) - ({})", "({}) * ({})"]


def expressions(depth, leaves=tuple(sorted(MATS)), unary=tuple(UNARY), binary=tuple(BINARY)):
    """Expression strings ``depth`` deep over ``leaves``; a binary form may use its first operand twice ({} {} {})."""
    leaf = st.sampled_from(leaves)
    if depth == 0:
        return leaf
    sub = expressions(depth - 1, leaves, unary, binary)
    return st.one_of(
        leaf,
        st.builds(lambda f, e: f.format(e), st.sampled_from(unary), sub),
        st.builds(lambda f, a, b: f.format(a, b, a), st.sampled_from(binary), sub, sub),
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


STRUCTURED = {
    "A": sd.matrix("A", n, n),
    "S": sd.matrix("S", n, n, structure="symmetric"),
    "D": sd.matrix("D", n, n, structure="diagonal"),
    "L": sd.matrix("L", n, n, structure="lower"),
    "U": sd.matrix("U", n, n, structure="upper"),
}
STRUCTURED_UNARY = ["tanh({})", "({}).T", "({})**2", "inv({} + 9 * eye(n))", "sym({})", "tril({})", "-2 * ({})"]
STRUCTURED_BINARY = ["({}) @ ({})", "({}) + ({})", "({}) * ({})", "({}) @ ({}) @ ({}).T"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(3, tuple(sorted(STRUCTURED)), tuple(STRUCTURED_UNARY), tuple(STRUCTURED_BINARY)))
def test_what_the_cards_say_of_a_structure_holds_of_its_values(text):
    """Whatever ``properties`` claims (symmetric, lower, upper) the expression's value has, at random values of
    the structured variables; and a symmetric one prints no outer transpose."""
    import numpy as np

    from symdiff.ops.card import LOWER, SYMMETRIC, UPPER, properties
    from symdiff.verify.reference import evaluate
    from symdiff.verify.structured import project

    expr = sd.parse(text, n=n, **STRUCTURED)
    rng = np.random.default_rng(0)
    values = {name: rng.normal(size=(4, 4)) * 0.5 for name in STRUCTURED}
    values = {k: v if k == "A" else project(v, STRUCTURED[k].structure) for k, v in values.items()}
    value = evaluate(expr, values, {"n": 4}).numpy()
    found = properties(expr)
    scale = 1e-12 * max(1.0, float(np.abs(value).max()))
    if SYMMETRIC in found:
        assert np.abs(value - value.T).max() <= scale, (text, found)
    if LOWER in found:
        assert np.abs(np.triu(value, 1)).max() <= scale, (text, found)
    if UPPER in found:
        assert np.abs(np.tril(value, -1)).max() <= scale, (text, found)
