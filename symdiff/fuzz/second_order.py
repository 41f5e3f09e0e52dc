"""The second-order soak: each generated case's HVP in its first matrix input in which it is not linear, along a
random direction.

``run_hvp_case`` derives the HVP as ``symdiff check --hvp`` does, emits its
torch module and runs ``verify.second_order.check`` without the exact check:
the module's HVP against autograd's double backward and ``torch.func`` of the
reference evaluator, and against central differences of the autograd
gradient. A case is ``pass`` when all agree, or differ within float64 rounding at the problem's scale (the
size of f and of its gradient); ``pass`` at a kink when only the
differences disagree and the autograd gradient itself jumps under tiny moves
of the input (a kink of the gradient, relu's in relu(z)**2, which differences
straddle); ``wrong`` when numbers disagree otherwise; ``skipped`` when the
function is linear in every input (its HVPs are zero: nothing to compare) or
the reference is not finite; ``refused`` and ``error`` as in the first-order soak.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError, InternalError, SymdiffError
from ..verify.gradcheck import as_tensor
from ..verify.second_order import STEPS, autograd_derivative
from .case import AUTOGRAD_TOL, FD_TOL, Case
from .verdicts import BUDGET, ROUNDING, Outcome, _describe, judged


def run_hvp_case(case: Case, budget: float = BUDGET) -> Outcome:
    """Derive, emit and check the HVP of ``case`` in ``case.hvp``, or (unset) in its first matrix input in which
    it is not linear (see the module docstring)."""
    return judged(case, budget, _run, "deriving")


def _derived(case: Case, phase: list):
    """(the case with its variable, its HVP derivation), or (the case, the Outcome that ends it)."""
    from ..target import SecondOrder, resolve

    for variable in [case.hvp] if case.hvp else case.wrt:  # not a label column
        chosen = replace(case, hvp=variable)
        phase[:] = [f"deriving the HVP in {variable}", chosen]  # a timeout's message and one-liner name it
        try:
            second = SecondOrder("hvp", variable)
            return chosen, resolve(case.expr, case.shape_entries(), [], second).derivation
        except InputError as err:
            if "linear in" not in str(err):
                return chosen, Outcome(chosen, "refused", _describe(err))
        except InternalError as err:
            return chosen, Outcome(chosen, "error", f"{_describe(err)} (while deriving)")
        except SymdiffError as err:
            return chosen, Outcome(chosen, "refused", _describe(err))
        except Exception as err:  # noqa: BLE001  (any other exception is what the soak looks for)
            return chosen, Outcome(chosen, "error", f"{_describe(err)} (while deriving)")
    return case, Outcome(case, "skipped", "linear in every input: its HVPs are zero")


def _run(case: Case, phase: list) -> Outcome:
    from ..verify import second_order

    case, d = _derived(case, phase)
    if isinstance(d, Outcome):
        return d
    phase[0] = "checking"
    try:
        report = second_order.check(
            d,
            sizes=case.sizes,
            domains=case.domains,
            seed=case.seed,
            fd_tolerance=FD_TOL,
            autograd_tolerance=AUTOGRAD_TOL,
            exact=False,
        )
    except Exception as err:  # noqa: BLE001
        return Outcome(case, "error", f"{_describe(err)} (while checking)")
    comparisons = [report.forward, *report.comparisons[case.hvp]]
    if not all(np.isfinite(c.reference_at_worst) for c in comparisons if c.shapes is None):
        return Outcome(case, "skipped", "the reference is not finite at the drawn inputs")
    failed = [c for c in comparisons if not c.ok]
    if not failed:
        return Outcome(case, "pass")
    reference = _Reference(d, case)
    failed = [c for c in failed if not reference.rounding(c)]
    if not failed:
        return Outcome(case, "pass")
    message = "; ".join(f"vs {c.reference}: rel {c.max_rel:.1e} at {c.worst}" for c in failed)
    if all("finite differences" in c.reference for c in failed) and reference.gradient_jumps():
        return Outcome(case, "pass", kink=True)
    return Outcome(case, "wrong", message)


class _Reference:
    """The reference evaluator's f and autograd gradient at the case's inputs, for the verdicts on a mismatch."""

    def __init__(self, d, case: Case):
        from ..verify.gradcheck import draw_inputs

        dims, self.names, self.values = draw_inputs(d, None, case.sizes, case.domains, case.seed)
        self.d, self.case, self.sizes = d, case, {str(k): v for k, v in dims.items()}
        self.k = self.names.index(case.hvp)
        value, self.centre = self.at(self.values[self.k])
        # the problem's scale: what float64 rounds in f and its gradient (a function constant in X up to
        # rounding, sum(batchnorm(Y)) in Y, has a gradient and an HVP of pure noise of this order)
        self.scale = max(abs(value), float(np.max(np.abs(self.centre), initial=0.0)), 1.0)

    def at(self, point) -> tuple:
        """(f, its autograd gradient in the variable) with the variable at ``point``."""

        from ..verify import reference

        x = self.case.hvp
        tensors = {n: as_tensor(point if n == x else a, "cpu") for n, a in zip(self.names, self.values)}
        tensors[x].requires_grad_(True)
        out = reference.evaluate(self.d.function, tensors, self.sizes).sum()
        return float(out), autograd_derivative(out, tensors[x]).numpy()

    def rounding(self, comparison) -> bool:
        """Whether a mismatch is within float64 rounding at the problem's scale (differences of the gradient
        divide it by their step)."""
        step = STEPS[0] if "finite differences" in comparison.reference else 1.0
        return comparison.shapes is None and comparison.max_abs <= ROUNDING * self.scale / step

    def gradient_jumps(self, size: float = 1e-7) -> bool:
        """Whether the gradient moves by far more than curvature explains under tiny random moves of the
        variable: a kink of the gradient, where differences of it do not apply."""
        x = self.values[self.k]
        rng = np.random.default_rng(self.case.seed)
        scale = max(float(np.max(np.abs(self.centre), initial=0.0)), 1.0)
        for _ in range(8):
            moved = x + size * np.maximum(1.0, np.abs(x)) * rng.normal(size=x.shape)
            if float(np.max(np.abs(self.at(moved)[1] - self.centre), initial=0.0)) > 1e-4 * scale:
                return True
        return False
