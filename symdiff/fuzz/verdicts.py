"""The soak's verdicts: run a generated case through symdiff and compare it with the reference evaluator."""

from __future__ import annotations

import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..deadline import time_limit
from ..errors import InternalError, SymdiffError
from ..ops.structure import structure_of
from ..progress import progress as progress_bar
from ..verify.structured import Parametrization, as_structured, project
from .case import AUTOGRAD_TOL, FD_TOL, Case
from .generator import generate

BUDGET = 20.0  # seconds a case may take
# an error below this fraction of the problem's scale (the largest gradient entry of any input, the output, and 1)
# is float64 rounding: a gradient that is zero in exact arithmetic (sum(x_hat) for batchnorm's gamma) comes out of
# the reference as noise scaled by the terms that cancel (-6e-11 where symdiff's closed form is exactly 0)
ROUNDING = 1e-9


class Timeout(BaseException):
    """The case's time budget ran out (a BaseException, so no ``except Exception`` swallows it)."""


@dataclass
class Outcome:
    case: Case
    status: str  # pass | wrong | refused | error | skipped
    message: str = ""
    seconds: float = 0.0
    kink: bool = False  # passed on autograd alone: finite differences straddle a kink
    # passed on finite differences: autograd of the reference disagreed with the reference's own differences (torch's
    # layer_norm backward of rows of -1e30 recomputes x - mean with rounding its forward did not have)
    reference_off: bool = False

    def line(self) -> str:
        return f"{self.case.command()}  # {self.status}: {self.message}"


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def run_case(case: Case, budget: float = BUDGET) -> Outcome:
    """Derive, emit and run ``case``; compare with the reference evaluator (see the module docstring)."""
    return judged(case, budget, _run, "parsing")


def judged(case: Case, budget: float, judge, first_phase: str) -> Outcome:
    """``judge(case, phase)`` within ``budget`` seconds, warnings silenced; running out of time is an error naming
    the phase it was in (``phase[0]``, which the judge updates), of the case as the judge last set it (``phase[1]``:
    a second-order judge sets the variable it is deriving in, so that the one-liner says --hvp X)."""
    started = time.perf_counter()
    phase = [first_phase, case]
    try:
        with time_limit(budget, Timeout), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = judge(case, phase)
    except Timeout:
        outcome = Outcome(phase[1], "error", f"timeout after {budget:g} s while {phase[0]}")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _run(case: Case, phase: list) -> Outcome:
    from .. import codegen
    from ..target import resolve

    try:
        d = resolve(case.expr, case.shape_entries(), case.wrt, convention=case.convention).derivation
        phase[0] = "emitting"
        modules = {backend: codegen.compile(d, backend, upstream=()) for backend in ("torch", "numpy")}
        layer = codegen.compile(d, "torch") if d.outputs else None  # several outputs: the layer itself
    except InternalError as err:  # a symdiff bug, however clearly reported
        return Outcome(case, "error", f"{_describe(err)} (while {phase[0]})")
    except SymdiffError as err:
        return Outcome(case, "refused", _describe(err))
    except Exception as err:  # noqa: BLE001  (any other exception is what the soak looks for)
        return Outcome(case, "error", f"{_describe(err)} (while {phase[0]})")
    phase[0] = "running"
    return _compare(case, d, modules, phase, layer)


def _compare(case: Case, d, modules: dict, phase: list, layer=None) -> Outcome:
    import torch

    from ..verify import gradcheck, reference
    from ..verify.numeric import compare, finite_difference, shaped

    dims, names, values = gradcheck.draw_inputs(d, sizes=case.sizes, domains=case.domains, seed=case.seed)
    sizes = {str(k): v for k, v in dims.items()}
    positions = {w: names.index(w) for w in d.wrt if w in names}
    # a structured input enters the reference as P(A) (its projection): autograd and finite differences of the
    # reference in A's entries are then the structured gradient, to which the module's is brought
    through = {
        names.index(name): Parametrization(structure_of(sym), "structured", sym_size)
        for name, sym in d.inputs.items()
        if structure_of(sym) and (sym_size := int(values[names.index(name)].shape[0]))
    }

    def built(tensors: list) -> dict:
        return dict(zip(names, [through[k].matrix(t) if k in through else t for k, t in enumerate(tensors)]))

    phase[0] = "evaluating the reference"

    def reference_at(arrays) -> tuple:
        """The reference's value and autograd gradients (by wrt name) at ``arrays``."""
        leaves = [gradcheck.as_tensor(v, "cpu") for v in arrays]
        leaves = [t.requires_grad_() if t.is_floating_point() else t for t in leaves]  # not class labels
        out = reference.forward(d, built(leaves), sizes)
        wanted = [leaves[k] for k in positions.values()]
        found = torch.autograd.grad(out, wanted, allow_unused=True) if out.requires_grad else [None] * len(wanted)
        grads = {
            w: np.zeros(arrays[k].shape) if g is None else g.numpy() for (w, k), g in zip(positions.items(), found)
        }
        return float(out.detach()), grads

    try:
        reference_value, expected = reference_at(values)
    except Exception as err:  # noqa: BLE001
        return Outcome(case, "error", f"reference evaluator: {_describe(err)}")
    if not np.isfinite(reference_value) or not all(np.all(np.isfinite(g)) for g in expected.values()):
        return Outcome(case, "skipped", "the reference is not finite at the drawn inputs")

    results = {}
    for backend, module in modules.items():
        phase[0] = f"running the {backend} module"
        try:
            results[backend] = _run_module(backend, module, dict(zip(names, values)), dims)
        except Exception as err:  # noqa: BLE001
            return Outcome(case, "error", f"{backend} module: {_describe(err)}")
    problems, disputed = [], {}  # disputed: w -> the generated gradients autograd disagrees with
    scale = max([float(np.max(np.abs(g), initial=0.0)) for g in expected.values()] + [abs(reference_value), 1.0])
    for backend, (value, grads) in results.items():
        if not np.isfinite(value) or not all(np.all(np.isfinite(np.asarray(grads.get(w, 0.0)))) for w in positions):
            return Outcome(case, "error", f"NaN or Inf from the {backend} module where the reference is finite")
        check = compare(value, reference_value, "reference value", AUTOGRAD_TOL)
        if not check.ok:
            problems.append(f"{backend} forward {value:.10g} vs reference {reference_value:.10g}")
        for w, k in positions.items():
            if w not in grads:
                problems.append(f"{backend} gives no gradient for {w}")
                continue
            got = shaped(grads[w], values[k].shape)
            if k in through and got.shape == values[k].shape:
                if not np.array_equal(got, project(got, through[k].structure)):
                    problems.append(f"{backend} d/d{w} is not exactly {through[k].structure}")
                got = as_structured(got, through[k].structure, d.convention)
            check = compare(got, expected[w], "autograd", AUTOGRAD_TOL)
            if check.shapes:  # wrong at any point, kink or not
                return Outcome(
                    case, "wrong", f"{backend} d/d{w} has shape {check.shapes[0]}, the input {check.shapes[1]}"
                )
            if not check.ok and check.max_abs > ROUNDING * scale:
                problems.append(f"{backend} d/d{w} vs autograd: rel {check.max_rel:.1e} at {check.worst}")
                disputed.setdefault(w, []).append(got)

    if layer is not None and "torch" in results:
        phase[0] = "running the layer"
        try:
            problems += _layer_problems(d, layer, dict(zip(names, values)), dims, results["torch"][1])
        except Exception as err:  # noqa: BLE001
            return Outcome(case, "error", f"the layer module: {_describe(err)}")

    def f(arrays) -> float:
        with torch.no_grad():
            ts = [gradcheck.as_tensor(a, "cpu") for a in arrays]
            return float(reference.forward(d, built(ts), sizes))

    if problems:
        if _near_kink(reference_at, values, reference_value, expected, case.seed):
            return Outcome(case, "pass", kink=True)  # conventions and rounding decide there, not the gradient
        phase[0] = "taking finite differences"
        if sum(map(len, disputed.values())) == len(problems):  # only gradients in dispute, not values
            if _autograd_off(f, values, positions, disputed, expected):
                return Outcome(case, "pass", reference_off=True)
        return Outcome(case, "wrong", "; ".join(problems))

    phase[0] = "taking finite differences"

    kink = False
    for w, k in positions.items():
        fd = finite_difference(f, values, k)
        check = compare(expected[w], fd, "finite differences", FD_TOL)
        if check.ok:
            continue
        if _at_kink(f, values, k, check.worst) or _near_kink(
            reference_at, values, reference_value, expected, case.seed
        ):
            kink = True
            continue
        if not _beyond_noise(f, values, k, expected[w], fd):
            continue
        return Outcome(
            case,
            "wrong",
            f"d/d{w}: the generated gradients equal autograd of the reference but not its finite differences "
            f"(rel {check.max_rel:.1e} at {check.worst}: {check.claimed_at_worst:.6g} vs {check.reference_at_worst:.6g})",
        )
    return Outcome(case, "pass", kink=kink)


def _layer_problems(d, layer, by_name: dict, dims: dict, gradients: dict) -> list[str]:
    """A target with several outputs: its generated layer must return each output as the reference evaluates it,
    and its backward, given the drawn upstream gradients, the gradients of the scalar module (checked above)."""
    from ..verify import reference
    from ..verify.gradcheck import arguments, as_tensor
    from ..verify.numeric import compare

    tensors = {n: as_tensor(v, "cpu") for n, v in by_name.items()}
    outputs, saved = layer.forward(*arguments(layer, tensors, dims))
    sizes = {str(k): v for k, v in dims.items()}
    steps = {s.name: s.symbol for s in d.forward}
    problems = []
    for (y, _), out in zip(d.outputs, outputs):
        expected = reference.evaluate(d.expand(steps[y]), tensors, sizes)
        if not compare(out.numpy(), expected.numpy(), "reference", AUTOGRAD_TOL).ok:
            problems.append(f"the layer's output {y} differs from the reference")
    grads = layer.backward(saved, tuple(tensors.get(g) for _, g in d.outputs))  # None: an output that is 0
    for w, g in gradients.items():
        if not compare(np.asarray(grads[w]).reshape(np.shape(g)), g, "scalar module", AUTOGRAD_TOL).ok:
            problems.append(f"the layer's backward d/d{w} differs from the scalar module's")
    return problems


def _autograd_off(f, values: list, positions: dict, disputed: dict, expected: dict) -> bool:
    """Whether, for every gradient in dispute, the generated ones agree with finite differences of the reference
    and autograd of the reference does not: then the reference's backward, not the generated code, is off."""
    from ..verify.numeric import compare, finite_difference

    for w, claimed in disputed.items():
        fd = finite_difference(f, values, positions[w])
        if compare(expected[w], fd, "finite differences", FD_TOL).ok:
            return False
        if not all(compare(got, fd, "finite differences", FD_TOL).ok for got in claimed):
            return False
    return True


def _near_kink(reference_at, values: list, value: float, grads: dict, seed: int, size: float = 1e-8) -> bool:
    """Whether the reference jumps under tiny random moves of the inputs (its value, or its gradients by far more
    than curvature explains): a kink, tie or step, where the one-sided derivatives differ and only conventions
    (PyTorch's, and float rounding in each library) pick the gradient."""
    rng = np.random.default_rng(seed)
    # a step of an expression that is 0 up to rounding (step(sum(batch_normalize(v)))) flips with about half
    # of the moves: 8 moves miss it once in 256
    for _ in range(8):
        moved = [  # class labels stay as they are
            v if v.dtype == np.int64 else v + size * np.maximum(1.0, np.abs(v)) * rng.normal(size=np.shape(v))
            for v in values
        ]
        try:
            other_value, other = reference_at(moved)
        except Exception:  # noqa: BLE001
            return False
        if abs(other_value - value) > 1e-4 * max(1.0, abs(value)):
            return True
        for w, g in grads.items():
            if np.max(np.abs(other[w] - g), initial=0.0) > 1e-3 * max(float(np.max(np.abs(g), initial=0.0)), 1e-3):
                return True
    return False


def _beyond_noise(f, values: list, k: int, claimed, fd) -> bool:
    """Whether ``claimed`` differs from finite differences by more than their own spread over step sizes
    (1e-3 and 1e-5 besides 1e-4) and their rounding (|f| eps / step: a term of 1e56 beside sum(Y * Y) leaves
    no trace of Y in f's differences): large outputs or cancellation make them noisy, not the gradient wrong."""
    from ..verify.numeric import compare, finite_difference

    others = [finite_difference(f, values, k, step=h) for h in (1e-3, 1e-5)]
    if any(compare(claimed, other, "finite differences", FD_TOL).ok for other in others):
        return False
    spread = max(float(np.max(np.abs(other - fd), initial=0.0)) for other in others)
    step = 1e-4 * max(1.0, float(np.max(np.abs(values[k]), initial=0.0)))
    rounding = abs(f(values)) * np.finfo(np.float64).eps / step
    return float(np.max(np.abs(claimed - fd), initial=0.0)) > 10 * max(spread, rounding)


def _run_module(backend: str, module, by_name: dict, dims: dict):
    """(output, gradients) of a generated module at the values ``by_name`` (``dims``: the sizes), as a float and
    numpy arrays; a result of the wrong type, or an output that is not a scalar, raises ValueError saying which
    (a gradient of the wrong shape is a wrong answer, which the comparison reports)."""
    from ..verify.gradcheck import arguments, as_tensor

    if backend == "torch":
        import torch

        by_name = {n: as_tensor(v, "cpu") for n, v in by_name.items()}
        kind, convert = torch.Tensor, lambda t: t.detach().numpy()
    else:
        by_name = {
            n: v if np.asarray(v).dtype == np.int64 else np.asarray(v, dtype=np.float64) for n, v in by_name.items()
        }
        kind, convert = (np.ndarray, np.generic, float), np.asarray
    out, saved = module.forward(*arguments(module, by_name, dims))
    grads = module.backward(saved)
    if not isinstance(out, kind) or np.size(convert(out)) != 1:
        raise ValueError(f"forward returned {type(out).__name__} of shape {np.shape(out)}, not a scalar")
    for w, g in grads.items():
        if not isinstance(g, kind):
            raise ValueError(f"d/d{w} is a {type(g).__name__}, not an array")
    return float(np.asarray(convert(out)).reshape(())), {
        w: np.asarray(convert(g), dtype=np.float64) for w, g in grads.items()
    }


def _at_kink(f, values: list, k: int, index, h: float = 1e-6) -> bool:
    """Whether f's one-sided derivatives along entry ``index`` of input k differ: a kink, where FD does not apply."""
    x = values[k]
    if not isinstance(index, tuple) or len(index) != x.ndim:
        return False

    def at(t):
        shifted = x.copy()
        shifted[index] += t
        return f(values[:k] + [shifted] + values[k + 1 :])

    centre = at(0.0)
    right, left = (at(h) - centre) / h, (centre - at(-h)) / h
    return abs(right - left) > 1e-3 * max(1.0, abs(right), abs(left))


# --------------------------------------------------------------------------
# The soak
# --------------------------------------------------------------------------


def _gist(outcome: Outcome) -> str:
    """An outcome's message without the input names and numbers that make each case's different."""
    if outcome.status == "refused":
        return outcome.message
    names = set(outcome.case.shapes) | set(outcome.case.sizes)
    backend = r"(?<!^)(?<!; )\b[A-Za-z_]\w*\b(?! module)"  # not the backend a message starts with
    gist = re.sub(backend, lambda m: "NAME" if m.group(0) in names else m.group(0), outcome.message)
    gist = re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "N", gist)
    return f"{outcome.status}: {gist}"[:160]


@dataclass
class Soak:
    """Counts and failures of a run of ``n`` cases."""

    outcomes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    def summary(self) -> str:
        c = self.counts
        kinks = sum(o.kink for o in self.outcomes)
        off = sum(o.reference_off for o in self.outcomes)
        counts = (
            f"{len(self.outcomes)} expressions in {self.seconds:.1f} s: {c['pass']} pass ({kinks} at a kink or tie, "
            f"where the gradient is a convention; {off} where autograd of the reference disagreed with the "
            "reference's own finite differences, and the generated gradients agreed with those), "
            f"{c['wrong']} wrong, {c['refused']} refused, {c['error']} error, "
            f"{c['skipped']} skipped (reference not finite, or an HVP of a linear function)"
        )
        lines = [counts]
        for what, statuses in (("refusals", ("refused",)), ("wrong or error", ("wrong", "error"))):
            messages = Counter(_gist(o) for o in self.outcomes if o.status in statuses)
            if messages:
                lines.append(f"{what} ({len(messages)} distinct messages, each with its first case):")
            for message, count in messages.most_common():
                first = next(o for o in self.outcomes if o.status in statuses and _gist(o) == message)
                lines += [f"  {count:5d}  {message}", f"         {first.case.command()}"]
        return "\n".join(lines)

    @property
    def failures(self) -> list:
        return [o for o in self.outcomes if o.status in ("wrong", "error")]


def soak(
    n: int,
    seed: int = 0,
    out: str | Path | None = "fuzz-failures.txt",
    budget: float = BUDGET,
    progress=True,
    run=None,
):
    """Run ``n`` generated cases (case i from seed ``seed * 1_000_000 + i``); write failures to ``out``.
    ``run(case, budget)`` judges a case: ``run_case`` by default; ``second_order.run_hvp_case`` checks its HVP."""
    run = run or run_case
    result = Soak()
    started = time.perf_counter()
    bar = progress_bar(range(n), "fuzz", enabled=progress, unit="expr")
    lines = []
    for i in bar:
        case = generate(seed * 1_000_000 + i)
        outcome = run(case, budget)
        result.outcomes.append(outcome)
        if outcome.status in ("wrong", "error"):
            lines.append(outcome.line())
            if out:
                Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
        c = result.counts
        bar.set_postfix(ok=c["pass"], wrong=c["wrong"], refused=c["refused"], error=c["error"], refresh=False)
    result.seconds = time.perf_counter() - started
    if out:
        Path(out).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return result
