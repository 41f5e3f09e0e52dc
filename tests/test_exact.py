"""The exact checker proves right gradients and catches wrong ones."""

import symdiff as sd
from symdiff.verify.exact import check_gradient, exact, same

q, n = sd.dims("q n")
X, G = sd.matrix("X", q, n), sd.matrix("G", q, n)
A = sd.matrix("A", n, n)


def test_proves_a_right_gradient_symbolically():
    expr = sd.parse("sum(G * exp(X))", X=X, G=G)
    result = exact(expr, X, sd.parse("G * exp(X)", X=X, G=G))
    assert result.ok and result.method == "symbolic" and result.proved == 6


def test_catches_a_transposed_gradient():
    expr = sd.parse("trace(A @ A @ A.T)", A=A)
    wrong = sd.parse("A @ A.T + A.T @ A + A.T @ A.T", A=A)  # the last term should be A @ A
    result = exact(expr, A, wrong)
    assert not result.ok and "FAIL" in result.summary()


def test_catches_a_wrong_sign_and_a_wrong_shape():
    expr = sd.parse("sum(X**2)", X=X)
    assert not exact(expr, X, sd.parse("-2 * X", X=X)).ok
    assert exact(expr, X, sd.parse("2 * X", X=X)).ok
    assert not exact(expr, X, sd.parse("2 * X.T", X=X)).ok


def test_kinks_are_compared_on_both_sides():
    expr = sd.parse("sum(G * relu(X))", X=X, G=G)
    assert not exact(expr, X, G).ok  # misses the step


def test_same_compares_forms():
    assert same(sd.parse("(A + A.T) @ A", A=A), sd.parse("A @ A + A.T @ A", A=A)).ok
    assert not same(sd.parse("A @ A.T", A=A), sd.parse("A.T @ A", A=A)).ok


def test_symbolic_simplification_has_a_budget_and_says_when_it_ran_out():
    """SymPy's simplify takes about a minute per entry on this Huber-like loss (piecewise relu and abs)."""
    w, y = sd.matrix("w", n, 1), sd.matrix("y", q, 1)
    env = dict(X=X, w=w, y=y, delta=sd.scalar("delta"))
    loss = sd.parse("sum(0.5 * (X @ w - y)**2 - 0.5 * relu(abs(X @ w - y) - delta)**2)", **env)
    result = exact(loss, w, sd.grad(loss, w), {q: 3, n: 2}, budget=0.5)
    assert result.ok and result.out_of_time == 0.5 and result.numeric == 2
    assert "ran past its 0.5 s budget" in result.summary()
    wrong = exact(loss, w, sd.parse("X.T @ (X @ w - y)", **env), {q: 3, n: 2}, budget=0.5)
    assert not wrong.ok  # a wrong gradient still fails at the random points


def test_an_infinite_budget_means_no_timer():
    """The catalog checks with budget=inf, so its records do not depend on the machine's speed."""
    expr = sd.parse("sum(G * sigmoid(X))", X=X, G=G)  # the difference needs simplify, which runs untimed
    result = exact(expr, X, sd.parse("G * sigmoid(X) * (1 - sigmoid(X))", X=X, G=G), budget=float("inf"))
    assert result.ok and result.method == "symbolic"


def test_proves_an_identity_of_exponentials_as_a_rational_function():
    """exp(...) parts taken as new symbols: the derivative of a sigmoid of a sigmoid is proved at once (SymPy's
    expand multiplied such nested exponentials out for seconds); related parts fall to expand and simplify."""
    import sympy as sp

    from symdiff.verify.exact import _is_zero, _zero_as_rational

    x, a = sp.symbols("x a", real=True)
    sigmoid = lambda z: 1 / (1 + sp.exp(-z))  # noqa: E731
    inner = sigmoid(a * x)
    outer = sigmoid(a * inner + x)
    claimed = outer * (1 - outer) * (a * inner * (1 - inner) * a + 1)
    assert _zero_as_rational(sp.diff(outer, x) - claimed)
    assert not _zero_as_rational(sp.diff(outer, x) - claimed * (1 + 1 / sp.Integer(10**6)))
    related = sp.tanh(x) - (sp.exp(2 * x) - 1) / (sp.exp(2 * x) + 1)  # tanh and exp: not independent parts
    assert not _zero_as_rational(related)  # not claimed: SymPy's expand and simplify decide (here, they cannot)
    assert _is_zero(sp.diff(outer, x) - claimed, 20.0)
    assert _zero_as_rational(sp.sqrt(x**2 + 1) ** 2 / sp.sqrt(x**2 + 1) - sp.sqrt(x**2 + 1))


def test_a_point_where_a_comparison_meets_a_complex_value_is_drawn_again_positive():
    """sqrt(sum(F)) of a negative sum is complex, and maximum (a comparison) of it undefined in mpmath: the check
    evaluates at positive values instead of raising (soak seed 3, derive --check)."""
    k = sd.dims("k")
    F, M = sd.matrix("F", k, k), sd.matrix("M", 1, k)
    d = sd.derive(sd.parse("sum(maximum(maximum(M, sqrt(sum(F))), zeros((1, k))))", F=F, M=M, k=k), [M, F])
    assert all(check_gradient(d, w).ok for w in d.wrt)
