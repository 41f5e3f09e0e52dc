r"""Targets with several outputs: a layer returning (h, c) as one derivation.

A layer's backward takes one upstream gradient per output, $G_i = \partial L / \partial Y_i$ for a loss $L$
downstream, and gives $\bar X = \sum_i J_{Y_i}(X)^T G_i$: the gradient of the scalar
$L = \sum_i \langle G_i, Y_i \rangle$ with the $G_i$ held fixed. ``derive_outputs`` derives that scalar, each
$G_i$ a new input of its output's shape, and records which input stands for which output's upstream gradient
(``Derivation.outputs``), so that generated code is the layer: its forward returns the outputs, its backward
takes their gradients (``codegen``), and checks and documents treat it as any gradient.
"""

from __future__ import annotations

import sympy as sp

from .derivation import Derivation, derive, placeholder
from .errors import InputError
from .ops import hadamard, is_matrix, sum_all
from .reserved import valid_name

LOSS = "L"  # the name of the scalar whose gradients are the layer's backward


def upstream_name(output: str) -> str:
    """The default name of an output's upstream gradient: G_h for h."""
    return f"G_{output}"


def derive_outputs(
    outputs: dict, wrt, intermediates=None, upstream=None, inputs=None, convention: str = "structured"
) -> Derivation:
    """The backward of a layer with the ``outputs`` (name -> expression, or an intermediate's placeholder, in
    order): the gradients in ``wrt`` of L = sum_i <G_i, Y_i>, each G_i (named ``upstream[i]``, default G_<name>)
    an input of Y_i's shape standing for dL/dY_i. ``intermediates`` and ``inputs`` are ``derive``'s."""
    if not isinstance(outputs, dict) or not outputs:
        raise InputError("derive_outputs needs the outputs as a dict, name -> expression: {'h': h, 'c': c}")
    for name, expr in outputs.items():
        if not (isinstance(name, str) and valid_name(name)) or not isinstance(expr, sp.Basic):
            raise InputError(f"output {name!r:.40}: a valid name and a SymPy expression (sd.parse), got {expr!r:.60}")
    if isinstance(upstream, str) or not all(isinstance(g, str) and valid_name(g) for g in upstream or []):
        raise InputError(f"upstream: a list of names, one per output, got {upstream!r:.60}")
    upstream = list(upstream or [upstream_name(name) for name in outputs])
    if len(upstream) != len(outputs) or len(set(upstream)) != len(upstream):
        raise InputError(f"one upstream gradient name per output, each once: {list(outputs)} and {upstream}")
    steps = dict(intermediates or {})
    taken = {str(s) for e in [*steps, *steps.values(), *outputs.values()] for s in sp.sympify(e).free_symbols}
    terms, gradients = [], {}
    for (name, expr), g in zip(outputs.items(), upstream):
        if g in taken or g in outputs:
            raise InputError(f"the upstream gradient of {name}, {g}, is named like a symbol the layer uses")
        y = expr if expr in steps else placeholder(name, expr)
        steps.setdefault(y, expr)
        G = gradients[g] = placeholder(g, y)
        terms.append(sum_all(hadamard(G, y)) if is_matrix(y) else G * y)
    d = derive(sp.Add(*terms), wrt, steps, output_name=LOSS, inputs=inputs, convention=convention)
    d.outputs = tuple(zip(outputs, upstream))
    for g, G in gradients.items():  # an output that is 0 leaves its G out of L, but the layer still takes it
        if g not in d.inputs:
            d.inputs[g], d.shapes[g] = G, (tuple(G.shape) if is_matrix(G) else None)
    # and a dim only its shape has (h of zeros((N, h))) is an argument of the layer, which does not take G
    carried = {x for n, s in d.inputs.items() if is_matrix(s) and n not in gradients for x in s.shape}
    for G in filter(is_matrix, gradients.values()):
        for dim in sorted(set().union(*(sp.sympify(x).free_symbols for x in G.shape)) - carried, key=str):
            d.inputs.setdefault(str(dim), dim)
            d.shapes.setdefault(str(dim), None)
    return d
