"""Running a TeX engine on a generated document."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path


class LatexError(RuntimeError):
    """A TeX engine failed on a generated document."""


def tex_engine() -> str | None:
    """The TeX driver available here: latexmk, else pdflatex, else None."""
    for name in ("latexmk", "pdflatex"):
        if shutil.which(name):
            return name
    return None


INSTALL_HINT = (
    "no TeX engine found (latexmk or pdflatex); install TeX Live, e.g. on Debian/Ubuntu: "
    "sudo apt-get install -y texlive-latex-base texlive-latex-recommended latexmk"
)


def compile_pdf(tex_path: Path, timeout: int = 300) -> Path:
    """Compile ``tex_path`` to PDF next to it; raise LatexError with the log's errors on failure."""
    engine = tex_engine()
    if engine is None:
        raise LatexError(INSTALL_HINT)
    tex_path = Path(tex_path).resolve()
    if engine == "latexmk":
        commands = [["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex_path.name]]
    else:  # twice, for the table of contents
        commands = [["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex_path.name]] * 2
    for command in commands:
        run = subprocess.run(command, cwd=tex_path.parent, capture_output=True, text=True, timeout=timeout)
        log = run.stdout + run.stderr
        problems = [line for line in log.splitlines() if line.startswith("!") or "Undefined control sequence" in line]
        if run.returncode != 0 or problems:
            raise LatexError(f"{engine} failed on {tex_path.name}: " + "; ".join(problems[:5] or log.splitlines()[-5:]))
    return tex_path.with_suffix(".pdf")


def build_pdf(source: str, pdf: Path, figures=(), timeout: int = 300) -> Path:
    """The LaTeX ``source`` compiled to ``pdf``, with its ``figures`` (each with ``name`` and ``png``), in a
    temporary folder that is then removed: the PDF is all that is written (TeX leaves .aux, .log, .toc, ...)."""
    pdf = Path(pdf)
    with tempfile.TemporaryDirectory(prefix="symdiff-tex-") as folder:
        tex_path = Path(folder) / f"{pdf.stem}.tex"
        tex_path.write_text(source, encoding="utf-8")
        for figure in figures:
            (Path(folder) / figure.name).write_bytes(figure.png)
        built = compile_pdf(tex_path, timeout)
        pdf.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, pdf)
    return pdf


def overfull_lines(log_path: Path, tolerance: float = 1.0) -> list[str]:
    """TeX's reports of lines wider than the page by more than ``tolerance`` points, from a compile's log."""
    log = Path(log_path).read_text(encoding="latin-1")
    found = re.finditer(r"Overfull \\hbox \(([0-9.]+)pt too wide\) ([^\n]*)\n([^\n]*)", log)
    return [f"{m.group(1)} pt {m.group(2)}: {m.group(3)[:120]}" for m in found if float(m.group(1)) > tolerance]
