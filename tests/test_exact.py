"""The exact checker proves right gradients and catches wrong ones."""

import symdiff as sd
from symdiff.verify.exact import exact, same

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
