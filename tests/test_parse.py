"""The expression language: what it accepts, what it rejects, and round trips through text()."""

import time

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff.ops.card import FUNCTIONS
from symdiff.verify.exact import same

q, n, p = sd.dims("q n p")
X, W, b, Y = sd.matrix("X", q, n), sd.matrix("W", n, p), sd.matrix("b", 1, p), sd.matrix("Y", q, p)
x = sd.matrix("x", n, 1)
ENV = {"X": X, "W": W, "b": b, "Y": Y, "x": x, "q": q, "n": n, "p": p}

REJECTED = [
    ("__import__('os').system('id')", "'__import__' in .* is refused: names with double underscores"),
    ("X.__class__", "'__class__' in .* is refused: names with double underscores"),
    ("X.shape", "attribute .shape is not allowed"),
    ("X.sum()", r"calling .sum\(...\) is not part of the expression language: the only attribute is .T"),
    ("(lambda: 1)()", "only the language's functions can be called, by name"),
    ("sigmod(X)", r"unknown function sigmod; did you mean sigmoid\?"),
    ("sum(X @ WW)", r"unknown name 'WW'; did you mean W\?"),
    ("lambda: X", "a lambda is not allowed"),
    ("[X for X in Y]", "a list comprehension is not allowed"),
    ("X[0]", r"an index i is E\[i:i\+1, :\]"),
    ("Z + X", "unknown name 'Z'"),
    ("open('f')", "unknown function open"),
    ("sum(X, axis=0, keepdims=True)", "no keyword argument 'keepdims'"),
    ("sum(X, **{'axis': 0})", r"\*\* arguments are not allowed"),
    ("sum(*X)", r"\* arguments are not allowed"),
    ("exp", "exp is a function"),
    ("X if X else Y", "a conditional expression is not allowed"),
    ("X < X < X", "a chained comparison is not allowed"),
    ("X is X", "the comparison Is is not allowed"),
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
    ("softplus(X, W)", "softplus\\(\\): a parameter is a scalar or broadcasts to the argument.s q x n: cannot broadcast a n x p"),
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
    with pytest.raises(sd.ParseError, match=r"'sum' is reserved: the function sum\(\)"):
        sd.parse("sum", sum=X)


def test_a_scalar_where_a_matrix_belongs_is_named_with_the_nearest_matrix():
    env = {**ENV, "WW": sd.scalar("WW")}  # on the command line, a name without a --shape is a scalar
    with pytest.raises(sd.ParseError, match=r"q x n @ scalar: WW is a scalar \(it has no shape; did you mean W\?\)"):
        sd.parse("sum(X @ WW)", **env)
    with pytest.raises(sd.ShapeError, match=r"diagonal\(\): x must be a matrix, got scalar: WW is a scalar"):
        sd.parse("sum(diagonal(WW))", **env)


def test_reserved_names_say_what_they_are_reserved_for():
    with pytest.raises(sd.ParseError, match=r"'pi' is reserved: the constant pi \(3.14159...\)"):
        sd.parse("sum(X)", X=X, pi=X)
    with pytest.raises(sd.ParseError, match=r"'e' is reserved: the constant e \(Euler's number"):
        sd.parse("sum(X)", X=X, e=sd.scalar("e"))
    with pytest.raises(sd.ParseError, match=r"'exp' is reserved: the function exp\(\)"):
        sd.parse("sum(X)", X=X, exp=X)


def test_a_dimension_may_be_named_e():
    """An embedding size e: where e is a dimension it is that dimension, elsewhere Euler's number."""
    e = sd.dims("e")
    V = sd.matrix("V", q, e)
    assert sd.parse("sum(V) / e", V=V, e=e) == sd.parse("sum(V)", V=V) / e
    assert sd.parse("sum(X) * e", X=X) == sd.parse("sum(X)", X=X) * sp.E


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


# -- hostile input: every string gets a result or a ParseError naming the problem, quickly --------------
# (Each case also asserts that parsing returned within HANG_GUARD seconds: a guard against a hang, not a
# performance claim. The limits are symdiff.limits.MAX_*; README, "The expression language", says why.)

HANG_GUARD = 5.0


def parse_guarded(text, **env):
    start = time.perf_counter()
    try:
        return sd.parse(text, **(env or ENV))
    finally:
        assert time.perf_counter() - start < HANG_GUARD, f"parsing {text[:60]!r}... did not return"


HOSTILE = [
    # long chains: Python's parser recurses once per operator and gives out near 3,000
    ("X + " * 3000 + "X", "3,000 operations .* the limit is 2,000"),
    ("X @ " * 3000 + "X", "3,000 operations .* the limit is 2,000"),
    ("X * " * 3000 + "X", "3,000 operations .* the limit is 2,000"),
    ("-" * 3000 + "X", "3,000 operations .* the limit is 2,000"),
    ("X ** " * 3000 + "X", "3,000 operations .* the limit is 2,000"),
    ("X" + ".T" * 5000, "5,000 operations .* the limit is 2,000"),
    # deep nesting
    ("(" * 2000 + "X" + ")" * 2000, "nests brackets 2000 deep; the limit is 100"),
    ("exp(" * 2000 + "X" + ")" * 2000, "nests brackets 2000 deep; the limit is 100"),
    ("exp(" * 100 + "X" + ")" * 100, "nests operations 101 deep; the limit is 100"),
    ("-(" * 150 + "X" + ")" * 150, "nests brackets 150 deep"),
    ("X[X]" + "[X]" * 5000, "nested too deeply for Python's parser|the limit is"),
    ("not " * 4900 + "X", "not allowed|nested too deeply|the limit is"),
    ("X if X else " * 1600 + "X", "not allowed|nested too deeply|the limit is"),
    # size
    ("X" * 30_000, r"\(30,000 characters\) is too long: the limit is 20,000 characters"),
    ("exp(X) + " * 2500 + "X", r"\(22,501 characters\) is too long: the limit is 20,000 characters"),
    # huge powers and constants: refused before SymPy computes them
    ("X ** (10 ** 10 ** 10)", r"exponent 10000000000 is outside -1,000..1,000"),
    ("2 ** 10 ** 10", r"exponent 10000000000 is outside"),
    ("2 ** 10 ** 10 ** 10", r"exponent .* is outside"),
    ("x ** 99999999", r"exponent 99999999 is outside"),
    ("x ** -99999999", r"exponent -99999999 is outside"),
    ("x ** (10 ** 10 * pi)", r"exponent 10000000000\*pi is outside"),
    ("(3 * x) ** 1000", "outside float64's range"),
    ("((2 * x) ** 100) ** 100", "outside float64's range"),
    ("(q + 10 ** 300) * 10 ** 300", "outside float64's range"),
    ("1e300 * X * 1e300", "outside float64's range"),
    ("X / 2" + " / 7" * 400, "outside float64's range"),
    ("10 ** 400", "outside float64's range"),
    ("1" * 400, "400 digits, beyond float64's range"),
    ("1e999", "overflows float64"),
    ("-1e999 * X", "overflows float64"),
    ("1e-400", "underflows float64"),
    ("1e-300 * 1e-300", "outside float64's range"),
    ("5e-324 / 4 * X", "outside float64's range"),
    ("1 / 0", "division by zero"),
    ("X / (q - q)", "division by zero"),
    ("X / zeros((q, n))", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("log(0) * X", "evaluates to zoo"),
    # builders given what they cannot take
    ("reshape(2, (n, n))", r"reshape\(\): x must be a matrix, got scalar"),
    ("squeeze(q, 0)", r"squeeze\(\): x must be a matrix, got scalar"),
    ("eye(0.5)", r"eye\(n\) needs a positive integer or a dim, got 1/2"),
    ("expm1(1e3) * X", r"has expm1\(1000\), which overflows float64"),
    ("exp(exp(exp(exp(10)))) * X", r"has exp\(exp\(10\)\), which overflows float64"),
    ("log(-1) * X", "has a complex constant"),
    ("(-8) ** (1 / 3) * X", "has a complex constant"),
    ("\x00", "cannot contain null bytes|cannot be parsed"),
]


@pytest.mark.parametrize("text, message", HOSTILE, ids=lambda v: repr(v)[:40] if isinstance(v, str) else None)
def test_hostile_input_is_refused_with_the_limit_it_broke(text, message):
    with pytest.raises(sd.SymdiffError, match=message):
        parse_guarded(text)


def test_long_error_messages_quote_the_input_shortened():
    with pytest.raises(sd.ParseError) as err:
        parse_guarded("X + " * 3000 + "X")
    assert "(12,001 characters)" in str(err.value) and len(str(err.value)) < 400


LARGE_BUT_ALLOWED = [
    (" + ".join(["X"] * 2000), 2000 * X),  # 1,999 operators: a flat chain is one level, read in a loop
    (" - ".join(["X"] * 2000), -1998 * X),
    ("-" * 1999 + "X", -X),
    (" * ".join(["x"] * 1000), sd.parse("x ** 1000", **ENV)),
    ("exp(" * 99 + "X" + ")" * 99, None),  # depth 100, the limit
    ("(" * 99 + "X" + ")" * 99, X),
    ("x ** 1000 + x ** -1000 + x ** 0.001", None),
    ("2 ** 1000 * X", 2**1000 * X),
    ("1e300 * X + 1e-300 * X", None),  # exact: a fraction of 600 digits
    ("4.9e-324 * X", None),  # float64's smallest subnormal number
    ("1.7976931348623157e308 * X", None),  # float64's largest
    ("2.2250738585072014e-308 * X", None),  # float64's smallest normal number
]


@pytest.mark.parametrize(
    "text, expected", LARGE_BUT_ALLOWED, ids=lambda v: repr(v)[:40] if isinstance(v, str) else None
)
def test_large_expressions_within_the_limits_parse(text, expected):
    result = parse_guarded(text)
    if expected is not None:
        assert result == expected


def test_a_sum_of_500_distinct_terms_parses():
    # 500 terms of four operations each: 1,999 operations, one below the limit.
    text = " + ".join(f"tanh(X @ W * {k})" for k in range(1, 501))
    result = parse_guarded(text)
    assert len(result.args) == 500


def test_long_chains_build_what_the_pairwise_fold_builds():
    # sums and products are collected into one n-ary call; the result is the fold's
    fold = sd.parse("X @ W", **ENV)
    for k in range(2, 40):
        fold = sd.parse(f"F + {k} * (X @ W)**{k} - b + q", F=fold, **ENV)
    chain = " + ".join(f"{k} * (X @ W)**{k} - b + q" for k in range(2, 40))
    assert parse_guarded("X @ W + " + chain) == fold
    chain = "X @ W @ W.T @ X.T * 2 @ X / q @ W * (X @ W) / (Y + 1) * b @ W.T @ W * 3 / b"
    folded = "((((((((((((X @ W) @ W.T) @ X.T) * 2) @ X) / q) @ W) * (X @ W)) / (Y + 1)) * b) @ W.T) @ W) * 3 / b"
    assert parse_guarded(chain) == sd.parse(folded, **ENV)


# -- random strings: the only exceptions are SymdiffError ------------------------------------------------

LEAVES = ["X", "W", "b", "Y", "x", "q", "n", "p", "Z", "pi", "e", "0", "1", "2", "-1", "0.5", "1e-5", "10", "1e300"]
LEAVES += ["1e999", "0.0"]
TOKENS = LEAVES + ["+", "-", "*", "/", "**", "@", ".T", "(", ")", "(", ")", ",", "axis=", "=", "(q, n)", "'tanh'"]
TOKENS += sorted(FUNCTIONS)
ARGUMENTS = ["", "axis=0", "axis=-1", "1", "(q, n)", "(n, n)", "'tanh'", "0.2", "ddof=1", "eps=0"]


def nested_calls(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**", "@"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"{c}.T"),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), children, st.sampled_from(ARGUMENTS)).map(
            lambda t: f"{t[0]}({t[1]}{', ' + t[2] if t[2] else ''})"
        ),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    )


def only_symdiff_errors(text):
    try:
        parse_guarded(text)
    except sd.SymdiffError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join))
def test_random_token_strings_raise_only_symdiff_errors(text):
    only_symdiff_errors(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.sampled_from(LEAVES), nested_calls, max_leaves=20))
def test_random_well_formed_expressions_raise_only_symdiff_errors(text):
    only_symdiff_errors(text)


# -- the command line prints the error -----------------------------------------------------------------

CLI_HOSTILE = ["(" * 2000 + "X" + ")" * 2000, "X ** (10 ** 10 ** 10)", "2 ** 10 ** 10", "1e999", "10**400"]


@pytest.mark.parametrize("text", CLI_HOSTILE, ids=lambda v: repr(v)[:30])
def test_cli_prints_the_parse_error(text, capsys):
    from symdiff.cli import main

    start = time.perf_counter()
    assert main(["derive", text, "--shape", "X=n,n", "--wrt", "X"]) == 2
    assert time.perf_counter() - start < HANG_GUARD
    assert capsys.readouterr().err.startswith("symdiff: error: ")


def test_cli_prints_the_parse_error_of_a_long_chain(capsys):
    from symdiff.cli import main

    assert main(["derive", "X + " * 3000 + "X", "--shape", "X=n,n", "--wrt", "X"]) == 2
    assert "the limit is 2,000" in capsys.readouterr().err
