"""LaTeX, Markdown and HTML documents of a Derivation: the block model (``document``), its renderers
(``render``, ``html``), and the TeX runner (``tex``). The LaTeX of formulas comes from ``printing.LatexPrinter``."""

from .document import NOTATIONS, Block, Figure, adjoint_latex, document_blocks, figures
from .html import index_html, mathml, render_html_body, standalone_html
from .render import combined_latex, render_latex_body, render_markdown, standalone_latex
from .tex import INSTALL_HINT, LatexError, build_pdf, compile_pdf, overfull_lines, tex_engine

__all__ = [
    "INSTALL_HINT",
    "NOTATIONS",
    "Block",
    "Figure",
    "LatexError",
    "adjoint_latex",
    "build_pdf",
    "combined_latex",
    "compile_pdf",
    "document_blocks",
    "figures",
    "index_html",
    "mathml",
    "overfull_lines",
    "render_html_body",
    "render_latex_body",
    "render_markdown",
    "standalone_html",
    "standalone_latex",
    "tex_engine",
]
