"""Commands write what was asked for and nothing else: no TeX byproducts, no temporary folders left behind."""

from pathlib import Path

import pytest

from symdiff import latex
from symdiff.cli import main


def _files(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.skipif(latex.tex_engine() is None, reason="no TeX engine")
def test_catalog_pdf_and_html_write_only_what_was_asked(tmp_path, monkeypatch, capsys):
    """--pdf had left catalog.{aux,fdb_latexmk,fls,log,tex,toc} and the figures in the working directory, and
    --html four TeX byproducts per page in the site."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))  # where TeX runs, to see it is removed
    (tmp_path / "tmp").mkdir()
    only = ["--only", "000_chain_rule", "004_vanishing_gradients"]  # a derivation, and a proof with a figure
    assert main(["catalog", *only, "--pdf", "catalog.pdf", "--html", "site"]) == 0
    capsys.readouterr()
    pages = {
        f"site/{name}.{ext}" for name in ("000_chain_rule", "004_vanishing_gradients") for ext in "html tex pdf".split()
    }
    code = {f"site/code/{package}/000_chain_rule.py" for package in ("numpy_code", "torch_code")}
    figure = {"site/vanishing_gradients.png"}  # the page shows it
    assert _files(tmp_path) == {"catalog.pdf", "site/index.html", *pages, *code, *figure}


def test_the_bench_leaves_no_temporary_spec_folders(tmp_path, monkeypatch):
    from symdiff.bench import scaling

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert scaling.mlp_spec(2).wrt == ["A1", "b1", "A2", "b2"]
    assert list(tmp_path.iterdir()) == []


def test_the_bench_processes_leak_no_semaphores(tmp_path):
    """Each case's process ends on its own: terminated, the named semaphores it kept were reported leaked
    (8 times in a full bench)."""
    import subprocess
    import sys

    # a named lock kept to the end, and a finalizer that runs before its own: a worker terminated meanwhile
    keeps_a_named_lock = (
        "import multiprocessing as m, multiprocessing.util as u, time; m.kept = m.get_context('spawn').RLock(); "
        "u.Finalize(m, time.sleep, (1,), exitpriority=10)"
    )
    makes_a_lock = f"from symdiff.bench import in_own_process\nin_own_process(exec, ({keeps_a_named_lock!r}, {{}}))"
    run = subprocess.run([sys.executable, "-c", makes_a_lock], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "leaked" not in run.stderr, run.stderr
