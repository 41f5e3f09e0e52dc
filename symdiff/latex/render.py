"""Rendering document blocks: a standalone LaTeX file (amsmath/amssymb only) or GitHub Markdown with $$ math."""

from __future__ import annotations

import re

from .document import Block
from .width import PAGE, width

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


INLINE = 0.6 * PAGE  # inline math wider than this is displayed on a line of its own: TeX cannot break it


def _tex_text(s: str) -> str:
    """Escape LaTeX specials outside $...$ math; wide inline math becomes display math."""
    parts = re.split(r"(\$[^$]*\$)", s)
    return "".join(_math_part(p) if p.startswith("$") else _escaped(p) for p in parts)


def _math_part(math: str) -> str:
    return rf"\[ {math[1:-1]} \]" if width(math[1:-1]) > INLINE else math


def _escaped(text: str) -> str:
    """Text with TeX's specials escaped; the line may break after an underscore or a dot inside a name (long
    file names, torch.nn.functional.layer_norm)."""
    words = [_breakable(w) if len(w) > LONG_WORD else w for w in re.split(r"(\s+)", text)]
    escaped = "".join(TEX_SPECIALS.get(ch, ch) for ch in "".join(words)).replace(r"\_", r"\_\allowbreak{}")
    return re.sub(r"(?<=[A-Za-z])\.(?=[A-Za-z])", r".\\allowbreak{}", escaped).replace(BREAK, r"\allowbreak{}")


LONG_WORD = 12  # characters without a space, such as an expression typed in a title
BREAK = "\0"  # marks where a long word may break, until the text is escaped


def _breakable(word: str) -> str:
    """A long word (an expression) that may break after its parentheses, commas and operators."""
    return re.sub(r"([(,+*/@-])", lambda m: m.group(1) + BREAK, word)


CONTENTS_TITLE = 60  # characters: a longer title (an expression) is cut short in a table of contents


def _contents_entry(title: str) -> str:
    """A long title's entry in a table of contents, ``[shortened...]`` (its justified lines cannot always break
    inside an expression: soak seed 28's overran by 2.6 pt); nothing for a short one."""
    if len(title) <= CONTENTS_TITLE:
        return ""
    return f"[{_tex_text(title[: CONTENTS_TITLE - 3].rstrip())}...]"


def aligned_rows(rows: list, indent: str = "") -> list:
    """Rows of an aligned display: ``lhs = rhs``, ``= rhs`` (lhs ""), or a continuation (lhs None)."""
    return [
        f"{indent}&\\quad {rhs}" if lhs is None else f"{indent}{lhs} &= {rhs}" if lhs else f"{indent}&= {rhs}"
        for lhs, rhs in rows
    ]


def render_latex_body(blocks: list[Block], section: str = "section") -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"\\{section}{_contents_entry(b.content)}{{{_tex_text(b.content)}}}\n")
        elif b.kind == "heading2":
            out.append(f"\\sub{section}*{{{_tex_text(b.content)}}}\n")
        elif b.kind == "text":
            out.append(_tex_text(b.content) + "\n")
        elif b.kind == "list":
            out.append(
                "\\begin{itemize}\n" + "".join(f"  \\item {_tex_text(i)}\n" for i in b.content) + "\\end{itemize}\n"
            )
        elif b.kind == "math":
            out.append("\\begin{align*}\n" + " \\\\\n".join(aligned_rows(b.content, "  ")) + "\n\\end{align*}\n")
        elif b.kind == "figure":
            out.append(
                f"\\begin{{center}}\\includegraphics[width=0.75\\textwidth]{{{b.content.name}}}\\\\\n"
                f"{_tex_text(b.content.caption)}\\end{{center}}\n"
            )
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
\usepackage{amsmath,amssymb,graphicx}
\usepackage[margin=2.5cm]{geometry}
\setlength{\emergencystretch}{3em}
\makeatletter  % article's headings, set ragged right: a title may hold a long expression
\renewcommand\section{\@startsection{section}{1}{\z@}{-3.5ex \@plus -1ex \@minus -.2ex}{2.3ex \@plus.2ex}%
  {\normalfont\Large\bfseries\raggedright}}
\renewcommand\subsection{\@startsection{subsection}{2}{\z@}{-3.25ex\@plus -1ex \@minus -.2ex}{1.5ex \@plus .2ex}%
  {\normalfont\large\bfseries\raggedright}}
\renewcommand\@pnumwidth{2.2em}  % three-digit page numbers in a long table of contents
\makeatother
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
"""


def standalone_latex(blocks: list[Block]) -> str:
    return PREAMBLE + "\\begin{document}\n\n" + render_latex_body(blocks) + "\n\\end{document}\n"


def combined_latex(documents: list[list[Block]], title: str, parts: list[str] | None = None) -> str:
    """One document with a table of contents; with ``parts`` (one per document, e.g. its source), a section per
    part and each document a subsection of it."""
    if parts is None:
        body = "\n\\clearpage\n".join(render_latex_body(b) for b in documents)
    else:
        chunks, current = [], None
        for blocks, part in zip(documents, parts, strict=True):
            heading = f"\\section{{{_tex_text(part)}}}\n\n" if part != current else ""
            chunks.append(heading + render_latex_body(blocks, "subsection"))
            current = part
        body = "\n\\clearpage\n".join(chunks)
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
            out.append("$$\n\\begin{aligned}\n" + " \\\\\n".join(aligned_rows(b.content)) + "\n\\end{aligned}\n$$\n")
        elif b.kind == "figure":
            out.append(f"![{b.content.caption}]({b.content.name})\n")
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
