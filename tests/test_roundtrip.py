"""What symdiff prints is valid input: ``parse(text(g))`` is the same gradient, for every catalog gradient, every
op row and a hundred random expressions; typed decimals print as decimals in text, LaTeX and code."""

from decimal import Decimal

import numpy as np
import pytest
import sympy as sp
from test_ops import ENV, OPS
from test_sympy_results import MATS, random_cases

import symdiff as sd
from symdiff import catalog
from symdiff.codegen.printers import printer_class
from symdiff.ops.labels import label_classes
from symdiff.printing import decimal, latex


def _names(expr, inputs: dict) -> dict:
    names = dict(inputs)
    for leaf in expr.free_symbols | expr.atoms(sp.MatrixSymbol):
        names.setdefault(leaf.name, leaf)
    return names


def _values(expr, inputs: dict, seed: int = 0, size: int = 3):
    """Random values (dims set to ``size``) of ``expr``'s leaves, for lambdify."""
    rng = np.random.default_rng(seed)
    shaped = [m for m in [*inputs.values(), *expr] if isinstance(m, sp.MatrixExpr)]
    dims = {s: size for m in shaped for s in m.shape if isinstance(s, sp.Symbol)}
    leaves = sorted(expr.free_symbols, key=str)
    labels = label_classes(expr)
    values = []
    for leaf in leaves:
        if leaf in dims:
            values.append(dims[leaf])
        elif leaf in labels:  # class indices
            classes = int(sp.sympify(labels[leaf]).xreplace(dims))
            values.append(rng.integers(0, classes, size=(int(sp.sympify(leaf.shape[0]).xreplace(dims)), 1)))
        elif isinstance(leaf, sp.MatrixSymbol):
            values.append(rng.uniform(0.5, 1.5, size=tuple(int(sp.sympify(d).xreplace(dims)) for d in leaf.shape)))
        else:
            values.append(rng.uniform(0.5, 1.5))
    return leaves, values


def assert_round_trip(g, inputs: dict):
    printed = sd.text(g)
    again = sd.parse(printed, **_names(g, inputs))
    assert sd.text(sd.parse(sd.text(again), **_names(g, inputs))) == sd.text(again), "printing is not a fixpoint"
    leaves, values = _values(sp.Tuple(g, again), inputs)
    original = np.asarray(sp.lambdify(leaves, g, "numpy")(*values), dtype=float)
    parsed = np.asarray(sp.lambdify(leaves, again, "numpy")(*values), dtype=float)
    np.testing.assert_allclose(parsed.reshape(original.shape), original, rtol=1e-12, err_msg=printed)


def _catalog_gradients():
    for name in catalog.names():
        d = catalog.load(name).derive()
        for w in d.wrt:
            yield pytest.param(d, w, id=f"{name}-{w}")


@pytest.mark.parametrize("d, w", list(_catalog_gradients()))
def test_catalog_gradients_print_as_valid_input(d, w):
    assert_round_trip(d.closed_form(w), d.inputs)


@pytest.mark.parametrize("op, name, expression, wrt, domains", OPS)
def test_op_gradients_print_as_valid_input(op, name, expression, wrt, domains):
    assert_round_trip(sd.grad(sd.parse(expression, **ENV), ENV[wrt]), ENV)


@pytest.mark.parametrize("text, wrt", random_cases(100))
def test_random_gradients_print_as_valid_input(text, wrt):
    assert_round_trip(sd.grad(sd.parse(text, **MATS), MATS[wrt]), MATS)


@pytest.mark.parametrize(
    "typed, printed",
    [("0.7978845608028654", "0.7978845608028654"), ("1e-5", "1e-05"), ("0.044715", "0.044715"), ("3.75e-3", "0.00375")],
)
def test_typed_decimals_print_as_decimals(typed, printed):
    x = ENV["x"]
    expr = sd.parse(f"sum({typed} * x)", x=x)
    assert sd.text(expr) == f"{printed} * sum(x)"
    for backend in ("numpy", "torch"):
        code = printer_class(backend)().doprint(expr)
        assert printed in code and "/" not in code
    assert "/" not in latex(expr) and "frac" not in latex(expr)


def test_decimal_products_print_every_digit_and_parse_back():
    x = ENV["x"]
    expr = sd.parse("sum(0.7978845608028654 * 0.044715 * x)", x=x)
    coefficient = sd.grad(expr, x).args[0]
    exact = Decimal("0.7978845608028654") * Decimal("0.044715")  # 22 digits: more than a float holds
    assert Decimal(decimal(coefficient)) == exact
    assert sd.parse(sd.text(expr), x=x) == expr


def test_fractions_that_are_not_decimals_stay_fractions():
    x = ENV["x"]
    assert sd.text(sd.parse("sum(x / 3 + x / 2)", x=x)) == "5*sum(x)/6"
    assert latex(sd.parse("1e-5 * sum(x)", x=x)).startswith("10^{-5}")
