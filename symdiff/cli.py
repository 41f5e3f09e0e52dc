"""The ``symdiff`` command line: ``derive``, ``emit``, ``check``, ``train``, ``catalog``, ``fuzz``, ``bench`` and
``serve``.

symdiff derive "sum((X @ W + b - Y)**2) / q" --shape X=q,n W=n,p b=1,p Y=q,p --wrt W b
symdiff derive 000_linear_regression_batch --check
symdiff derive my_layer.toml --markdown        # a spec file in the format of derivations/README.md
symdiff check 000_linear_regression_batch --sizes q=1000 n=50 p=1
symdiff train linear-regression --device auto
symdiff catalog                                # every derivation and proof, checked
symdiff bench --quick                          # generated code against autograd, ratios in one run
symdiff serve                                  # the page at http://127.0.0.1:8000/
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import catalog, codegen, latex, train
from .errors import SymdiffError
from .ops import shape_text
from .ops.structure import CONVENTIONS, convention_text
from .printing import text
from .progress import progress
from .second_order import FUNCTION
from .target import SecondOrder, resolve, result_label, spec_document, spec_module
from .verify import checks, gradcheck
from .verify.exact import check_gradient as exact_check
from .verify.numeric import DOMAINS

TARGET_HELP = "an expression (numpy conventions), the name of a catalog spec, or a spec file (FILE.toml)"


def _resolve(args):
    """What the command works on, with --hvp or --hessian applied."""
    second = SecondOrder.from_options(args.hvp, args.hessian, args.direction)
    return resolve(args.target, args.shape, args.wrt, second, args.convention)


def cmd_derive(args) -> int:
    target = _resolve(args)
    d = target.derivation
    document = args.latex or args.markdown or args.html
    checks = {w: target.check_exact(w) for w in _exact_progress(d.wrt)} if args.check or document else {}
    wrong = _wrong_stated_forms(target)
    ok = all(c.ok for c in checks.values()) and not wrong
    if document:
        blocks = target.document(checks, args.notation)
        render = (
            latex.standalone_latex if args.latex else latex.render_markdown if args.markdown else latex.standalone_html
        )
        print(render(blocks), end="")
        for line in wrong.values():
            print(f"FAIL {line}", file=sys.stderr)
        return 0 if ok else 1
    if d.kind in ("hvp", "hessian"):
        print(f"{FUNCTION} = {text(d.function)}")
    if d.outputs:
        _print_outputs(d)
    for step in d.named_adjoints:  # the gradients below read these by name
        print(f"{step.symbol} = {text(step.value)}    [{shape_text(step.value)}]")
    for name in d.wrt:
        form = d.gradients[name]
        label = result_label(d, name)
        print(f"{label} = {text(form)}    [{shape_text(form)}]")
        said = convention_text(d.inputs[name], d.convention) if d.kind == "gradient" else None
        if said:
            print(f"{' ' * len(label)}   ({said})")
        if name in checks:
            print(f"{' ' * len(label)}   exact check: {checks[name].summary()}")
        if name in wrong:
            print(f"{' ' * len(label)}   FAIL {wrong[name]}")
    return 0 if ok else 1


def _print_outputs(d) -> None:
    """A layer's outputs, and the scalar whose gradients are its backward."""
    steps = {s.name: s for s in d.forward}
    for y, _ in d.outputs:
        print(f"{y} = {text(steps[y].expr)}    [{shape_text(steps[y].symbol)}]")
    given = ", ".join(f"{g} = d{d.output}/d{y}" for y, g in d.outputs)
    print(f"{d.output} = {text(d.forward[-1].expr)}: the backward, given the upstream gradients {given}")


def _wrong_stated_forms(target) -> dict:
    """A line for each closed form the spec states that is not the derived one, by variable."""
    return {
        w: f"the spec states d{target.derivation.output}/d{w} = {expected.form}, but the derived closed form is "
        f"{text(target.derivation.closed_form(w))}: {result.summary()}"
        for w, expected, result in target.stated_forms()
        if not result.ok
    }


def _exact_progress(names: list):
    """The gradients' names, with a bar on a terminal's stderr while their exact checks take over 2 s."""
    return progress(names, "exact checks", delay=2.0, unit="gradient")


def _assignments(entries: list[str], option: str, example: str, valid) -> dict:
    """NAME=VALUE entries of ``option`` as a dict; ``valid(value)`` decides, ``example`` shows the form."""
    out = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not sep or not valid(value):
            raise SymdiffError(f"{option} entries look like {example}; got {entry!r}")
        out[name] = value
    return out


def _positive_int(text: str) -> bool:
    return text.isdigit() and int(text) > 0


def cmd_check(args) -> int:
    target = _resolve(args)
    domains = {
        **target.domains,
        **_assignments(args.domain, "--domain", f"x=positive, one of {', '.join(DOMAINS)}", DOMAINS.__contains__),
    }
    inputs = {}
    if args.inputs:
        try:
            with np.load(args.inputs) as data:
                inputs = {name: data[name] for name in data.files}
        except (OSError, ValueError) as err:
            raise SymdiffError(f"--inputs {args.inputs}: not a readable .npz file ({err})") from None
    d = target.derivation
    options = dict(
        inputs=inputs,
        sizes={k: int(v) for k, v in _assignments(args.sizes, "--sizes", "q=100", _positive_int).items()},
        domains=domains,
        device=args.device,
        seed=args.seed,
        fd_tolerance=args.fd_tol,
        autograd_tolerance=args.autograd_tol,
        title=target.title if d.kind in ("hvp", "hessian") else target.name,
        exact=not args.no_exact,
        exact_sizes=target.exact_sizes,
    )
    if d.kind in ("hvp", "hessian") and args.double_backward:
        raise SymdiffError("--double-backward checks the torch Function of a gradient; drop --hvp / --hessian")
    report = checks.check(d, **options, progress=True, double_backward=target.double_backward(args.double_backward))
    report.stated = {w: (e.form, text(d.closed_form(w)), result) for w, e, result in target.stated_forms()}
    print(report.summary())
    return 0 if report.ok else 1


def cmd_train(args) -> int:
    result = train.run(
        args.name,
        args.device,
        args.quick,
        args.dtype,
        args.out,
        progress=not args.no_progress,
        optimizer=args.optimizer,
        sharpness=args.sharpness,
    )
    print(result.summary())
    return 0 if result.ok else 1


def cmd_emit(args) -> int:
    source = _resolve(args).module(args.backend, args.compile, args.double_backward)
    if args.output:
        Path(args.output).write_text(source, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(source, end="")
    return 0


def cmd_catalog(args) -> int:
    names, proofs = _catalog_selection(args.only)
    header = (
        f"{'derivation':<30} {'wrt':<6} {'closed form':<60} {'exact check':<18} {'s':>6}  "
        "FLOPs forward / backward (leading terms)"
    )
    print(header)
    print("-" * len(header))
    failed, documents = [], []
    started = time.perf_counter()
    for name in names:
        spec = catalog.load(name)
        t0 = time.perf_counter()
        d = spec.derive()
        derive_seconds = time.perf_counter() - t0
        checks = {}
        for i, w in enumerate(d.wrt):
            t0 = time.perf_counter()
            checks[w] = result = exact_check(d, w, spec.size_values(), math.inf)
            seconds = time.perf_counter() - t0 + (derive_seconds if i == 0 else 0)
            if not result.ok:
                failed.append(f"{name} d/d{w}: {result.summary()}")
            status = result.method if result.ok else "FAIL"
            cost = f"  {_flops(d)}" if i == 0 else ""
            print(
                f"{name if i == 0 else '':<30} {w:<6} {text(d.gradients[w]):<60} {status:<18} {seconds:6.2f}{cost}",
                flush=True,
            )
        failed += [
            f"{name} d/d{w}: the spec states {e.form}, but the derived closed form is {text(d.closed_form(w))}: "
            f"{result.summary()}"
            for w, e, result in spec.stated_forms(d)
            if not result.ok
        ]
        blocks = spec_document(spec, d, checks, args.notation)
        documents.append(blocks)
        if args.out:
            write_documents(blocks, Path(args.out) / name)
        if args.code and d.kind != "jacobian":  # a Jacobian has no generated code
            write_code(spec, d, Path(args.code))
        if args.html:
            write_html_page(spec, d, blocks, Path(args.html))
    print("-" * len(header))
    print(
        f"{len(names)} derivations in {time.perf_counter() - started:.1f} s; "
        f"{'all exact checks passed' if not failed else f'{len(failed)} FAILED'}"
    )
    parts = [_part(catalog.load(name).source) for name in names]
    for spec, result in _run_proofs(proofs, failed):
        documents.append(result.blocks)
        parts.append(_part(spec.source))
        if args.out:
            write_documents(result.blocks, Path(args.out) / "proofs" / spec.name)
        if args.html:
            write_html_page(spec, None, result.blocks, Path(args.html))
    if args.out:
        print(f"wrote {2 * (len(names) + len(proofs))} documents (.tex, .md) to {args.out}")
    if args.pdf:
        first = {}
        for k, part in enumerate(parts):
            first.setdefault(part, k)
        order = sorted(range(len(documents)), key=lambda k: first[parts[k]])  # proofs beside their seed's
        build_combined([documents[k] for k in order], [parts[k] for k in order], Path(args.pdf))
    if args.html:
        print(f"wrote {write_html_index(names, proofs, Path(args.html))}")
    for line in failed:
        print("FAIL", line, file=sys.stderr)
    return 1 if failed else 0


def _flops(d) -> str:
    """The leading FLOP terms of the forward and of all closed-form gradients (given the saved forward)."""
    from .theory.flops import flops, leading

    forward = flops(*[step.expr for step in d.forward])
    backward = flops(*d.gradients.values())
    return f"{text(leading(forward))} / {text(leading(backward))}"


def _catalog_selection(only: list | None) -> tuple[list, list]:
    """The derivations and proofs ``--only`` names (all of them without it)."""
    derivations, proofs = catalog.names(), catalog.proof_names()
    if not only:
        return derivations, proofs
    unknown = [n for n in only if n not in derivations and n not in proofs]
    if unknown:
        raise SymdiffError(f"--only: {catalog.unknown_spec(unknown[0])}")
    return [n for n in only if n in derivations], [n for n in only if n in proofs]


def _run_proofs(names: list, failed: list):
    """Each proof spec and its result, with a table row; a failed proof is added to ``failed``."""
    if not names:
        return
    header = f"{'proof':<30} {'result':<95} {'s':>6}"
    print(f"\n{header}\n{'-' * len(header)}")
    for name in names:
        spec = catalog.load_proof(name)
        started = time.perf_counter()
        result = spec.prove()
        print(f"{name:<30} {result.summary:<95} {time.perf_counter() - started:6.2f}", flush=True)
        failed.extend(f"{name}: {failure}" for failure in result.failures)
        yield spec, result


def write_figures(blocks, directory: Path) -> None:
    """A document's figures, next to it (its .tex, .md and .html name them)."""
    for figure in latex.figures(blocks):
        (directory / figure.name).write_bytes(figure.png)


def write_documents(blocks, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_figures(blocks, stem.parent)
    stem.with_suffix(".tex").write_text(latex.standalone_latex(blocks), encoding="utf-8")
    stem.with_suffix(".md").write_text(latex.render_markdown(blocks), encoding="utf-8")


def write_code(spec, d, directory: Path) -> None:
    from .generated import BACKEND_PACKAGES

    for backend, package in BACKEND_PACKAGES.items():
        (directory / package).mkdir(parents=True, exist_ok=True)
        (directory / package / f"{spec.name}.py").write_text(spec_module(spec, d, backend), encoding="utf-8")


def write_html_page(spec, d, blocks, directory: Path) -> None:
    """The HTML page of a derivation (or of a proof, ``d`` None), with its LaTeX (and PDF, where TeX is
    installed) and a derivation's generated code."""
    directory.mkdir(parents=True, exist_ok=True)
    write_figures(blocks, directory)
    (directory / f"{spec.name}.html").write_text(latex.standalone_html(blocks), encoding="utf-8")
    source = latex.standalone_latex(blocks)
    (directory / f"{spec.name}.tex").write_text(source, encoding="utf-8")
    if latex.tex_engine() is not None:
        latex.build_pdf(source, directory / f"{spec.name}.pdf", latex.figures(blocks))
    if d is not None and d.kind != "jacobian":
        write_code(spec, d, directory / "code")


def write_html_index(names: list, proofs: list, directory: Path) -> Path:
    """index.html: every derivation's and proof's page, PDF (or .tex) and generated modules, by relative link."""
    from .generated import BACKEND_PACKAGES

    entries = []
    for name in proofs:
        links = {"PDF": f"{name}.pdf"} if (directory / f"{name}.pdf").exists() else {"LaTeX": f"{name}.tex"}
        entries.append((name, catalog.load_proof(name).title, links))
    for name in names:
        links = {"PDF": f"{name}.pdf"} if (directory / f"{name}.pdf").exists() else {"LaTeX": f"{name}.tex"}
        for backend, package in BACKEND_PACKAGES.items():
            if (directory / "code" / package / f"{name}.py").exists():
                links[backend] = f"code/{package}/{name}.py"
        entries.append((name, catalog.load(name).title, links))
    index = directory / "index.html"
    index.write_text(latex.index_html(sorted(entries), "symdiff: the derivation catalog"), encoding="utf-8")
    return index


def _part(source: str) -> str:
    """The section of the combined catalog a spec belongs to: its seed ("Seed 004 (hw5, ...)"), or the issue
    it came from."""
    head = source.split(")")[0] + ")" if source.startswith("seed ") else source.split(":")[0]
    return head[:1].upper() + head[1:]


def build_combined(documents, parts: list, pdf: Path) -> None:
    """The combined catalog as ``pdf`` alone (TeX runs in a temporary folder); without a TeX engine, its .tex
    and figures, to compile elsewhere."""
    source = latex.combined_latex(documents, "symdiff: the derivation catalog", parts)
    if latex.tex_engine() is not None:
        figures = [f for blocks in documents for f in latex.figures(blocks)]
        with progress(total=1, desc=f"TeX: {pdf.with_suffix('.pdf').name}", delay=2.0) as bar:  # tens of seconds
            written = latex.build_pdf(source, pdf.with_suffix(".pdf"), figures)
            bar.update()
        print(f"wrote {written}")
        return
    tex_path = pdf.with_suffix(".tex")
    tex_path.parent.mkdir(parents=True, exist_ok=True)
    for blocks in documents:
        write_figures(blocks, tex_path.parent)
    tex_path.write_text(source, encoding="utf-8")
    print(f"wrote {tex_path}; {latex.INSTALL_HINT}")


def cmd_bench(args) -> int:
    from . import bench  # imports torch in each case's process

    device = gradcheck.resolve_device(args.device)
    report = bench.run(args.quick, args.dtype, device, args.cases, progress=not args.no_progress)
    print(bench.table(report))
    json_path, figure_path = bench.write(report, args.out)
    print(f"\nwrote {json_path} and {figure_path}")
    agree = all(all(case["agrees"].values()) for case in report["cases"].values())
    checked = all(g["ok"] for g in report["scaling"].get("gradcheck", {}).values())
    return 0 if agree and checked else 1


def cmd_fuzz(args) -> int:
    from . import fuzz  # imports torch: only when fuzzing

    run = fuzz.run_hvp_case if args.second_order else fuzz.run_case
    result = fuzz.soak(args.n, args.seed, args.out, args.budget, progress=not args.no_progress, run=run)
    print(result.summary())
    if result.failures:
        print(f"wrote {len(result.failures)} failing cases (symdiff check one-liners) to {args.out}")
    return 1 if result.failures else 0


SHAPE_HELP = "matrix shapes; S=n,n:symmetric (or spd, diagonal, lower, upper) declares a structured matrix"


def _second_order_options(p) -> None:
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        help="a structured matrix's gradient: structured (default: the projection onto its structure, sym(G) for "
        "symmetric) or coordinates (the derivative in its free entries laid out as a matrix, G + G^T - diag(G))",
    )
    p.add_argument(
        "--hvp",
        metavar="X",
        help="the Hessian-vector product in X instead of the gradients: d/dX <grad f, V>, with X's shape",
    )
    p.add_argument("--direction", metavar="NAME", help="the HVP's direction's name (default V, or V_ where V is taken)")
    p.add_argument(
        "--hessian",
        nargs="+",
        metavar="x",
        help="the Hessian in the column vector x (x y: the mixed second derivatives d2f/dx dy) instead",
    )


def cmd_serve(args) -> int:
    from .serve import serve

    serve(args.host, args.port, args.time_limit, args.workers)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symdiff", description="Matrix gradients in closed form, derived and checked."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("derive", help="print the closed-form gradients of an expression or catalog spec")
    p.add_argument("target", help=TARGET_HELP)
    p.add_argument(
        "--shape",
        nargs="*",
        default=[],
        metavar="NAME=ROWS,COLS",
        help=SHAPE_HELP + "; other names are scalars or dims",
    )
    p.add_argument("--wrt", nargs="*", default=[], metavar="NAME", help="variables to differentiate with respect to")
    _second_order_options(p)
    p.add_argument("--check", action="store_true", help="also run the exact entrywise check")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--latex", action="store_true", help="print the step-by-step derivation as a LaTeX document")
    form.add_argument("--markdown", action="store_true", help="print it as Markdown with $$ math")
    form.add_argument("--html", action="store_true", help="print it as an HTML page with MathML (no script, no CDN)")
    p.add_argument("--notation", choices=latex.NOTATIONS, default="partial", help="adjoints as dC/dW, W-bar or W^nabla")
    p.set_defaults(run=cmd_derive)
    p = sub.add_parser("emit", help="write numpy or PyTorch forward/backward code for an expression or spec")
    p.add_argument("target", help=TARGET_HELP)
    p.add_argument("--shape", nargs="*", default=[], metavar="NAME=ROWS,COLS", help=SHAPE_HELP)
    p.add_argument("--wrt", nargs="*", default=[], metavar="NAME", help="variables to differentiate with respect to")
    _second_order_options(p)
    p.add_argument("--backend", choices=sorted(codegen.BACKENDS), default="numpy")
    p.add_argument("-o", "--output", metavar="FILE", help="write the module to FILE instead of printing it")
    p.add_argument(
        "--compile", action="store_true", help="torch: forward and backward under torch.compile (fused kernels)"
    )
    p.add_argument(
        "--double-backward",
        action="store_true",
        help="torch: the Function's double backward (create_graph=True, torch.func.jvp of grad) is the derived HVP",
    )
    p.set_defaults(run=cmd_emit)
    p = sub.add_parser("check", help="check gradients exactly, and their code against finite differences and autograd")
    p.add_argument("target", help=TARGET_HELP)
    p.add_argument("--shape", nargs="*", default=[], metavar="NAME=ROWS,COLS", help=SHAPE_HELP)
    p.add_argument("--wrt", nargs="*", default=[], metavar="NAME", help="variables to differentiate with respect to")
    _second_order_options(p)
    p.add_argument("--sizes", nargs="*", default=[], metavar="DIM=N", help="dimension sizes (default: random 2..5)")
    p.add_argument("--inputs", metavar="FILE.npz", help="input values by name (others are random)")
    p.add_argument(
        "--domain", nargs="*", default=[], metavar="NAME=DOMAIN", help="draw NAME from any | positive | nonzero | spd"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and directions")
    p.add_argument("--fd-tol", type=float, default=1e-6, help="relative tolerance against finite differences")
    p.add_argument("--autograd-tol", type=float, default=1e-10, help="relative tolerance against torch autograd")
    p.add_argument("--no-exact", action="store_true", help="skip the exact entrywise check of the closed forms")
    p.add_argument(
        "--double-backward",
        action="store_true",
        help="also the Function's double backward from the derived HVP against autograd's (a spec with "
        "double_backward = true: always)",
    )
    p.set_defaults(run=cmd_check)
    p = sub.add_parser("train", help="train with autograd and with generated backward code, and compare")
    p.add_argument("name", choices=list(train.RUNS), help="which run")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: CUDA when present)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--quick", action="store_true", help="a short version (seconds): what the test suite runs")
    p.add_argument(
        "--optimizer",
        choices=["sgd", "momentum", "nesterov"],
        help="symdiff's update from the proved forms, against torch.optim.SGD (linear-regression, sigmoid-mlp, "
        "autoencoder; default: plain SGD)",
    )
    p.add_argument(
        "--sharpness",
        action="store_true",
        help="the Hessian's largest eigenvalue by power iteration on the emitted HVP, against 2 / alpha "
        "(linear-regression, sigmoid-mlp, autoencoder)",
    )
    p.add_argument("--out", default="symdiff-runs", metavar="DIR", help="where figures go (default symdiff-runs/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_train)
    p = sub.add_parser("catalog", help="derive and exactly check every spec in derivations/, and run the proofs")
    p.add_argument("--only", nargs="*", metavar="NAME", help="only these specs")
    p.add_argument("--out", metavar="DIR", help="write each derivation's .tex and .md into DIR (e.g. derivations/)")
    p.add_argument("--pdf", metavar="FILE", help="build one combined document and compile it to FILE (.pdf)")
    p.add_argument("--code", metavar="DIR", help="write numpy and torch modules of every gradient (symdiff/generated)")
    p.add_argument(
        "--html", metavar="DIR", help="write an HTML page of each derivation, its PDF and code, and index.html"
    )
    p.add_argument("--notation", choices=latex.NOTATIONS, default="partial", help="adjoints as dC/dW, W-bar or W^nabla")
    p.set_defaults(run=cmd_catalog)
    p = sub.add_parser("bench", help="generated backward code against torch autograd, fused kernels and hand forms")
    p.add_argument("--quick", action="store_true", help="small sizes, 5 rounds, no torch.compile (under a minute)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument(
        "--cases",
        nargs="*",
        choices=[
            "linear_mse",
            "softmax_cross_entropy",
            "batchnorm",
            "mlp_step",
            "hessian_quadratic",
            "hessian_logsumexp",
            "hessian_logistic",
            "hvp_logistic",
            "hvp_mlp",
            "depth",
            "catalog",
            "startup",
            "gradcheck",
        ],
        help="only these (default: all; --quick leaves out catalog)",
    )
    p.add_argument("--out", default="symdiff-bench", metavar="DIR", help="where bench.json, bench.md and bench.png go")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("fuzz", help="soak: random expressions derived, emitted, run and compared with references")
    p.add_argument("--n", type=int, default=1000, help="how many random expressions (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the run: case i uses seed * 1000000 + i")
    p.add_argument("--out", default="fuzz-failures.txt", metavar="FILE", help="where failing cases go, one per line")
    p.add_argument("--budget", type=float, default=20.0, metavar="S", help="seconds per expression (default 20)")
    p.add_argument(
        "--second-order",
        action="store_true",
        help="check HVPs instead: in each expression's first input it is not linear in (vs double backward, torch.func)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_fuzz)

    p = sub.add_parser("serve", help="a local web page: type an expression, get its derivation, code and checks")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000; 0: any free one)")
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds each derivation with its checks may take before it is stopped (default 60)",
    )
    p.add_argument("--workers", type=int, default=2, help="derivations run at once (default 2)")
    p.set_defaults(run=cmd_serve)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SymdiffError as err:
        print(f"symdiff: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
