"""The torch helpers of every op card as functions, for ``sympy.lambdify(..., "torch")``.

Like ``numpy_helpers``; torch is imported on first use only.
"""

from .card import helper_sources


def __getattr__(name: str):
    namespace = globals()
    if "_loaded" not in namespace:
        import torch

        namespace["torch"] = torch
        for source in helper_sources("torch").values():
            exec(source, namespace)  # symdiff's own helper source, from its op cards
        namespace["_loaded"] = True
        if name in namespace:
            return namespace[name]
    raise AttributeError(f"no torch helper named {name!r} on any op card")
