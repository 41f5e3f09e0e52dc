"""Derivation documents: up to date, deterministic, and compiled by a real TeX engine."""

import os
import re
import shutil
import subprocess

import pytest
from conftest import LINEAR_MSE_ARGS

import symdiff as sd
from symdiff import catalog, latex
from symdiff.cli import main
from symdiff.fuzz import generate
from symdiff.target import resolve, spec_document
from symdiff.printing import LatexPrinter

SPECS = catalog.names()
DERIVATIONS = catalog.spec_dir()


def need_tex(tool="pdflatex"):
    if shutil.which(tool):
        return
    message = f"{tool} not found: {latex.INSTALL_HINT} (and poppler-utils for pdftoppm)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must compile the documents; {message}")
    pytest.skip(message)


PRECEDENCE = [
    ("(A * B) @ C", r"\left(A \odot B\right) C"),
    ("A * (B @ C)", r"\left(B C\right) \odot A"),
    ("(A @ B)**2", r"\left(A B\right)^{\circ 2}"),
    ("-(A @ B) * C", r"-\left(A B\right) \odot C"),
    ("2 * (A + B) @ C", r"2 \left(A + B\right) C"),
    ("sum(A * B, axis=0)", r"\mathbf{1}^{T} \left(A \odot B\right)"),
]


@pytest.mark.parametrize("text, tex", PRECEDENCE)
def test_latex_keeps_the_grouping(text, tex):
    n = sd.dims("n")
    env = {name: sd.matrix(name, n, n) for name in "ABC"}
    assert LatexPrinter()._print(sd.parse(text, **env)) == tex


@pytest.mark.parametrize("name", SPECS)
def test_committed_documents_match_the_generator(name, derived):
    spec, d, checks = derived(name)
    blocks = spec_document(spec, d, checks)
    for suffix, text in ((".tex", latex.standalone_latex(blocks)), (".md", latex.render_markdown(blocks))):
        path = DERIVATIONS / f"{name}{suffix}"
        assert path.is_file(), f"{path} is missing: run symdiff catalog --out derivations/"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run symdiff catalog --out derivations/"


def test_documents_are_deterministic(derived):
    spec, d, checks = derived("002_batchnorm")
    again = catalog.load("002_batchnorm")
    assert latex.standalone_latex(spec_document(spec, d, checks)) == latex.standalone_latex(
        spec_document(again, again.derive(), checks)
    )


def test_document_states_steps_shapes_checks_and_source_errors(derived):
    spec, d, checks = derived("000_linear_regression_batch")
    md = latex.render_markdown(spec_document(spec, d, checks))
    assert "denominator layout" in md
    assert r"\hat{Y} &= X W + \mathbf{1} b" in md
    assert (
        r"\sum_{k,l} \frac{\partial C}{\partial {\hat{Y}}_{kl}} \, \frac{\partial {\hat{Y}}_{kl}}{\partial {W}_{ij}}"
        in md
    )
    assert r"\frac{\partial C}{\partial W} &= X^{T} \frac{\partial C}{\partial \hat{Y}}" in md
    assert "Matrix product: $Y = c A_1" in md  # the rule, quoted from its docstring
    assert "| $\\partial C/\\partial b$ | $1 \\times p$ | $1 \\times p$ | ok |" in md
    assert "proved (6 entries, sizes n=3, p=2, q=4)" in md
    assert "Remarks on the source" in md and "sums the q rows" in md


@pytest.mark.parametrize("notation, marker", [("bar", r"\bar{W}"), ("nabla", r"{W}^{\nabla}")])
def test_adjoint_notation(derived, notation, marker):
    spec, d, checks = derived("000_linear_regression_batch")
    assert marker in latex.standalone_latex(spec_document(spec, d, checks, notation))


def test_every_committed_tex_compiles_and_fits_the_page(tmp_path):
    need_tex()
    overfull = []
    for name in SPECS:
        shutil.copy(DERIVATIONS / f"{name}.tex", tmp_path)
        latex.compile_pdf(tmp_path / f"{name}.tex")  # raises on any LaTeX error or undefined control sequence
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
        overfull += [f"{name}: {line}" for line in latex.overfull_lines(tmp_path / f"{name}.log")]
    assert not overfull, "lines wider than the page:\n" + "\n".join(overfull)


def test_random_expression_documents_fit_the_page(tmp_path):
    """The soak's random expressions (every op, hostile names, long chains), derived and written as documents."""
    need_tex()
    documents = []
    for seed in range(40):
        case = generate(seed)
        try:
            target = resolve(case.expr, case.shape_entries(), case.wrt)
        except sd.SymdiffError:
            continue  # refused: no document
        documents.append(target.document())
    assert len(documents) >= 25
    (tmp_path / "random.tex").write_text(latex.combined_latex(documents, "Random expressions"))
    latex.compile_pdf(tmp_path / "random.tex")
    overfull = latex.overfull_lines(tmp_path / "random.log")
    assert not overfull, "lines wider than the page:\n" + "\n".join(overfull)


def test_adhoc_derivation_compiles(tmp_path, capsys):
    assert (
        main(
            [
                "derive",
                *LINEAR_MSE_ARGS,
                "--wrt",
                "W",
                "b",
                "--latex",
            ]
        )
        == 0
    )
    tex = capsys.readouterr().out
    assert tex.startswith(r"\documentclass") and r"\end{document}" in tex
    need_tex()
    (tmp_path / "adhoc.tex").write_text(tex)
    latex.compile_pdf(tmp_path / "adhoc.tex")


def test_combined_pdf_builds_and_renders(tmp_path, derived):
    need_tex()
    need_tex("pdftoppm")
    import matplotlib.image

    names = ("000_linear_regression_batch", "000_tied_autoencoder", "002_batchnorm")
    documents = [spec_document(*derived(n)) for n in names]
    tex_path = tmp_path / "combined.tex"
    tex_path.write_text(latex.combined_latex(documents, "test", ["Seed 000", "Seed 000", "Seed 002"]))
    pdf = latex.compile_pdf(tex_path)
    text = tex_path.read_text()
    body = text.split(r"\begin{document}")[1]
    subsections = len(re.findall(r"\\subsection(\[[^\]]*\])?\{", body))  # a long title has a short entry [...]
    assert r"\tableofcontents" in body and body.count(r"\section{") == 2 and subsections == 3
    toc = (tmp_path / "combined.toc").read_text()
    assert "Seed 000" in toc and "Seed 002" in toc and "002\\_\\allowbreak {}batchnorm" in toc
    assert not latex.overfull_lines(tmp_path / "combined.log")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-f", "3", "-l", "3", str(pdf), str(tmp_path / "page")], check=True
    )
    (png,) = tmp_path.glob("page*.png")
    pixels = matplotlib.image.imread(png)[..., :3].mean(axis=2)
    ink = (pixels < 0.5).mean()
    assert ink > 0.002, f"page 3 of the combined PDF looks blank ({ink:.4f} dark pixels)"


def test_without_tex_the_combined_tex_is_written_with_instructions(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(latex.tex.shutil, "which", lambda name: None)
    assert main(["catalog", "--only", "001_relu", "--pdf", str(tmp_path / "all.pdf")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "all.tex").is_file() and "apt-get install" in out
