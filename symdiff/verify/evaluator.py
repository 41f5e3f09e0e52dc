"""The reference evaluator's machinery: a rule per node class, and an evaluator that applies them.

``verify.reference`` writes the rules (each op computed with PyTorch's own
function); here is only how they are found (``rule_of``: a node's class or its
nearest base class) and applied, each node once, and where the sizes of the
dimensions and the device come from.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
import torch

from ..errors import SymdiffError

RULES: dict[type, Callable] = {}  # node class -> rule(node, evaluator) -> tensor


def rule(*classes):
    """Register the decorated function as the rule of ``classes`` (exactly those classes)."""

    def add(fn):
        for cls in classes:
            RULES[cls] = fn
        return fn

    return add


def rule_of(node) -> Callable:
    """The rule of ``node``'s class: its own, else (numbers, explicit matrices) its nearest base class's."""
    for cls in type(node).__mro__:
        if cls in RULES:
            return RULES[cls]
    raise SymdiffError(f"the reference evaluator has no rule for {type(node).__name__} (in {node})")


class Evaluator:
    """Evaluates nodes over ``values`` (name -> tensor) and ``sizes`` (dimension name -> int), each node once."""

    def __init__(self, values: dict, sizes: dict, dtype=torch.float64, device="cpu", bound: dict | None = None):
        self.values, self.sizes, self.dtype, self.device = values, sizes, dtype, device
        self.bound = bound or {}  # Dummy -> tensor: the variable of an elementwise function's body
        self.memo: dict = {}

    def __call__(self, node) -> torch.Tensor:
        if node not in self.memo:
            self.memo[node] = rule_of(node)(node, self)
        return self.memo[node]

    def tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def int(self, dim) -> int:
        """A shape entry (a number, a dimension symbol, or a product such as q*n) as an int."""
        dim = sp.sympify(dim)
        value = dim.xreplace({s: sp.Integer(self.sizes[s.name]) for s in dim.free_symbols if s.name in self.sizes})
        if not value.is_Integer:
            raise SymdiffError(f"the reference evaluator needs the size of {dim} (give it in sizes)")
        return int(value)

    def shape(self, node) -> tuple:
        return tuple(self.int(d) for d in node.shape)

    def number(self, node) -> float | None:
        """``node`` as a Python float when it is a constant (dimensions substituted), else None."""
        value = sp.sympify(node)
        if value.free_symbols:
            value = value.xreplace(
                {s: sp.Integer(self.sizes[s.name]) for s in value.free_symbols if s.name in self.sizes}
            )
        if isinstance(value, sp.MatrixExpr) or value.free_symbols or not value.is_number:
            return None
        try:
            return float(value)
        except (TypeError, OverflowError):  # complex, or beyond float64: torch evaluates it (to nan or inf)
            return None

    def scalar(self, node):
        """A scalar parameter: a float when it is constant (what torch's functions want), else a tensor."""
        value = self.number(node)
        return self(node) if value is None else value

    def within(self, variable, value) -> Evaluator:
        """An evaluator of a function body whose ``variable`` is ``value`` (entry by entry)."""
        return Evaluator(self.values, self.sizes, self.dtype, self.device, {**self.bound, variable: value})


def sizes_from(exprs, values: dict, sizes: dict | None) -> dict:
    """Dimension name -> int: ``sizes``, then what the matrix inputs' shapes say."""
    known = {str(k): int(v) for k, v in (sizes or {}).items()}
    for expr in exprs:
        for m in expr.atoms(sp.MatrixSymbol):
            if m.name in values:
                for dim, n in zip(m.shape, tuple(values[m.name].shape)):
                    if isinstance(dim, sp.Symbol):
                        known.setdefault(dim.name, int(n))
    return known


def device_of(values: dict):
    """The device of the first tensor among ``values`` (the CPU if none is a tensor)."""
    tensors = [v for v in values.values() if torch.is_tensor(v)]
    return tensors[0].device if tensors else "cpu"
