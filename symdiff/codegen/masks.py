"""The values a mask in a backward pass compares, read from what the forward pass saved.

A mask (step(z), tie_step(a - b), clip_step(z), leaky_step(z), max_mask(A)) decides a sign or a tie. Computed
again in the backward through another expression (X g - h0 against addmm(h0, X, g, alpha=-1), or a sum whose
terms SymPy regrouped), it may round differently from the forward and miss a tie that holds on a set of
positive measure: maximum(clip(z), z) ties wherever clip(z) = z. So every forward value a mask compares is
saved, however cheap, and the mask reads it: a difference of two saved values is 0 exactly where they are
equal.
"""

from __future__ import annotations

import sympy as sp

from ..graph import is_leaf, nodes
from ..ops import is_matrix, split_coeff


def _is_mask(e) -> bool:
    return is_matrix(e) and getattr(e, "is_mask", False)


def _sub_sums(total: sp.MatAdd, sums: list) -> tuple[list, list]:
    """``(matched, rest)``: the ``sums`` that ``total`` holds as c times all their terms, as ``(c, sum)``, and
    its other terms. SymPy flattens a - (b + c) into one sum, so a forward sum b + c is found by its terms."""
    terms = {split_coeff(t)[1]: t for t in total.args}  # core -> the term, c times the core
    matched = []
    for s in sums:
        parts = [split_coeff(t) for t in s.args]
        first_coeff, first_core = parts[0]
        if first_core not in terms:
            continue
        c = split_coeff(terms[first_core])[0] / first_coeff
        if all(core in terms and split_coeff(terms[core])[0] == c * coeff for coeff, core in parts):
            matched.append((c, s))
            for _, core in parts:
                del terms[core]
    return matched, list(terms.values())


def compared_values(in_forward: set, grads: list) -> list:
    """The forward values (nodes of ``in_forward``) that the masks in ``grads`` compare: z in step(z), a and
    b in tie_step(a - b), A in max_mask(A); the largest forward value at each place, a transpose or multiple
    of one giving the value itself."""
    sums = sorted(
        (e for e in in_forward if isinstance(e, sp.MatAdd)), key=lambda e: (-len(e.args), sp.default_sort_key(e))
    )
    found = []

    def operands(e):
        core = split_coeff(e)[1] if isinstance(e, sp.MatMul) else e  # -(X g) is MatMul(-1, X, g)
        if is_leaf(core):
            return
        if core in in_forward and not isinstance(core, sp.Transpose):
            found.append(core)
            return
        rest = core.args
        if isinstance(core, sp.MatAdd):
            matched, rest = _sub_sums(core, sums)
            found.extend(s for _, s in matched)
        for a in rest:
            operands(a)

    for mask in sorted((e for e in nodes(grads) if _is_mask(e)), key=sp.default_sort_key):
        operands(mask.arg)
    return list(dict.fromkeys(found))


def with_saved(expr, names: dict):
    """``expr`` with the saved values ``names`` maps to symbols read in their place: where they stand as
    nodes, as scalar multiples (-(X g) is MatMul(-1, X, g), where a plain ``xreplace`` finds no X g), and
    within a mask's argument as sub-sums (a - (b + c) is one flat sum)."""
    sums = sorted((e for e in names if isinstance(e, sp.MatAdd)), key=lambda e: (-len(e.args), sp.default_sort_key(e)))
    memo: dict = {}

    def visit(e, in_mask=False):
        if e in names:
            return names[e]
        if is_leaf(e):
            return e
        if (e, in_mask) in memo:
            return memo[(e, in_mask)]
        coeff, core = split_coeff(e) if isinstance(e, sp.MatMul) else (sp.S.One, e)
        if coeff != 1 and core in names:
            out = sp.MatMul(coeff, names[core])
        elif in_mask and isinstance(e, sp.MatAdd) and sums:
            matched, rest = _sub_sums(e, sums)
            terms = [sp.MatMul(c, names[s]) if c != 1 else names[s] for c, s in matched]
            terms += [visit(t, True) for t in rest]
            out = sp.MatAdd(*terms) if len(terms) > 1 else terms[0]
        else:
            args = [visit(a, in_mask or _is_mask(e)) for a in e.args]
            out = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        memo[(e, in_mask)] = out
        return out

    return visit(expr)
