"""Generated numpy and torch modules of every catalog gradient.

Regenerate with ``symdiff catalog --code symdiff/generated``; a test fails when
a file here differs from what the generator produces. Spec names start with
digits, so load modules by name::

    from symdiff.generated import load
    linear = load("000_linear_regression_batch", "torch")
    loss, saved = linear.forward(W, X, Y, b)
"""

import importlib

BACKEND_PACKAGES = {"numpy": "numpy_code", "torch": "torch_code"}


def load(name: str, backend: str = "torch"):
    """The generated ``backend`` module of catalog spec ``name``."""
    if backend not in BACKEND_PACKAGES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_PACKAGES)}, got {backend!r}")
    return importlib.import_module(f"{__name__}.{BACKEND_PACKAGES[backend]}.{name}")
