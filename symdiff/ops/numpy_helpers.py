"""The numpy helpers of every op card as functions, for ``sympy.lambdify(..., "numpy")``.

Printed results call them by name (``card.call``); lambdify imports them from
here. Generated modules define their own copies from the same source.
"""

import numpy  # noqa: F401  (the helpers' source calls numpy.*)

from .card import helper_sources


def __getattr__(name: str):
    namespace = globals()
    if "_loaded" not in namespace:
        for source in helper_sources("numpy").values():
            exec(source, namespace)  # symdiff's own helper source, from its op cards
        namespace["_loaded"] = True
        if name in namespace:
            return namespace[name]
    raise AttributeError(f"no numpy helper named {name!r} on any op card")
