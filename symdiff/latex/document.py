"""The document of a Derivation: a list of blocks (headings, paragraphs, display math, lists, tables).

Every formula comes from the derivation itself through ``printing.LatexPrinter``
(SymPy's printer with the op cards' spellings); rules are quoted from their
docstrings under their cards' titles, so the document states exactly what the
engine used. ``render`` turns blocks into .tex or Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..derivation import Derivation
from ..engine import rule_for
from ..errors import InputError, UnsupportedError
from ..ops import CARDS, is_matrix, scalar_rule
from ..printing import LatexPrinter

NOTATIONS = ("partial", "bar", "nabla")
RULE_TITLES = {card.rule: card.title for card in CARDS.values() if card.rule not in (None, scalar_rule)}


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "text", "math", "table"
    content: object


def _shape_latex(printer, shape) -> str:
    if shape is None:
        return r"\text{scalar}"
    return rf"{printer._print(shape[0])} \times {printer._print(shape[1])}"


def adjoint_latex(output: str, name_tex: str, notation: str, index: str = "") -> str:
    """How the adjoint of ``name`` (w.r.t. the output) is written; ``index`` like ``ij``."""
    if notation == "partial":
        return rf"\frac{{\partial {output}}}{{\partial {_indexed(name_tex, index)}}}"
    if notation == "bar":
        return _indexed(rf"\bar{{{name_tex}}}", index)
    if notation == "nabla":
        return _indexed(rf"{{{name_tex}}}^{{\nabla}}", index)
    raise InputError(f"notation must be one of {NOTATIONS}, got {notation!r}")


def _rules_used(expr, targets) -> list:
    """Op types on the paths from ``expr`` down to any of ``targets``, in first-visit order."""
    found, seen = [], set()

    def visit(e):
        if e in seen or not e.has(*targets) or e in targets:
            return
        seen.add(e)
        try:
            rule = rule_for(e)
        except UnsupportedError:  # leaves and constants have no rule
            rule = None
        if rule is not None and rule not in found:
            found.append(rule)
        for a in e.args:
            if isinstance(a, sp.Basic) and not isinstance(a, sp.Lambda):
                visit(a)

    visit(expr)
    return found


def _rule_text(rule) -> str:
    doc = " ".join((rule.__doc__ or "").split())
    return f"{RULE_TITLES.get(rule, 'Scalar chain rule')}: {doc}"


def document_blocks(
    d: Derivation,
    title: str,
    source: str = "",
    notes: str = "",
    remarks=(),
    checks: dict | None = None,
    notation: str = "partial",
) -> list[Block]:
    """The blocks of one derivation's document.

    ``remarks`` are (variable, what the source states, why it is wrong, correct form)
    tuples; ``checks`` maps variable names to ExactResults.
    """
    if notation not in NOTATIONS:
        raise InputError(f"notation must be one of {NOTATIONS}, got {notation!r}")
    base = LatexPrinter()
    out_tex = base._print(d.forward[-1].symbol)
    names = {}
    symbol_of = {s.name: s.symbol for s in d.forward} | d.inputs
    for step in d.steps:
        if step.symbol is not None:
            names[step.symbol] = adjoint_latex(out_tex, base._print(symbol_of[step.name]), notation)
    p = LatexPrinter(names)
    tex = p._print
    blocks = [Block("heading", title)]
    if source:
        blocks.append(Block("text", f"Source: {source}."))
    if notes:
        blocks.append(Block("text", notes))

    blocks.append(Block("heading2", "Setting"))
    rows = [("Symbol", "Shape", "Role")]
    for name, sym in d.inputs.items():
        if isinstance(sym, sp.Symbol) and any(sym in (m.shape if is_matrix(m) else ()) for m in d.inputs.values()):
            continue  # a dimension
        role = "variable" if name in d.wrt else "input"
        rows.append((f"${tex(sym)}$", f"${_shape_latex(p, d.shapes.get(name))}$", role))
    for step in d.forward:
        role = "output" if step is d.forward[-1] else "intermediate"
        rows.append((f"${tex(step.symbol)}$", f"${_shape_latex(p, d.shapes.get(step.name))}$", role))
    blocks.append(Block("table", rows))
    if d.kind == "jacobian":
        blocks.append(
            Block(
                "text",
                "Layout: denominator layout. For a column vector $y$ ($m \\times 1$) and a column "
                "vector $x$ ($n \\times 1$) the Jacobian $\\partial y / \\partial x$ is $n \\times m$, "
                "with entries $(\\partial y/\\partial x)_{ij} = \\partial y_j / \\partial x_i$.",
            )
        )
    else:
        blocks.append(
            Block(
                "text",
                "Layout: denominator layout. The derivative of the scalar output with respect to a "
                "matrix has the shape of that matrix: "
                f"$\\left({adjoint_latex(out_tex, 'X', 'partial')}\\right)_{{ij}} = "
                f"{adjoint_latex(out_tex, 'X', 'partial', 'ij')}$.",
            )
        )

    blocks.append(Block("heading2", "Forward computation"))
    blocks.append(Block("math", [(tex(s.symbol), tex(s.expr)) for s in d.forward]))

    used = []
    if d.kind == "jacobian":
        blocks.append(Block("heading2", "Jacobian"))
        for w in d.wrt:
            x, y = tex(d.inputs[w]), out_tex
            blocks.append(Block("math", [(rf"\frac{{\partial {y}}}{{\partial {x}}}", tex(d.gradients[w]))]))
            used.extend(r for r in _rules_used(d.output_expr, [d.inputs[w]]) if r not in used)
    else:
        blocks.append(Block("heading2", "Backward steps"))
        blocks.append(
            Block(
                "text",
                f"Adjoints are written {_notation_text(out_tex, notation)}; each step applies "
                "the chain rule entry by entry and collects the result in matrix form.",
            )
        )
        steps_by_name = {s.name: s for s in d.forward}
        for step in d.steps:
            target = symbol_of[step.name]
            target_tex = tex(target)
            index = "ij" if is_matrix(target) and tuple(target.shape) != (1, 1) else ""
            lines = []
            for consumer, share in step.contributions:
                c_sym = steps_by_name[consumer].symbol
                used.extend(r for r in _rules_used(steps_by_name[consumer].expr, [target]) if r not in used)
                lhs = adjoint_latex(out_tex, target_tex, notation, index)
                if consumer == d.output:
                    lines.append((lhs, _entry(tex(share), index)))
                    continue
                c_tex = tex(c_sym)
                c_index = "kl" if is_matrix(c_sym) and tuple(c_sym.shape) != (1, 1) else ""
                local = rf"\frac{{\partial {_indexed(c_tex, c_index)}}}{{\partial {_indexed(target_tex, index)}}}"
                total = r"\sum_{k,l} " if c_index else ""
                through = rf" \quad \text{{(through ${c_tex}$)}}" if len(step.contributions) > 1 else ""
                chain = f"{total}{adjoint_latex(out_tex, c_tex, notation, c_index)} \\, {local}"
                lines.append((lhs, f"{chain} = {_entry(tex(share), index)}{through}"))
            lines.append((adjoint_latex(out_tex, target_tex, notation), tex(step.local)))
            if step.local != step.value:
                lines.append(("", tex(step.value)))
            blocks.append(
                Block(
                    "text",
                    f"Adjoint of ${target_tex}$"
                    + (
                        f" (from {', '.join('$' + tex(steps_by_name[c].symbol) + '$' for c, _ in step.contributions)}):"
                        if step.contributions
                        else ":"
                    ),
                )
            )
            blocks.append(Block("math", lines))
        blocks.append(Block("text", "The rules these steps use:"))
    if used:
        if d.kind == "jacobian":
            blocks.append(Block("text", "The rules used:"))
        blocks.append(Block("list", [_rule_text(r) for r in used]))

    blocks.append(Block("heading2", "Result"))
    results = []
    for w in d.wrt:
        lhs = rf"\frac{{\partial {out_tex}}}{{\partial {tex(d.inputs[w])}}}"
        results.append((lhs, tex(d.gradients[w])))
        closed = d.closed_form(w)
        if closed != d.gradients[w]:
            results.append(("", tex(closed)))
    blocks.append(Block("math", results))
    rows = [("Gradient", "Shape", "Variable's shape", "Check")]
    for w in d.wrt:
        g_shape = d.gradients[w].shape if is_matrix(d.gradients[w]) else None
        v_shape = d.shapes.get(w)
        if d.kind == "jacobian":
            out_shape = d.shapes.get(d.output)
            expected = (v_shape[0], out_shape[0]) if v_shape and out_shape else None
            ok = g_shape is not None and tuple(g_shape) == tuple(expected)
        else:
            expected = v_shape
            ok = (g_shape is None and (v_shape is None or tuple(v_shape) == (1, 1))) or (
                g_shape is not None and v_shape is not None and tuple(g_shape) == tuple(v_shape)
            )
        rows.append(
            (
                f"$\\partial {out_tex}/\\partial {tex(d.inputs[w])}$",
                f"${_shape_latex(p, g_shape)}$",
                f"${_shape_latex(p, expected)}$",
                "ok" if ok else "MISMATCH",
            )
        )
    blocks.append(Block("table", rows))

    if checks:
        blocks.append(Block("heading2", "Verification"))
        items = []
        for w in d.wrt:
            if w in checks:
                items.append(
                    f"$\\partial {out_tex}/\\partial {tex(d.inputs[w])}$: exact entrywise check, {checks[w].summary()}."
                )
        blocks.append(
            Block(
                "text",
                "Each gradient was expanded entry by entry at the sizes shown, each entry "
                "differentiated with SymPy, and the difference from the closed form simplified "
                "to zero (or, where the difference is too large for SymPy, compared at random points with 40 "
                "digits).",
            )
        )
        blocks.append(Block("list", items))

    if remarks:
        blocks.append(Block("heading2", "Remarks on the source"))
        items = []
        for w, stated, why, correct in remarks:
            items.append(
                f"For $\\partial {out_tex}/\\partial {tex(d.inputs[w])}$ the source states ${tex(stated)}$; "
                f"the correct gradient is ${tex(correct)}$. {why}"
            )
        blocks.append(Block("list", items))
    return blocks


def _notation_text(out_tex, notation):
    example = adjoint_latex(out_tex, "R", notation)
    return f"${example}$ for the derivative of ${out_tex}$ with respect to $R$"


def _indexed(symbol_tex: str, index: str) -> str:
    """symbol_{index}, braced so that A_{1} becomes {A_{1}}_{ij}, not a double subscript."""
    return f"{{{symbol_tex}}}_{{{index}}}" if index else symbol_tex


def _entry(matrix_tex: str, index: str) -> str:
    if not index:
        return matrix_tex
    return rf"\left({matrix_tex}\right)_{{{index}}}"
