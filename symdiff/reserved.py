"""The names the expression language reserves, and what a name may be: a symbol, a dimension.

Functions (``exp``), constants (``pi``, ``e``) and Python's keywords cannot
name a symbol; a dimension may take a constant's name (an embedding size ``e``):
where ``e`` is declared a dimension, it is that dimension, elsewhere Euler's number.
"""

from __future__ import annotations

import difflib
import keyword

import sympy as sp

from .ops import FUNCTIONS

CONSTANTS = {"pi": sp.pi, "e": sp.E}  # names the language reserves for constants (a dimension may take them)
_CONSTANT_MEANINGS = {"pi": "the constant pi (3.14159...)", "e": "the constant e (Euler's number, 2.71828...)"}


def nearest(name: str, names, n: int = 3) -> list:
    """The known names nearest ``name`` (difflib's ratio of at least 0.6), nearest first."""
    return difflib.get_close_matches(name, sorted(names), n=n)


def did_you_mean(name: str, names) -> str:
    """``; did you mean W?`` for the known name nearest ``name``, or nothing when none is near."""
    near = nearest(name, names, 1)
    return f"; did you mean {near[0]}?" if near else ""


def is_dimension(value) -> bool:
    """A dimension: a positive integer symbol (``sd.dims``)."""
    return isinstance(value, sp.Symbol) and bool(value.is_integer and value.is_positive)


def reserved(name: str) -> str | None:
    """What the language reserves ``name`` for ("reserved: the constant pi (3.14159...)"), or None."""
    if keyword.iskeyword(name):
        return "reserved: a Python keyword"
    if name in FUNCTIONS:
        return f"reserved: the function {name}() of the expression language"
    if name in CONSTANTS:
        return f"reserved: {_CONSTANT_MEANINGS[name]}"
    return None


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a symbol in the expression language."""
    return name.isidentifier() and reserved(name) is None


def valid_dimension_name(name: str) -> bool:
    """Whether ``name`` can name a dimension: a constant's name too (a dimension named e shadows Euler's number)."""
    return name.isidentifier() and (name in CONSTANTS or reserved(name) is None)
