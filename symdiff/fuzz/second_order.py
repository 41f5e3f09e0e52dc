"""The second-order soak: each generated case's HVP in its first matrix input in which it is not linear, along a
random direction.

``run_hvp_case`` derives the HVP as ``symdiff check --hvp`` does, emits its
torch module and runs ``verify.second_order.check`` without the exact check:
the module's HVP against autograd's double backward and ``torch.func`` of the
reference evaluator, and against central differences of the autograd
gradient. A case is ``pass`` when all agree; ``pass`` at a kink when only the
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
from .generator import AUTOGRAD_TOL, FD_TOL, Case
from .verdicts import BUDGET, Outcome, _describe, judged


def run_hvp_case(case: Case, budget: float = BUDGET) -> Outcome:
    """Derive, emit and check the HVP of ``case`` in ``case.hvp``, or (unset) in its first matrix input in which
    it is not linear (see the module docstring)."""
    return judged(case, budget, _run, "deriving")


def _derived(case: Case):
    """(the case with its variable, its HVP derivation), or (the case, the Outcome that ends it)."""
    from ..target import SecondOrder, resolve

    for variable in [case.hvp] if case.hvp else list(case.shapes):
        chosen = replace(case, hvp=variable)
        try:
            return chosen, resolve(case.expr, case.shape_entries(), [], SecondOrder("hvp", variable)).derivation
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

    case, d = _derived(case)
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
    message = "; ".join(f"vs {c.reference}: rel {c.max_rel:.1e} at {c.worst}" for c in failed)
    if all("finite differences" in c.reference for c in failed) and _gradient_jumps(d, case):
        return Outcome(case, "pass", kink=True)
    return Outcome(case, "wrong", message)


def _gradient_jumps(d, case: Case, size: float = 1e-7) -> bool:
    """Whether the autograd gradient of the reference moves by far more than curvature explains under tiny random
    moves of the variable: a kink of the gradient, where differences of it do not apply."""
    import torch

    from ..verify import reference
    from ..verify.gradcheck import draw_inputs

    dims, names, values = draw_inputs(d, None, case.sizes, case.domains, case.seed)
    sizes = {str(k): v for k, v in dims.items()}
    k = names.index(case.hvp)

    def gradient(point):
        tensors = {n: torch.tensor(point if n == case.hvp else a, dtype=torch.float64) for n, a in zip(names, values)}
        tensors[case.hvp].requires_grad_(True)
        (g,) = torch.autograd.grad(reference.evaluate(d.function, tensors, sizes).sum(), tensors[case.hvp])
        return g.numpy()

    centre = gradient(values[k])
    rng = np.random.default_rng(case.seed)
    scale = max(float(np.max(np.abs(centre), initial=0.0)), 1.0)
    for _ in range(8):
        moved = values[k] + size * np.maximum(1.0, np.abs(values[k])) * rng.normal(size=values[k].shape)
        if float(np.max(np.abs(gradient(moved) - centre), initial=0.0)) > 1e-4 * scale:
            return True
    return False
