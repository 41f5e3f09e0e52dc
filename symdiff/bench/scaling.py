"""How symdiff's own work scales: derivation against depth, the catalog, start-up, and gradient checks.

* ``depth``: derive and emit (torch) the L-layer sigmoid MLP of seed 004 for L = 1, 2, 4, ..., 64;
* ``catalog_time``: derive every catalog spec and emit its numpy and torch modules;
* ``startup``: the wall time of ``symdiff derive`` on a small expression, start-up included;
* ``gradcheck_scaling``: ``verify.gradcheck.check`` (finite differences along random directions and torch
  autograd of the reference evaluator) of a least-squares gradient, against its parameter count.

Each returns seconds in a dict, measured in the process that calls it (the report runs each in its own).
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPTHS = (1, 2, 4, 8, 16, 32, 64)
QUICK_DEPTHS = (1, 2, 4, 8)
PARAMETERS = (10**3, 10**4, 10**5, 10**6)
QUICK_PARAMETERS = (10**3, 10**4)


def mlp_spec_text(depth: int) -> str:
    """The spec of seed 004's sigmoid MLP with ``depth`` layers: sigma(A y + b) but the last, squared loss."""
    wrt = [name for layer in range(1, depth + 1) for name in (f"A{layer}", f"b{layer}")]
    lines = ['title = "sigmoid MLP"', 'source = "symdiff bench"', 'dims = ["d"]', f"wrt = {wrt!r}".replace("'", '"')]
    lines += ["[shapes]", 'X = ["d", 1]', "Y = [1, 1]"]
    for layer in range(1, depth + 1):
        rows = "1" if layer == depth else '"d"'
        lines += [f'A{layer} = [{rows}, "d"]', f"b{layer} = [{rows}, 1]"]
    lines.append("[forward]")
    previous = "X"
    for layer in range(1, depth + 1):
        affine = f"A{layer} @ {previous} + b{layer}"
        lines.append(f'y{layer} = "{affine}"' if layer == depth else f'y{layer} = "sigmoid({affine})"')
        previous = f"y{layer}"
    lines.append(f'loss = "sum(({previous} - Y)**2) / 2"')
    return "\n".join(lines) + "\n"


def mlp_spec(depth: int):
    """The spec of ``mlp_spec_text``, loaded as the catalog loads a spec file."""
    from .. import catalog

    with tempfile.TemporaryDirectory(prefix="symdiff-bench-") as folder:  # the spec is read whole: nothing stays
        path = Path(folder) / f"sigmoid_mlp_{depth}.toml"
        path.write_text(mlp_spec_text(depth), encoding="utf-8")
        return catalog.load_file(path)


def depth(depths=DEPTHS, progress=None) -> dict:
    """Seconds to derive and to emit the L-layer MLP, per L (after one warm-up at L = 2: imports, first ruff run)."""
    from .. import codegen

    codegen.emit(mlp_spec(2).derive(), "torch")
    out = {}
    for layers in depths:
        spec = mlp_spec(layers)
        gc.collect()  # a collection the run before left due falls outside the timing
        started = time.perf_counter()
        d = spec.derive()
        derived = time.perf_counter()
        codegen.emit(d, "torch")
        out[layers] = {"derive": derived - started, "emit": time.perf_counter() - derived}
        if progress:
            progress(layers)
    return out


def catalog_time() -> dict:
    """Seconds to derive every catalog spec and emit its numpy and torch modules (no documents, no checks)."""
    from .. import catalog, codegen

    started = time.perf_counter()
    names = catalog.names()
    for name in names:
        spec = catalog.load(name)
        d = spec.derive()
        if d.kind != "jacobian":  # a Jacobian has no generated code
            for backend in ("numpy", "torch"):
                codegen.emit(d, backend, spec.title, spec.parameters, spec.upstream)
    return {"specs": len(names), "seconds": time.perf_counter() - started}


STARTUP_COMMAND = ["derive", "sum(X * X) / 2", "--shape", "X=3,2", "--wrt", "X"]


def startup(repeats: int = 3) -> dict:
    """Median wall seconds of ``symdiff derive`` on a small expression in a new process, and of bare Python."""

    def wall(argv):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - started

    derive = [wall([sys.executable, "-m", "symdiff.cli", *STARTUP_COMMAND]) for _ in range(repeats)]
    python = [wall([sys.executable, "-c", "pass"]) for _ in range(repeats)]
    return {
        "command": "symdiff " + " ".join(STARTUP_COMMAND),
        "derive": statistics.median(derive),
        "python": statistics.median(python),
    }


def gradcheck_scaling(counts=PARAMETERS, progress=None) -> dict:
    """Seconds of ``gradcheck.check`` (numeric part) of sum((X W - Y)^2) / q's gradients, per parameter count.

    X is q x n, W n x p and Y q x p with q = 64 and n = p = sqrt(count): W holds ``count`` parameters.
    """
    import math

    import sympy as sp

    from ..derivation import derive
    from ..parse import parse
    from ..verify.gradcheck import DIRECTIONS, ENTRYWISE_LIMIT, check

    q, n, p = (sp.Symbol(s, integer=True, positive=True) for s in "qnp")
    X, W, Y = sp.MatrixSymbol("X", q, n), sp.MatrixSymbol("W", n, p), sp.MatrixSymbol("Y", q, p)
    d = derive(parse("sum((X @ W - Y)**2) / q", X=X, W=W, Y=Y, q=q), [W])
    check(d, sizes={"q": 4, "n": 2, "p": 2}, exact=False)  # warm-up: imports, the first generated module
    out = {}
    for count in counts:
        side = round(math.sqrt(count))
        started = time.perf_counter()
        report = check(d, sizes={"q": 64, "n": side, "p": side}, exact=False)
        method = "entrywise" if side * side <= ENTRYWISE_LIMIT else f"{DIRECTIONS} random directions"
        out[count] = {
            "seconds": time.perf_counter() - started,
            "ok": report.ok,
            "parameters": side * side,
            "method": method,
        }
        if progress:
            progress(count)
    return out
