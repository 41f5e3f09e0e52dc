"""Gradients of slices written into one buffer: a sum of padded blocks (the gradient of packed weights sliced per
gate, W[:, 0:h], W[:, h:2*h], ...) is a zeros array with each block added into its rows and columns, not a
padded copy of each block added up."""

from __future__ import annotations

from sympy import MatAdd, MatrixSymbol

from ..ops import split_coeff
from ..ops.constants import ZeroMatrix
from ..ops.shapes import Pad, pad, slice_of


def blocks_shared(shared: list, reduced: list) -> tuple[list, list]:
    """``sympy.cse``'s (symbol, value) pairs and reduced expressions with each shared padded block held unpadded:
    its temporary holds the block, and where it is used it is padded again, so that a sum of them is still one
    (``padded_blocks``)."""
    swap, out = {}, []
    for symbol, value in shared:
        value = value.xreplace(swap)
        if isinstance(value, Pad):
            block = MatrixSymbol(symbol.name, *value.arg.shape)
            swap[symbol] = pad(block, *value.offsets, *value.shape)
            out.append((block, value.arg))
        else:
            out.append((symbol, value))
    return out, [e.xreplace(swap) for e in reduced]


def padded_blocks(e) -> list | None:
    """[(coefficient, block, row, column)] when ``e`` is a sum of two or more padded blocks, else None."""
    if not isinstance(e, MatAdd):
        return None
    found = []
    for term in e.args:
        coeff, core = split_coeff(term)
        if not isinstance(core, Pad):
            return None
        found.append((coeff, core.arg, *core.offsets))
    return found


def buffer_lines(printer, target: str, e, indent: int) -> list[str] | None:
    """Lines computing the sum of padded blocks ``e`` into a new zeros array ``target``, block by block (None when
    ``e`` is no such sum)."""
    blocks = padded_blocks(e)
    if blocks is None:
        return None
    rows, cols = e.shape
    buffer = MatrixSymbol(target, rows, cols)
    lines = [f"{' ' * indent}{target} = {printer.doprint(ZeroMatrix(rows, cols))}"]
    for coeff, block, r0, c0 in blocks:
        where = printer.doprint(slice_of(buffer, r0, r0 + block.shape[0], c0, c0 + block.shape[1]))
        sign, coeff = ("-", -coeff) if coeff.could_extract_minus_sign() else ("+", coeff)
        value = printer._paren(block, printer.PRODUCT) if coeff != 1 else printer.doprint(block)
        value = value if coeff == 1 else f"{printer._paren(coeff, printer.PRODUCT)} * {value}"
        lines.append(f"{' ' * indent}{where} {sign}= {value}")
    return lines
