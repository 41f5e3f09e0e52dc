"""Rendering document blocks: a standalone LaTeX file (amsmath/amssymb only) or GitHub Markdown with $$ math."""

from __future__ import annotations

import re

from .document import Block

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
