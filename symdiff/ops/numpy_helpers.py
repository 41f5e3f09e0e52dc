"""The numpy helpers of every op card as functions, for ``sympy.lambdify(..., "numpy")``.

Printed results call them by name (``card.call``); lambdify imports them from
here. Generated modules define their own copies from the same source.
"""

import numpy  # noqa: F401  (the helpers' source calls numpy.*)

from .card import load_helper


def __getattr__(name: str):
    return load_helper(globals(), "numpy", name)
