"""Hygiene: the names a generated module binds for itself never collide with the user's.

An input, intermediate, dim or output named like something the module itself
defines or calls (``grads``, ``saved``, ``torch``, ``sqrt``'s helper, a
temporary ``t0``, a builtin) is renamed in the code with ``_`` appended; the
module's ``INPUTS``, ``GRADIENTS`` and the keys of the gradient dict keep the
user's names.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import replace

import sympy as sp

from ..derivation import AdjointStep, Derivation, ForwardStep
from ..ops.card import helper_sources
from ..ops.structure import like

# what forward, backward, Function and Module bind or call, besides helpers, builtins and the backend module
MODULE_NAMES = frozenset(
    {"INPUTS", "GRADIENTS", "forward", "backward", "Function", "Module", "numpy", "torch", "saved", "grads"}
    | {"grad_output", "wanted", "like", "ctx", "out", "values", "tensors", "inputs", "underived", "self"}
    # a twice-differentiable Function's (torch_wrappers) and an HVP module's
    | {"DIRECTIONS", "Pass", "Gradient", "pairing_forward", "pairing_backward", "_stash", "_unstash", "_derived"}
    | {"_hvp", "hvp", "hessian"}
)
TEMPORARY = re.compile(r"[th]\d+")  # backward's shared subexpressions t0, t1, ...; forward's saved h0, h1, ...
SAVED = re.compile(r"h\d+")


def reserved(name: str, backend: str) -> bool:
    """Whether generated ``backend`` code may bind or call ``name`` itself."""
    return (
        name in MODULE_NAMES
        or name in helper_sources(backend)
        or hasattr(builtins, name)
        or keyword.iskeyword(name)
        or TEMPORARY.fullmatch(name) is not None
    )


def hygienic(d: Derivation, backend: str) -> tuple[Derivation, dict]:
    """``d`` with every reserved name renamed, and a map from each name in the code to the user's name."""
    matrices = [s for s in list(d.inputs.values()) + [step.symbol for step in d.forward] if hasattr(s, "shape")]
    dim_symbols = {s for m in matrices for x in m.shape for s in sp.sympify(x).free_symbols}  # 2*like: like too
    adjoints = [s.symbol for s in d.named_adjoints]
    names = set(d.inputs) | {s.name for s in d.forward} | {x.name for x in dim_symbols} | {a.name for a in adjoints}
    code_name = {}
    for name in sorted(names):
        new = name
        while reserved(new, backend) or (new != name and new in names):
            new += "_"
        code_name[name] = new
    if all(old == new for old, new in code_name.items()):
        return d, {name: name for name in names}
    dims = {x: sp.Symbol(code_name[x.name], **x.assumptions0) for x in dim_symbols}
    mapping = dict(dims)
    for sym in list(d.inputs.values()) + [s.symbol for s in d.forward] + adjoints:
        if sym in dims:
            continue
        if isinstance(sym, sp.MatrixSymbol):
            mapping[sym] = like(sym, code_name[sym.name], [sp.sympify(x).xreplace(dims) for x in sym.shape])
        else:
            mapping[sym] = sp.Symbol(code_name[sym.name], **sym.assumptions0)
    # xreplace, not graph.substitute: renaming keeps every node's form, and it reaches elementwise bodies
    renamed = replace(
        d,
        inputs={code_name[n]: mapping[s] for n, s in d.inputs.items()},
        forward=[ForwardStep(code_name[s.name], mapping[s.symbol], s.expr.xreplace(mapping)) for s in d.forward],
        output=code_name[d.output],
        wrt=[code_name[w] for w in d.wrt],
        steps=[  # code reads only the adjoints that values name
            AdjointStep(s.name, mapping[s.symbol], (), s.local.xreplace(mapping), s.value.xreplace(mapping), True)
            for s in d.named_adjoints
        ],
        gradients={code_name[w]: g.xreplace(mapping) for w, g in d.gradients.items()},
        shapes={
            code_name.get(n, n): shape and tuple(sp.sympify(x).xreplace(dims) for x in shape)
            for n, shape in d.shapes.items()
        },
    )
    return renamed, {new: old for old, new in code_name.items()}
