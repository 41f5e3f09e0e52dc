"""Array-code printers: SymPy's NumPyPrinter and TorchPrinter, taught symdiff's ops.

The shared matrix printing is ``printing.ArrayCode``; a backend adds its names
(a table) and the few spellings that differ (transpose, axis sums, broadcasts).
"""

from __future__ import annotations

from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pytorch import TorchPrinter

from ..printing import ATOM, ArrayCode


class LoweredOps:
    """Printing of the fused nodes ``lower`` introduces, as calls to stable helpers."""

    def _print_LogSumExp(self, e):
        return self._call("logsumexp", self._print(e.arg), str(e.axis))

    def _print_LogSumExpAll(self, e):
        return self._call("logsumexp_all", self._print(e.arg))

    def _print_SoftmaxAll(self, e):
        return self._call("softmax_all", self._print(e.arg))


class NumpyCodePrinter(LoweredOps, ArrayCode, NumPyPrinter):
    """numpy code for symdiff expressions; unqualified names are helpers the module defines."""

    NAMES = {
        "exp": "numpy.exp",
        "log": "numpy.log",
        "tanh": "numpy.tanh",
        "sqrt": "numpy.sqrt",
        "Abs": "numpy.abs",
        "sign": "numpy.sign",
        "sum": "numpy.sum",
        "trace": "numpy.trace",
        "det": "numpy.linalg.det",
        "inv": "numpy.linalg.inv",
        "matrix_power": "numpy.linalg.matrix_power",
        "diag": "numpy.diagflat",
    }

    def _print_AxisSum(self, e):
        return f"{self._paren(e.arg, ATOM)}.sum(axis={e.axis}, keepdims=True)"

    def _print_Broadcast(self, e):
        return f"{self._module_format('numpy.broadcast_to')}({self._print(e.arg)}, {self._shape(e)})"

    def _print_OneMatrix(self, e):
        return f"{self._module_format('numpy.ones')}({self._shape(e)})"

    def _print_ZeroMatrix(self, e):
        return f"{self._module_format('numpy.zeros')}({self._shape(e)})"

    def _print_Identity(self, e):
        return f"{self._module_format('numpy.eye')}({self._print(e.shape[0])})"


class TorchCodePrinter(LoweredOps, ArrayCode, TorchPrinter):
    """PyTorch code for symdiff expressions; unqualified names are helpers the module defines."""

    NAMES = {
        "exp": "torch.exp",
        "log": "torch.log",
        "tanh": "torch.tanh",
        "sqrt": "torch.sqrt",
        "Abs": "torch.abs",
        "sign": "torch.sign",
        "sum": "torch.sum",
        "trace": "torch.trace",
        "det": "torch.linalg.det",
        "inv": "torch.linalg.inv",
        "matrix_power": "torch.linalg.matrix_power",
        "diag": "diagflat",
        "sigmoid": "torch.sigmoid",
        "relu": "torch.relu",
    }

    def _print_Transpose(self, e):
        return f"{self._paren(e.arg, ATOM)}.mT"

    def _print_AxisSum(self, e):
        return f"{self._paren(e.arg, ATOM)}.sum(dim={e.axis}, keepdim=True)"

    def _print_Broadcast(self, e):
        return f"{self._paren(e.arg, ATOM)}.expand{self._shape(e)}"

    def _print_OneMatrix(self, e):
        return self._call("ones", *self._shape(e)[1:-1].split(", "), "like")

    def _print_ZeroMatrix(self, e):
        return self._call("zeros", *self._shape(e)[1:-1].split(", "), "like")

    def _print_Identity(self, e):
        return self._call("eye", self._print(e.shape[0]), "like")
