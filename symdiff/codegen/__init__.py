"""Code generation: numpy and PyTorch forward/backward modules from a Derivation.

``emit`` writes a module's source (``module``: lowering, CSE, printing with
the op cards' spellings, torch wrappers, ruff formatting); ``compile`` loads it.
"""

from __future__ import annotations

import builtins
import hashlib
import sys
import types

from ..derivation import Derivation
from .module import IMPORTS, emit

BACKENDS = tuple(IMPORTS)


def compile(
    d: Derivation,
    backend: str = "numpy",
    title: str | None = None,
    parameters=None,
    upstream=None,
    torch_compile=False,
    double_backward=None,
) -> types.ModuleType:  # noqa: A001
    """The module ``emit`` writes, loaded in memory (``torch_compile``: its forward and backward under
    ``torch.compile``; ``double_backward``: as ``emit``'s)."""
    source = emit(d, backend, title, parameters, upstream, torch_compile, double_backward)
    # registered under a name of its own: torch.compile (dynamo) looks a function's module up by name
    name = f"symdiff_generated_{backend}_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    module = sys.modules.get(name) or types.ModuleType(name)
    sys.modules[name] = module
    module.__source__ = source
    code = builtins.compile(source, f"<symdiff {backend} module>", "exec")
    exec(code, module.__dict__)  # runs the code symdiff generated, never text a user typed
    return module


__all__ = ["BACKENDS", "compile", "emit"]
