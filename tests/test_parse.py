"""The expression language: what it accepts, what it rejects, and round trips through text()."""

import pytest

import symdiff as sd
from symdiff.verify.exact import same

q, n, p = sd.dims("q n p")
X, W, b, Y = sd.matrix("X", q, n), sd.matrix("W", n, p), sd.matrix("b", 1, p), sd.matrix("Y", q, p)
x = sd.matrix("x", n, 1)
ENV = dict(X=X, W=W, b=b, Y=Y, x=x, q=q, n=n, p=p)

REJECTED = [
    ("__import__('os').system('id')", "unknown function"),
    ("X.__class__", "attribute .__class__ is not allowed"),
    ("X.shape", "attribute .shape is not allowed"),
    ("(lambda: 1)()", "unknown function"),
    ("lambda: X", "a lambda is not allowed"),
    ("[X for X in Y]", "a list comprehension is not allowed"),
    ("X[0]", "indexing / subscripting is not allowed"),
    ("Z + X", "unknown name 'Z'"),
    ("open('f')", "unknown function open"),
    ("sum(X, axis=0, keepdims=True)", "no keyword argument 'keepdims'"),
    ("sum(X, **{'axis': 0})", r"\*\* arguments are not allowed"),
    ("sum(*X)", r"\* arguments are not allowed"),
    ("exp", "exp is a function"),
    ("X if X else Y", "a conditional expression is not allowed"),
    ("X < Y", "a comparison is not allowed"),
    ("'text'", "not a number"),
    ("X // 2", "operator FloorDiv is not allowed"),
    ("sum(X, axis=2)", "axis must be 0, 1, -1 or -2"),
    ("X @", "syntax error"),
    ("(x := X)", "an assignment expression is not allowed"),
    ("f'{X}'", "an f-string is not allowed"),
    ("softmax(X @ W)", "needs an axis"),
]


@pytest.mark.parametrize("text, message", REJECTED)
def test_rejected_with_a_clear_error(text, message):
    with pytest.raises(sd.ParseError, match=message):
        sd.parse(text, **ENV)


def test_error_says_where():
    with pytest.raises(sd.ParseError, match="column 9"):
        sd.parse("X @ W + Z", **ENV)


SHAPE_ERRORS = [
    ("X @ X", r"matrix product 'X @ X': shapes q x n and q x n do not align"),
    ("X + Y", r"sum 'X \+ Y': shapes q x n and q x p do not broadcast"),
    ("X * W", r"elementwise product 'X \* W': shapes q x n and n x p"),
    ("trace(X)", "trace needs a square matrix, got q x n"),
    ("2 @ X", "@ needs two matrices"),
    ("batchnorm(X, b, b)", "gamma must be 1 x n"),
    ("softplus(X, W)", "beta must be a scalar"),
]


@pytest.mark.parametrize("text, message", SHAPE_ERRORS)
def test_shape_errors_name_operation_and_shapes(text, message):
    with pytest.raises((sd.ShapeError, sd.ParseError), match=message):
        sd.parse(text, **ENV)


def test_nothing_is_evaluated(monkeypatch):
    import builtins

    import sympy.parsing.sympy_parser

    text = "sum(exp(X @ W + b) * Y) / q"
    expected = sd.parse(text, **ENV)  # first, so that SymPy's lazy imports (which exec) are done

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec/parse_expr called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", forbidden)
    assert sd.parse(text, **ENV) == expected


def test_symbols_must_be_sympy_objects():
    with pytest.raises(sd.ParseError, match="must be a SymPy object"):
        sd.parse("X", X=[[1, 2]])
    with pytest.raises(sd.ParseError, match="is a function"):
        sd.parse("sum", sum=X)


def test_numbers_are_exact():
    assert sd.parse("0.1 * q", q=q) == q / 10


ROUND_TRIP = [
    "sum((X @ W + b - Y)**2) / q",
    "2/q * X.T @ (X @ W + b - Y)",
    "sum(X, axis=1) * softmax(X, axis=1) - X",
    "leaky_relu(X, 0.2) * sigmoid(X) / (1 + exp(-X))",
    "batchnorm(X @ W, b, b**2, 0.001)",
    "diag(softmax(x)) - softmax(x) @ softmax(x).T",
    "broadcast_to(x, (n, q)) + ones((n, q))",
    "sqrt(X**2 + 1) * abs(X) / trace(X.T @ X)",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_printed_text_parses_back_to_the_same_expression(text):
    expr = sd.parse(text, **ENV)
    again = sd.parse(sd.text(expr), **ENV)
    assert same(expr, again, {q: 3, n: 2, p: 2}).ok, sd.text(expr)
