"""Generated torch Functions differentiated twice: their double backward is the derived HVP.

Each case's Function (emitted with ``double_backward``) is differentiated twice by torch in the three ways
users do (create_graph=True, torch.autograd.functional.hvp, torch.func.jvp of torch.func.grad) and compared with
torch autograd of the same function written directly in torch, which shares no code with the emitted module.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import sympy as sp
import torch

import symdiff as sd
from symdiff import catalog, codegen
from symdiff.cli import main
from symdiff.errors import CodegenError
from symdiff.second_order import derive_double_backward
from symdiff.simplify import simplify
from symdiff.target import spec_module

n, m, h, c = sp.symbols("n m h c", integer=True, positive=True)
SIZES = {"n": 6, "m": 4, "h": 3, "c": 3}

# expression, shapes, variables, the same function in torch, input domains
CASES = {
    "logistic_regression_with_scalar": (
        "sum(log(1 + exp(-y * (X @ w)))) + a**2 * sum(w * w)",
        {"X": ("n", "m"), "w": ("m", 1), "y": ("n", 1), "a": None},
        ["w", "a"],
        lambda X, w, y, a: torch.log(1 + torch.exp(-y * (X @ w))).sum() + a**2 * (w * w).sum(),
        {"y": "sign"},
    ),
    "tanh_mlp": (
        "sum((tanh(X @ W1) @ W2 - Y)**2) / 2",
        {"X": ("n", "m"), "W1": ("m", "h"), "W2": ("h", "c"), "Y": ("n", "c")},
        ["W1", "W2"],
        lambda X, W1, W2, Y: ((torch.tanh(X @ W1) @ W2 - Y) ** 2).sum() / 2,
        {},
    ),
    "softmax_cross_entropy": (
        "-sum(T * log_softmax(X @ W, axis=1)) / n",
        {"X": ("n", "m"), "W": ("m", "c"), "T": ("n", "c")},
        ["W"],
        lambda X, W, T: -(T * torch.log_softmax(X @ W, dim=1)).sum() / X.shape[0],
        {"T": "probabilities"},
    ),
    "logdet_and_trace": (
        "logdet(S) - trace(S @ B)",
        {"S": ("m", "m"), "B": ("m", "m")},
        ["S"],
        lambda S, B: torch.logdet(S) - torch.trace(S @ B),
        {"S": "spd"},
    ),
    "relu_layer": (  # the mask's derivative is zero, as torch's double backward has it
        "sum(relu(X @ W) * G) + sum(W * W)",
        {"X": ("n", "m"), "W": ("m", "h"), "G": ("n", "h")},
        ["W"],
        lambda X, W, G: (torch.relu(X @ W) * G).sum() + (W * W).sum(),
        {},
    ),
}


def _symbols(shapes: dict) -> dict:
    dims = {"n": n, "m": m, "h": h, "c": c}
    return dims | {
        name: sp.Symbol(name, real=True) if shape is None else sd.matrix(name, *(dims.get(d, d) for d in shape))
        for name, shape in shapes.items()
    }


def _value(rng, shape, domain):
    if shape is None:
        return torch.tensor(rng.normal(), dtype=torch.float64)
    size = tuple(SIZES.get(d, d) for d in shape)
    x = rng.normal(size=size)
    if domain == "sign":
        x = np.sign(x)
    elif domain == "probabilities":
        x = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    elif domain == "spd":
        x = x @ x.T + size[0] * np.eye(size[0])
    return torch.tensor(x, dtype=torch.float64)


def _case(name: str):
    text, shapes, variables, reference, domains = CASES[name]
    f = sd.parse(text, **_symbols(shapes))
    d = sd.derive(f, variables, inputs=list(shapes))
    module = codegen.compile(d, "torch", double_backward=derive_double_backward(f, variables, inputs=list(shapes)))
    rng = np.random.default_rng(sum(map(ord, name)))
    values = {k: _value(rng, shape, domains.get(k)) for k, shape in shapes.items()}
    directions = {v: torch.tensor(rng.normal(size=tuple(values[v].shape)), dtype=torch.float64) for v in variables}
    return module, reference, values, variables, directions


def _as_function_of(function, values: dict, variables: list):
    """``function`` of the variables alone, the other inputs fixed at ``values``."""

    def of(*args):
        return function(**{**values, **dict(zip(variables, args))})

    return of


def _apply(module):
    return lambda **kw: module.Function.apply(*(kw[name] for name in module.INPUTS))


def _double_backward(function, values, variables, directions):
    """d/dvariables <grad f, V> by torch.autograd.grad twice (create_graph=True)."""
    leaves = [values[v].clone().requires_grad_(True) for v in variables]
    out = _as_function_of(function, values, variables)(*leaves)
    grads = torch.autograd.grad(out, leaves, create_graph=True)
    pairing = sum((g * directions[v]).sum() for g, v in zip(grads, variables))
    return torch.autograd.grad(pairing, leaves)


def _close(ours, theirs):
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12), (a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_create_graph_double_backward_runs_the_derived_hvp(name, monkeypatch):
    module, reference, values, variables, directions = _case(name)
    calls = []
    pairing_backward = module.pairing_backward
    monkeypatch.setattr(module, "pairing_backward", lambda *a: calls.append(1) or pairing_backward(*a))
    ours = _double_backward(_apply(module), values, variables, directions)
    assert calls, "the second derivative did not come from the derived form"
    _close(ours, _double_backward(reference, values, variables, directions))


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_func_jvp_of_grad_agrees_with_autograd(name):
    module, reference, values, variables, directions = _case(name)
    point = tuple(values[v] for v in variables)
    tangent = tuple(directions[v] for v in variables)
    argnums = tuple(range(len(variables)))

    def hvp(function):
        grad = torch.func.grad(_as_function_of(function, values, variables), argnums=argnums)
        return torch.func.jvp(grad, point, tangent)[1]

    _close(hvp(_apply(module)), hvp(reference))
    first = torch.func.grad(_as_function_of(_apply(module), values, variables), argnums=argnums)(*point)
    _close(first, torch.func.grad(_as_function_of(reference, values, variables), argnums=argnums)(*point))


@pytest.mark.parametrize("name", ["tanh_mlp", "logistic_regression_with_scalar"])
def test_torch_autograd_functional_hvp_agrees(name):
    module, reference, values, variables, directions = _case(name)
    x = variables[0]

    def hvp(function):
        return torch.autograd.functional.hvp(_as_function_of(function, values, [x]), values[x], directions[x])[1]

    _close([hvp(_apply(module))], [hvp(reference)])


def test_first_order_backward_still_reads_the_saved_values():
    """Without a graph to build, backward is the module's own, on what forward saved (no second forward)."""
    module, reference, values, variables, _ = _case("tanh_mlp")
    leaves = {k: v.clone().requires_grad_(k in variables) for k, v in values.items()}
    calls = []
    forward = module.forward
    out = _apply(module)(**leaves)
    module.forward = lambda *a: calls.append(1) or forward(*a)
    try:
        out.backward()
    finally:
        module.forward = forward
    assert not calls
    expected = torch.autograd.grad(
        reference(**values | {v: values[v].requires_grad_(True) for v in variables}), [values[v] for v in variables]
    )
    _close([leaves[v].grad for v in variables], expected)


def test_compiles_under_torch_compile_whole():
    module, reference, values, variables, directions = _case("tanh_mlp")
    point, tangent = tuple(values[v] for v in variables), tuple(directions[v] for v in variables)

    def hvp(function):
        grad = torch.func.grad(_as_function_of(function, values, variables), argnums=(0, 1))
        return torch.func.jvp(grad, point, tangent)[1]

    compiled = torch.compile(lambda: hvp(_apply(module)), fullgraph=True)
    _close(compiled(), hvp(reference))


def test_a_second_derivative_in_an_underived_input_is_refused_by_name():
    """d/dX of the gradient in W1 (a mixed second derivative in the data X, which was not derived)."""
    module, _, values, _, directions = _case("tanh_mlp")
    X, W1, W2, Y = (values[k] for k in ("X", "W1", "W2", "Y"))

    def gradient_in_W1(X):
        return torch.func.grad(lambda W1: module.Function.apply(X, W1, W2, Y))(W1)

    with pytest.raises(RuntimeError, match=r"no gradient for \['X'\]"):
        torch.func.jvp(gradient_in_W1, (X,), (torch.ones_like(X),))


def test_only_a_torch_gradient_module_gets_a_double_backward(capsys):
    text, shapes, variables, _, _ = CASES["tanh_mlp"]
    f = sd.parse(text, **_symbols(shapes))
    d = sd.derive(f, variables, inputs=list(shapes))
    second = derive_double_backward(f, variables, inputs=list(shapes))
    with pytest.raises(CodegenError, match="torch Function"):
        codegen.emit(d, "numpy", double_backward=second)
    shapes_args = ["--shape", "X=n,m", "W1=m,h", "W2=h,c", "Y=n,c"]
    for options in (["--hvp", "W1", "--backend", "torch"], ["--wrt", "W1"]):  # an HVP module; numpy code
        assert main(["emit", text, *shapes_args, *options, "--double-backward"]) == 2
        assert "--double-backward is for the torch Function of a gradient" in capsys.readouterr().err


def test_the_command_line_emits_a_twice_differentiable_function(tmp_path, capsys):
    text, shapes, variables, reference, _ = CASES["tanh_mlp"]
    out = tmp_path / "mlp_twice.py"
    args = ["emit", text, "--shape", "X=n,m", "W1=m,h", "W2=h,c", "Y=n,c", "--wrt", *variables]
    assert main([*args, "--backend", "torch", "--double-backward", "-o", str(out)]) == 0
    spec = importlib.util.spec_from_file_location("mlp_twice", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, _, values, _, directions = _case("tanh_mlp")
    _close(
        _double_backward(_apply(module), values, variables, directions),
        _double_backward(reference, values, variables, directions),
    )


def test_the_catalogs_sigmoid_mlp_function_is_differentiable_twice():
    """The committed module of a spec with double_backward = true, against the seed's network in torch."""
    spec = catalog.load("004_sigmoid_mlp")
    assert spec.double_backward
    module = importlib.import_module("symdiff.generated.torch_code.004_sigmoid_mlp")
    assert hasattr(module, "Gradient")
    rng = np.random.default_rng(4)
    sizes = spec.size_values()
    values = {
        name: torch.tensor(
            rng.normal(size=tuple(int(sp.sympify(x).subs(sizes)) for x in x_.shape)), dtype=torch.float64
        )
        for name, x_ in spec.inputs.items()
    }

    def network(**v):
        y = v["X"]
        for i in range(1, 6):
            y = torch.sigmoid(v[f"A{i}"] @ y + v[f"b{i}"])
        return (((v["A6"] @ y + v["b6"]) - v["Y"]) ** 2).sum() / 2

    variables = list(spec.wrt)
    directions = {v: torch.tensor(rng.normal(size=tuple(values[v].shape)), dtype=torch.float64) for v in variables}
    _close(
        _double_backward(_apply(module), values, variables, directions),
        _double_backward(network, values, variables, directions),
    )


def test_the_readme_example_runs_as_written():
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    code = re.search(r"### Functions differentiable twice\n.*?```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})  # its assert compares the HVP with the closed form by hand


def test_check_compares_the_functions_double_backward_with_autograds(capsys):
    text, shapes, variables, _, _ = CASES["tanh_mlp"]
    args = ["check", text, "--shape", "X=n,m", "W1=m,h", "W2=h,c", "Y=n,c", "--wrt", *variables, "--no-exact"]
    assert main([*args, "--double-backward"]) == 0
    out = capsys.readouterr().out
    for v in variables:
        assert f"PASS  (H V)_{v} by the generated Function's double backward vs torch autograd double backward" in out


def test_a_wrong_double_backward_fails_the_check():
    """The Function of f carrying the double backward of 1.01 f: its second derivatives are 1% off."""
    from symdiff.verify import gradcheck

    text, shapes, variables, _, _ = CASES["tanh_mlp"]
    f = sd.parse(text, **_symbols(shapes))
    d = sd.derive(f, variables, inputs=list(shapes))
    wrong = derive_double_backward(sp.Rational(101, 100) * f, variables, inputs=list(shapes))
    report = gradcheck.check(d, exact=False, double_backward=wrong)
    failed = [name for name, comparisons in report.comparisons.items() if not all(c.ok for c in comparisons)]
    assert failed == [f"{v} (double backward)" for v in variables], report.summary()


def test_a_loss_spec_is_differentiable_twice_unless_it_says_not_and_a_layer_cannot_be(tmp_path):
    assert catalog.load("002_softmax_cross_entropy").double_backward
    assert not catalog.load("005_sigmoid_layer").double_backward  # a layer (upstream G)
    layer = """title = "t"
source = "s"
dims = ["n"]
wrt = ["x"]
upstream = "G"
double_backward = true

[shapes]
x = ["n", 1]
G = ["n", 1]

[forward]
y = "tanh(x)"
L = "sum(G * y)"
"""
    path = tmp_path / "layer.toml"
    path.write_text(layer, encoding="utf-8")
    with pytest.raises(catalog.SpecError, match="double_backward = true is for a gradient spec of a loss"):
        catalog.load_file(path)
    path.write_text(layer.replace('upstream = "G"\n', "").replace("true", "false"), encoding="utf-8")
    spec = catalog.load_file(path)
    assert not spec.double_backward and "class Gradient" not in spec_module(spec, spec.derive(), "torch")


def test_a_symmetric_sum_prints_without_its_transpose():
    """x^T A x: the double backward's HVP is (A + A^T) V, not (A + A^T)^T V (simplify.symmetric_sum)."""
    A, x = sd.matrix("A", m, m), sd.matrix("x", m, 1)
    d, directions = derive_double_backward(sd.parse("x.T @ A @ x", A=A, x=x), ["x"], inputs=["A", "x"])
    assert sd.text(d.gradients["x"]) == "(A + A.T) @ V_x" and directions == {"x": "V_x"}
    B = sd.matrix("B", m, m)
    assert sd.text(simplify(sd.parse("(A + B).T @ x", A=A, B=B, x=x))) == "(A + B).T @ x"  # not symmetric
