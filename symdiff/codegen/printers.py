"""Array-code printers: SymPy's NumPyPrinter and TorchPrinter, with the op cards' spellings and the
layout of sums and products (``layout.py``).

Cards call helpers through ``card.call``, which names them in
``symdiff.ops.<dialect>_helpers``; these printers record each such helper in
``helpers_used`` and print its bare name, since the generated module defines it.
``TorchCodePrinter`` comes from ``printer_class("torch")``: SymPy's torch
printer imports torch, which only torch code needs.
"""

from __future__ import annotations

from functools import cache

from sympy.printing.numpy import NumPyPrinter

from ..ops.card import HELPER_MODULE
from ..printing import ArrayCode, spelled
from .layout import LaidOut, laid_out


class HelperCalls(LaidOut, ArrayCode):
    """Array code whose calls of card helpers are recorded (the module defines them) and printed bare."""

    def __init__(self, settings=None):
        super().__init__(settings)
        self.helpers_used: set = set()

    def _module_format(self, fqn, register=True):
        module, _, name = fqn.rpartition(".")
        if module in HELPER_MODULE.values():
            self.helpers_used.add(name)
            return name
        return super()._module_format(fqn, register)


class NumpyCodePrinter(HelperCalls, NumPyPrinter):
    """numpy code for symdiff expressions."""


laid_out(spelled(NumpyCodePrinter, "numpy"))


@cache
def printer_class(backend: str) -> type:
    """The code printer class of ``backend`` ('numpy' or 'torch')."""
    if backend == "numpy":
        return NumpyCodePrinter
    from sympy.printing.pytorch import TorchPrinter

    class TorchCodePrinter(HelperCalls, TorchPrinter):
        """PyTorch code for symdiff expressions."""

    return laid_out(spelled(TorchCodePrinter, "torch"))
