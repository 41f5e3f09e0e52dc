"""The expression language's limits (README, "The expression language"): the size and nesting of a string,
checked before Python's parser sees it (its own recursion gives out near 3,000 levels), and the constants of a
parsed expression, within float64's range, since the generated code computes in float64."""

from __future__ import annotations

import ast
import math
import re

import sympy as sp

from .errors import ParseError

# Limits on an expression string (README, "The expression language"). Each is far
# beyond a hand-written expression. Measured: the slowest strings found within them
# (500 terms such as tanh(X @ Y + k), 2,000 operations) build in about 0.5 s; a
# flat sum of 2,000 terms in 0.04 s; Python's parser gives out near 2,900 chained
# operators (3.10 to 3.13), whence 2,000.
MAX_CHARS = 20_000  # characters
MAX_OPERATIONS = 2_000  # operators (+ - * / @ **, signs, .T) and function calls
MAX_DEPTH = 100  # operations nested inside operations (a chain a + b - c + ... is one level)
MAX_EXPONENT = 1_000  # |p| in x ** p for a numeric p
# Constants lie in float64's range, 0 or 2**-1074 (about 4.9e-324) to 2**1024 (about 1.8e308); the code
# generated from an expression computes in float64. Exact fractions in between (1e300 + 1e-300) may have
# up to MAX_CONSTANT_BITS bits above and below the line, which bounds the cost of constant arithmetic.
MAX_CONSTANT_BITS = 4_096
FLOAT_RANGE = "float64's range (about 4.9e-324 to 1.8e308, or 0)"

# Operations are counted in the text, before Python's parser builds a tree as deep as the
# longest chain: a call is a name before "(", an attribute a "." before a name.
_OPERATION = re.compile(r"\*\*|//|[-+*/@%~]|\.\s*[A-Za-z_]|[A-Za-z_]\w*\s*\(")
_EXPONENT_SIGN = re.compile(r"(?<=[0-9.][eE])[-+]")  # the sign in 1e-5 is part of the number
CHAIN = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product", ast.MatMult: "product"}
CHAIN.update({ast.FloorDiv: "product", ast.Mod: "product"})  # rejected, but chained as Python does


def span(line: int | None, start: int, end_line: int | None, end: int) -> tuple[int, int] | None:
    """Columns (start, end) of a one-line expression's part; None on a later line, which no form field has."""
    if line != 1:
        return None
    return (start, end if end_line == 1 and end > start else start + 1)


def syntax_tree(text: str) -> ast.Expression:
    """Python's syntax tree of ``text``, after the size limits; ParseError for a syntax error or a limit."""
    stripped = text.strip()
    if len(stripped) > MAX_CHARS:
        raise ParseError(f"{quoted(text)} is too long: the limit is {MAX_CHARS:,} characters")
    brackets = _bracket_depth(stripped)
    if brackets > MAX_DEPTH:
        raise ParseError(f"{quoted(text)} nests brackets {brackets} deep; the limit is {MAX_DEPTH}")
    operations = len(_OPERATION.findall(_EXPONENT_SIGN.sub("", stripped)))
    if operations > MAX_OPERATIONS:
        raise ParseError(
            f"{quoted(text)} has {operations:,} operations (operators and function calls); "
            f"the limit is {MAX_OPERATIONS:,}"
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as err:
        if "integer string conversion" in err.msg:  # Python's own limit on digits, before ours on constants
            raise ParseError(f"{quoted(text)} has an integer of over 4,300 digits, beyond {FLOAT_RANGE}") from None
        where = f" at column {err.offset}" if err.offset else ""
        at = span(err.lineno, err.offset - 1, err.end_lineno, (err.end_offset or 0) - 1) if err.offset else None
        raise ParseError(f"syntax error in {quoted(text)}{where}: {err.msg}", at) from None
    except ValueError as err:  # a NUL character, before Python 3.12
        raise ParseError(f"{quoted(text)} cannot be parsed: {err}") from None
    except (RecursionError, MemoryError):  # Python's parser gives up on some chains (x.T.T.T...) within the limits
        raise ParseError(
            f"{quoted(text)} is nested too deeply for Python's parser (the limits are {MAX_DEPTH} levels "
            f"and {MAX_OPERATIONS:,} operations)"
        ) from None
    depth = _depth(tree.body)
    if depth > MAX_DEPTH:
        raise ParseError(
            f"{quoted(text)} nests operations {depth} deep; the limit is {MAX_DEPTH} "
            "(a chain such as a + b - c + ... counts as one level)"
        )
    return tree


def quoted(text: str, keep: int = 80) -> str:
    """``text`` quoted for an error message, its middle cut out when long."""
    text = text.strip()
    if len(text) <= 2 * keep:
        return repr(text)
    return f"{text[:keep]!r}...{text[-keep // 2 :]!r} ({len(text):,} characters)"


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _depth(root) -> int:
    """Levels of operations in the tree, without recursion; a chain of ``+ -`` (or ``* / @``) or of signs is one."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in ast.iter_child_nodes(node):
            child = child.value if isinstance(child, ast.keyword) else child
            if isinstance(child, ast.expr):
                stack.append((child, depth if continues(node, child) else depth + 1))
    return deepest


def continues(node, child) -> bool:
    """Whether ``child`` continues ``node``'s chain (read in the same loop)."""
    if isinstance(node, ast.UnaryOp):
        return isinstance(child, ast.UnaryOp)
    return (
        isinstance(node, ast.BinOp)
        and child is node.left
        and isinstance(child, ast.BinOp)
        and CHAIN.get(type(child.op)) is not None
        and CHAIN.get(type(child.op)) == CHAIN.get(type(node.op))
    )


def log2_size(value) -> float:
    """log2 of the largest numerator or denominator among the rational numbers in ``value``."""
    sizes = [math.log2(abs(n)) for r in _numbers(value) for n in (r.p, r.q) if n not in (0, 1, -1)]
    return max(sizes, default=0.0)


def _numbers(expr):
    """The rational numbers of ``expr``."""
    return [e for e in _nodes(expr) if isinstance(e, sp.Rational)]


def _nodes(expr):
    """Each distinct subexpression of ``expr`` once: without recursion, and a shared one not again.

    (var(var(X)) uses its argument twice at each level; as a tree it would be 2**depth nodes.)
    """
    seen, stack = {expr}, [expr]
    while stack:
        e = stack.pop()
        yield e
        for arg in e.args if isinstance(e, sp.Basic) else ():
            if arg not in seen:
                seen.add(arg)
                stack.append(arg)


def out_of_range(r) -> bool:
    """Whether the rational ``r`` is outside float64's range, or too long to compute with."""
    p, q = abs(r.p), r.q
    if max(p.bit_length(), q.bit_length()) > MAX_CONSTANT_BITS:
        return True
    return p != 0 and (p >= q << 1024 or p << 1075 <= q)  # at most 2**-1075 rounds to 0


def short(number) -> str:
    """``the constant 3/4``, or for a long one ``a constant of about 400 digits``."""
    if isinstance(number, sp.Rational) and max(abs(number.p).bit_length(), number.q.bit_length()) > 100:
        digits = round(math.log10(2) * max(abs(number.p).bit_length(), number.q.bit_length()))
        return f"a constant of about {digits:,} digits"
    return f"the constant {number}"


def brief(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:15]}... ({len(text):,} characters)"


def _function_of_numbers(e) -> bool:
    """exp(1000), expm1(1e3), a function applied to a number: the generated code computes it in float64."""
    return isinstance(e, sp.Function) and e.is_number and not isinstance(e, sp.MatrixExpr)


def _finite(number) -> bool:
    try:
        return math.isfinite(abs(complex(sp.N(number, 20))))
    except (ArithmeticError, ValueError, TypeError):  # mpmath's own overflow
        return False


def check_constants(expr, text: str):
    """Every number in the result is finite and within float64's range."""
    for e in _nodes(expr):
        if e in (sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise ParseError(f"{quoted(text)} evaluates to {e} (a division by zero, or the log of zero?)")
        if isinstance(e, sp.Rational) and out_of_range(e):
            raise ParseError(f"{quoted(text)} has {short(e)}, outside {FLOAT_RANGE}")
    for e in _nodes(expr):
        if isinstance(e, sp.Expr) and not isinstance(e, sp.MatrixExpr) and e.is_number and e.is_extended_real is False:
            raise ParseError(f"{quoted(text)} has a complex constant (the log or root of a negative number?)")
    numbers = sorted((e for e in _nodes(expr) if _function_of_numbers(e)), key=sp.count_ops)
    for e in numbers:  # innermost first: exp(exp(exp(10))) is refused at exp(exp(10)), before mpmath overflows
        if not _finite(e):
            raise ParseError(f"{quoted(text)} has {brief(e)}, which overflows float64 ({FLOAT_RANGE})")
