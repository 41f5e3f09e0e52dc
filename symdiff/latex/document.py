"""The document of a Derivation: a list of blocks (headings, paragraphs, display math, lists, tables).

Every formula comes from the derivation itself through ``printing.LatexPrinter``
(SymPy's printer with the op cards' spellings); rules are quoted from their
docstrings under their cards' titles, so the document states exactly what the
engine used. ``render`` turns blocks into .tex or Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp
from sympy.matrices.expressions import MatAdd

from ..derivation import Derivation
from ..errors import InputError
from ..ops import is_matrix
from ..ops.labels import label_classes
from ..ops.structure import STRUCTURE_NAMES, SUBSPACE, structure_of
from ..printing import LatexPrinter
from ..steps import rule_title, rules_used, step_rules
from .width import PAGE, width

NOTATIONS = ("partial", "bar", "nabla")


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "heading2", "text", "list", "math", "table", "figure"
    content: object
    step: int | None = None  # the backward step it shows, as generated code's comments number it


@dataclass(frozen=True)
class Figure:
    """A figure of a document: the PNG's bytes, written next to the document as ``name``."""

    name: str
    caption: str
    png: bytes


def figures(blocks: list) -> list:
    """The figures of a document's blocks."""
    return [b.content for b in blocks if b.kind == "figure"]


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


def _rule_text(rule) -> str:
    doc = " ".join((rule.__doc__ or "").split())
    return f"{rule_title(rule)}: {doc}"


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
    constants = _constants(d)
    p = LatexPrinter(names, constants)
    tex = p._print
    blocks = [Block("heading", title)]
    if source:
        blocks.append(Block("text", f"Source: {source}."))
    if notes:
        blocks.append(Block("text", notes))

    if d.kind in ("hvp", "hessian"):
        blocks.append(Block("text", _second_order_text(d, p)))
    if d.outputs:
        blocks.append(Block("text", _outputs_text(d, p)))
    blocks.append(Block("heading2", "Setting"))
    rows = [("Symbol", "Shape", "Role")]
    labels = label_classes(d.output_expr)
    outputs = dict(d.outputs)  # a layer's: output step -> the input standing for its upstream gradient
    upstream = {
        g: f"upstream gradient $\\partial {out_tex} / \\partial {tex(symbol_of[y])}$" for y, g in outputs.items()
    }
    for name, sym in d.inputs.items():
        if isinstance(sym, sp.Symbol) and any(sym in (m.shape if is_matrix(m) else ()) for m in d.inputs.values()):
            continue  # a dimension
        role = "variable" if name in d.wrt or name == d.partner else "direction" if name == d.direction else "input"
        role += f" ({STRUCTURE_NAMES[structure_of(sym)]})" if structure_of(sym) else ""
        role = f"class labels in $[0, {tex(labels[sym])})$" if sym in labels else role
        role = upstream.get(name, role)
        rows.append((f"${tex(sym)}$", f"${_shape_latex(p, d.shapes.get(name))}$", role))
    for step in d.forward:
        role = "output" if step is d.forward[-1] or step.name in outputs else "intermediate"
        role = "scalar of the backward" if outputs and step is d.forward[-1] else role
        rows.append((f"${tex(step.symbol)}$", f"${_shape_latex(p, d.shapes.get(step.name))}$", role))
    for value, symbol in constants.items():
        rows.append((f"${symbol}$", f"${_shape_latex(p, None)}$", f"constant, ${symbol} = {base._print(value)}$"))
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

    fitter = Fitter(p, set(d.inputs) | {s.name for s in d.forward})
    blocks.append(Block("heading2", "Forward computation"))
    budget = _budget([tex(s.symbol) for s in d.forward])
    blocks += fitter.display([row for s in d.forward for row in fitter.rows(tex(s.symbol), s.expr, budget)])

    used = []
    if d.kind == "jacobian":
        blocks.append(Block("heading2", "Jacobian"))
        for w in d.wrt:
            lhs = rf"\frac{{\partial {out_tex}}}{{\partial {tex(d.inputs[w])}}}"
            blocks += fitter.display(fitter.rows(lhs, d.gradients[w], _budget([lhs])))
            used.extend(r for r in rules_used(d.output_expr, [d.inputs[w]]) if r not in used)
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
        for number, step in enumerate(d.steps, start=1):
            target = symbol_of[step.name]
            target_tex = tex(target)
            index = "ij" if is_matrix(target) and tuple(target.shape) != (1, 1) else ""
            lhs = adjoint_latex(out_tex, target_tex, notation, index)
            adjoint = adjoint_latex(out_tex, target_tex, notation)
            budget = _budget([lhs, adjoint])
            lines = []
            used.extend(r for r in step_rules(d, step.name) if r not in used)
            for consumer, share in step.contributions:
                c_sym = steps_by_name[consumer].symbol
                if consumer == d.output:
                    lines += fitter.rows(lhs, share, budget, wrap=lambda t, i=index: _entry(t, i))
                    continue
                c_tex = tex(c_sym)
                c_index = "kl" if is_matrix(c_sym) and tuple(c_sym.shape) != (1, 1) else ""
                local = rf"\frac{{\partial {_indexed(c_tex, c_index)}}}{{\partial {_indexed(target_tex, index)}}}"
                total = r"\sum_{k,l} " if c_index else ""
                through = rf" \quad \text{{(through ${c_tex}$)}}" if len(step.contributions) > 1 else ""
                chain = f"{total}{adjoint_latex(out_tex, c_tex, notation, c_index)} \\, {local}{through}"
                lines.append((lhs, chain))
                lines += fitter.rows("", share, budget, wrap=lambda t, i=index: _entry(t, i))
            if lines[-1:] != [(adjoint, tex(step.local))]:  # the output's own input: its one row says it all
                lines += fitter.rows(adjoint, step.local, budget)
            expanded = tex(step.value)
            if step.local != step.value and width(expanded) <= budget:  # long ones refer to the adjoints above
                lines.append(("", expanded))
            blocks.append(
                Block(
                    "text",
                    f"Step {number}. Adjoint of ${target_tex}$"
                    + (" as if it were a general matrix, $G$ in the result" if structure_of(target) else "")
                    + (
                        f" (from {', '.join('$' + tex(steps_by_name[c].symbol) + '$' for c, _ in step.contributions)}):"
                        if step.contributions
                        else ":"
                    ),
                    number,
                )
            )
            blocks += [replace(b, step=number) for b in fitter.display(lines)]
        blocks.append(Block("text", "The rules these steps use:"))
    if d.kind == "hessian":
        blocks.append(Block("list", [_rule_text(r) for r in used]))
        used = []
        w = d.wrt[0]
        x_tex, y_tex = tex(d.inputs[w]), tex(d.inputs[d.partner or w])
        blocks.append(Block("heading2", "Hessian"))
        blocks.append(
            Block(
                "text",
                "The Jacobian of the gradient, in denominator layout (entry $(i, j)$ is "
                f"${_second_partial(out_tex, x_tex, y_tex, '_i', '_j')}$), kept in factored form:",
            )
        )
        lhs = _second_partial(out_tex, x_tex, y_tex)
        blocks += fitter.display(fitter.rows(lhs, d.gradients[w], _budget([lhs])))
    if used:
        if d.kind == "jacobian":
            blocks.append(Block("text", "The rules used:"))
        blocks.append(Block("list", [_rule_text(r) for r in used]))

    blocks.append(Block("heading2", "Result"))
    blocks += [Block("text", said) for w in d.wrt if (said := _convention_text(d, w, p)) is not None]
    results = []
    lhs_of = {w: rf"\frac{{\partial {out_tex}}}{{\partial {tex(d.inputs[w])}}}" for w in d.wrt}
    if d.kind == "hessian":
        lhs_of = {w: _second_partial(out_tex, tex(d.inputs[w]), tex(d.inputs[d.partner or w])) for w in d.wrt}
    budget = _budget(list(lhs_of.values()))
    for w in d.wrt:
        if d.kind == "hessian":  # its steps are the gradient's: the Hessian is the one row
            results += fitter.rows(lhs_of[w], d.gradients[w], budget)
            continue
        results += _result_rows(d, w, lhs_of[w], fitter, budget)
    blocks += fitter.display(results)
    rows = [  # a Jacobian's or Hessian's expected shape: the variable's rows by the output's (the partner's)
        (d.kind.capitalize(), "Shape", "Expected", "Check")
        if d.kind in ("jacobian", "hessian")
        else ("Gradient", "Shape", "Variable's shape", "Check")
    ]
    for w in d.wrt:
        g_shape = d.gradients[w].shape if is_matrix(d.gradients[w]) else None
        v_shape = d.shapes.get(w)
        if d.kind in ("jacobian", "hessian"):
            out_shape = d.shapes.get(d.partner or w) if d.kind == "hessian" else d.shapes.get(d.output)
            expected = (v_shape[0], out_shape[0]) if v_shape and out_shape else None
            ok = g_shape is not None and tuple(g_shape) == tuple(expected)
        else:
            expected = v_shape
            ok = (g_shape is None and (v_shape is None or tuple(v_shape) == (1, 1))) or (
                g_shape is not None and v_shape is not None and tuple(g_shape) == tuple(v_shape)
            )
        rows.append(
            (
                f"${lhs_of[w]}$" if d.kind == "hessian" else f"$\\partial {out_tex}/\\partial {tex(d.inputs[w])}$",
                f"${_shape_latex(p, g_shape)}$",
                f"${_shape_latex(p, expected)}$",
                "ok" if ok else "MISMATCH",
            )
        )
    blocks.append(Block("table", rows))
    blocks.append(Block("list", [_shape_statement(d, w, p, out_tex) for w in d.wrt]))

    if checks:
        blocks.append(Block("heading2", "Verification"))
        items = []
        for w in d.wrt:
            if w in checks:
                what = lhs_of[w] if d.kind == "hessian" else f"\\partial {out_tex}/\\partial {tex(d.inputs[w])}"
                items.append(f"${what}$: exact entrywise check, {checks[w].summary()}.")
        blocks.append(
            Block(
                "text",
                "Each gradient was expanded entry by entry at the sizes shown, each entry "
                "differentiated with SymPy, and the difference from the closed form simplified "
                "to zero (or, where the difference is too large for SymPy, compared at random points with 40 "
                "digits)."
                + (
                    " A structured variable is written with one symbol per free entry (its symmetric entries share "
                    "one), and differentiated in those; its gradient must equal what that derivative says in the "
                    "convention above."
                    if any(structure_of(d.inputs[w]) for w in d.wrt)
                    else ""
                ),
            )
        )
        blocks.append(Block("list", items))

    if remarks:
        blocks.append(Block("heading2", "Remarks on the source"))
        for w, stated, why, correct in remarks:
            lhs = rf"\frac{{\partial {out_tex}}}{{\partial {tex(d.inputs[w])}}}"
            source, right = rf"\text{{source: }} {lhs}", rf"\text{{correct: }} {lhs}"
            budget = _budget([source, right])
            blocks.append(Block("text", f"For $\\partial {out_tex}/\\partial {tex(d.inputs[w])}$: {why}"))
            blocks += fitter.display(fitter.rows(source, stated, budget) + fitter.rows(right, correct, budget))
    return blocks


def _constants(d: Derivation) -> dict:
    """The eps of every normalization in the derivation, written as a symbol: value -> LaTeX."""
    values = []
    for e in [s.expr for s in d.forward] + list(d.gradients.values()):
        for node in sp.preorder_traversal(e):
            if isinstance(getattr(type(node), "eps", None), property) and node.eps not in values:
                values.append(node.eps)
    if len(values) == 1:
        return {values[0]: r"\epsilon"}
    return {v: rf"\epsilon_{{{k}}}" for k, v in enumerate(values, 1)}


def _second_partial(out_tex: str, x: str, y: str, i: str = "", j: str = "") -> str:
    """d^2 f / dx dy^T (entry i, j: d^2 f / dx_i dy_j)."""
    transpose = "" if i else "^{T}"
    return rf"\frac{{\partial^2 {out_tex}}}{{\partial {x}{i} \, \partial {y}{j}{transpose}}}"


NUMBERS = {2: "two", 3: "three", 4: "four"}


def _outputs_text(d: Derivation, p: LatexPrinter) -> str:
    """What a layer with several outputs derives: the gradient of sum_i <G_i, Y_i>, its backward."""
    tex = p._print
    symbol_of = {s.name: s.symbol for s in d.forward}
    outputs = [tex(symbol_of[y]) for y, _ in d.outputs]
    upstream = [tex(d.inputs[g]) for _, g in d.outputs]
    loss = tex(d.forward[-1].symbol)
    given = ", ".join(f"${g} = \\partial {loss} / \\partial {y}$" for y, g in zip(outputs, upstream))
    pairing = " + ".join(f"\\langle {g}, {y} \\rangle" for y, g in zip(outputs, upstream))
    return (
        f"The layer has {NUMBERS.get(len(outputs), len(outputs))} outputs, {', '.join(f'${y}$' for y in outputs)}. Its backward takes the "
        f"gradient of a loss ${loss}$ downstream with respect to each, {given}, and gives the gradients of "
        f"${loss} = {pairing}$ with those held fixed: the gradients derived below. The generated code's forward "
        "returns the outputs, and its backward takes their gradients."
    )


def _second_order_text(d: Derivation, p: LatexPrinter) -> str:
    """What a second-order document derives, and how (the function differentiated twice first)."""
    x = p._print(d.inputs[d.wrt[0]])
    f = f"$f = {p._print(d.function)}$"
    if d.kind == "hvp":
        v = p._print(d.inputs[d.direction])
        pairing = rf"\langle \partial f / \partial {x}, {v} \rangle"
        return (
            f"The Hessian-vector product of {f} with respect to ${x}$ in the direction ${v}$, "
            f"$H_{{{x}}}[{v}] = \\partial {pairing} / \\partial {x}$: the gradient of "
            f"${p._print(d.forward[-1].symbol)} = {pairing}$ (forward over reverse), derived below rule by rule "
            f"from the closed-form gradient. It has the shape of ${x}$."
        )
    y = p._print(d.inputs[d.partner]) if d.partner else x
    return (
        f"The Hessian of {f} with respect to ${x}$" + (f" and ${y}$" if d.partner else "") + ": the gradient "
        f"$\\partial f / \\partial {y}$ step by step, then its Jacobian with respect to ${x}$, in closed form."
    )


def _shape_statement(d: Derivation, w: str, p: LatexPrinter, out_tex: str) -> str:
    """Why the gradient has its shape, as the seeds check it: "x is n x 1 and y is m x 1, so dy/dx is n x m"."""
    x = p._print(d.inputs[w])
    x_shape = _shape_latex(p, d.shapes.get(w))
    if d.kind == "hessian":
        y_shape = d.shapes.get(d.partner or w)
        partner = f" and ${p._print(d.inputs[d.partner])}$ is ${_shape_latex(p, y_shape)}$" if d.partner else ""
        hessian = _shape_latex(p, (d.shapes[w][0], y_shape[0]))
        return f"${x}$ is ${x_shape}${partner}, and ${out_tex}$ is a scalar, so the Hessian is ${hessian}$."
    if d.kind == "hvp":
        v = p._print(d.inputs[d.direction])
        return f"${x}$ and the direction ${v}$ are ${x_shape}$, so the HVP $H_{{{x}}}[{v}]$ is ${x_shape}$ too."
    if d.kind == "jacobian":
        y_shape = d.shapes.get(d.output)
        return (
            f"${x}$ is ${x_shape}$ and ${out_tex}$ is ${_shape_latex(p, y_shape)}$, so "
            f"$\\partial {out_tex}/\\partial {x}$ is "
            f"${_shape_latex(p, (d.shapes[w][0], y_shape[0]) if y_shape and d.shapes.get(w) else None)}$ "
            "(denominator layout)."
        )
    return f"${x}$ is ${x_shape}$ and ${out_tex}$ is a scalar, so $\\partial {out_tex}/\\partial {x}$ is ${x_shape}$."


def _convention_text(d: Derivation, w: str, p: LatexPrinter) -> str | None:
    """For a structured variable's gradient: which convention it is in, and why (None for a general one)."""
    structure = structure_of(d.inputs[w]) if d.kind in ("gradient", "hvp") else None
    if structure is None:
        return None
    x = p._print(d.inputs[w])
    what = f"${x}$ is {STRUCTURE_NAMES[structure]}"
    symmetric = structure in ("symmetric", "spd")
    if d.kind == "hvp":
        return (
            f"{what}, so its HVP is taken in the {SUBSPACE[structure]}, as its gradient is: the direction lies in "
            "them and the result is projected onto them, the derivative of the structured gradient along it."
        )
    if d.convention == "coordinates" and symmetric:
        return (
            f"{what}. Convention: coordinates. The result is the derivative with respect to its free entries "
            f"${x}_{{ij}}$, $i \\le j$, laid out as a symmetric matrix, $G + G^{{T}} - "
            "\\operatorname{diag}(\\operatorname{diagonal}(G))$ for the gradient $G$ the steps above compute as if "
            f"${x}$ were general (The Matrix Cookbook's rule for symmetric matrices). It is not the gradient in the "
            "symmetric matrices: its off-diagonal entries are twice that gradient's, so a step along it is not "
            "steepest descent there (Srinivasan and Panda, arXiv:1911.06491); the default convention gives that one."
        )
    projection = {
        "diagonal": "\\operatorname{diag}(\\operatorname{diagonal}(G))",
        "lower": "\\operatorname{tril}(G)",
        "upper": "\\operatorname{triu}(G)",
    }.get(structure, "\\operatorname{sym}(G) = (G + G^{T})/2")
    coordinates = (
        " The Matrix Cookbook's $G + G^{T} - \\operatorname{diag}(\\operatorname{diagonal}(G))$ is the derivative "
        "in the free entries instead (convention coordinates): its off-diagonal entries are twice these."
        if symmetric
        else " Each free entry occurs once, so this is also the derivative in the free entries."
    )
    return (
        f"{what}. Convention: structured. Its gradient is taken in the {SUBSPACE[structure]}: the "
        f"Frobenius-orthogonal projection ${projection}$ of the gradient $G$ the steps above compute as if "
        f"${x}$ were general. It is the one matrix there whose inner product with every direction $D$ of the "
        "structure is the derivative along $D$, so a gradient step along it keeps the structure and is steepest "
        f"descent within it (Srinivasan and Panda, arXiv:1911.06491).{coordinates}"
    )


def _budget(lhs: list) -> float:
    """The width left for right-hand sides beside the widest of ``lhs`` (and its "=")."""
    return PAGE - max(map(width, lhs), default=0.0) - 3


def _result_rows(d: Derivation, w: str, lhs: str, fitter: "Fitter", budget: float) -> list:
    """A gradient as the seeds write results: through the adjoints named above where the expanded form is long
    (the adjoint recursion of a layered network), else over the intermediates, and over the inputs if short."""
    rows = []
    step = next((s for s in d.steps if s.name == w), None)
    if structure_of(d.inputs[w]) is not None:  # its step is the general gradient, which the result projects
        step = None
    gradient, closed = d.gradients[w], d.closed_form(w)
    short = width(fitter.tex(gradient)) <= budget
    if step is not None and step.local != gradient and not short:
        rows += fitter.rows(lhs, step.local, budget)
    if short or not rows:
        rows += fitter.rows("" if rows else lhs, gradient, budget)
    if closed != gradient and width(fitter.tex(closed)) <= budget:
        rows.append(("", fitter.tex(closed)))
    return rows


class Fitter:
    r"""Display lines that fit the page: a closed form too wide for one line is broken before its top-level
    + and - terms, and a term still too wide is written through named sub-terms, each introduced once
    ("where $R_{1} = \dots$")."""

    LETTERS = "RSTUVQ"

    def __init__(self, printer: LatexPrinter, taken: set):
        self.tex = printer._print
        self.printer = printer
        self.taken = {str(t) for t in taken}
        self.where: list = []  # (symbol's tex, its expression) of names not yet defined, in order
        self.count = 0
        self.names: dict = {}  # sub-term -> the symbol it was named

    def display(self, rows: list) -> list:
        """A math block of ``rows``, then "where" and the names its rows introduced."""
        blocks = [Block("math", rows)]
        defined = []
        while self.where:  # a definition may name sub-terms of its own
            symbol_tex, expr = self.where.pop(0)
            defined += self.rows(symbol_tex, expr, PAGE - width(symbol_tex) - 3)
        if defined:
            blocks += [Block("text", "where"), Block("math", defined)]
        return blocks

    def rows(self, lhs: str, expr, budget: float, wrap=lambda s: s) -> list:
        """``lhs = wrap(expr)`` as rows (lhs, rhs); a continuation row has lhs None."""
        whole = wrap(self.tex(expr))
        if width(whole) <= budget:
            return [(lhs, whole)]
        if wrap(" ") == " " and isinstance(expr, (sp.Add, MatAdd)):
            rows = self._terms(lhs, expr, budget)
            if rows:
                return rows
        named = self._named(expr, budget)
        if named is expr:  # nothing left to name: as it is, wide
            return [(lhs, whole)]
        return self.rows(lhs, named, budget, wrap)

    def _terms(self, lhs, expr, budget) -> list:
        """Top-level terms packed into as few rows as fit, or [] where one term alone does not fit."""
        pieces = []
        for i, term in enumerate(self.printer._as_ordered_terms(expr)):
            sign = "" if i == 0 else " + "
            if i and term.could_extract_minus_sign():
                sign, term = " - ", -term
            text = self.tex(term)
            if self.printer._needs_add_brackets(term):
                text = rf"\left({text}\right)"
            pieces.append(sign + text)
        rows, line = [], ""
        for piece in pieces:
            if line and width(line + piece) > budget - 2:
                rows.append(line)
                line = piece.strip()
            else:
                line += piece
        rows.append(line)
        if any(width(r) > budget for r in rows):
            return []
        return [(lhs if k == 0 else None, r) for k, r in enumerate(rows)]

    def _named(self, expr, budget):
        """``expr`` with its widest sub-term that fits a line replaced by a new name (recorded in ``where``)."""
        best, best_width = None, 8.0  # naming less than a few letters saves nothing
        for sub in sp.preorder_traversal(expr):
            if sub is expr or not isinstance(sub, sp.Basic) or not sub.args or isinstance(sub, (sp.Lambda, sp.Number)):
                continue
            if not isinstance(sub, sp.Expr) or isinstance(sub, sp.Symbol):
                continue
            w = width(self.tex(sub))
            if best_width < w <= budget:
                best, best_width = sub, w
        if best is None:
            return expr
        symbol = self.names.get(best)
        if symbol is None:
            name = self._new_name()
            symbol = sp.MatrixSymbol(name, *best.shape) if is_matrix(best) else sp.Symbol(name, real=True)
        try:
            named = expr.xreplace({best: symbol})
        except (TypeError, ValueError):  # SymPy refused to rebuild around the name
            return expr
        if best not in self.names:  # a sub-term named once keeps its name through the document
            self.names[best] = symbol
            self.where.append((self.tex(symbol), best))
        return named

    def _new_name(self) -> str:
        self.count += 1
        k = self.count
        for letter in self.LETTERS:
            if not any(t == letter or t.startswith(letter) for t in self.taken):
                return f"{letter}{k}"
        return f"W{k}"


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
