"""Results are first-class SymPy: ``as_explicit()``, ``.subs(...).doit()`` and ``sympy.lambdify`` evaluate every
catalog gradient and a hundred random ones, and agree with the generated numpy code."""

import random

import numpy as np
import pytest
import sympy as sp

import symdiff as sd
from symdiff import catalog, codegen
from symdiff.graph import dag_size, substitute
from symdiff.ops.labels import label_classes
from symdiff.ops.structure import structure_of
from symdiff.verify.exact import default_sizes
from symdiff.verify.numeric import natural_domains, random_input
from symdiff.verify.structured import project

# as_explicit() expands every entry symbolically and subs() walks the expression as a tree: each takes a
# minute on the 6-layer MLP's deepest gradient at 2 x 2, so larger gradients go through xreplace(...).doit()
EXPLICIT_LIMIT = 40


def _array(value) -> np.ndarray:
    value = sp.N(value.as_explicit() if isinstance(value, sp.MatrixExpr) else value)
    return np.array(value.tolist() if isinstance(value, sp.MatrixBase) else value, dtype=float)


def sympy_routes(expr, sizes: dict, arrays: dict) -> dict:
    """``expr`` evaluated at ``arrays`` (name -> value) by SymPy itself, three ways."""
    dims = {k: sp.Integer(v) for k, v in sizes.items()}
    matrices = {
        m: sp.MatrixSymbol(m.name, *(sp.sympify(d).xreplace(dims) for d in m.shape))
        for m in expr.atoms(sp.MatrixSymbol)
    }
    concrete = substitute(expr, dims | matrices)
    values = {matrices[m]: sp.ImmutableMatrix(arrays[m.name]) for m in matrices}
    values |= {s: sp.Float(arrays[s.name]) for s in expr.free_symbols if isinstance(s, sp.Symbol) and s not in dims}
    if dag_size(expr) > EXPLICIT_LIMIT:
        routes = {"xreplace(...).doit()": _array(concrete.xreplace(values).doit())}
    else:
        routes = {"subs(...).doit()": _array(concrete.subs(values).doit())}
        explicit = sp.Matrix(concrete) if isinstance(concrete, sp.MatrixExpr) else concrete
        routes["as_explicit()"] = _array(explicit.subs(values).doit())
    symbols = sorted(expr.free_symbols, key=str)
    function = sp.lambdify(symbols, expr, "numpy")
    routes["lambdify"] = np.asarray(function(*[arrays.get(s.name, sizes.get(s)) for s in symbols]), dtype=float)
    return routes


def draw_inputs(d, sizes: dict, domains: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    domains = {**natural_domains(d.output_expr), **domains}
    labels = label_classes(d.output_expr)
    arrays = {}
    for name, symbol in d.inputs.items():
        if symbol in sizes:
            continue
        if symbol in labels:  # class indices
            shape = (int(sp.sympify(symbol.shape[0]).xreplace(sizes)), 1)
            arrays[name] = rng.integers(0, int(sp.sympify(labels[symbol]).xreplace(sizes)), shape)
        elif isinstance(symbol, sp.MatrixSymbol):
            shape = tuple(int(sp.sympify(x).xreplace(sizes)) for x in symbol.shape)
            structure = structure_of(symbol)  # a structured input in its structure, an spd one definite
            value = random_input(shape, "spd" if structure == "spd" else domains.get(name, "any"), rng)
            arrays[name] = value if structure is None else project(value, structure)
        else:
            arrays[name] = float(random_input((), domains.get(name, "positive"), rng))
    return arrays


def generated_gradients(d, arrays: dict, upstream=None) -> dict:
    module = codegen.compile(d, "numpy", upstream=upstream or ())  # a layer with several outputs: its scalar
    _, saved = module.forward(*[arrays[name] for name in module.INPUTS])
    return module.backward(saved, arrays[upstream] if upstream else 1.0)


def assert_routes_agree(d, arrays, sizes, upstream=None):
    generated = generated_gradients(d, arrays, upstream) if d.kind == "gradient" else {}
    for w in d.wrt:
        routes = sympy_routes(d.closed_form(w), sizes, arrays)
        reference = np.asarray(generated[w], dtype=float) if w in generated else routes.pop("lambdify")
        for route, value in routes.items():
            np.testing.assert_allclose(
                value.reshape(reference.shape), reference, rtol=1e-9, atol=1e-12, err_msg=f"d/d{w} by {route}"
            )


@pytest.mark.parametrize("name", catalog.names())
def test_catalog_gradients_evaluate_in_sympy(name):
    spec = catalog.load(name)
    d = spec.derive()
    sizes = dict(spec.size_values() or default_sizes(d.output_expr))
    assert_routes_agree(d, draw_inputs(d, sizes, spec.domains, seed=0), sizes, spec.upstream)


n = sd.dims("n")
MATS = {name: sd.matrix(name, n, n) for name in "ABC"}
UNARY = [
    "exp({})",
    "tanh({})",
    "sigmoid({})",
    "({}).T",
    "softplus({}, 2)",
    "({})**2",
    "softmax({}, axis=1)",
    "log_softmax({}, axis=0)",
    "gelu({})",
    "silu({})",
    "clip({}, -0.5, 0.5)",
    "sum({}, axis=0) + {}",
    "logsumexp({}, axis=1) * {}",
    "relu({})",
]
BINARY = ["({}) @ ({})", "({}) + ({})", "({}) - ({})", "({}) * ({})", "maximum({}, {})"]


def random_expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(sorted(MATS))
    if rng.random() < 0.55:
        template = rng.choice(UNARY)
        return template.format(*[random_expression(rng, depth - 1)] * template.count("{}"))
    return rng.choice(BINARY).format(random_expression(rng, depth - 1), random_expression(rng, depth - 1))


def random_cases(count: int, seed: int = 2026):
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        text = rng.choice(["sum({})", "trace({})"]).format(random_expression(rng, 3))
        variables = sorted(m.name for m in sd.parse(text, **MATS).free_symbols if m.name in MATS)
        if variables and text not in (case[0] for case in cases):
            cases.append((text, rng.choice(variables)))
    return cases


@pytest.mark.parametrize("text, wrt", random_cases(100))
def test_random_gradients_evaluate_in_sympy(text, wrt):
    d = sd.derive(sd.parse(text, **MATS), [MATS[wrt]])
    sizes = {n: 3}
    assert_routes_agree(d, draw_inputs(d, sizes, {}, seed=1), sizes)
