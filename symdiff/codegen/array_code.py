"""The text of array code evaluated left to right, with torch's in-place updates where they are safe.

``layout.py`` decides what is safe: which operand makes a new floating-point array that no autograd node
keeps. Here is only how the code reads.
"""

from __future__ import annotations


def chain(dialect: str, tokens: list, in_place: dict, fresh: bool = False) -> str:
    """``tokens`` (operator, operand's code, whether the operand is a full matrix, whether it is floating point,
    and optionally the operand itself) evaluated left to right. In torch code, once a binary operation has made
    a new full matrix of floats, the operations after it update it in place (``.mul_``, ``.sub_``): the array
    it made is the code's own, and the operations that made it (products, sums) keep no reference to it for
    autograd. ``fresh``: the first operand is itself such a matrix."""
    count = new_array_prefix(tokens, fresh) if dialect == "torch" else None
    code = joined(tokens[: count or len(tokens)])
    for op, operand, *_ in tokens[count or len(tokens) :]:
        code = in_place_call(code, in_place[op], operand)
    return code


def joined(tokens: list) -> str:
    """The code of ``tokens`` with operators only."""
    return tokens[0][1] + "".join(f" {op} {operand}" for op, operand, *_ in tokens[1:])


def new_array_prefix(tokens: list, fresh: bool = False) -> int | None:
    """How many leading tokens make a new full matrix of floats, which the code owns and the operations after
    them may update in place; None if no prefix does. ``fresh``: the first token alone makes one."""
    if fresh:
        return 1
    full, floats = tokens[0][2], tokens[0][3]
    for count, (_, _, is_full, is_float, *_) in enumerate(tokens[1:], start=2):
        full, floats = full or is_full, floats or is_float
        if full and floats:
            return count
    return None


def in_place_call(code: str, method: str, operand: str) -> str:
    """``code.method(operand)``: torch's in-place update of the new tensor ``code`` makes."""
    return f"{code if code.endswith(')') and _one_call(code) else f'({code})'}.{method}({argument(operand)})"


def argument(code: str) -> str:
    """``code`` as a call's argument: without the parentheses around it that an operator needed."""
    return code[1:-1] if code.startswith("(") and _closing(code, 0) == len(code) - 1 else code


def _closing(code: str, start: int) -> int:
    """The index of the parenthesis that closes the one at ``start``."""
    depth = 0
    for k in range(start, len(code)):
        depth += code[k] == "("
        depth -= code[k] == ")"
        if depth == 0:
            return k
    return -1


def _one_call(code: str) -> bool:
    """Whether ``code`` is one name, call or method chain (``f(...).g(...)``, ``(a + b).reshape(...)``), to
    which a method call applies as a whole: outside parentheses, only names, digits, dots and underscores
    (a unary minus or an operator there would leave the method to the last operand)."""
    if not code or not (code[0].isalpha() or code[0] in "_("):
        return False
    depth = 0
    for ch in code:
        depth += ch in "(["
        depth -= ch in ")]"
        if depth == 0 and not (ch.isalnum() or ch in "_.)]"):
            return False
    return depth == 0
