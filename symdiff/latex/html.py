"""Rendering document blocks as an HTML page: the math as MathML (converted from the LaTeX by latex2mathml), no
script and no CDN, so a page opens offline in any browser with MathML (Chromium 109+, Firefox, Safari)."""

from __future__ import annotations

import html
import re
from itertools import groupby

from latex2mathml.converter import convert

from .document import Block

STYLE = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #111; }
table { border-collapse: collapse; margin: 1em auto; }
th, td { border-top: 1px solid #999; border-bottom: 1px solid #999; padding: 0.2em 0.8em; text-align: left; }
nav { margin-bottom: 1.5em; font-size: 0.9em; }
table.align { margin: 0.6em auto; }
table.align td { border: none; padding: 0.15em 0.1em; }
table.align td.lhs { text-align: right; }
"""


def mathml(tex: str) -> str:
    """MathML of LaTeX math ``tex`` (inline; ``\\displaystyle`` sets it as display math)."""
    return convert(tex)


def _text(s: str) -> str:
    """Text with $...$ math: the text escaped, the math as inline MathML."""
    parts = re.split(r"(\$[^$]*\$)", s)
    return "".join(mathml(p[1:-1]) if p.startswith("$") and len(p) > 1 else html.escape(p) for p in parts)


def _aligned_table(rows: list) -> str:
    """Display rows aligned at their "=" as LaTeX's align does: lhs right-aligned, then "= rhs" (or a
    continuation, indented), each cell MathML in display style."""
    cells = []
    for lhs, rhs in rows:
        right = rf"\quad {rhs}" if lhs is None else f"= {rhs}"
        left = mathml(rf"\displaystyle {lhs}") if lhs else ""
        right = mathml(rf"\displaystyle {right}")
        cells.append(f'<tr><td class="lhs">{left}</td><td>{right}</td></tr>\n')
    return '<table class="align">\n' + "".join(cells) + "</table>"


def _block_html(b: Block, source) -> str:
    if b.kind == "heading":
        return f"<h1>{_text(b.content)}</h1>"
    if b.kind == "heading2":
        return f"<h2>{_text(b.content)}</h2>"
    if b.kind == "text":
        return f"<p>{_text(b.content)}</p>"
    if b.kind == "list":
        return "<ul>\n" + "".join(f"  <li>{_text(i)}</li>\n" for i in b.content) + "</ul>"
    if b.kind == "math":
        return _aligned_table(b.content)
    if b.kind == "figure":
        caption = html.escape(b.content.caption)
        return (
            f'<figure><img src="{html.escape(source(b.content))}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    header, *rows = b.content  # a table
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def render_html_body(blocks: list[Block], figure_source=None) -> str:
    """The blocks as HTML; ``figure_source(figure)`` gives an image's src (default: its file name, beside the
    page). The blocks of one backward step are one ``<div class="step" id="step-K">``, which generated code's
    comments name (``step K``)."""
    out, source = [], figure_source or (lambda figure: figure.name)
    for step, group in groupby(blocks, key=lambda b: b.step):
        parts = [_block_html(b, source) for b in group]
        if step is None:
            out += parts
        else:
            out.append(f'<div class="step" id="step-{step}" data-step="{step}">\n' + "\n".join(parts) + "\n</div>")
    return "\n".join(out) + "\n"


def page(title: str, body: str, nav: str = "") -> str:
    """A standalone HTML page."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + (f"<nav>{nav}</nav>\n" if nav else "")
        + body
        + "</body>\n</html>\n"
    )


def standalone_html(blocks: list[Block]) -> str:
    title = next((b.content for b in blocks if b.kind == "heading"), "derivation")
    return page(re.sub(r"\$[^$]*\$", "", title), render_html_body(blocks))


def index_html(entries: list[tuple[str, str, dict]], title: str) -> str:
    """An index page: (name, title, {link text: relative href}) per derivation."""
    rows = "".join(
        f'<tr><td><a href="{html.escape(name)}.html">{html.escape(name)}</a></td><td>{_text(heading)}</td><td>'
        + " · ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in links.items())
        + "</td></tr>\n"
        for name, heading, links in entries
    )
    body = f"<h1>{html.escape(title)}</h1>\n<table>\n<tr><th>Derivation</th><th>Title</th><th>Also</th></tr>\n"
    return page(title, body + rows + "</table>\n")
