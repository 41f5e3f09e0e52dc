"""How wide LaTeX math comes out, estimated from its source, so that documents break lines before TeX must.

The unit is the width of a letter in 11 pt math (6.2 pt on average over the
catalog's display lines, up to 7.2 pt); a page line (``PAGE``) of 455 pt
(the documents' 2.5 cm margins) holds 63 of them at 7.2 pt. The
estimate follows TeX's layout where it matters for width: a fraction is as
wide as its wider part, sub- and superscripts are set smaller, ``\\left`` and
``\\right`` add a delimiter each, binary operators and relations carry space
on both sides. It is an estimate: the document tests compile every catalog
document and fail on any overfull line TeX reports.
"""

from __future__ import annotations

import re

PAGE = 63.0  # letter widths in one line of the page (455 pt of text at 11 pt)
SCRIPT = 0.7  # sub- and superscripts are set at 70%
SPACED = {"+": 2.2, "-": 2.2, "=": 2.6, "<": 2.6, ">": 2.6, ",": 1.3}  # with TeX's space around them
WORDS = {"operatorname", "text", "mathrm", "mathbf", "textbf", "mathit"}  # their braced argument is set as is
SPACE = {",": 0.3, ";": 0.5, "quad": 1.8, "qquad": 3.6, "!": -0.3, " ": 0.4}
SILENT = {"left", "right", "big", "Big", "displaystyle", "limits"}
NAMED = {"exp", "log", "ln", "tanh", "sinh", "cosh", "sin", "cos", "tan", "det", "max", "min", "arg", "sup", "inf"}
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def width(tex: str) -> float:
    """The estimated width of math ``tex``, in letter widths."""
    total, _ = _run(tex, 0)
    return total


def _group(tex: str, i: int) -> tuple[float, int]:
    """The width of the argument at ``i`` (a braced group or one token) and the index after it."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i < len(tex) and tex[i] == "{":
        return _run(tex, i + 1, closing=True)
    if i < len(tex) and tex[i] == "\\":
        m = _COMMAND.match(tex, i)
        return _command(tex, m.group(1), m.end())
    return (1.0 if i < len(tex) else 0.0), i + 1


def _raw_group(tex: str, i: int) -> tuple[str, int]:
    """The text of the braced group at ``i`` and the index after it."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex) or tex[i] != "{":
        return tex[i : i + 1], i + 1
    depth, j = 0, i
    while j < len(tex):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return tex[i + 1 : j], j + 1
        j += 1
    return tex[i + 1 :], len(tex)


def _command(tex: str, name: str, i: int) -> tuple[float, int]:
    """The width of ``\\name`` and its arguments, and the index after them."""
    if name == "frac":
        top, i = _group(tex, i)
        bottom, i = _group(tex, i)
        return max(top, bottom) + 0.4, i
    if name in WORDS:
        word, i = _raw_group(tex, i)
        return (width(word) if name == "text" and "$" in word else len(word.replace("\\", ""))), i
    if name in SILENT:
        return 0.0, i
    if name in SPACE:
        return SPACE[name], i
    if name in NAMED:  # set upright, letter by letter, with a thin space after
        return len(name) + 0.3, i
    if name in ("sum", "prod", "int"):
        return 1.8, i
    if name in ("odot", "cdot", "times", "circ", "otimes"):
        return 2.2, i
    return 1.0, i


def _run(tex: str, i: int, closing: bool = False) -> tuple[float, int]:
    """The width of ``tex`` from ``i`` to its end, or to the closing brace of the group opened before ``i``."""
    total = 0.0
    while i < len(tex):
        ch = tex[i]
        if ch == "}" and closing:
            return total, i + 1
        if ch == "\\":
            m = _COMMAND.match(tex, i)
            w, i = _command(tex, m.group(1), m.end())
            total += w
            continue
        if ch in "^_":
            w, i = _group(tex, i + 1)
            total += SCRIPT * w
            continue
        if ch == "{":
            w, i = _run(tex, i + 1, closing=True)
            total += w
            continue
        total += SPACED.get(ch, 0.0 if ch in " &" else 1.0)
        i += 1
    return total, i
