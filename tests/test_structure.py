"""Structured variables: the gradient in the structure (or in coordinates), proved exactly in the free entries,
against finite differences along structured directions and torch autograd through a parametrization, and kept
exactly by generated code."""

import numpy as np
import pytest
import sympy as sp
import torch

import symdiff as sd
from symdiff.errors import SymdiffError
from symdiff.ops.card import LOWER, SPD, SYMMETRIC, UPPER, properties
from symdiff.ops.structure import in_convention
from symdiff.target import resolve
from symdiff.verify import gradcheck
from symdiff.verify.exact import check_gradient

n, q = sd.dims("n q")
A, B = sd.matrix("A", n, n), sd.matrix("B", n, n)
X = sd.matrix("X", q, n)
x, m = sd.matrix("x", n, 1), sd.matrix("m", n, 1)
S = sd.matrix("S", n, n, structure="symmetric")
P = sd.matrix("P", n, n, structure="spd")
D = sd.matrix("D", n, n, structure="diagonal")
L = sd.matrix("L", n, n, structure="lower")
U = sd.matrix("U", n, n, structure="upper")
ENV = dict(A=A, B=B, X=X, x=x, m=m, S=S, P=P, D=D, L=L, U=U, n=n, q=q)

# (name, expression, variable): each checked in both conventions
CASES = [
    ("log-determinant", "logdet(P)", "P"),
    ("quadratic form", "x.T @ S @ x", "S"),
    ("trace against a general matrix", "trace(S @ A)", "S"),
    ("Gaussian NLL in the covariance", "logdet(P) / 2 + trace(inv(P) @ X.T @ X) / (2 * q)", "P"),
    ("Gaussian NLL in the precision", "-logdet(P) / 2 + trace(P @ X.T @ X) / (2 * q)", "P"),
    ("Mahalanobis distance", "sqrt((x - m).T @ P @ (x - m))", "P"),
    ("inverse of a symmetric matrix", "trace(B @ inv(S + 5 * eye(n)))", "S"),
    ("elementwise function of a symmetric matrix", "sum(A * tanh(S))", "S"),
    ("lower triangular factor", "sum((L @ X.T)**2) + logdet(L @ L.T + eye(n))", "L"),
    ("upper triangular", "trace(A @ U @ U)", "U"),
    ("diagonal", "sum(D @ A @ D) + sum(exp(D))", "D"),
]


@pytest.mark.parametrize("convention", ["structured", "coordinates"])
@pytest.mark.parametrize("name, expression, wrt", CASES, ids=[c[0] for c in CASES])
def test_structured_gradient_is_checked_three_ways(name, expression, wrt, convention):
    d = sd.derive(sd.parse(expression, **ENV), [wrt], convention=convention)
    report = gradcheck.check(d, seed=3)
    assert report.ok, report.summary()
    lines = report.summary()
    assert "exact entrywise check: proved" in lines
    assert "finite differences along each free entry's direction" in lines
    assert "torch autograd (reference evaluator, through" in lines
    assert "(exactly): max abs 0.00e+00" in lines  # the emitted gradient lies in the structure to the bit
    assert f"{convention} convention" in lines


@pytest.mark.parametrize(
    "expression, wrt, convention, printed",
    [
        ("logdet(P)", "P", "structured", "inv(P)"),
        ("x.T @ S @ x", "S", "structured", "x @ x.T"),
        ("trace(A @ S)", "S", "structured", "sym(A)"),
        ("trace(A.T @ S)", "S", "structured", "sym(A)"),
        ("logdet(P)", "P", "coordinates", "2 * inv(P) - diag(diagonal(inv(P)))"),
        ("-logdet(P) / 2 + trace(P @ X.T @ X) / (2 * q)", "P", "structured", "1/2 * (1/q * X.T @ X - inv(P))"),
        ("sum(L @ A)", "L", "structured", "tril(broadcast_to(sum(A.T, axis=0), (n, n)))"),
    ],
)
def test_structure_simplifies_the_printed_gradient(expression, wrt, convention, printed):
    assert sd.text(sd.grad(sd.parse(expression, **ENV), wrt, convention=convention)) == printed


def test_a_general_gradient_fails_the_structured_checks():
    """trace(A S)'s general gradient A^T is no gradient in the symmetric matrices: the exact check and the
    structure check refuse it, and the coordinates gradient fails as a structured one."""
    d = sd.derive(sd.parse("trace(A @ S)", **ENV), [S])
    d.gradients["S"] = A.T
    assert not check_gradient(d, "S").ok
    coordinates = sd.derive(sd.parse("trace(A @ S)", **ENV), [S], convention="coordinates")
    coordinates.convention = "structured"
    assert not check_gradient(coordinates, "S").ok
    assert not gradcheck.check(coordinates, seed=1).ok


def test_the_exact_check_differentiates_in_the_free_entries():
    """For a symmetric S the expected gradient is the structured one: off-diagonal entries half the derivative
    in the shared free entry; the coordinates convention is the derivative itself."""
    f = sd.parse("x.T @ S @ x", **ENV)
    structured = sd.derive(f, [S])
    assert check_gradient(structured, "S").ok
    doubled = sd.derive(f, [S], convention="coordinates")
    assert sd.text(doubled.gradients["S"]) == "2 * x @ x.T - diag(x**2)"
    assert check_gradient(doubled, "S").ok


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("A.T @ A", {SYMMETRIC}),
        ("A @ S @ A.T", {SYMMETRIC}),
        ("x @ x.T", {SYMMETRIC}),
        ("inv(P)", {SYMMETRIC, SPD}),
        ("P + eye(n)", {SYMMETRIC, SPD}),
        ("-P", {SYMMETRIC}),
        ("D @ D", {SYMMETRIC, LOWER, UPPER}),
        ("L @ L", {LOWER}),
        ("L.T", {UPPER}),
        ("U * A", {UPPER}),
        ("A + A.T", {SYMMETRIC}),
        ("tanh(S)", {SYMMETRIC}),
        ("A @ S", set()),
    ],
)
def test_structure_propagates_through_the_cards(expression, expected):
    e = sd.parse(expression, **ENV)
    assert properties(e) == frozenset(expected)
    values = {"A": np.random.default_rng(0).normal(size=(4, 4)), "x": np.ones((4, 1))}
    if SYMMETRIC in expected:  # what the cards claim holds of the values
        from symdiff.verify.reference import evaluate
        from symdiff.verify.structured import project

        rng = np.random.default_rng(1)
        for sym, structure in ((S, "symmetric"), (P, "spd"), (D, "diagonal"), (L, "lower"), (U, "upper")):
            raw = rng.normal(size=(4, 4))
            values[sym.name] = project(raw @ raw.T + 4 * np.eye(4) if structure == "spd" else raw, structure)
        value = evaluate(e, values, {"n": 4}).numpy()
        assert np.allclose(value, value.T, rtol=1e-13, atol=1e-13)  # in exact arithmetic equal; rounding aside
    assert sd.text(sd.parse(f"({expression}).T", **ENV)) == sd.text(e) or SYMMETRIC not in expected


def test_a_symmetric_parameter_stays_symmetric_to_the_last_bit():
    """100 SGD steps of a generated nn.Module whose parameter is declared symmetric: the structured gradient keeps
    it symmetric exactly; the same steps with the general gradient (S declared general) leave it."""
    X_ = sd.matrix("X", q, n)

    def train(structure):
        Sv = sd.matrix("S", n, n, structure=structure)
        f = sd.parse(
            "sum((X @ S @ X.T - eye(q))**2) / q + trace(inv(S + 4 * eye(n)) @ X.T @ X) + sum(X @ S)",
            X=X_,
            S=Sv,
            q=q,
            n=n,
        )
        module = sd.compile(sd.derive(f, [Sv]), "torch", parameters=["S"])
        rng = np.random.default_rng(0)
        data = torch.tensor(rng.normal(size=(6, 5)), dtype=torch.float64)
        raw = rng.normal(size=(5, 5))
        layer = module.Module(torch.tensor((raw + raw.T) / 2))
        optimizer = torch.optim.SGD(layer.parameters(), lr=1e-3)
        for _ in range(100):
            optimizer.zero_grad()
            layer(data).backward()
            optimizer.step()
        return layer.S.detach()

    kept = train("symmetric")
    assert torch.equal(kept, kept.T)
    drifted = train(None)
    assert (drifted - drifted.T).abs().max() > 1e-6


def test_a_structured_input_must_be_in_its_structure():
    d = sd.derive(sd.parse("x.T @ S @ x", **ENV), [S])
    with pytest.raises(SymdiffError, match="declared symmetric but is not"):
        gradcheck.check(d, inputs={"S": np.arange(9.0).reshape(3, 3)})
    d = sd.derive(sd.parse("logdet(P)", **ENV), [P])
    with pytest.raises(SymdiffError, match="declared symmetric positive definite but has the eigenvalue"):
        gradcheck.check(d, inputs={"P": -np.eye(3)})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: sd.matrix("S", n, q, structure="symmetric"), "needs a square matrix"),
        (lambda: sd.matrix("S", n, n, structure="hermitian"), "unknown structure 'hermitian'"),
        (lambda: resolve("x.T @ S @ x", ["S=n,n:sym", "x=n,1"], ["S"]), "not one of symmetric, spd"),
        (lambda: resolve("x.T @ S @ x", ["S=n,q:symmetric", "x=n,1"], ["S"]), "is square"),
        (lambda: sd.derive(sd.parse("logdet(P)", **ENV), [P], convention="upper"), "convention must be one of"),
    ],
)
def test_structure_errors_name_the_problem(make, message):
    with pytest.raises(SymdiffError, match=message):
        make()


def test_a_structured_and_a_general_matrix_of_one_name_are_refused():
    general = sd.matrix("S", n, n)
    with pytest.raises(SymdiffError, match="stands for both"):
        sd.derive(sd.parse("trace(S @ T)", S=S, T=general) + sd.parse("sum(S)", S=general), [S])


def test_a_variable_without_structure_is_unchanged_by_the_convention():
    g = sd.grad(sd.parse("trace(A @ B)", **ENV), A)
    assert in_convention(g, A, "coordinates") == g


def test_spec_files_declare_structures(tmp_path):
    spec = tmp_path / "cov.toml"
    spec.write_text(
        'title = "Gaussian NLL"\nsource = "test"\ndims = ["n", "q"]\n'
        'shapes = { S = ["n", "n"], X = ["q", "n"] }\nstructures = { S = "spd" }\n'
        'forward = { f = "logdet(S) / 2 + trace(inv(S) @ X.T @ X) / (2 * q)" }\nwrt = ["S"]\n'
    )
    target = resolve(str(spec), [], [])
    assert sd.text(target.derivation.gradients["S"]) == "1/2 * (inv(S) - 1/q * inv(S) @ X.T @ X @ inv(S))"
    coordinates = resolve(str(spec), [], [], convention="coordinates").derivation
    assert coordinates.convention == "coordinates" and check_gradient(coordinates, "S").ok
    spec.write_text(spec.read_text().replace('S = "spd"', 'S = "symmetrical"'))
    with pytest.raises(SymdiffError, match="structure of S must be one of"):
        resolve(str(spec), [], [])


def _pmatrix(m) -> str:
    rows = [" & ".join(f"{x:g}" for x in row) for row in np.asarray(m)]
    return r"\begin{pmatrix} " + r" \\ ".join(rows) + r" \end{pmatrix}"


def test_the_worked_example_states_what_the_generated_code_computes():
    """The catalog note's 2 x 2 example (007_trace_symmetric): its numbers in the three conventions, the rates
    along E_12 + E_21 and the steps, recomputed here with the generated code."""
    from symdiff import catalog

    spec = catalog.load("007_trace_symmetric")
    A_, S_ = np.array([[1.0, 2.0], [0.0, 3.0]]), np.array([[2.0, 1.0], [1.0, 2.0]])
    general = sd.matrix("S", n, n)
    derivations = {
        "general": sd.derive(sd.parse("trace(S @ A)", S=general, A=A), [general]),
        "structured": spec.derive(),
        "coordinates": spec.derive("coordinates"),
    }
    grads, value = {}, None
    for convention, d in derivations.items():
        module = sd.compile(d, "numpy")
        value, saved = module.forward(*[{"S": S_, "A": A_}[name] for name in module.INPUTS])
        grads[convention] = module.backward(saved)["S"]
        assert _pmatrix(grads[convention]) in spec.notes, convention
    assert f"$f = {value:g}$" in spec.notes
    direction = np.array([[0.0, 1.0], [1.0, 0.0]])
    rates = [float(np.sum(grads[c] * direction)) for c in ("general", "structured", "coordinates")]
    assert (
        "the inner\nproducts with $D$ are {:g} (general), {:g} (structured) and {:g} (coordinates".format(*rates)
        in spec.notes
    )
    alpha = 0.1
    assert _pmatrix(S_ - alpha * grads["general"]) in spec.notes
    for convention in ("structured", "coordinates"):
        step = alpha * grads[convention]
        after = float(np.trace((S_ - step) @ A_))
        assert f"falls to {after:g}" in spec.notes
        assert f"{(value - after) / np.linalg.norm(step):.4f}" in spec.notes
    assert _pmatrix(S_ - alpha * grads["structured"]) in spec.notes


def test_hvp_in_a_structured_variable_is_in_the_structure():
    """d/dS <grad f, V> for V in the structure, projected: exact in the free entries, against autograd's double
    backward and torch.func through the parametrization, and against differences of the gradient."""
    from symdiff.verify import second_order

    d = sd.derive_hvp(sd.parse("logdet(P) + sum(P**3 @ A)", **ENV), P)
    assert d.inputs[d.direction].structure == "spd"
    report = second_order.check(d, seed=2)
    assert report.ok, report.summary()
    assert sd.text(sd.hvp(sd.parse("logdet(P)", **ENV), P, d.inputs[d.direction])) == "-inv(P) @ V @ inv(P)"


def test_a_general_hvp_fails_in_the_structure():
    """The HVP of trace(A S S) with the general direction's form, not projected, is refused by the checks."""
    from symdiff.verify import second_order

    d = sd.derive_hvp(sd.parse("trace(A @ S @ S)", **ENV), S)
    V = d.inputs[d.direction]
    d.gradients["S"] = sd.parse("A.T @ V.T + V.T @ A.T", A=A, V=V)
    d._closed.clear()
    assert not second_order.check(d, seed=2).ok


def test_a_structured_loss_is_differentiable_twice_in_its_structure():
    target = resolve("007_gaussian_nll_precision", [], [])
    report = gradcheck.check(target.derivation, double_backward=target.double_backward(), seed=4)
    assert report.ok and "(H V)_P" in report.summary(), report.summary()
    with pytest.raises(SymdiffError, match="coordinates convention's is not"):
        resolve("007_gaussian_nll_precision", [], [], convention="coordinates").double_backward(asked=True)
    assert resolve("007_gaussian_nll_precision", [], [], convention="coordinates").double_backward() is None


@pytest.mark.parametrize("expression, wrt", [("trace(A @ S) + sum(S**2)", "S"), ("sum((L @ A)**2)", "L")])
def test_assert_gradient_differentiates_in_the_free_entries(expression, wrt):
    from symdiff.testing import assert_gradient

    f = sd.parse(expression, **ENV)
    assert_gradient(f, ENV[wrt])
    with pytest.raises(AssertionError, match="FAIL"):
        assert_gradient(f, ENV[wrt], grad=sd.grad(f, sd.matrix(wrt, n, n)).xreplace({sd.matrix(wrt, n, n): ENV[wrt]}))


def test_logdet_of_an_spd_matrix_is_computed_from_its_cholesky_factor():
    """Declared spd, logdet(S) is 2 sum(log(diag(L))): the value of slogdet, and an error, not a NaN, where the
    matrix given is not positive definite."""
    for structure, helper in (("spd", True), ("symmetric", False)):
        Sv = sd.matrix("S", n, n, structure=structure)
        module = sd.compile(sd.derive(sd.parse("logdet(S)", S=Sv), [Sv]), "numpy")
        assert ("logdet_spd(S)" in module.__source__) == helper
        raw = np.random.default_rng(5).normal(size=(4, 4))
        value = raw @ raw.T + np.eye(4)
        assert abs(module.forward(value)[0] - np.linalg.slogdet(value)[1]) < 1e-12
    with pytest.raises(np.linalg.LinAlgError):
        sd.compile(sd.derive(sd.parse("logdet(P)", **ENV), [P]), "numpy").forward(-np.eye(3))
