"""Generated numpy and torch code: equal to torch autograd, readable, deterministic, ruff-clean."""

import re
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import GRADIENT_SPECS, LINEAR_MSE_ARGS

import symdiff as sd
from symdiff import catalog, codegen
from symdiff.cli import main
from symdiff.codegen.format import FORMAT
from symdiff.ops.labels import label_classes
from symdiff.ops.structure import structure_of
from symdiff.target import spec_module
from symdiff.verify import gradcheck
from symdiff.verify.structured import Parametrization, project

torch = pytest.importorskip("torch")

POSITIVE = {"002_cross_entropy": {"x"}}  # inputs that must be positive (log)


def random_inputs(spec, d, seed):
    """Random float64 inputs at random sizes (2..5 per dimension), entries of magnitude 0.3..1.5; a structured
    input in its structure (an spd one A A^T + I)."""
    rng = np.random.default_rng(seed)
    sizes = {dim: int(rng.integers(2, 6)) for dim in spec.dims.values()}
    labels = label_classes(d.output_expr)
    inputs = {}
    for name, sym in d.inputs.items():
        if sym in spec.dims.values():
            continue
        shape = tuple(int(sp.sympify(s).subs(sizes)) for s in sym.shape) if hasattr(sym, "shape") else ()
        if sym in labels:  # class indices, int64 as torch takes them
            inputs[name] = rng.integers(0, int(sp.sympify(labels[sym]).subs(sizes)), shape)
            continue
        value = rng.uniform(0.3, 1.5, shape)
        if name not in POSITIVE.get(spec.name, ()):
            value = value * np.where(rng.random(shape) < 0.7, 1.0, -1.0)
        structure = structure_of(sym)
        if structure == "spd":
            value = value @ value.T + np.eye(len(value))
        inputs[name] = value if structure is None else project(value, structure)
    return inputs


def structured(d, values: dict) -> dict:
    """Each structured input's parametrization (in the structure: f(P(A)), whose gradient in A is the
    structured one)."""
    return {
        n: Parametrization(structure_of(d.inputs[n]), "structured", np.shape(v)[0])
        for n, v in values.items()
        if structure_of(d.inputs[n])
    }


def autograd_gradients(torch_module, inputs, wrt, d):
    """torch autograd of the generated torch forward (through a structured input's parametrization): the oracle."""
    tensors = {n: _tensor(v, requires=True) for n, v in inputs.items()}
    through = structured(d, inputs)
    out, _ = torch_module.forward(*[through[n].matrix(t) if n in through else t for n, t in tensors.items()])
    out.sum().backward()
    return {w: tensors[w].grad.numpy() for w in wrt}


@pytest.fixture(scope="module")
def modules():
    cache = {}

    def get(name):
        if name not in cache:
            d = catalog.load(name).derive()
            cache[name] = (d, codegen.compile(d, "numpy", upstream=()), codegen.compile(d, "torch", upstream=()))
        return cache[name]

    return get


@pytest.mark.parametrize("name", GRADIENT_SPECS)
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_backward_equals_autograd(name, seed, modules):
    spec = catalog.load(name)
    d, numpy_module, torch_module = modules(name)
    inputs = random_inputs(spec, d, seed)
    expected = autograd_gradients(torch_module, inputs, d.wrt, d)

    arrays = {k: v.copy() for k, v in inputs.items()}
    _, saved = numpy_module.forward(*arrays.values())
    from_numpy, again_numpy = numpy_module.backward(saved), numpy_module.backward(saved)
    tensors = [_tensor(v) for v in inputs.values()]
    _, saved = torch_module.forward(*tensors)
    from_torch, again_torch = ({w: g.numpy() for w, g in torch_module.backward(saved).items()} for _ in range(2))
    # the in-place updates change only arrays the code made: not the inputs, not what backward reads again
    for value, tensor, original in zip(arrays.values(), tensors, inputs.values()):
        assert np.array_equal(value, original) and np.array_equal(tensor.numpy(), original), name
    for backend, grads, again in (("numpy", from_numpy, again_numpy), ("torch", from_torch, again_torch)):
        for w in d.wrt:
            got = np.reshape(np.asarray(grads[w], dtype=float), expected[w].shape)
            rel = np.max(np.abs(got - expected[w])) / max(1.0, np.max(np.abs(expected[w])))
            assert rel < 1e-10, f"{name} {backend} d/d{w}: relative error {rel:.2e} against autograd"
            assert np.array_equal(np.asarray(again[w]), np.asarray(grads[w])), f"{name} {backend}: saved changed"


def test_upstream_gradient_scales_the_result(modules):
    spec = catalog.load("000_linear_regression_batch")
    d, numpy_module, _ = modules(spec.name)
    _, saved = numpy_module.forward(*random_inputs(spec, d, 0).values())
    one, three = numpy_module.backward(saved), numpy_module.backward(saved, grad_output=3.0)
    assert np.allclose(three["W"], 3 * one["W"])


def test_linear_mse_code_is_what_a_person_would_write():
    d = catalog.load("000_linear_regression_batch").derive()
    source = codegen.emit(d, "numpy")
    assert "ones" not in source and ".dot(" not in source
    backward = source[source.index("def backward") :]
    lines = {w: next(line for line in backward.splitlines() if f'grads["{w}"] =' in line) for w in ("W", "X", "b")}
    assert lines["W"].count("@") == 1 and lines["X"].count("@") == 1 and "@" not in lines["b"]
    assert "numpy.sum(h0, axis=0, keepdims=True)" in lines["b"]
    assert "Yhat = X @ W + b" in source


def test_output_is_deterministic():
    d1 = catalog.load("002_batchnorm").derive()
    d2 = catalog.load("002_batchnorm").derive()
    for backend in codegen.BACKENDS:
        assert codegen.emit(d1, backend) == codegen.emit(d2, backend)


def test_generated_code_is_formatted_and_passes_ruff_check(tmp_path):
    from ruff.__main__ import find_ruff_bin

    for name in GRADIENT_SPECS:
        d = catalog.load(name).derive()
        for backend in codegen.BACKENDS:
            (tmp_path / f"{name}_{backend}.py").write_text(codegen.emit(d, backend))
    for command in (["check", "--no-cache", "--isolated"], FORMAT[:-1] + ["--check"]):
        result = subprocess.run([find_ruff_bin(), *command, str(tmp_path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_jacobian_derivations_are_refused_clearly():
    with pytest.raises(ValueError, match="Jacobian"):
        codegen.emit(catalog.load("003_softmax").derive(), "numpy")


def test_emit_command(tmp_path, capsys):
    target = tmp_path / "linear.py"
    assert (
        main(
            [
                "emit",
                *LINEAR_MSE_ARGS,
                "--wrt",
                "W",
                "--backend",
                "torch",
                "-o",
                str(target),
            ]
        )
        == 0
    )
    source = target.read_text()
    assert re.search(r'grads\["W"\] = X\.mT @ .* \* \(grad_output \* 2 / q\)', source)  # scalars folded
    namespace = {}
    exec(compile(source, str(target), "exec"), namespace)  # the file the command wrote
    X, W, b, Y = (torch.randn(*s, dtype=torch.float64) for s in ((4, 3), (3, 2), (1, 2), (4, 2)))
    _, saved = namespace["forward"](X, W, b, Y)  # in --shape's order
    assert namespace["backward"](saved)["W"].shape == (3, 2)


def test_public_compile_returns_a_module():
    q, n = sd.dims("q n")
    X = sd.matrix("X", q, n)
    module = sd.compile(sd.derive(sd.parse("sum(sigmoid(X))", X=X), [X]), backend="numpy")
    x = np.array([[-800.0, 0.0], [800.0, 1.0]])
    value, saved = module.forward(x)
    g = module.backward(saved)["X"]
    assert np.all(np.isfinite(g)) and np.isclose(g[0, 1], 0.25) and g[0, 0] == 0.0


def test_emitted_module_runs_as_a_script(tmp_path):
    d = catalog.load("003_l2_loss_batch").derive()
    path = tmp_path / "l2.py"
    path.write_text(codegen.emit(d, "numpy"))
    subprocess.run([sys.executable, str(path)], check=True)


# Attention at |Q K^T| ~ 1e6 and layer norm of constant rows compare rounding noise of huge or cancelling
# intermediates at these magnitudes, not stability; their saturation is tested in test_ops (softmax, logsumexp).
# Structured specs (007) saturate nothing, and their inputs must lie in a structure (spd) that +-800 entries leave.
SATURATING_SPECS = [
    name for name in GRADIENT_SPECS if name not in ("006_attention", "006_layer_norm") and not name.startswith("007")
]


@pytest.mark.parametrize("name", SATURATING_SPECS)
@pytest.mark.parametrize("dtype, magnitude", [(np.float64, 800.0), (np.float32, 100.0)])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the forward loss log(softmax) may be -inf
def test_extreme_inputs_stay_finite_and_match_autograd(name, dtype, magnitude, modules):
    """Saturated sigmoids, softmax and softplus at +-800 (float64) / +-100 (float32): stable forms only."""
    spec = catalog.load(name)
    d, numpy_module, torch_module = modules(name)
    inputs = {
        n: v
        if v.dtype == np.int64  # class labels
        else (np.sign(v) * magnitude if n not in POSITIVE.get(name, ()) else np.full_like(v, magnitude)).astype(dtype)
        for n, v in random_inputs(spec, d, 2).items()
    }
    tensors = {n: torch.tensor(v, requires_grad=v.dtype != np.int64) for n, v in inputs.items()}
    out, _ = torch_module.forward(*tensors.values())
    out.sum().backward()
    _, saved = numpy_module.forward(*inputs.values())
    from_numpy = numpy_module.backward(saved)
    for w in d.wrt:
        expected = tensors[w].grad.numpy()
        got = np.reshape(np.asarray(from_numpy[w], dtype=float), expected.shape)
        assert np.all(np.isfinite(got)), f"{name} d/d{w}: non-finite gradient at +-{magnitude}"
        if not np.all(np.isfinite(expected)):
            continue  # autograd through the spec's log(softmax) overflows; the closed form s - t does not
        tol = 1e-10 if dtype == np.float64 else 1e-4
        assert np.max(np.abs(got - expected)) <= tol * max(1.0, np.max(np.abs(expected))), f"{name} d/d{w}"


# Forms a user may type, each with a torch reference: (naive, stable); the naive one overflows at +-800.
NAIVE_FORMS = {
    "sum(log(sum(exp(X), axis=1)))": (
        lambda X, Y: torch.log(torch.exp(X).sum(1)).sum(),
        lambda X, Y: torch.logsumexp(X, 1).sum(),
    ),
    "sum(log(sum(exp(X), axis=0)))": (
        lambda X, Y: torch.log(torch.exp(X).sum(0)).sum(),
        lambda X, Y: torch.logsumexp(X, 0).sum(),
    ),
    "log(sum(exp(X)))": (lambda X, Y: torch.log(torch.exp(X).sum()), lambda X, Y: torch.logsumexp(X.reshape(-1), 0)),
    "sum(Y * log(sum(exp(X), axis=1)))": (
        lambda X, Y: (Y[:, 0] * torch.log(torch.exp(X).sum(1))).sum(),
        lambda X, Y: (Y[:, 0] * torch.logsumexp(X, 1)).sum(),
    ),
    "sum(exp(X) / sum(exp(X), axis=1) * Y)": (
        lambda X, Y: (torch.exp(X) / torch.exp(X).sum(1, keepdim=True) * Y).sum(),
        lambda X, Y: (torch.softmax(X, 1) * Y).sum(),
    ),
    "sum(1 / (1 + exp(-X)))": (lambda X, Y: (1 / (1 + torch.exp(-X))).sum(), lambda X, Y: torch.sigmoid(X).sum()),
    "sum(log(1 + exp(X)))": (
        lambda X, Y: torch.log(1 + torch.exp(X)).sum(),
        lambda X, Y: torch.nn.functional.softplus(X).sum(),
    ),
}


@pytest.mark.parametrize("source", NAIVE_FORMS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_naive_forms_are_lowered_to_stable_code(source, backend):
    """Equal to autograd of the literal formula at moderate inputs, finite and equal to a stable reference at 800."""
    q, n = sd.dims("q n")
    X, Y = sd.matrix("X", q, n), sd.matrix("Y", q, 1)
    module = codegen.compile(sd.derive(sd.parse(source, X=X, Y=Y), [X]), backend)
    rng = np.random.default_rng(0)
    moderate = rng.uniform(-1.5, 1.5, (3, 4))
    y = rng.uniform(-1, 1, (3, 1))
    for x, reference in ((moderate, NAIVE_FORMS[source][0]), (np.sign(moderate) * 800.0, NAIVE_FORMS[source][1])):
        xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)
        value = reference(xt, yt)
        value.backward()
        args = {"X": x, "Y": y} if backend == "numpy" else {"X": torch.tensor(x), "Y": torch.tensor(y)}
        out, saved = module.forward(*(args[name] for name in module.INPUTS))
        got = np.asarray(module.backward(saved)["X"], dtype=float)
        assert np.all(np.isfinite(got)) and np.isfinite(float(out)), f"{source}: not finite at {np.abs(x).max()}"
        assert np.isclose(float(out), value.item(), rtol=1e-12), source
        assert np.max(np.abs(got - xt.grad.numpy())) < 1e-12, source


# -- torch.autograd.Function and nn.Module ---------------------------------------------------------


def _function_inputs(spec, d, seed, requires=True):
    inputs = random_inputs(spec, d, seed)
    return [_tensor(v, requires and n in d.wrt) for n, v in inputs.items()]


def _tensor(value, requires: bool = False):
    """``gradcheck.as_tensor`` on the CPU (int64 for class labels), requiring grad if asked and it can."""
    tensor = gradcheck.as_tensor(value, "cpu")
    return tensor.requires_grad_(requires and tensor.is_floating_point())


@pytest.mark.parametrize("name", GRADIENT_SPECS)
def test_autograd_function_passes_gradcheck_and_gradgradcheck(name):
    spec = catalog.load(name)
    d = spec.derive()
    module = codegen.compile(d, "torch", parameters=spec.parameters)
    args = _function_inputs(spec, d, 3)
    through = [structured(d, dict(zip(d.inputs, args))).get(name) for name in module.INPUTS]

    def function(*tensors):  # a structured input through its parametrization: entrywise moves stay in it
        return module.Function.apply(*[t if p is None else p.matrix(t) for t, p in zip(tensors, through)])

    assert torch.autograd.gradcheck(function, args, eps=1e-6, atol=1e-8)
    assert torch.autograd.gradgradcheck(function, args, eps=1e-6, atol=1e-8)


def test_function_respects_needs_input_grad_and_refuses_underived_gradients():
    spec = catalog.load("000_linear_regression_batch")
    d = sd.derive(*_linear_without_y_gradient())
    module = codegen.compile(d, "torch")
    W, X, Y, b = (torch.randn(*s, dtype=torch.float64) for s in ((3, 2), (4, 3), (4, 2), (1, 2)))
    W.requires_grad_(True)
    module.Function.apply(W, X, Y, b).backward()
    assert W.grad.shape == (3, 2) and X.grad is None
    Y.requires_grad_(True)
    with pytest.raises(RuntimeError, match="derived no gradient for \\['Y'\\]"):
        module.Function.apply(W, X, Y, b).backward()
    assert spec.parameters == ["W", "b"]


def _linear_without_y_gradient():
    q, n, p = sd.dims("q n p")
    X, W, b, Y = sd.matrix("X", q, n), sd.matrix("W", n, p), sd.matrix("b", 1, p), sd.matrix("Y", q, p)
    return sd.parse("sum((X @ W + b - Y)**2) / q", X=X, W=W, b=b, Y=Y, q=q), [W, b, X]


def test_module_trains_like_autograd():
    """A few SGD steps with the generated Module match the same steps with autograd, in float64."""
    spec = catalog.load("000_linear_regression_batch")
    module = codegen.compile(spec.derive(), "torch", parameters=spec.parameters)
    gen = torch.Generator().manual_seed(0)
    X, Y = (
        torch.randn(30, 4, generator=gen, dtype=torch.float64),
        torch.randn(30, 2, generator=gen, dtype=torch.float64),
    )
    W0, b0 = torch.randn(4, 2, generator=gen, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    layer = module.Module(W0.clone(), b0.clone())
    W, b = W0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    optimizer, reference = torch.optim.SGD(layer.parameters(), lr=0.1), torch.optim.SGD([W, b], lr=0.1)
    for _ in range(20):
        optimizer.zero_grad(), reference.zero_grad()
        loss = layer(X, Y)
        loss.backward()
        expected = ((X @ W + b - Y) ** 2).sum() / 30
        expected.backward()
        optimizer.step(), reference.step()
        assert abs(loss.item() - expected.item()) <= 1e-12 * max(1.0, expected.item())
    assert torch.allclose(layer.W, W, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    spec = catalog.load("002_batchnorm")
    module = codegen.compile(spec.derive(), "torch")
    args = _function_inputs(spec, spec.derive(), 4, requires=False)
    cpu = module.backward(module.forward(*args)[1])
    cuda_out, cuda_saved = module.forward(*[a.cuda() for a in args])
    cuda = module.backward(cuda_saved)
    assert cuda_out.device.type == "cuda"
    for w in cpu:
        assert cuda[w].dtype == torch.float64 and torch.allclose(cuda[w].cpu(), cpu[w], rtol=1e-10)


@pytest.mark.parametrize("name", GRADIENT_SPECS)
def test_committed_generated_modules_match_the_generator(name):
    from symdiff.generated import BACKEND_PACKAGES, load

    spec = catalog.load(name)
    d = spec.derive()
    for backend, package in BACKEND_PACKAGES.items():
        module = load(name, backend)
        with open(module.__file__, encoding="utf-8") as f:
            assert f.read() == spec_module(spec, d, backend), (
                f"{module.__file__} is stale: run symdiff catalog --code symdiff/generated"
            )


# -- layers: specs whose output is sum(G * Y), generated as Y = f(inputs) with dL/dY as grad_output ----

UPSTREAM_SPECS = [n for n in GRADIENT_SPECS if catalog.load(n).upstream]


def test_layers_are_marked():
    assert {"002_batchnorm", "002_linear_module", "001_relu"} <= set(UPSTREAM_SPECS)


@pytest.mark.parametrize("name", UPSTREAM_SPECS)
def test_layer_function_passes_gradcheck(name):
    spec = catalog.load(name)
    d = spec.derive()
    module = codegen.compile(d, "torch", parameters=spec.parameters, upstream=spec.upstream)
    inputs = random_inputs(spec, d, 5)
    assert spec.upstream not in module.INPUTS
    args = [torch.tensor(inputs[n], dtype=torch.float64, requires_grad=n in d.wrt) for n in module.INPUTS]
    assert torch.autograd.gradcheck(module.Function.apply, args, eps=1e-6, atol=1e-8)
    assert torch.autograd.gradgradcheck(module.Function.apply, args, eps=1e-6, atol=1e-8)


def test_generated_batchnorm_matches_torch_batchnorm1d():
    """The generated batchnorm layer against PyTorch's own nn.BatchNorm1d in training mode."""
    spec = catalog.load("002_batchnorm")
    module = codegen.compile(spec.derive(), "torch", parameters=spec.parameters, upstream=spec.upstream)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(8, 5, generator=gen, dtype=torch.float64) * 3 + 1
    gamma, beta = (
        torch.rand(1, 5, generator=gen, dtype=torch.float64) + 0.5,
        torch.randn(1, 5, generator=gen, dtype=torch.float64),
    )
    G = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    layer = module.Module(gamma.clone(), beta.clone())
    reference = torch.nn.BatchNorm1d(5, eps=1e-5, dtype=torch.float64).train()
    with torch.no_grad():
        reference.weight.copy_(gamma[0]), reference.bias.copy_(beta[0])
    x1, x2 = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
    y1, y2 = layer(x1), reference(x2)
    (y1 * G).sum().backward()
    (y2 * G).sum().backward()
    assert torch.allclose(y1, y2, rtol=1e-12, atol=1e-12)
    assert torch.allclose(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(layer.gamma.grad[0], reference.weight.grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(layer.beta.grad[0], reference.bias.grad, rtol=1e-10, atol=1e-12)


def test_an_input_named_like_the_output_keeps_its_value():
    """The CLI names the output f: an input f used to be overwritten by it (a gradient 2.7x off)."""
    n = sd.dims("n")
    f, x = sd.matrix("f", n, 1), sd.matrix("x", n, 1)
    d = sd.derive(sd.parse("sum(f * x**2)", f=f, x=x), [x], output_name="f")
    assert d.output == "f_"
    rng = np.random.default_rng(0)
    fv, xv = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    for backend in codegen.BACKENDS:
        module = codegen.compile(d, backend)
        args = {"f": fv, "x": xv} if backend == "numpy" else {"f": torch.tensor(fv), "x": torch.tensor(xv)}
        value, saved = module.forward(*[args[name] for name in module.INPUTS])
        np.testing.assert_allclose(np.asarray(module.backward(saved)["x"], dtype=float), 2 * fv * xv, rtol=1e-12)
        np.testing.assert_allclose(float(value), float(np.sum(fv * xv**2)), rtol=1e-12)
    y = sd.matrix("y", n, 1)
    jacobian = sd.derive_jacobian(sd.parse("y * x", x=x, y=y), [x])
    assert jacobian.output == "y_" and jacobian.shapes["y"] == (n, 1)


HOSTILE_NAMES = ["grads", "saved", "torch", "numpy", "t0", "h0", "like", "wanted", "gelu_tanh", "out", "ctx", "len"]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_inputs_may_take_any_name_the_module_uses_itself(backend):
    """Inputs named like the module's own variables, helpers, temporaries or modules keep their values."""
    t1 = sd.dims("t1")  # a dim named like a temporary too
    symbols = {name: sd.matrix(name, t1, 1) for name in HOSTILE_NAMES}
    pairs = list(zip(HOSTILE_NAMES[::2], HOSTILE_NAMES[1::2]))
    text = " + ".join(f"sum({a} * sigmoid({b}) + {a}**2 * {b})" for a, b in pairs)
    d = sd.derive(sd.parse(text, **symbols), list(symbols.values()), output_name="grads")
    rng = np.random.default_rng(0)
    values = {name: rng.normal(size=(3, 1)) for name in HOSTILE_NAMES}
    leaves = {name: torch.tensor(v, requires_grad=True) for name, v in values.items()}
    reference = sum(torch.sum(leaves[a] * torch.sigmoid(leaves[b]) + leaves[a] ** 2 * leaves[b]) for a, b in pairs)
    reference.backward()
    module = codegen.compile(d, backend)
    assert module.INPUTS == tuple(sorted(HOSTILE_NAMES)) and set(module.GRADIENTS) == set(HOSTILE_NAMES)
    convert = torch.tensor if backend == "torch" else np.asarray
    value, saved = module.forward(*[convert(values[name]) for name in module.INPUTS])
    np.testing.assert_allclose(float(value), float(reference.detach()), rtol=1e-12)
    grads = module.backward(saved)
    for name in HOSTILE_NAMES:
        np.testing.assert_allclose(np.asarray(grads[name], dtype=float), leaves[name].grad.numpy(), rtol=1e-10)
    if backend == "torch":
        torch.autograd.gradcheck(
            module.Function.apply, [torch.tensor(values[n], requires_grad=True) for n in module.INPUTS]
        )


@pytest.mark.parametrize(
    "text",
    [
        "exp(q) * sum(X)",
        "sigmoid(q - n) * sum(X**2)",
        "sum(X) * erf(n) + log(q) * sum(X)",
        "gelu(norm(X - X)) * sum(X)",
    ],
)
def test_functions_of_dims_run_in_torch(text):
    """torch's functions refuse the Python ints a dim is read as; symdiff passes them float64 tensors."""
    q, n = sd.dims("q n")
    X = sd.matrix("X", q, n)
    d = sd.derive(sd.parse(text, X=X, q=q, n=n), [X])
    report = gradcheck.check(d, exact=False)
    assert report.ok, report.summary()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dims_and_function_parameters_may_take_reserved_names(backend):
    """A dim named torch (read as torch = u.shape[0]) shadowed the module; a slope named self was not renamed."""
    dim = sd.dims("torch")
    u, slope = sd.matrix("u", dim, dim), sd.scalar("self")
    d = sd.derive(sd.parse("trace(log(2 ** u)) + sum(leaky_relu(u, self))", u=u, self=slope), [u])
    rng = np.random.default_rng(1)
    uv, sv = rng.normal(size=(3, 3)), 0.2
    leaf = torch.tensor(uv, requires_grad=True)
    (torch.trace(torch.log(2**leaf)) + torch.nn.functional.leaky_relu(leaf, sv).sum()).backward()
    module = codegen.compile(d, backend)
    convert = (lambda v: torch.tensor(v, dtype=torch.float64)) if backend == "torch" else np.asarray
    args = {"u": convert(uv), "self": convert(sv)}
    _, saved = module.forward(*[args[name] for name in module.INPUTS])
    np.testing.assert_allclose(np.asarray(module.backward(saved)["u"], dtype=float), leaf.grad.numpy(), rtol=1e-12)


def test_shared_sub_sums_under_an_inverse_emit():
    """sympy.cse rebuilt the sub-sum shared by inv(I + T T^T + H) and inv(I + T T^T + H.T) as a scalar Add."""
    n, k = sd.dims("n k")
    H, w = sd.matrix("H", n, n), sd.matrix("w", n, k)
    d = sd.derive(sd.parse("det(H + tanh(w * w) @ tanh(w * w).T + eye(n))", H=H, w=w, n=n), [H, w])
    report = gradcheck.check(d, exact=False, domains={"H": "spd"})
    assert report.ok, report.summary()


def test_transposed_elementwise_powers_print():
    """Transposing z**-1 built SymPy's own HadamardPower, which the code printers cannot print."""
    k, q = sd.dims("k q")
    y, z = sd.matrix("y", k, q), sd.matrix("z", q, q)
    d = sd.derive(sd.parse("logdet((y @ z**(-1)) @ (y @ z**(-1)).T + eye(k))", y=y, z=z, k=k), [y, z])
    report = gradcheck.check(d, exact=False, domains={"z": "nonzero"})
    assert report.ok, report.summary()


def test_an_output_that_cancels_is_still_a_tensor():
    """sum(C - C) + n printed f = n: Function.apply returned a Python int."""
    n, k = sd.dims("n k")
    C = sd.matrix("C", n, k)
    with pytest.warns(UserWarning, match="does not occur"):
        d = sd.derive(sd.parse("sum(C - C) + n", C=C, n=n), [C])
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert isinstance(codegen.compile(d, "numpy").forward(x.detach().numpy())[0], np.float64)
    y = codegen.compile(d, "torch").Function.apply(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64 and float(y) == 3.0
    with pytest.warns(UserWarning, match="does not occur"):  # a float constant keeps all of its digits
        e = sd.derive(sd.parse("softplus(sign(exp(sum(C))))", C=C), [C])
    assert float(codegen.compile(e, "torch").forward(x)[0]) == float(np.log1p(np.e))
    y.backward()
    assert torch.equal(x.grad, torch.zeros(3, 2, dtype=torch.float64))


@pytest.mark.parametrize("text", ["sum(exp(X**s))", "sum(sigmoid(X)**s * exp(X))", "sum(e * X) + pi * sum(X**2)"])
def test_symbolic_exponents_and_constants_check_from_the_command_line(text, capsys):
    """A symbolic exponent crashed the sigmoid fusion (s - 1 >= 1); pi and e were taken for inputs."""
    assert main(["check", text, "--shape", "X=q,n", "--wrt", "X", "--domain", "X=positive", "--no-exact"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("PASS")


@pytest.mark.parametrize(
    "text",
    [
        "abs(sum(H - G))",
        "abs(sum(H * (G - 2 * eye(q))))",
        "abs(var(G - 2 * eye(q)))",
        "sqrt(sum(G - 2 * eye(q))**2)",
        "sign(sum(H - G)) * sum(G)",
    ],
)
def test_abs_of_a_scalar_made_from_matrices(text):
    """SymPy's Abs.eval pushed the sign into symdiff's nodes (sum(-(G - H)) is no matrix sum), and
    sqrt(s**2) of a scalar of unknown sign went through SymPy's complex arg, into the MatAdd."""
    q = sd.dims("q")
    G, H = sd.matrix("G", q, q), sd.matrix("H", q, q)
    d = sd.derive(sd.parse(text, G=G, H=H, q=q), [G, H])
    report = gradcheck.check(d)
    assert report.ok, report.summary()


def test_functions_of_numbers_are_not_temporaries():
    """cse made relu(pi) a temporary t0 = 3.14..., and then torch.exp(-t0) met a float."""
    p, m = sd.dims("p m")
    U, alpha = sd.matrix("U", p, m), sd.scalar("alpha")
    d = sd.derive(sd.parse("erf(softplus(alpha * mean(U)) / exp(relu(pi)))", U=U, alpha=alpha), [U])
    report = gradcheck.check(d, exact=False)
    assert report.ok, report.summary()


def test_traces_that_sympy_rebuilds_still_print():
    """Trace.doit built SymPy's own Trace, which the numpy printer refused (a soak case)."""
    m, n = sd.dims("m n")
    H, M = sd.matrix("H", n, m), sd.matrix("M", m, m)
    d = sd.derive(sd.parse("logdet(tanh(H * trace(M)) @ tanh(H * trace(M)).T + eye(n))", H=H, M=M, n=n), [H, M])
    for backend in codegen.BACKENDS:
        codegen.compile(d, backend)
    report = gradcheck.check(d, exact=False)
    assert report.ok, report.summary()


def test_the_backward_reuses_the_forward_log_softmax_and_folds_its_scalars():
    """softmax(Z) in the gradient is exp of the saved log_softmax(Z); 1/B and grad_output multiply once."""
    source = spec_module(
        catalog.load("005_softmax_cross_entropy_batch"),
        catalog.load("005_softmax_cross_entropy_batch").derive(),
        "torch",
    )
    backward = source[source.index("def backward") : source.index("class Function")]
    assert "torch.exp(h0)" in backward and "softmax" not in backward.split('"""')[-1]
    assert ".mul_(grad_output * 1 / B)" in backward


def test_the_batchnorm_backward_reads_sigma_and_the_centered_input_from_the_forward():
    """batchnorm written through its pieces: the forward saves x_hat and 1/sigma, the backward recomputes neither."""
    spec = catalog.load("002_batchnorm")
    source = spec_module(spec, spec.derive(), "torch")
    forward = source[source.index("\ndef forward") : source.index("\ndef backward")]
    backward = source[source.index("\ndef backward") : source.index("\nclass Function")].split('"""')[-1]
    assert "batch_std(X" in forward and re.search(r"return Y, \(gamma, h\d, h\d\)", forward)  # X not saved
    assert "batch_std(" not in backward and "batch_normalize(" not in backward


def test_torch_compile_runs_the_generated_code_and_its_function():
    d = catalog.load("005_softmax_cross_entropy_batch").derive()
    rng = np.random.default_rng(0)
    Z = torch.tensor(rng.normal(size=(6, 4)))
    T = torch.nn.functional.one_hot(torch.tensor(rng.integers(0, 4, size=6)), 4).double()
    z = Z.clone().requires_grad_(True)
    (-(torch.log_softmax(z, dim=1) * T).sum() / 6).backward()  # autograd of a forward written here
    compiled = codegen.compile(d, "torch", torch_compile=True)
    assert "torch.compile(backward)" in compiled.__source__
    _, saved = compiled.forward(Z, T)
    torch.testing.assert_close(compiled.backward(saved, 1.0)["Z"], z.grad)
    # the plain module's autograd Function inside a function torch.compile compiles
    plain = codegen.compile(d, "torch")
    through = Z.clone().requires_grad_(True)
    torch.compile(lambda x, t: plain.Function.apply(x, t))(through, T).backward()
    torch.testing.assert_close(through.grad, z.grad)


def test_compile_is_for_torch_only(capsys):
    assert main(["emit", "sum(X * X)", "--shape", "X=2,2", "--wrt", "X", "--compile"]) == 2
    assert "torch.compile compiles torch code" in capsys.readouterr().err


def test_torch_code_updates_in_place_only_new_floating_point_arrays():
    # the sigmoid layer's backward: 1 - Y is new and floating point (Y is a sigmoid), so * G and * Y are in place
    layer = spec_module(catalog.load("005_sigmoid_layer"), catalog.load("005_sigmoid_layer").derive(), "torch")
    assert "(1 - Y).mul_(G).mul_(Y)" in layer
    assert "return Y, (Y,)" in layer  # its ones print as 1: no input kept for a dtype, as autograd keeps none
    ones = codegen.emit(sd.derive(sd.parse("sum(X)", X=sp.MatrixSymbol("X", 2, 3)), ["X"]), "torch")
    assert "ones(2, 3, like)" in ones and "return out_, (X,)" in ones  # here X gives the ones its dtype
    # nothing says integer inputs make floating point, so their products are not updated in place
    from symdiff.target import resolve

    module = codegen.compile(resolve("sum(X * Y * Z)", ["X=2,3", "Y=2,3", "Z=2,3"], ["X"]).derivation, "torch")
    assert "_(" not in module.__source__
    X, Y, Z = (torch.arange(6).reshape(2, 3) + k for k in range(3))
    _, saved = module.forward(X, Y, Z)
    assert torch.equal(module.backward(saved, 1)["X"], Y * Z)


def test_torch_sums_with_a_product_are_one_call():
    linear = spec_module(
        catalog.load("005_linear_layer_out_in"), catalog.load("005_linear_layer_out_in").derive(), "torch"
    )
    assert "Y = torch.addmm(b, X, W.mT)" in linear
    batchnorm = spec_module(catalog.load("002_batchnorm"), catalog.load("002_batchnorm").derive(), "torch")
    # the rest G - m is a new array of floats: the product is added into it, not into a second new array
    assert "(G - 1 / B * t1).addcmul_(h0, t0, value=-1 / B).mul_(h2 * gamma)" in batchnorm


@pytest.mark.parametrize(
    "code, updated",
    [
        ("a * b", "(a * b).mul_(y)"),
        ("torch.addcmul(g, h, t)", "torch.addcmul(g, h, t).mul_(y)"),
        ("(a + b).reshape(q, m)", "(a + b).reshape(q, m).mul_(y)"),  # the reshape is part of it
        ("-(a)", "(-(a)).mul_(y)"),  # not -(a).mul_(y), which would update a itself
        ("(a) * (b)", "((a) * (b)).mul_(y)"),
    ],
)
def test_in_place_updates_apply_to_the_whole_new_array(code, updated):
    from symdiff.codegen.array_code import argument, in_place_call

    assert in_place_call(code, "mul_", "(y)") == updated
    assert argument("(x + 1).reshape(q, m)") == "(x + 1).reshape(q, m)" and argument("(x + 1)") == "x + 1"


@pytest.mark.parametrize(
    "code, sums", [("a - b", True), ("x + 1", True), ("-a", False), ("(a - b) * c", False), ("1e-05 * x", False)]
)
def test_a_subtracted_term_that_prints_as_a_sum_keeps_its_parentheses(code, sums):
    from symdiff.ops.linear import sums_at_top

    assert sums_at_top(code) is sums


def test_numpy_code_finishes_new_arrays_in_place():
    spec = catalog.load("005_softmax_cross_entropy_batch")
    source = spec_module(spec, spec.derive(), "numpy")
    backward = source[source.index("\ndef backward") :].split('"""')[-1]
    lines = [line.strip() for line in backward.splitlines() if line.strip().startswith('grads["Z"]')]
    assert lines == [
        'grads["Z"] = numpy.exp(h0)',
        'grads["Z"] *= numpy.sum(T, axis=1, keepdims=True)',
        'grads["Z"] -= T',
        'grads["Z"] *= grad_output * 1 / B',
    ]
    # integer inputs: only arrays known to be floating point (made by sigmoid) are updated in place
    from symdiff.target import resolve

    d = resolve("sum(sigmoid(X @ Y) * Z)", ["X=2,2", "Y=2,2", "Z=2,2"], ["X", "Y", "Z"]).derivation
    module = codegen.compile(d, "numpy")
    assert "t0 = 1 - h0" in module.__source__ and "t0 *= Z" in module.__source__
    X, Y, Z = (np.arange(4).reshape(2, 2) - k for k in range(3))
    _, saved = module.forward(X, Y, Z)
    grads = module.backward(saved, 1)
    sigmoid = 1 / (1 + np.exp(-(X @ Y)))
    slope = sigmoid * (1 - sigmoid) * Z
    np.testing.assert_allclose(grads["X"], slope @ Y.T)
    np.testing.assert_allclose(grads["Y"], X.T @ slope)
    np.testing.assert_allclose(grads["Z"], sigmoid)


def test_a_fraction_times_integer_arrays_stays_a_fraction():
    # torch.addcmul(X, Y, Z, value=-0.5) on integer tensors truncates the value: the sum is not fused there
    from symdiff.target import resolve

    module = codegen.compile(resolve("sum(X - Y * Z / 2)", ["X=2,3", "Y=2,3", "Z=2,3"], ["Y"]).derivation, "torch")
    X, Y, Z = (torch.arange(6).reshape(2, 3) + k for k in range(3))
    value, _ = module.forward(X, Y, Z)
    assert float(value) == float((X - Y * Z / 2).sum()) == -41.0


def _float_cases():
    q = sp.Symbol("q", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", q, q), sp.MatrixSymbol("Y", q, q)
    parse = sd.parse
    return [
        (X, set(), False),  # an input: any dtype
        (X, {"X"}, True),  # known to be floating point
        (parse("1 - X", X=X), {"X"}, True),
        (parse("-X", X=X), {"X"}, True),
        (parse("X * Y", X=X, Y=Y), set(), False),
        (parse("X * Y / 2", X=X, Y=Y), set(), True),  # a fraction
        (parse("sigmoid(X)", X=X), set(), True),  # exp inside
        (parse("relu(X)", X=X), set(), False),  # exact on integers
        (parse("X**2", X=X), set(), False),
        (parse("1 / X", X=X), set(), True),
        (parse("X**q", X=X, q=q), set(), False),  # a symbolic exponent: SymPy cannot say its sign
        (parse("batch_normalize(X)", X=X), set(), True),
    ]


@pytest.mark.parametrize("expr, floating, expected", _float_cases())
def test_what_is_known_to_be_floating_point(expr, floating, expected):
    from symdiff.codegen.layout import float_valued

    assert float_valued(expr, floating) is expected
