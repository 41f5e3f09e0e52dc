"""Proofs (symdiff.theory): each catalog proof holds, a wrong form fails it and fails `symdiff catalog`, and the
committed proof documents are what the generator writes."""

from dataclasses import replace

import pytest

from symdiff import catalog, latex
from symdiff.cli import main
from symdiff.errors import SymdiffError

PROOFS = catalog.proof_names()


@pytest.fixture(scope="module")
def proved():
    return {name: catalog.load_proof(name).prove() for name in PROOFS}


def test_the_catalog_has_the_optimization_proofs():
    assert {"004_momentum_forms", "004_nesterov", "003_step_size", "004_vanishing_gradients", "004_conv_costs"} <= set(
        PROOFS
    )


def test_the_cost_models_must_match_the_seed():
    spec = catalog.load_proof("004_conv_costs")
    models = {**spec.data["models"], "I": {**spec.data["models"]["I"], "seed": [1, 2, 3, 4]}}
    result = replace(spec, data={"models": models}).prove()
    assert not result.ok and any("model I parameters" in f for f in result.failures)


def test_the_step_size_figure_is_written_beside_the_documents(proved, tmp_path):
    assert main(["catalog", "--only", "003_step_size", "--out", str(tmp_path)]) == 0
    png = (tmp_path / "proofs" / "step_sizes.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "step_sizes.png" in (tmp_path / "proofs" / "003_step_size.tex").read_text()


@pytest.mark.parametrize("name", PROOFS)
def test_every_proof_holds(proved, name):
    result = proved[name]
    assert result.ok, result.failures
    assert result.summary.startswith("proved")


WRONG = [  # (proof, form, a wrong version of it)
    ("004_momentum_forms", "form_1", "theta - alpha * g + beta * (theta_prev - theta)"),
    ("004_momentum_forms", "form_2_velocity", "g + v"),
    ("004_momentum_forms", "form_2_step", "theta - alpha * beta * v_next"),
    ("004_nesterov", "torch_step", "theta - alpha * (g + b_next)"),
    ("004_nesterov", "lookahead_velocity", "beta * v - alpha * beta * g"),
    ("003_step_size", "loss", "(x * w - y)**2"),  # no 1/2: the boundaries move to 1/2 and 1
    ("003_step_size", "update", "w + alpha * g"),
    ("003_step_size", "quadratic_update", "w - alpha * alpha * g"),
    ("004_vanishing_gradients", "sigmoid_derivative", "sigmoid(x) * (1 + sigmoid(x))"),
    ("004_conv_costs", "parameters", "k**2 * c_in * c_out"),  # the bias forgotten
    ("004_conv_costs", "additions", "h * w * (k**2 * c_in - 1) * c_out"),
]


@pytest.mark.parametrize("name, form, wrong", WRONG)
def test_a_wrong_form_fails_the_proof(name, form, wrong):
    spec = catalog.load_proof(name)
    result = replace(spec, forms={**spec.forms, form: wrong}).prove()
    assert not result.ok and result.failures and result.summary.startswith("FAILED")


def test_a_failed_proof_fails_the_catalog(monkeypatch, capsys):
    spec = catalog.load_proof("004_momentum_forms")
    wrong = replace(spec, forms={**spec.forms, "form_1": "theta - alpha * g"})
    monkeypatch.setattr(catalog, "load_proof", lambda name: wrong)
    assert main(["catalog", "--only", "004_momentum_forms"]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "004_momentum_forms" in captured.err


def test_forms_are_parsed_by_the_expression_language():
    spec = catalog.load_proof("004_nesterov")
    with pytest.raises(SymdiffError, match="form torch_step"):
        replace(spec, forms={**spec.forms, "torch_step": "__import__('os')"}).prove()
    with pytest.raises(SymdiffError, match="missing lookahead_step"):
        replace(spec, forms={k: v for k, v in spec.forms.items() if k != "lookahead_step"}).prove()


@pytest.mark.parametrize("name", PROOFS)
def test_committed_proof_documents_match_the_generator(proved, name):
    directory = catalog.spec_dir() / "proofs"
    blocks = proved[name].blocks
    assert (directory / f"{name}.tex").read_text() == latex.standalone_latex(blocks)
    assert (directory / f"{name}.md").read_text() == latex.render_markdown(blocks)


def test_a_proof_is_not_a_derivation(capsys):
    assert main(["derive", "004_nesterov"]) == 2
    assert "is a proof" in capsys.readouterr().err


def test_flop_counts_follow_the_cost_model():
    import symdiff as sd
    from symdiff.theory.flops import flops, leading

    m, n, p = sd.dims("m n p")
    A, B, C = sd.matrix("A", m, n), sd.matrix("B", n, p), sd.matrix("C", m, p)
    product = A @ B
    assert flops(product) == 2 * m * n * p
    assert flops(product, product + C) == 2 * m * n * p + m * p  # the shared product once
    assert flops(A.T) == 0 and flops(sd.parse("A + A * A", A=A)) == 2 * m * n
    assert leading(2 * m * n * p + 5 * m * p + 3) == 2 * m * n * p


def test_the_catalog_shows_forward_and_backward_flops(capsys):
    assert main(["catalog", "--only", "000_linear_regression_batch"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("000_linear"))
    assert row.endswith("2*n*p*q / 4*n*p*q")  # X @ W forward; X.T @ R and R @ W.T backward


def test_readme_quotes_what_the_proofs_print(proved):
    """The figures of README's table of proofs are the proofs' own: the measured agreements, the random
    networks, the seed's convolution counts."""
    import re
    from pathlib import Path

    from symdiff import latex

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d{3}_\w+)`[^|]*\| (.*)$", readme, re.M))
    assert set(rows) == set(PROOFS)
    for name, row in rows.items():
        printed = proved[name].summary
        for measured in re.findall(r"measured ([0-9.e+-]+)\)", row):
            assert float(measured) in [float(x) for x in re.findall(r"\d+(?:\.\d+)?e[+-]\d+", printed)], (name, printed)
    assert (
        re.search(r"(\d+) random networks", rows["004_vanishing_gradients"]).group(1)
        in proved["004_vanishing_gradients"].summary
    )
    document = latex.render_markdown(proved["004_conv_costs"].blocks)
    for count in re.findall(r"\d{1,3}(?:,\d{3})+", rows["004_conv_costs"]):
        assert count in document, count
