"""Checks of second-order derivations (``symdiff.second_order``), against references that share no code with them.

For an HVP (d/dX <grad f, V>): the generated module's result against torch
autograd's double backward and ``torch.func.jvp`` of ``torch.func.grad``
(forward over reverse), both of the reference evaluator's forward of f, and
against central differences of f's autograd gradient along V; the module's
forward (<grad f, V>) against the reference's. For a Hessian: the
generated code against ``torch.func.hessian`` (mixed:
``jacrev`` of ``grad``) and against central differences of the gradient,
column by column; a Hessian of one variable must be symmetric. Both also get
SymPy's second derivatives entry by entry (``exact.check_second_order``).
An HVP in a structured variable (``ops/structure.py``) is the derivative of its structured gradient along a
direction in the structure, projected: the references differentiate f through the structure's parametrization
(``structured.Parametrization``), f(P(A)) at A = X.
"""

from __future__ import annotations

import numpy as np

from ..ops.structure import structure_of
from .exact import check_gradient
from .gradcheck import REFERENCE, CheckReport, arguments, as_tensor, draw_inputs, resolve_device
from .numeric import compare, shaped
from .structured import Parametrization

STEPS = (1e-4, 1e-6)  # relative steps of the central differences of the gradient: the second where a kink of
# the gradient (relu's, in relu(z)**2) lies within the first of the point, which the differences then average over


def _label(d) -> str:
    x = d.wrt[0]
    if d.kind == "hvp":
        return f"HVP in {x} along {d.direction}"
    return f"Hessian d2/d{x}d{d.partner}" if d.partner else f"Hessian d2/d{x}2"


def _differences(gradient_at, x: np.ndarray, direction: np.ndarray, step: float) -> np.ndarray:
    """The derivative of ``gradient_at`` along ``direction`` at ``x``, by 4th-order central differences."""
    h = step * max(1.0, float(np.max(np.abs(x)))) / max(1.0, float(np.max(np.abs(direction))))
    at = [gradient_at(x + t * h * direction) for t in (2, 1, -1, -2)]
    return (-at[0] + 8 * at[1] - 8 * at[2] + at[3]) / (12 * h)


def autograd_derivative(out, leaf, create_graph: bool = False):
    """Autograd's d out / d leaf; zeros where ``out`` has no graph through ``leaf`` (a gradient that is a mask,
    max(-x)'s, is constant; an input that cancels is unused): the derivative is zero there, not an error."""
    import torch

    if not out.requires_grad:
        return torch.zeros_like(leaf)
    (g,) = torch.autograd.grad(out, leaf, create_graph=create_graph, allow_unused=True)
    return torch.zeros_like(leaf) if g is None else g


def _differenced(claimed, differences, what: str, tolerance: float):
    """``claimed`` against ``differences(step)`` at the first of STEPS, or at the second where the first fails
    and the second does not (the line says so)."""
    first = compare(claimed, differences(STEPS[0]), what, tolerance)
    if first.ok:
        return first
    second = compare(
        claimed, differences(STEPS[1]), f"{what} (step {STEPS[1]:g}: a kink within {STEPS[0]:g})", tolerance
    )
    return second if second.ok else first


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
) -> CheckReport:
    """Check the second-order derivation ``d`` (kind "hvp" or "hessian") as the module docstring says; the
    arguments are ``gradcheck.check``'s."""
    import torch

    from .. import codegen
    from . import reference

    device = resolve_device(device)
    dims, names, values = draw_inputs(d, inputs, sizes, domains, seed)
    sizes_by_name = {str(k): v for k, v in dims.items()}
    x = d.wrt[0]
    y = d.partner or x

    def tensors(arrays, grad=()):
        return {n: as_tensor(a, device).requires_grad_(n in grad) for n, a in zip(names, arrays)}

    structure = structure_of(d.inputs[x]) if d.kind == "hvp" else None
    through = Parametrization(structure, "structured", values[names.index(x)].shape[0]) if structure else None

    def f_of(by_name):
        if through is not None:  # f(P(A)), differentiated in A: the gradient and the HVP in the structure
            by_name = {**by_name, x: through.matrix(by_name[x])}
        return reference.evaluate(d.function, by_name, sizes_by_name).reshape(())

    def gradient_at(name, arrays, point):
        """f's autograd gradient w.r.t. ``name`` with that input at ``point``, as a float64 array."""
        by_name = tensors([point if n == name else a for n, a in zip(names, arrays)], grad=(name,))
        return autograd_derivative(f_of(by_name), by_name[name]).detach().cpu().numpy()

    def as_function_of(name):
        """f as a function of the input ``name`` alone, for torch.func."""
        fixed = tensors(values)
        return lambda t: f_of({**fixed, name: t})

    label = _label(d)
    report = CheckReport(title or d.output, device, sizes_by_name, labels={x: label})
    k = names.index(x)
    module = codegen.compile(d, "torch")
    by_name = tensors(values)
    out, saved = module.forward(*arguments(module, by_name, dims))
    second = module.backward if d.kind == "hvp" else module.hessian
    claimed = second(saved)[x].detach().cpu().numpy()
    if d.kind == "hvp":
        claimed = shaped(claimed, values[k].shape)
        v = names.index(d.direction)
        leaves = tensors(values, grad=(x,))
        pairing = torch.sum(autograd_derivative(f_of(leaves), leaves[x], create_graph=True) * leaves[d.direction])
        double = autograd_derivative(pairing, leaves[x])
        direction = torch.tensor(values[v], dtype=torch.float64, device=device)
        point = torch.tensor(values[k], dtype=torch.float64, device=device)
        _, func = torch.func.jvp(torch.func.grad(as_function_of(x)), (point,), (direction,))

        def differences(step):
            return _differences(lambda p: gradient_at(x, values, p), values[k], values[v], step)

        report.forward = compare(
            float(out), float(pairing.detach()), f"<autograd gradient, {d.direction}>", autograd_tolerance
        )
        references = [
            (double, f"torch autograd double backward ({REFERENCE})", autograd_tolerance),
            (func, f"torch.func.jvp(torch.func.grad) ({REFERENCE})", autograd_tolerance),
            (differences, f"finite differences of the autograd gradient along {d.direction}", fd_tolerance),
        ]
    else:
        report.forward = compare(float(out), float(f_of(tensors(values))), REFERENCE, autograd_tolerance)
        j = names.index(y)
        n_x = values[k].shape[0]
        point = torch.tensor(values[k], dtype=torch.float64, device=device)
        if y == x:
            func = torch.func.hessian(as_function_of(x))(point).reshape(n_x, n_x)
        else:  # d^2 f / dx_i dy_j: the Jacobian (by x) of the gradient by y, laid out x by y
            fixed = tensors(values)

            def grad_y(t):
                return torch.func.grad(lambda u: f_of({**fixed, x: t, y: u}))(fixed[y])

            func = torch.func.jacrev(grad_y)(point).reshape(values[j].shape[0], n_x).T

        def gradient_by_y(p):  # f's gradient by y with x at p (y itself, if it is x)
            arrays = [p if n == x else a for n, a in zip(names, values)]
            return gradient_at(y, arrays, p if y == x else values[j]).reshape(-1)

        def differences(step):
            return np.stack([_differences(gradient_by_y, values[k], np.eye(n_x)[:, [i]], step) for i in range(n_x)])

        references = [
            (
                func,
                f"torch.func.hessian ({REFERENCE})" if y == x else f"torch.func.jacrev(grad) ({REFERENCE})",
                autograd_tolerance,
            ),
            (differences, "finite differences of the autograd gradient", fd_tolerance),
        ]
        if y == x:
            references.append((claimed.T, "its own transpose (symmetry)", autograd_tolerance))
    report.comparisons[x] = [
        _differenced(claimed, r, what, tolerance)
        if callable(r)
        else compare(claimed, r.numpy(force=True) if hasattr(r, "numpy") else r, what, tolerance)
        for r, what, tolerance in references
    ]
    if exact:
        report.exact[x] = check_gradient(d, x, exact_sizes)
    return report
