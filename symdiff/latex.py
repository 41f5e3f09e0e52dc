"""LaTeX and Markdown documents of a Derivation.

A document is a list of blocks (headings, paragraphs, display math, tables)
rendered either as a standalone LaTeX file (amsmath/amssymb only) or as
GitHub Markdown with ``$$...$$`` math. Every formula comes from the
derivation itself through :class:`LatexPrinter` (SymPy's printer with
methods for symdiff's ops); rules are quoted from their docstrings, so the
document states exactly what the engine used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter

from .derivation import Derivation
from .errors import UnsupportedError
from .ops import AxisSum, Broadcast, is_matrix
from .rules import rule_for

NOTATIONS = ("partial", "bar", "nabla")

FUNCTION_LATEX = {
    "exp": r"\exp",
    "log": r"\log",
    "tanh": r"\tanh",
    "sigmoid": r"\sigma",
    "relu": r"\operatorname{relu}",
    "step": r"\operatorname{step}",
    "leaky_relu": r"\operatorname{lrelu}",
    "leaky_step": r"\operatorname{lstep}",
    "softplus": r"\operatorname{softplus}",
    "Abs": r"\operatorname{abs}",
    "sign": r"\operatorname{sign}",
    "sin": r"\sin",
    "cos": r"\cos",
}


class LatexPrinter(SympyLatexPrinter):
    """SymPy's LaTeX printer, with symdiff's ops and adjoint symbols named as the reader expects."""

    def __init__(self, names: dict | None = None):
        super().__init__({"mat_symbol_style": "plain", "mul_symbol": None})
        self.names = names or {}  # symbol -> LaTeX (adjoints)

    def _print_MatrixSymbol(self, e):
        return self.names.get(e, super()._print_MatrixSymbol(e))

    def _elementwise_operand(self, item, level) -> str:
        # axis sums and broadcasts print as products with a ones vector: group them under odot and powers
        if isinstance(item, (AxisSum, Broadcast)):
            return self._add_parens(self._print(item))
        return self.parenthesize(item, level)

    def _print_Symbol(self, e, style="plain"):
        return self.names.get(e, super()._print_Symbol(e))

    def _print_MatMul(self, e):
        c, mats = e.as_coeff_matrices()
        sign = ""
        if c.could_extract_minus_sign():
            c, sign = -c, "-"
        # SymPy's parenthesize(strict=False) wraps anything binding no tighter than a product
        level = sp.printing.precedence.PRECEDENCE["Add" if len(mats) == 1 else "Mul"]
        parts = [self.parenthesize(m, level) for m in mats]
        coeff = "" if c == 1 else self.parenthesize(c, sp.printing.precedence.PRECEDENCE["Mul"], strict=True) + " "
        return sign + coeff + " ".join(parts)

    def _print_MatAdd(self, e):
        terms = [self._print(t) for t in e.args]
        terms.sort(key=lambda t: t.startswith("-"))  # positive terms first: X W + b - Y
        out = terms[0]
        for t in terms[1:]:
            out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        return out

    def _print_HadamardProduct(self, e):
        return r" \odot ".join(self._elementwise_operand(f, sp.printing.precedence.PRECEDENCE["Mul"]) for f in e.args)

    def _print_HadamardPower(self, e):
        base = self._elementwise_operand(e.base, sp.printing.precedence.PRECEDENCE["Pow"])
        return f"{base}^{{\\circ {self._print(e.exp)}}}"

    def _print_Elementwise(self, e):
        arg = self._print(e.arg)
        named = e.named()
        if named is not None:
            f, params = named
            name = FUNCTION_LATEX.get(f.__name__, rf"\operatorname{{{f.__name__}}}")
            if params:
                name += "_{" + ", ".join(map(self._print, params)) + "}"
            return rf"{name}\left({arg}\right)"
        (var,), body = e.function.variables, e.function.expr
        return self._print(body.xreplace({var: sp.Symbol(r"\left(" + arg + r"\right)")}))

    def _print_SumAll(self, e):
        return rf"\mathbf{{1}}^{{T}} {self.parenthesize(e.arg, 50)} \mathbf{{1}}"

    def _print_AxisSum(self, e):
        arg = self.parenthesize(e.arg, 50)
        return rf"\mathbf{{1}}^{{T}} {arg}" if e.axis == 0 else rf"{arg} \mathbf{{1}}"

    def _print_Broadcast(self, e):
        arg = self.parenthesize(e.arg, 50)
        rows, cols = e.arg.shape
        if rows == 1 and cols == 1:
            return rf"{arg} \mathbf{{1}} \mathbf{{1}}^{{T}}"
        return rf"\mathbf{{1}} {arg}" if rows == 1 else rf"{arg} \mathbf{{1}}^{{T}}"

    def _print_Reshape(self, e):
        return rf"\operatorname{{reshape}}_{{{self._print(e.shape[0])} \times {self._print(e.shape[1])}}}\left({self._print(e.arg)}\right)"

    def _print_Softmax(self, e):
        return rf"\operatorname{{softmax}}_{{{e.axis}}}\left({self._print(e.arg)}\right)"

    def _print_LogSoftmax(self, e):
        return rf"\operatorname{{logsoftmax}}_{{{e.axis}}}\left({self._print(e.arg)}\right)"

    def _print_BatchNorm(self, e):
        return (
            rf"\operatorname{{BN}}_{{{self._print(e.gamma)}, {self._print(e.beta)}, {self._print(e.eps)}}}"
            rf"\left({self._print(e.x)}\right)"
        )

    def _print_BatchNormalize(self, e):
        return rf"\operatorname{{norm}}_{{{self._print(e.eps)}}}\left({self._print(e.arg)}\right)"

    def _print_BatchStd(self, e):
        return rf"\operatorname{{std}}_{{{self._print(e.eps)}}}\left({self._print(e.arg)}\right)"

    def _print_OneMatrix(self, e):
        return r"\mathbf{1}"

    def _print_DiagMatrix(self, e):
        return rf"\operatorname{{diag}}\left({self._print(e.args[0])}\right)"

    def _print_Function(self, e, exp=None):
        name = type(e).__name__
        if name in FUNCTION_LATEX and name not in ("exp", "log", "tanh", "sin", "cos"):
            head = FUNCTION_LATEX[name]
            args = [self._print(a) for a in e.args]
            if len(args) > 1:
                head += "_{" + ", ".join(args[1:]) + "}"
            out = rf"{head}\left({args[0]}\right)"
            return f"{out}^{{{exp}}}" if exp else out
        return super()._print_Function(e, exp)


# --------------------------------------------------------------------------
# Document model
# --------------------------------------------------------------------------


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
    raise ValueError(f"notation must be one of {NOTATIONS}, got {notation!r}")


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


RULE_NAMES = {
    "grad_add": "Sum",
    "grad_matmul": "Matrix product",
    "grad_transpose": "Transpose",
    "grad_trace": "Trace",
    "grad_sum": "Sum of all entries",
    "grad_axis_sum": "Sum along an axis",
    "grad_broadcast": "Broadcasting",
    "grad_reshape": "Reshape",
    "grad_hadamard": "Elementwise product",
    "grad_elementwise": "Elementwise function",
    "grad_hadamard_power": "Elementwise power",
    "grad_inverse": "Inverse",
    "grad_determinant": "Determinant",
    "grad_matpow": "Matrix power",
    "grad_softmax": "Softmax",
    "grad_log_softmax": "Log-softmax",
    "grad_batch_normalize": "Batch normalization (normalize)",
    "grad_batch_std": "Batch standard deviation",
    "grad_batchnorm": "Batch normalization",
    "scalar_rule": "Scalar chain rule",
}


def _rule_text(rule) -> str:
    doc = " ".join((rule.__doc__ or "").split())
    return f"{RULE_NAMES.get(rule.__name__, rule.__name__)}: {doc}"


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
        raise ValueError(f"notation must be one of {NOTATIONS}, got {notation!r}")
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


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

TEX_SPECIALS = {
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "^": r"\^{}",
    "~": r"\~{}",
    "|": r"\textbar{}",
    "{": r"\{",
    "}": r"\}",
    "\\": r"\textbackslash{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def _tex_text(s: str) -> str:
    """Escape LaTeX specials outside $...$ math."""
    parts = re.split(r"(\$[^$]*\$)", s)
    return "".join(p if p.startswith("$") else "".join(TEX_SPECIALS.get(ch, ch) for ch in p) for p in parts)


def render_latex_body(blocks: list[Block], section: str = "section") -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"\\{section}{{{_tex_text(b.content)}}}\n")
        elif b.kind == "heading2":
            out.append(f"\\sub{section}*{{{_tex_text(b.content)}}}\n")
        elif b.kind == "text":
            out.append(_tex_text(b.content) + "\n")
        elif b.kind == "list":
            out.append(
                "\\begin{itemize}\n" + "".join(f"  \\item {_tex_text(i)}\n" for i in b.content) + "\\end{itemize}\n"
            )
        elif b.kind == "math":
            lines = [f"  {lhs} &= {rhs}" if lhs else f"  &= {rhs}" for lhs, rhs in b.content]
            out.append("\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n")
        elif b.kind == "table":
            header, *rows = b.content
            cols = "l" * len(header)
            body = " \\\\\n".join(" & ".join(_tex_text(c) for c in row) for row in rows)
            out.append(
                f"\\begin{{center}}\\begin{{tabular}}{{{cols}}}\n\\hline\n"
                + " & ".join(_tex_text(h) for h in header)
                + " \\\\\n\\hline\n"
                + body
                + " \\\\\n\\hline\n"
                "\\end{tabular}\\end{center}\n"
            )
    return "\n".join(out)


PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
"""


def standalone_latex(blocks: list[Block]) -> str:
    return PREAMBLE + "\\begin{document}\n\n" + render_latex_body(blocks) + "\n\\end{document}\n"


def combined_latex(documents: list[list[Block]], title: str) -> str:
    body = "\n\\clearpage\n".join(render_latex_body(b) for b in documents)
    return (
        PREAMBLE + f"\\title{{{_tex_text(title)}}}\n\\date{{}}\n\\begin{{document}}\n\\maketitle\n\\tableofcontents\n"
        "\\clearpage\n\n" + body + "\n\\end{document}\n"
    )


def render_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"# {b.content}\n")
        elif b.kind == "heading2":
            out.append(f"## {b.content}\n")
        elif b.kind == "text":
            out.append(b.content + "\n")
        elif b.kind == "list":
            out.append("".join(f"- {i}\n" for i in b.content))
        elif b.kind == "math":
            lines = [f"{lhs} &= {rhs}" if lhs else f"&= {rhs}" for lhs, rhs in b.content]
            out.append("$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$\n")
        elif b.kind == "table":
            header, *rows = b.content
            out.append(
                "| "
                + " | ".join(header)
                + " |\n|"
                + "---|" * len(header)
                + "\n"
                + "".join("| " + " | ".join(r) + " |\n" for r in rows)
            )
    return "\n".join(out)


class LatexError(RuntimeError):
    """A TeX engine failed on a generated document."""


def tex_engine() -> str | None:
    """The TeX driver available here: latexmk, else pdflatex, else None."""
    for name in ("latexmk", "pdflatex"):
        if shutil.which(name):
            return name
    return None


INSTALL_HINT = (
    "no TeX engine found (latexmk or pdflatex); install TeX Live, e.g. on Debian/Ubuntu: "
    "sudo apt-get install -y texlive-latex-base texlive-latex-recommended latexmk"
)


def compile_pdf(tex_path: Path, timeout: int = 300) -> Path:
    """Compile ``tex_path`` to PDF next to it; raise LatexError with the log's errors on failure."""
    engine = tex_engine()
    if engine is None:
        raise LatexError(INSTALL_HINT)
    tex_path = Path(tex_path).resolve()
    if engine == "latexmk":
        commands = [["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex_path.name]]
    else:  # twice, for the table of contents
        commands = [["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex_path.name]] * 2
    for command in commands:
        run = subprocess.run(command, cwd=tex_path.parent, capture_output=True, text=True, timeout=timeout)
        log = run.stdout + run.stderr
        problems = [line for line in log.splitlines() if line.startswith("!") or "Undefined control sequence" in line]
        if run.returncode != 0 or problems:
            raise LatexError(f"{engine} failed on {tex_path.name}: " + "; ".join(problems[:5] or log.splitlines()[-5:]))
    return tex_path.with_suffix(".pdf")
