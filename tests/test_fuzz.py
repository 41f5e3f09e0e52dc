"""The soak (symdiff.fuzz): its generator covers the language, its verdicts are right, and a seeded slice runs clean."""

import ast
import re
import shlex

import pytest
import sympy as sp

import symdiff as sd
from symdiff import codegen, fuzz
from symdiff.cli import build_parser, main
from symdiff.fuzz import verdicts
from symdiff.ops.card import FUNCTIONS
from symdiff.parse import dimension_expression, parse_outputs

COVERAGE_SEEDS = range(600)
OPERATORS = {"@": ast.MatMult, "*": ast.Mult, "/": ast.Div, "**": ast.Pow, "+": ast.Add, "-": ast.Sub}


def _symbols(case):
    """The case's names as SymPy symbols, made the way the API user would (dims, matrices, real scalars)."""
    dims = {name: sp.Symbol(name, integer=True, positive=True) for name in case.sizes}
    symbols = {
        name: sd.matrix(name, *(dimension_expression(x, dims.__getitem__) for x in shape))
        for name, shape in case.shapes.items()
    }
    names = {n.id for n in ast.walk(ast.parse(case.expr, mode="eval")) if isinstance(n, ast.Name)}
    for name in names - set(symbols) - set(FUNCTIONS) - {"pi", "e"}:
        symbols[name] = dims.get(name) or sd.scalar(name)
    return symbols


def test_the_generator_covers_every_language_function_and_operator():
    used, operators, transposes = set(), set(), False
    for seed in COVERAGE_SEEDS:
        expr = fuzz.generate(seed).expr
        used |= fuzz.functions_used(expr)
        tree = ast.parse(expr, mode="eval")
        operators |= {type(n.op) for n in ast.walk(tree) if isinstance(n, ast.BinOp)}
        transposes |= any(isinstance(n, ast.Attribute) and n.attr == "T" for n in ast.walk(tree))
    missing = sorted(set(FUNCTIONS) - used)
    assert not missing, f"no generated expression (of {len(COVERAGE_SEEDS)}) calls {', '.join(missing)}"
    assert not {k for k, op in OPERATORS.items() if op not in operators} and transposes


def test_generated_expressions_are_well_shaped_scalars():
    several = 0
    for seed in range(200):
        case = fuzz.generate(seed)
        outputs = parse_outputs(case.expr, **_symbols(case))
        several += len(outputs) > 1  # a layer's (h, c): any shapes
        expr = outputs[0]
        assert len(outputs) > 1 or not isinstance(expr, sp.MatrixExpr) or expr.shape == (1, 1), case.expr
        assert set(case.sizes) <= {
            x for shape in case.shapes.values() for e in shape for x in re.findall(r"[A-Za-z_]\w*", e)
        }
        assert set(case.domains) <= set(case.shapes) and set(case.domains.values()) <= {"positive", "nonzero", "spd"}
    assert several > 5


def test_generation_is_reproducible_and_the_one_liner_parses():
    case = fuzz.generate(12345)
    assert fuzz.generate(12345) == case
    argv = shlex.split(case.command())
    assert argv[:3] == ["symdiff", "check", case.expr]
    args = build_parser().parse_args(argv[1:])
    assert args.wrt == case.wrt and args.seed == case.seed and args.no_exact


def test_structured_cases_reproduce_from_their_one_liners(capsys):
    """A structured case's one-liner declares its structures (and the coordinates convention, but not for an
    HVP, which is in the structure); run, it passes as the soak judged it."""
    from dataclasses import replace

    case = next(c for c in map(fuzz.generate, range(1000)) if c.structures and c.convention == "coordinates")
    command = case.command()
    assert all(f"{name}={','.join(case.shapes[name])}:{s}" in command for name, s in case.structures.items())
    assert "--convention coordinates" in command
    assert "--convention" not in replace(case, hvp=next(iter(case.structures))).command()
    assert verdicts.run_case(case).status == "pass"
    assert main(shlex.split(command)[1:]) == 0
    assert "coordinates convention" in capsys.readouterr().out


def test_autograd_of_the_reference_that_disagrees_with_its_own_differences_is_not_a_wrong_answer():
    """Soak seed 23002: layer_norm of rows of -1e30 (where's branch not taken everywhere). The generated gradient in
    gamma is 0, as x - mean is; torch's layer_norm backward recomputes x - mean with rounding (1.4e14), which its
    own forward, and so its finite differences, do not have. The verdict goes by the differences."""
    shapes = {"W": ("1", "2"), "B": ("2", "2"), "z": ("2", "2"), "X": ("1", "2"), "V": ("2", "2")}
    expr = "trace((layer_norm(where((B == -1), z, -1e30), X, W, eps=0.1) / V))"
    case = fuzz.Case(expr, shapes, {}, {"V": "nonzero"}, 23002001301)
    outcome = verdicts.run_case(case)
    assert outcome.status == "pass" and outcome.reference_off, outcome.message


def test_latex_of_a_gradient_that_sympys_fraction_cannot_take_apart():
    """Soak seed 23008 (and before this session): the module docstring's LaTeX of d/dG, through SymPy's fraction()
    and signsimp, raised "Mix of Matrix and Scalar symbols" from emit, a traceback."""
    expr = "((sum((b + eye(k))) + erf(exp(sum(G * (INPUTS - 2 * eye(r)))))))**2"
    case = fuzz.Case(expr, {"b": ("k", "k"), "G": ("r", "r"), "INPUTS": ("r", "r")}, {"r": 3, "k": 2}, {}, 23008000121)
    outcome = verdicts.run_case(case)
    assert outcome.status == "pass", outcome.message


def _case(expr, **shapes):
    return fuzz.Case(expr, {k: tuple(v.split(",")) for k, v in shapes.items()}, {"q": 3, "n": 2}, {}, 0)


def test_verdicts(monkeypatch):
    assert fuzz.run_case(_case("sum(tanh(X @ W))", X="q,n", W="n,n")).status == "pass"
    refused = fuzz.run_case(_case("sum(X @ W)", X="q,n", W="q,n"))
    assert refused.status == "refused" and "ShapeError" in refused.message
    at_kink = fuzz.run_case(_case("sum(relu(X - X + 1) * W) + sum(abs(X * 0) * W)", X="q,n", W="q,n"))
    assert at_kink.status == "pass"
    compile_ = codegen.compile

    def off_by_a_little(d, backend="numpy", *args, **kwargs):
        module = compile_(d, backend, *args, **kwargs)
        backward = module.backward
        module.backward = lambda saved, *a, **k: {w: g * 1.001 for w, g in backward(saved, *a, **k).items()}
        return module

    monkeypatch.setattr(codegen, "compile", off_by_a_little)
    wrong = fuzz.run_case(_case("sum(exp(X))", X="q,n"))
    assert wrong.status == "wrong" and "torch d/dX vs autograd" in wrong.message and "numpy d/dX" in wrong.message

    def flattened(d, backend="numpy", *args, **kwargs):
        module = compile_(d, backend, *args, **kwargs)
        backward = module.backward
        module.backward = lambda saved, *a, **k: {w: g.reshape(-1) for w, g in backward(saved, *a, **k).items()}
        return module

    monkeypatch.setattr(codegen, "compile", flattened)  # the right numbers in the wrong shape are wrong
    wrong = fuzz.run_case(_case("sum(exp(X))", X="q,n"))
    assert wrong.status == "wrong" and "d/dX has shape (6,), the input (3, 2)" in wrong.message

    def crashing(d, backend="numpy", *args, **kwargs):
        module = compile_(d, backend, *args, **kwargs)
        module.backward = lambda saved, *a, **k: 1 / 0
        return module

    monkeypatch.setattr(codegen, "compile", crashing)
    error = fuzz.run_case(_case("sum(exp(X))", X="q,n"))
    assert error.status == "error" and "ZeroDivisionError" in error.message


def test_a_case_over_its_budget_is_an_error(monkeypatch):
    def slow(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(verdicts, "_compare", slow)
    outcome = fuzz.run_case(_case("sum(X)", X="q,n"), budget=0.5)
    assert outcome.status == "error" and "timeout after 0.5 s while running" in outcome.message


def test_fuzz_command_writes_its_failures(tmp_path, capsys):
    out = tmp_path / "failures.txt"
    status = main(["fuzz", "--n", "3", "--seed", "7", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert "3 expressions in" in printed and out.exists()
    assert status == (1 if out.read_text().strip() else 0)


SOAK_CASES = 300  # about 30 s


@pytest.mark.parametrize("chunk", range(4))
def test_a_seeded_soak_is_clean(chunk):
    """A slice of the soak (seed 1000): no wrong gradient and no error other than a documented refusal."""
    size = SOAK_CASES // 4
    bad = []
    for i in range(chunk * size, (chunk + 1) * size):
        outcome = fuzz.run_case(fuzz.generate(1000 * 1_000_000 + i, depth=3))
        if outcome.status in ("wrong", "error"):
            bad.append(outcome.line())
    assert not bad, "\n".join(bad)


# Cases the 10,000-expression soaks found, each with what was wrong (now fixed), run as the soak runs them.
SOAK_FINDINGS = [
    # the output, named f like the dimension f, overwrote it in the generated code (the output cancelled)
    ("sum((sqrt(det((tanh(z) @ tanh(z).T + eye(f)))) * ((Z - Z)).T))", {"z": "f,1", "Z": "f,f"}, {"f": 4}),
    # the same for an input f
    ("((f - f) @ ((-((abs((x + u)) + 1))))**(-1))", {"f": "1,q", "u": "q,1", "x": "q,1"}, {"q": 2}),
    # simplify divided every term by gelu's derivative: 0 / 0 where it underflows
    (
        "gelu((sum(C * layer_norm(V**2, (Z + ones((1, n))), A, eps=0.1)) * exp(q)))",
        {"C": "q,n", "V": "q,n", "Z": "1,n", "A": "1,n"},
        {"n": 2, "q": 2},
    ),
    # SymPy's factor_terms reached a MatAdd inside sum() from the LaTeX printer (is_constant)
    ("(a / exp(sqrt((sum((u - 2 * eye(p)))**2 + 1))))", {"u": "p,p"}, {"p": 2}),
    # sqrt of a square of a scalar made of matrices went through SymPy's complex arg()
    ("sqrt(sum(A - 2 * eye(k))**2)", {"A": "k,k"}, {"k": 3}),
    # std of a zero spread: 0, as torch.std, not NaN
    ("sum(std(x, axis=1)) + std(x)", {"x": "k,1"}, {"k": 3}),
    # unit of relu of a negative: 0 times unit's infinite slope at 0 was NaN; now 0, as PyTorch
    ("sum(erf(unit(relu(U - 3))))", {"U": "1,1"}, {}),
    # SymPy's own Abs (abs(sign(s)), asking whether a product is an integer) pushed a sign into a MatMul
    (
        "abs((sum(x * ((g - 2 * eye(t0)) @ y)) / (tanh(t0)**2 + 1)))",
        {"x": "t0,t0", "g": "t0,t0", "y": "t0,t0"},
        {"t0": 2},
    ),
    # step of an expression that is 0 up to rounding: the forwards differ by the step, a kink, not a wrong result
    ("(mean(V) + step(sum(batch_normalize(v, 0.001))))", {"V": "k,n", "v": "n,n"}, {"n": 3, "k": 2}),
    # simplify divided by exp(a) and left exp(-a) exp(a), which overflows where exp(a) does not
    (
        "exp((min((sum((X / F)) * t0)) + (exp(sum(U * X)) * expm1(2))))",
        {"X": "p,m", "F": "p,m", "t0": "m,p", "U": "p,m"},
        {"m": 4, "p": 3},
    ),
    # max over reshape(zeros(k, n)) is 1 x 1 but over k n entries: writing it out asked int(k n)
    (
        "((min(maximum((torch - torch), zeros((k, n))))**2 * ((grads @ y) + (B @ like)))"
        " @ expm1(batchnorm(sum(y, axis=1), backward, backward)))",
        {"torch": "k,n", "grads": "1,k", "y": "k,k", "B": "1,k", "like": "k,1", "backward": "1,1"},
        {"k": 3, "n": 4},
    ),
]


@pytest.mark.parametrize("expr, shapes, sizes", SOAK_FINDINGS, ids=[f[0][:40] for f in SOAK_FINDINGS])
def test_what_the_soaks_found_passes(expr, shapes, sizes):
    names = {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}
    case = fuzz.Case(expr, {k: tuple(v.split(",")) for k, v in shapes.items()}, sizes, {}, 3)
    assert set(shapes) <= names
    outcome = fuzz.run_case(case)
    assert outcome.status == "pass", outcome.line()


# Cases a soak found with their domains and seeds, as ``symdiff fuzz`` wrote them.
SOAK_FOUND_CASES = [
    # a product printed with its rows first lost its scalar factor (1/2 relu(...)) beside a mask
    fuzz.Case(
        "(relu((logdet(W) / sum(M))) * norm(((1 + relu(M)))**-0.5))",
        {"W": ("1", "1"), "M": ("numpy", "numpy")},
        {"numpy": 3},
        {"W": "spd", "M": "positive"},
        80000790,
    ),
    # a term of 1e56 beside sum(Y * Y): f's differences in Y are all rounding; the gradient is right
    fuzz.Case(
        "(((exp(det(w)) + sqrt(2)) * tanh(m)) + sum(Y * Y))",
        {"w": ("m", "m"), "Y": ("p", "p")},
        {"p": 4, "m": 3},
        {"w": "spd"},
        80000691,
    ),
    # whether W**k (k a dimension) is floating point asked SymPy if k - 1 > 0, which it cannot say
    fuzz.Case(
        "(mean((W**k @ V)) * sigmoid(k))",
        {"W": ("k", "k"), "V": ("k", "n")},
        {"k": 4, "n": 2},
        {"W": "positive"},
        81001351,
    ),
    # a term printed as -a - b (a scalar sum times ones) lost its sign as the operand of torch's .sub_(a - b)
    fuzz.Case(
        "mean(maximum((log(H) @ (G + M)), (sum(out * out) + (sum(g) * alpha))))",
        {"out": ("p", "m"), "g": ("q", "q"), "H": ("m", "p"), "M": ("p", "q"), "G": ("p", "q")},
        {"p": 3, "m": 4, "q": 2},
        {"H": "positive"},
        91001302,
    ),
    # a sum with a product whose saved mask value kept a scalar inside (2 (-1/2 h3)) was fused as
    # torch.addmm(h5, -1 / 2, h3, alpha=2), which torch refuses (soak seed 20261204)
    fuzz.Case(
        "abs(sum(G * minimum(((x - 2 * eye(r)) + x), batch_normalize(v, 1e-05))))",
        {"G": ("r", "r"), "v": ("r", "r"), "x": ("r", "r")},
        {"r": 3},
        {},
        20261204008054,
    ),
    # the terms of torch.addcmul(a, b, c) were printed bare beside the whole sum's terms, not beside each
    # other: all three were rows, and the gradient of a k x 2 input came out 1 x 2 (soak seed 777001)
    fuzz.Case(
        "(sum((((maximum(u, zeros((k, 2))) + t1) - (t1 * M)) @ (reshape(Y, (2, f)) / exp(pi))))"
        " + (relu(max(saved)) * (sqrt(2) * gelu(-2.5))))",
        {"u": ("k", "2"), "t1": ("k", "2"), "M": ("1", "2"), "Y": ("f", "2"), "saved": ("k", "k")},
        {"f": 2, "k": 2},
        {},
        777001003305,
    ),
    # the gradient of logdet(M) reads M^T, whose Transpose.doit() turned det(A) into SymPy's own Determinant,
    # which the numpy printer does not know (soak seed 27182818)
    fuzz.Case(
        "logdet((tanh(maximum(b, minimum(b, det(A)))) @ tanh(maximum(b, minimum(b, det(A)))).T + eye(p)))",
        {"A": ("r", "r"), "b": ("p", "p")},
        {"r": 3, "p": 3},
        {"A": "spd"},
        27182818009141,
    ),
    # the shared factor -2 (1 - t) of two coefficients became 2 t - 2, which SymPy does not cancel against
    # (1 - t): the gradient read (1 - t)(2 t - 2)/(t - 1) ..., 0/0 where tanh saturates (soak seed 99991)
    fuzz.Case(
        "tanh((((sum(W * W) * max((self + ones((p, 1))))) + trace(W)))**2)",
        {"W": ("q", "q"), "self": ("p", "1")},
        {"p": 3, "q": 4},
        {},
        99991001406,
    ),
]


@pytest.mark.parametrize("case", SOAK_FOUND_CASES, ids=[c.expr[:40] for c in SOAK_FOUND_CASES])
def test_what_the_soaks_found_with_domains_passes(case):
    assert fuzz.run_case(case).status == "pass"


def test_time_limits_nest_and_the_outer_one_still_holds():
    """An inner limit (the exact check's) inside the soak's budget: the outer one fires after the inner ends."""
    import time

    from symdiff.deadline import time_limit

    class Outer(BaseException):
        pass

    class Inner(Exception):
        pass

    started = time.monotonic()
    with pytest.raises(Outer):
        with time_limit(0.5, Outer):
            with pytest.raises(Inner):
                with time_limit(0.1, Inner):
                    while True:
                        pass
            while True:  # the outer limit was set again for what remained of it
                pass
    assert time.monotonic() - started < 2
    with time_limit(0.2, Outer):  # an inner limit longer than the outer's remainder leaves the outer in charge
        with pytest.raises(Outer):
            with time_limit(5, Inner):
                while True:
                    pass
