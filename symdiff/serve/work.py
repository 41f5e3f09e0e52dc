"""What ``symdiff serve`` computes, in a child process (``jobs``): a typed expression's page, a catalog entry's
page and PDF. Each returns plain data (strings, bytes, lists) for the server to lay out."""

from __future__ import annotations

import base64
import io
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from .. import catalog, latex
from ..errors import SymdiffError
from ..ops import shape_text
from ..ops.structure import convention_text
from ..printing import latex as latex_of
from ..printing import text
from ..target import SecondOrder, Target, resolve, result_label, spec_document
from ..verify import checks as numeric

KINDS = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian", "hvp": "Hessian-vector product"}
BACKENDS = ("numpy", "torch")


@dataclass(frozen=True)
class Request:
    """What the form asks: an expression (or a catalog spec's name), its shapes, variables and options."""

    expression: str
    shapes: tuple = ()  # NAME=ROWS,COLS entries
    wrt: tuple = ()  # the variables; an HVP's one, a Hessian's one or two
    kind: str = "gradient"  # a key of KINDS
    notation: str = "partial"
    convention: str = "structured"


MAX_SIZE = 1000  # a side of a matrix: the exact check expands every entry
LARGEST_DRAWN = 5  # the checks draw each named dimension in 2..5


def ping() -> str:
    """Where the symdiff this process runs lives (a child of the fork server, the same as the server's)."""
    return str(Path(__file__).resolve().parents[1])


def _sizes_refused(d) -> None:
    """Refuse a matrix with a side over MAX_SIZE, its named dims at the largest the checks draw (5)."""
    for name, symbol in d.inputs.items():
        for dim in map(sp.sympify, getattr(symbol, "shape", ())):
            size = dim.subs({s: LARGEST_DRAWN for s in dim.free_symbols})
            if size > MAX_SIZE:
                raise SymdiffError(
                    f"--shape {name}: {shape_text(symbol)} has a side of {int(size):,} (named dims at {LARGEST_DRAWN}), "
                    f"above the {MAX_SIZE:,} this page takes (the exact check expands every entry); name the "
                    "dimension instead (X=q,n), and the checks pick small sizes"
                )


def _target(request: Request) -> Target:
    if request.expression.endswith(".toml"):  # a path: the page reads no file the user names
        raise SymdiffError(
            "the page takes an expression or a catalog spec's name; `symdiff derive FILE.toml` reads a file"
        )
    wrt = list(request.wrt)
    if request.kind == "hvp":
        if len(wrt) != 1:
            raise SymdiffError("--wrt: an HVP is taken in one variable (its direction is V)")
        second = SecondOrder.from_options(wrt[0], None, None)
    else:
        second = SecondOrder.from_options(None, wrt, None) if request.kind == "hessian" else None
    wrt = [] if second else wrt
    jacobian = request.kind == "jacobian"
    target = resolve(request.expression, list(request.shapes), wrt, second, request.convention, jacobian)
    _sizes_refused(target.derivation)
    return target


def _png_source(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _document(blocks: list) -> str:
    """The document's HTML body, its figures inline."""
    return latex.render_html_body(blocks, lambda figure: _png_source(figure.png))


def _results(target: Target, exact: dict) -> list[dict]:
    """Each closed form: its label, text, MathML and shape, and its exact check."""
    d = target.derivation
    results = [
        {
            "label": str(step.symbol),
            "text": text(step.value),
            "mathml": _display(step.value),
            "shape": shape_text(step.value),
        }
        for step in d.named_adjoints  # the gradients below read these by name
    ]
    for name in d.wrt:
        form = d.gradients[name]
        check = exact.get(name)
        results.append(
            {
                "label": result_label(d, name),
                "text": text(form),
                "mathml": _display(form),
                "shape": shape_text(form),
                "said": convention_text(d.inputs[name], d.convention) if d.kind == "gradient" else None,
                "exact": check.summary() if check else None,
                "exact_ok": check.ok if check else None,
            }
        )
    return results


def _display(expr) -> str:
    return latex.mathml(rf"\displaystyle {latex_of(expr)}")


def _modules(target: Target) -> tuple[dict, dict]:
    """The generated numpy and torch modules, and why one could not be generated (a Jacobian's)."""
    modules, refused = {}, {}
    for backend in BACKENDS:
        if target.derivation.kind == "jacobian":
            refused[backend] = "a Jacobian has none (generated modules compute the gradients of a scalar)"
            continue
        try:
            modules[backend] = target.module(backend)
        except SymdiffError as err:
            refused[backend] = str(err)
    return modules, refused


def _figure(report) -> str:
    """A bar chart of each comparison's largest relative error against its tolerance, as a PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(report.label(name), c) for name, cs in report.comparisons.items() for c in cs]
    if report.forward is not None:
        rows.insert(0, ("forward", report.forward))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2), dpi=110)
    for k, (label, c) in enumerate(rows):
        error = max(c.max_rel, 1e-18)
        ax.barh(k, error, color="#2e7d32" if c.ok else "#c62828")
        if c.max_rel == 0:  # no bar on a log scale: say so
            ax.text(2e-18, k, "0 (exactly equal)", va="center", fontsize=8)
        ax.plot([c.tolerance, c.tolerance], [k - 0.4, k + 0.4], color="black", lw=1.5)
    ax.set_yticks(range(len(rows)), [f"{label} vs {c.reference.split(' (')[0]}" for label, c in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(1e-18, 1)
    ax.invert_yaxis()
    ax.set_xlabel("largest relative error (bar), tolerance (line)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")  # long labels widen the figure, not cut it
    plt.close(fig)
    return _png_source(buffer.getvalue())


def _checks(target: Target, exact: dict) -> dict:
    """The numeric checks of the generated code (finite differences, torch autograd), with the exact ones."""
    d = target.derivation
    if d.kind == "jacobian":
        return {"error": "a Jacobian has no generated code; its closed form is checked exactly above", "ok": None}
    report = numeric.check(d, exact=False, exact_sizes=target.exact_sizes, domains=target.domains, title=target.title)
    report.exact = {name: result for name, result in exact.items() if name in report.comparisons}
    lines = report.summary().splitlines()[1:-1]
    return {
        "header": report.summary().splitlines()[0],
        "lines": [(line[:4], line[4:].strip()) for line in lines],
        "ok": report.ok,
        "figure": _figure(report),
    }


def derivation_page(request: Request) -> dict:
    """Everything the result page shows for ``request``, with the warnings symdiff gave on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        page = _derivation_page(request)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    page["warnings"] = list(dict.fromkeys(said))
    return page


def _derivation_page(request: Request) -> dict:
    started = time.perf_counter()
    target = _target(request)
    d = target.derivation
    exact = {w: target.check_exact(w) for w in d.wrt}
    derived = time.perf_counter()
    blocks = target.document(exact, request.notation)
    modules, refused = _modules(target)
    generated = time.perf_counter()
    checks = _checks(target, exact)
    return {
        "title": target.title,
        "kind": d.kind,
        "spec": target.spec.name if target.spec else None,
        "results": _results(target, exact),
        "outputs": _outputs(d),
        "document": _document(blocks),
        "modules": modules,
        "refused": refused,
        "checks": checks,
        "seconds": {
            "derive and exact checks": derived - started,
            "document and code": generated - derived,
            "numeric checks": time.perf_counter() - generated,
        },
    }


def _outputs(d) -> list[str]:
    """A layer's outputs, as ``derive`` prints them."""
    steps = {s.name: s for s in d.forward}
    return [f"{y} = {text(steps[y].expr)}    [{shape_text(steps[y].symbol)}]" for y, _ in d.outputs]


def catalog_entries() -> list[dict]:
    """The catalog's derivations and proofs: name, title, kind and source."""
    entries = []
    for name in catalog.names():
        spec = catalog.load(name)
        entries.append({"name": name, "title": spec.title, "kind": spec.kind, "source": spec.source})
    for name in catalog.proof_names():
        spec = catalog.load_proof(name)
        entries.append({"name": name, "title": spec.title, "kind": "proof", "source": spec.source})
    return entries


def _entry_blocks(name: str):
    """A catalog entry's document blocks and, for a derivation, its Target."""
    if name in catalog.proof_names():
        return catalog.load_proof(name).prove().blocks, None
    if name not in catalog.names():
        raise SymdiffError(catalog.unknown_spec(name))
    target = resolve(name, [], [])
    checks = {w: target.check_exact(w) for w in target.derivation.wrt}
    return spec_document(target.spec, target.derivation, checks), target


def catalog_page(name: str) -> dict:
    """A catalog entry's document, LaTeX and generated modules."""
    blocks, target = _entry_blocks(name)
    modules, refused = _modules(target) if target is not None else ({}, {})
    return {
        "document": _document(blocks),
        "latex": latex.standalone_latex(blocks),
        "modules": modules,
        "refused": refused,
        "results": _results(target, {}) if target is not None else [],
    }


def catalog_pdf(name: str) -> bytes:
    """A catalog entry's document compiled by TeX."""
    if latex.tex_engine() is None:
        raise SymdiffError(f"no TeX engine here to build the PDF; {latex.INSTALL_HINT}")
    blocks, _ = _entry_blocks(name)
    with tempfile.TemporaryDirectory(prefix="symdiff-serve-") as folder:
        pdf = latex.build_pdf(latex.standalone_latex(blocks), Path(folder) / f"{name}.pdf", latex.figures(blocks))
        return pdf.read_bytes()


def slug(title: str) -> str:
    """A file name's stem for a module of ``title``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")[:40] or "module"
