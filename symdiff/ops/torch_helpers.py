"""The torch helpers of every op card as functions, for ``sympy.lambdify(..., "torch")``.

Like ``numpy_helpers``; torch is imported on first use only.
"""

from .card import load_helper


def __getattr__(name: str):
    import torch

    globals().setdefault("torch", torch)
    return load_helper(globals(), "torch", name)
