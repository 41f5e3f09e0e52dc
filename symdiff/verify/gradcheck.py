"""Checks of a derivation's generated (or any) backward code.

The reference values come from the forward pass only: central finite
differences in float64 (entry by entry for small inputs, along random
directions for large ones, so a 10^6-entry gradient costs a few dozen forward
passes), and torch autograd of the forward. ``check`` applies them to a
derivation's generated code, with the exact entrywise check of its closed
forms, and takes the forward from the independent reference evaluator
(``verify.reference``: the expression tree evaluated with torch's own
functions), so neither reference shares code with the module being checked;
``symdiff.testing.assert_grad_close`` applies them to any function with a backward.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from ..errors import SymdiffError
from ..ops.labels import label_classes
from ..ops.structure import STRUCTURE_NAMES, SUBSPACE, structure_of
from ..progress import progress as bar
from ..reserved import is_dimension
from .exact import check_gradient as exact_check
from .numeric import (
    Comparison,
    compare,
    directional_derivative,
    finite_difference,
    natural_domains,
    random_input,
    rounding_noise,
    shaped,
)
from .structured import Parametrization, as_structured, direction, free_indices, project

ENTRYWISE_LIMIT = 2000  # inputs with more entries are checked along random directions
DIRECTIONS = 16


def resolve_device(device: str = "auto") -> str:
    """'cpu', 'cuda' or 'auto' (CUDA when present) as a torch device name; a clear error if CUDA is missing."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise SymdiffError(f"device must be cpu, cuda or auto, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SymdiffError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu or auto")
    return device


def require_finite(name: str, value) -> np.ndarray:
    """``value`` as a float64 array; NaN or Inf entries are an error naming the input."""
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise SymdiffError(
            f"input {name!r} has {int(bad.sum())} NaN or Inf entries (first at index "
            f"{tuple(int(i) for i in np.argwhere(bad)[0])}); gradients can only be checked at finite inputs"
        )
    return array


def numeric_comparisons(
    f, values: list, claimed: dict, tolerance: float, seed: int = 0, of: str = "", structures: dict | None = None
) -> dict:
    """Finite-difference comparisons for each claimed gradient (input index -> array).

    Inputs with at most ENTRYWISE_LIMIT entries in total are checked entry by
    entry; otherwise every gradient is checked along DIRECTIONS random unit
    directions, each costing four forward passes. ``of`` names the forward
    ``f`` in the reports ("reference evaluator"). ``structures`` (input index -> (structure, convention)):
    those inputs move only along their structure (``structured_comparison``).
    """
    structures = structures or {}
    total = sum(values[k].size for k in claimed)
    value = f(values)
    if structures:
        rng = np.random.default_rng(seed)
        out = {
            k: structured_comparison(f, values, k, g, *structures[k], tolerance, rng, total <= ENTRYWISE_LIMIT, of)
            for k, g in claimed.items()
            if k in structures
        }
        rest = {k: g for k, g in claimed.items() if k not in structures}
        return out | (numeric_comparisons(f, values, rest, tolerance, seed, of) if rest else {})
    if total <= ENTRYWISE_LIMIT:
        what = f"finite differences ({of})" if of else "finite differences"
        return {
            k: replace(
                compare(g, finite_difference(f, values, k), what, tolerance), noise=rounding_noise(value, values[k])
            )
            for k, g in claimed.items()
        }
    rng = np.random.default_rng(seed)
    out = {}
    for k, g in claimed.items():
        if np.shape(g) != values[k].shape:
            out[k] = compare(g, values[k], f"directional FD ({of})" if of else "directional FD", tolerance)
            continue
        fd, dots = [], []
        for _ in range(DIRECTIONS):
            v = rng.normal(size=values[k].shape)
            v /= np.linalg.norm(v) or 1.0
            fd.append(directional_derivative(f, values, {k: v}))
            dots.append(float(np.sum(np.asarray(g) * v)))
        labels = [("direction", j) for j in range(DIRECTIONS)]
        what = f"directional FD ({DIRECTIONS} directions{', ' + of if of else ''})"
        out[k] = replace(compare(dots, fd, what, tolerance, labels), noise=rounding_noise(value, values[k]))
    return out


def structured_comparison(
    f, values: list, k: int, claimed, structure: str, convention: str, tolerance: float, rng, entrywise: bool, of: str
) -> Comparison:
    """The claimed gradient of a structured input against finite differences along its structure: for each free
    entry (entrywise) or along DIRECTIONS random directions of the subspace, the derivative of f along the
    direction D against <G, D>, G the claimed gradient read as the structured one (``as_structured``)."""
    x = values[k]
    if np.shape(claimed) != x.shape:
        return compare(claimed, x, f"finite differences along the {SUBSPACE[structure]} ({of})", tolerance)
    gradient = as_structured(claimed, structure, convention)
    if entrywise:
        labels = free_indices(x.shape[0], structure)
        moves = [direction(x.shape[0], structure, i, j) for i, j in labels]
        what = f"finite differences along each free entry's direction D in the {SUBSPACE[structure]}, <G, D> ({of})"
    else:
        moves = [project(rng.normal(size=x.shape), structure) for _ in range(DIRECTIONS)]
        moves = [m / (np.linalg.norm(m) or 1.0) for m in moves]
        labels = [("direction", j) for j in range(DIRECTIONS)]
        what = f"directional FD ({DIRECTIONS} directions in the {SUBSPACE[structure]}, {of})"
    fd = [directional_derivative(f, values, {k: m}) for m in moves]
    dots = [float(np.sum(gradient * m)) for m in moves]
    return replace(compare(dots, fd, what, tolerance, labels), noise=rounding_noise(f(values), x))


def structure_kept(claimed, structure: str) -> Comparison:
    """Whether the claimed gradient lies in the structure's subspace exactly (to the last bit)."""
    return compare(
        claimed, project(claimed, structure), f"its projection onto the {SUBSPACE[structure]} (exactly)", 0.0
    )


REFERENCE = "reference evaluator"  # how reports name the forward the references differentiate


@dataclass
class CheckReport:
    """Per-gradient comparisons with finite differences and torch autograd, ending PASS or FAIL."""

    title: str
    device: str
    sizes: dict
    comparisons: dict = field(default_factory=dict)  # gradient name -> [Comparison]
    exact: dict = field(default_factory=dict)  # gradient name -> ExactResult (the closed form, symbolically)
    forward: Comparison | None = None  # the generated forward's output against the reference evaluator's
    stated: dict = field(default_factory=dict)  # gradient name -> (form a spec states, derived form, ExactResult)
    labels: dict = field(default_factory=dict)  # gradient name -> what the lines call it (default d/dname)
    subject: str = "generated code"  # what was run in float64

    def label(self, name: str) -> str:
        return self.labels.get(name, f"d/d{name}")

    @property
    def ok(self) -> bool:
        numeric = all(c.ok for cs in self.comparisons.values() for c in cs)
        forward = self.forward is None or self.forward.ok
        stated = all(result.ok for _, _, result in self.stated.values())
        return numeric and forward and stated and all(result.ok for result in self.exact.values())

    def summary(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items()) or "fixed shapes"
        lines = [f"{self.title}: {self.subject} in float64 on {self.device}, sizes {sizes}"]
        if self.forward is not None:
            lines.append(self.forward.line("forward value"))
        for name, comparisons in self.comparisons.items():
            if name in self.exact:
                result = self.exact[name]
                lines.append(
                    f"{'PASS' if result.ok else 'FAIL'}  {self.label(name)} exact entrywise check: {result.summary()}"
                )
            lines += [c.line(self.label(name)) for c in comparisons]
        for name, (stated, derived, result) in self.stated.items():
            verdict = "PASS" if result.ok else "FAIL"
            differs = "" if result.ok else f", is not the derived {derived}"
            lines.append(f"{verdict}  {self.label(name)} as the spec states it, {stated}{differs}: {result.summary()}")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def _sizes(d, inputs: dict, sizes: dict | None, rng) -> dict:
    """Dimension values: from the user's inputs' shapes, then ``sizes``, then random in 2..5."""
    dims = {s for m in d.inputs.values() if hasattr(m, "shape") for e in m.shape for s in sp.sympify(e).free_symbols}
    dims |= {s for s in d.inputs.values() if is_dimension(s)}  # r of zeros((r, n)) where no input has r rows
    dims = sorted(dims, key=str)
    known = {str(k): int(v) for k, v in (sizes or {}).items()}
    for name, value in inputs.items():
        sym = d.inputs.get(name)
        if sym is None:
            raise SymdiffError(f"input {name!r} is not an input of the derivation ({', '.join(d.inputs)})")
        shape = np.shape(value)
        expected = getattr(sym, "shape", ())
        if len(shape) != len(expected):
            raise SymdiffError(f"input {name!r} should have {len(expected)} axes, got shape {shape}")
        for dim, n in zip(expected, shape):
            if isinstance(dim, sp.Symbol):
                if known.setdefault(str(dim), n) != n:
                    raise SymdiffError(f"input {name!r} has {dim} = {n}, but {dim} = {known[str(dim)]} elsewhere")
            elif sp.sympify(dim).is_Integer and int(dim) != n:  # a compound shape (3*h) is checked when run
                raise SymdiffError(f"input {name!r} should have shape {tuple(expected)}, got {shape}")
    return {dim: known.get(str(dim), int(rng.integers(2, 6))) for dim in dims}


def arguments(module, by_name: dict, dims: dict) -> list:
    """A generated forward's arguments in its INPUTS order: the inputs ``by_name``, and a dim no input's shape
    carries (r in std(zeros((r, n)))), which the module takes as an argument, as its int size from ``dims``."""
    sizes = {str(k): int(v) for k, v in dims.items()}
    return [by_name[name] if name in by_name else sizes[name] for name in module.INPUTS]


def draw_inputs(d, inputs: dict | None = None, sizes: dict | None = None, domains: dict | None = None, seed: int = 0):
    """``(dims, names, values)``: dimension sizes (symbol -> int) and the inputs' names and float64 arrays.

    ``inputs`` given by name are kept (NaN or Inf refused); the others are drawn
    from ``domains`` (default ``numeric.natural_domains``: positive under log,
    spd under inv, ...; scalars positive) with ``seed``, as ``check`` draws them.
    """
    rng = np.random.default_rng(seed)
    # an HVP's pairing may have lost the labels its function takes
    labels = label_classes(d.output_expr) | (label_classes(d.function) if d.function is not None else {})
    given = {name: require_finite(name, v) for name, v in (inputs or {}).items()}
    # class labels may come as torch takes them, shape (n,)
    given = {name: v.reshape(-1, 1) if d.inputs.get(name) in labels else v for name, v in given.items()}
    spd = {name: "spd" for name, sym in d.inputs.items() if structure_of(sym) == "spd"}
    domains = {**natural_domains(d.output_expr), **spd, **(domains or {})}
    dims = _sizes(d, given, sizes, rng)
    names = [name for name, sym in d.inputs.items() if sym not in dims]
    values = []
    for name in names:
        sym = d.inputs[name]
        if sym in labels:
            classes = int(sp.sympify(labels[sym]).subs(dims))
            values.append(_labels(name, given.get(name), classes, (int(sp.sympify(sym.shape[0]).subs(dims)), 1), rng))
        elif name in given:
            values.append(_in_structure(name, sym, given[name]))
        elif hasattr(sym, "shape"):
            shape = tuple(int(sp.sympify(s).subs(dims)) for s in sym.shape)
            value = random_input(shape, domains.get(name, "any"), rng)
            values.append(value if structure_of(sym) is None else project(value, structure_of(sym)))
        else:
            values.append(np.array(random_input((), domains.get(name, "positive"), rng)))
    return dims, names, values


def _labels(name: str, given, classes: int, shape: tuple, rng) -> np.ndarray:
    """A label column's int64 class indices: ``given`` (any shape holding shape[0] integers in [0, classes)) or
    drawn in that range."""
    if given is None:
        return rng.integers(0, classes, shape)
    flat = np.asarray(given).reshape(-1)
    wanted = f"input {name!r} holds class labels: it needs {shape[0]} integers in [0, {classes})"
    if flat.size != shape[0]:
        raise SymdiffError(f"{wanted}, got {flat.size} values")
    bad = np.flatnonzero((flat != np.round(flat)) | (flat < 0) | (flat >= classes))
    if bad.size:
        raise SymdiffError(f"{wanted}; entry {bad[0]} is {flat[bad[0]]:g} ({bad.size} such)")
    return flat.astype(np.int64).reshape(shape)


def _in_structure(name: str, sym, value: np.ndarray) -> np.ndarray:
    """A given value of a structured input, refused unless it lies in its structure (spd: and is definite)."""
    structure = structure_of(sym)
    if structure is None:
        return value
    off = float(np.max(np.abs(value - project(value, structure)))) if value.size else 0.0
    if off > 0:
        raise SymdiffError(
            f"input {name!r} is declared {STRUCTURE_NAMES[structure]} but is not: it is {off:.2e} off the "
            f"{SUBSPACE[structure]}"
        )
    lowest = np.linalg.eigvalsh(value).min() if structure == "spd" else 1.0
    if lowest <= 0:
        raise SymdiffError(
            f"input {name!r} is declared symmetric positive definite but has the eigenvalue {lowest:.3g}"
        )
    return value


def check(
    d,
    inputs: dict | None = None,
    sizes: dict | None = None,
    domains: dict | None = None,
    device: str = "cpu",
    seed: int = 0,
    fd_tolerance: float = 1e-6,
    autograd_tolerance: float = 1e-10,
    title: str | None = None,
    exact: bool = True,
    exact_sizes: dict | None = None,
    progress: bool = False,
    double_backward: tuple | None = None,
) -> CheckReport:
    """Check the gradient derivation ``d``: exactly (its closed forms, entry by entry) and numerically (its
    generated code); ``verify.checks.check`` sends an HVP or a Hessian to ``verify.second_order.check``.

    The numeric part runs the generated torch module in float64 on ``device``.
    ``inputs`` maps input names to arrays (the rest are random, from
    ``domains``: name -> any | positive | nonzero | spd, by default what the
    expression asks for: ``numeric.natural_domains``); ``sizes`` maps
    dimension names to values. Each gradient is compared with finite
    differences and with torch autograd of the reference evaluator's forward
    (``verify.reference``, which shares no code with the generated module),
    and, on a GPU, with the same code on the CPU; the generated forward's
    output is compared with the reference's. ``exact=False`` skips the
    symbolic check, which expands the expression at ``exact_sizes`` (default
    small sizes) and can take seconds for deep networks; ``progress`` shows a bar on a terminal's stderr
    while the checks of the gradients take over 2 s. ``double_backward`` (``derive_double_backward``'s pair):
    the module's Function carries it, and its double backward along a random V in every variable at once, (H V)
    in each, is compared with torch autograd's double backward of the reference evaluator.
    """
    import torch

    from .. import codegen
    from . import reference

    device = resolve_device(device)
    dims, names, values = draw_inputs(d, inputs, sizes, domains, seed)
    module = codegen.compile(d, "torch", upstream=(), double_backward=double_backward)  # the scalar's, a layer's too
    sizes_by_name = {str(k): v for k, v in dims.items()}

    def tensors(arrays, grad=False, where=device):
        return [as_tensor(a, where).requires_grad_(grad and a.dtype != np.int64) for a in arrays]

    def run_module(arrays_or_tensors, where=device):
        """The generated forward at the inputs (by name order of ``names``): (output, saved)."""
        by_name = dict(zip(names, tensors(arrays_or_tensors, where=where)))
        return module.forward(*arguments(module, by_name, dims))

    def reference_forward(ts):
        return reference.forward(d, dict(zip(names, ts)), sizes_by_name)

    def f(arrays) -> float:
        with torch.no_grad():
            return float(reference_forward(tensors(arrays)))

    positions = {w: names.index(w) for w in d.wrt if w in names}
    structures = {
        k: (structure_of(d.inputs[w]), d.convention) for w, k in positions.items() if structure_of(d.inputs[w])
    }
    through = {k: Parametrization(s, convention, values[k].shape[0]) for k, (s, convention) in structures.items()}

    def generated(where) -> dict:
        """The generated backward's gradients on ``where``, by input position, as float64 arrays."""
        grads = module.backward(run_module(values, where)[1])
        # a constant scalar's gradient is a number
        return {k: shaped(_array(grads[w]), values[k].shape) for w, k in positions.items()}

    claimed = generated(device)
    on_cpu = generated("cpu") if device != "cpu" else {}  # the same code on the CPU, to compare with
    numeric = numeric_comparisons(f, values, claimed, fd_tolerance, seed, of=REFERENCE, structures=structures)
    # autograd differentiates a structured input through its parametrization (``structured.Parametrization``)
    leaves = [as_tensor(through[k].parameter(a) if k in through else a, device) for k, a in enumerate(values)]
    leaves = [t.requires_grad_() if t.is_floating_point() else t for t in leaves]
    out = reference_forward([through[k].matrix(t) if k in through else t for k, t in enumerate(leaves)])
    wanted = [leaves[k] for k in positions.values()]
    found = (
        torch.autograd.grad(out, wanted, allow_unused=True) if out.requires_grad and wanted else [None] * len(wanted)
    )
    autograd_of = {
        k: through[k].gradient(g) if k in through and g is not None else g for k, g in zip(positions.values(), found)
    }
    report = CheckReport(title or d.output, device, sizes_by_name)
    with torch.no_grad():
        produced = run_module(values)[0]
    report.forward = compare(
        torch.as_tensor(produced).detach().cpu().numpy().astype(np.float64).reshape(()),
        out.detach().cpu().numpy(),
        f"the {REFERENCE}",
        autograd_tolerance,
    )
    for w, k in bar(positions.items(), "checks", progress, delay=2.0, unit="gradient"):
        autograd = autograd_of[k]  # None for an input the output does not use: its gradient is zero
        autograd = np.zeros(values[k].shape) if autograd is None else np.asarray(_array(autograd))
        what = f"torch autograd ({REFERENCE}" + (f", through {through[k].describe()})" if k in through else ")")
        oracle = compare(claimed[k], autograd, what, autograd_tolerance)
        report.comparisons[w] = [numeric[k], oracle]
        if k in structures:
            report.labels[w] = f"d/d{w} ({structures[k][0]}, {d.convention} convention)"
        if k in structures and np.shape(claimed[k]) == values[k].shape:
            report.comparisons[w].append(structure_kept(claimed[k], structures[k][0]))
        if k in on_cpu:
            report.comparisons[w].append(compare(claimed[k], on_cpu[k], "the CPU result", autograd_tolerance))
        if exact:
            report.exact[w] = exact_check(d, w, exact_sizes)
    if double_backward is not None:
        by_position = {k: w for w, k in positions.items()}

        def by_function(leaves):
            return module.Function.apply(*arguments(module, dict(zip(names, leaves)), dims))

        ours = twice_differentiated(by_function, values, list(by_position), device, seed, through)
        theirs = twice_differentiated(reference_forward, values, list(by_position), device, seed, through)
        for k, w in by_position.items():
            name = f"{w} (double backward)"
            report.labels[name] = f"(H V)_{w} by the generated Function's double backward"
            what = f"torch autograd double backward ({REFERENCE})"
            report.comparisons[name] = [compare(ours[k], theirs[k], what, autograd_tolerance)]
    return report


def as_tensor(value, device):
    """A float64 tensor of ``value`` on ``device``; class labels (an int64 array) an int64 one, as torch takes them."""
    import torch

    integer = np.asarray(value).dtype == np.int64
    return torch.tensor(value, dtype=torch.int64 if integer else torch.float64, device=device)


def _array(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def twice_differentiated(
    function, values: list, variables: list, device: str, seed: int, through: dict | None = None
) -> dict:
    """(H V) by torch differentiating ``function`` (of tensors in the order of ``values``) twice, with
    create_graph=True, in the inputs at the positions ``variables``, along a random V (from ``seed``) in all of them
    at once: position -> float64 array. ``through`` (position -> ``structured.Parametrization``): those inputs
    through their parametrization, the HVP in their structure."""
    import torch

    through = through or {}
    rng = np.random.default_rng(seed + 1)
    leaves = [
        as_tensor(through[k].parameter(a) if k in through else a, device).requires_grad_(k in variables)
        for k, a in enumerate(values)
    ]
    directions = [torch.tensor(rng.normal(size=tuple(leaves[k].shape)), device=device) for k in variables]
    chosen = [leaves[k] for k in variables]
    out = function([through[k].matrix(t) if k in through else t for k, t in enumerate(leaves)])
    grads = torch.autograd.grad(out, chosen, create_graph=True, allow_unused=True) if out.requires_grad else []
    pairing = sum((g * v).sum() for g, v in zip(grads, directions) if g is not None)
    second = (
        torch.autograd.grad(pairing, chosen, allow_unused=True) if torch.is_tensor(pairing) else [None] * len(chosen)
    )
    return {
        k: np.zeros(np.shape(values[k])) if s is None else through[k].gradient(s) if k in through else _array(s)
        for k, s in zip(variables, second)
    }
