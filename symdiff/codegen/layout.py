"""How array code is laid out: which products fuse with a sum, and which new arrays are updated in place.

The cards spell sums and elementwise products plainly (``ops/linear.py``, ``ops/products.py``:
terms positive first, a product's rows, columns and scalars before its full
matrices). Here code generation decides, from what it knows of the
operands' dtypes (``floating``: the inputs that hold floating point), where
torch computes a sum with a product in one call (``torch.addmm``,
``torch.addcmul``), where a new floating-point array that no autograd node
keeps is finished in place (``.mul_``, ``.sub_`` in torch; ``name *= r``
statements in numpy, planned by ``update_plan``), and what each such array
is. ``laid_out`` installs these spellings in a code printer.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul

from ..ops import split_coeff
from ..ops.card import CARDS, Printed, is_matrix
from ..ops.linear import signed_terms, small_operand
from ..ops.products import is_divisor, prints_masked, product_factors
from .array_code import argument, chain, in_place_call, joined, new_array_prefix


class LaidOut:
    """A code printer whose sums and elementwise products follow this module's layout (see ``laid_out``)."""

    floating = frozenset()  # names known to hold floating point, which a module's writer sets

    def _prec(self, e) -> int:
        if self.dialect == "torch" and isinstance(e, MatAdd) and fused_term(e, self.floating) is not None:
            return self.ATOM  # a call: torch.addmm(...)
        return super()._prec(e)


def laid_out(printer_class: type) -> type:
    """``printer_class`` (a ``LaidOut`` printer the cards have spelled) with this module's sums and products."""
    printer_class._print_MatAdd = sum_code
    printer_class._print_HadamardProduct = product_code
    return printer_class


def sum_code(printer, e):
    """The sum ``e``: with its product term fused (torch), or finished in place if its first term makes a new
    array (torch), else as the card spells it."""
    term = fused_term(e, printer.floating) if printer.dialect == "torch" else None
    if term is not None:
        return _fused_product(printer, e, term)
    tokens = _sum_tokens(printer, e)
    if tokens[0][0] == "-":
        return _card_spelling(printer, e)
    fresh = printer.dialect == "torch" and fresh_float(tokens[0][4], printer.floating)
    return chain(printer.dialect, tokens, {"+": "add_", "-": "sub_"}, fresh)


def product_code(printer, e, coeff=None):
    """The elementwise product ``e`` (times ``coeff``): in torch, a new sum or product first and the rest
    multiplied into it in place (``(G - m).mul_(row)``); a mask selecting a quotient as the card spells it."""
    if prints_masked(printer, e):
        return _card_spelling(printer, e, coeff=coeff)
    first = _new_factor(printer, e) if printer.dialect == "torch" else None
    tokens = _product_tokens(printer, e, coeff, first=first)
    return chain(printer.dialect, tokens, {"*": "mul_", "/": "div_"}, first is not None)


def _card_spelling(printer, e, **kwargs) -> str:
    return CARDS[type(e)].spell[printer.dialect](printer, e, **kwargs)


def fused_term(e, floating=frozenset()):
    """The product term of a matrix sum that torch code computes with the rest of the sum in one call:
    c A @ B as ``torch.addmm(rest, A, B, alpha=c)`` (a linear layer's X @ W + b), or else c X * Y as
    ``torch.addcmul(rest, X, Y, value=c)``; c a number or made of dims (which ``alpha`` and ``value`` take, and
    a fraction only where the product is floating point: torch refuses one for integer tensors), and the rest
    starting with a term of its own rather than a negation. None if no term is such."""
    if not isinstance(e, MatAdd):
        return None
    candidates = []
    for term in e.args:
        c, core = split_coeff(term)
        others = [t for t in e.args if t is not term]
        constant = all(s.is_integer for s in c.free_symbols) and not any(
            isinstance(a, (sp.Function, Printed)) for a in sp.preorder_traversal(c)
        )
        constant = constant and (c.is_integer or float_valued(core, floating))
        # torch takes the rest as a tensor: a term of the rest positive and computed from arrays (ones print as 1)
        positive = any(
            not split_coeff(t)[0].could_extract_minus_sign() and split_coeff(t)[1].atoms(sp.MatrixSymbol)
            for t in others
        )
        if (
            constant
            and positive
            and isinstance(core, MatMul)
            and len(core.args) >= 2
            and all(map(is_matrix, core.args))
        ):
            candidates.insert(0, term)
        elif constant and positive and isinstance(core, HadamardProduct) and len(core.args) == 2:
            candidates.append(term)
    return candidates[0] if candidates else None


def _fused_product(printer, e, term) -> str:
    """``torch.addmm(rest, A, B)`` or ``torch.addcmul(rest, X, Y)``; ``rest.addcmul_(X, Y)`` where the rest is
    a new full matrix of floats the code owns (``G - m``), so that no second array is made."""
    c, core = split_coeff(term)
    others = [t for t in e.args if t is not term]
    rest_expr = MatAdd(*others) if len(others) > 1 else others[0]
    # one broadcasting call: rest and both factors of an addcmul may print bare only beside a full one of them
    operands = (rest_expr, *core.args) if isinstance(core, HadamardProduct) else e.args
    rest = sum_code(printer, rest_expr) if len(others) > 1 else argument(printer._operand(rest_expr, operands))
    if isinstance(core, MatMul):
        left = MatMul(*core.args[:-1]) if len(core.args) > 2 else core.args[0]
        method, x, y = "addmm", printer._print(left), printer._print(core.args[-1])
        keyword = "alpha"
    else:
        method, (x, y) = "addcmul", (printer._operand(f, operands) for f in core.args)
        keyword = "value"
    arguments = f"{x}, {y}" + ("" if c == 1 else f", {keyword}={printer._print(c)}")
    if fresh_float(rest_expr, printer.floating):
        return in_place_call(rest, f"{method}_", arguments)
    return f"{printer._module_format('torch.' + method)}({rest}, {arguments})"


def _sum_tokens(printer, e) -> list:
    """The terms of the sum ``e`` as ``chain`` tokens (sign, code of the term without it, full, floating point,
    the term), the positive terms first."""
    return [
        (sign, code, not small_operand(term), float_valued(term, printer.floating), term)
        for sign, code, term in signed_terms(printer, e)
    ]


def _new_factor(printer, e):
    """The product ``e``'s first full numerator where it makes a new floating-point array the code may update
    in place (see ``fresh_float``), else None."""
    maker = next((f for f in e.args if not small_operand(f) and not is_divisor(f)), None)
    return maker if maker is not None and fresh_float(maker, printer.floating, printer.dialect) else None


def _product_tokens(printer, e, coeff=None, first=None) -> list:
    """The factors of the product ``e`` (and ``coeff``) as ``chain`` tokens (operator, code, full, floating
    point, the factor), in the card's order (``product_factors``); the full factor ``first`` moved to the
    front, and the rows, columns and scalars it is multiplied by then one token."""
    tokens = [
        (op, code, f is not None and not small_operand(f), _floating_factor(printer, op, f, coeff), f)
        for op, code, f in product_factors(printer, e, coeff)
    ]
    if first is None:
        return [("*", "1", False, False, None)] + tokens if tokens[0][0] == "/" else tokens  # 1 / x, not x
    head = tokens.pop(next(k for k, t in enumerate(tokens) if t[4] is first))
    scales = [t for t in tokens if t[0] == "*" and not t[2]]  # multiplied together, then into the new array once
    if len(scales) > 1:
        merged = ("*", " * ".join(t[1] for t in scales), False, any(t[3] for t in scales), None)
        tokens = [merged] + [t for t in tokens if t not in scales]
    return [head] + tokens


def _floating_factor(printer, op: str, factor, coeff) -> bool:
    """Whether a factor's array is floating point: a divisor's always (a quotient), the scalar ``coeff``'s
    (``factor`` None) if it is a fraction."""
    if op == "/":
        return True
    return not coeff.is_integer if factor is None else float_valued(factor, printer.floating)


def fresh_float(e, floating=frozenset(), dialect: str = "torch") -> bool:
    """Whether the code for ``e`` makes a new full-size floating-point array that no autograd node keeps (a
    product or sum of matrices; in torch not a function's value, which exp or sigmoid keep for their backward;
    numpy keeps nothing), so that the code may update it in place."""
    c, core = split_coeff(e)
    made = isinstance(core, (HadamardProduct, MatAdd)) or isinstance(core, MatMul) and len(core.args) > 1
    if dialect == "numpy":  # an elementwise function's or power's new array (the cards spell none as a view)
        made = made or isinstance(core, HadamardPower) or hasattr(core, "function")
    return not small_operand(e) and made and c == 1 and float_valued(e, floating)


def update_plan(printer, e):
    """numpy code for the matrix ``e`` as a new floating-point array and the in-place updates that finish it
    (``name = numpy.exp(h0)``, ``name *= r``, ``name -= T``): (the new array, either an expression to plan in
    turn or its code; [(operator, operand's code)]), or None where ``e`` makes no such array before its last
    operation."""
    c, core = split_coeff(e)
    if c != 1 and not isinstance(core, HadamardProduct):
        fresh = fresh_float(core, printer.floating, printer.dialect)
        return (core, [("*", printer._paren(c, printer.PRODUCT))]) if fresh else None
    if isinstance(e, MatAdd):
        tokens = _sum_tokens(printer, e)
        if tokens[0][0] == "-":
            return None
        made = next((t for t in tokens if t[0] == "+" and fresh_float(t[4], printer.floating, printer.dialect)), None)
        if made is not None:  # beta + gamma * h0: the product's new array first, beta added into it
            tokens.insert(0, tokens.pop(tokens.index(made)))
        fresh = made is not None
    elif isinstance(core, HadamardProduct) and not prints_masked(printer, core):
        first = _new_factor(printer, core)
        if c != 1 and first is None:  # the product's new array first, then the scalar: G * X, /= Y**2, *= -1
            return core, [("*", printer._paren(c, printer.PRODUCT))]
        tokens = _product_tokens(printer, core, None if c == 1 else c, first=first)
        fresh = first is not None
    else:
        return None
    count = new_array_prefix(tokens, fresh)
    if count is None or count == len(tokens):
        return None
    head = tokens[0][4] if count == 1 else joined(tokens[:count])
    return head, [(op, operand) for op, operand, *_ in tokens[count:]]


def float_valued(e, floating=frozenset()) -> bool:
    """Whether the array ``e`` computes is floating point whatever its inputs' dtypes, given the names in
    ``floating`` hold floating point (a function like exp or sigmoid, a quotient, a fraction, a normalization,
    or any of these combined with anything), so that an in-place update of a product with it keeps its dtype."""
    if isinstance(e, sp.MatrixSymbol):
        return e.name in floating
    if isinstance(e, Printed):  # a dimension as a float64 tensor
        return True
    if not is_matrix(e):
        return e.is_number and not e.is_integer
    c, core = split_coeff(e)
    if not c.is_integer:
        return True
    if c != 1:  # -Y: as Y
        return float_valued(core, floating)
    if isinstance(core, sp.MatrixSymbol):
        return core.name in floating
    if hasattr(core, "eps"):  # normalizations divide by a standard deviation
        return True
    if isinstance(core, HadamardPower) and (core.exp.is_integer is False or core.exp.is_negative):
        return True
    if hasattr(core, "function") and _makes_fractions(core.function):  # exp, sigmoid, sqrt, ...; not relu, abs
        return True
    return any(float_valued(a, floating) for a in core.args if is_matrix(a) or isinstance(a, Printed))


def _makes_fractions(function) -> bool:
    """Whether an elementwise function takes an integer to a non-integer (sigmoid(2), sqrt(2); not relu(2)), so
    that its array is floating point whatever its input's dtype; False where SymPy cannot evaluate it."""
    try:
        value = float(function(2))
    except (TypeError, ValueError):
        return False
    return value != round(value)
