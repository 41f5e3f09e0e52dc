"""Derive + emit time of every second-order catalog entry (each spec of kind "hessian" or "hvp"), against issue
21's target: a Hessian's or an HVP's derivation and its code in under 2 s, for every catalog entry.

Each spec is timed once, from ``spec.derive()`` to its torch and numpy modules' source, in the process that calls
``derive_emit`` (the report runs it in its own), after a warm-up that pays the imports, the printers and the first
ruff run. SymPy's cache is cleared before each spec, so that no spec's time depends on those derived before it.
"""

from __future__ import annotations

import gc
import time

TARGET_S = 2.0
KINDS = ("hessian", "hvp")


def second_order_specs() -> list[str]:
    """The names of the catalog's specs of kind "hessian" or "hvp"."""
    from .. import catalog

    return [name for name in catalog.names() if catalog.load(name).kind in KINDS]


def derive_emit() -> dict:
    """Seconds to derive each second-order catalog spec and emit its torch and numpy modules, by spec name."""
    from sympy.core.cache import clear_cache

    from .. import catalog, codegen
    from .scaling import mlp_spec

    warm_up = mlp_spec(2).derive()
    for backend in ("torch", "numpy"):
        codegen.emit(warm_up, backend)
    out = {}
    for name in second_order_specs():
        spec = catalog.load(name)
        clear_cache()
        gc.collect()  # a collection the spec before left due falls outside the timing
        started = time.perf_counter()
        d = spec.derive()
        for backend in ("torch", "numpy"):
            codegen.emit(d, backend, spec.title, spec.parameters, spec.upstream)
        out[name] = time.perf_counter() - started
    return out


def missed_by(seconds: float) -> float | None:
    """The factor by which ``seconds`` misses the target (seconds over ``TARGET_S``), or None where it is met."""
    return seconds / TARGET_S if seconds > TARGET_S else None
