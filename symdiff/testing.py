"""Checks for test suites.

``assert_gradient`` derives a gradient with ``symdiff.grad`` and checks it two
independent ways: the exact entrywise check (SymPy's scalar diff of the
expanded expression) and central finite differences in float64.
``assert_grad_close`` checks any numpy or torch function's backward
(hand-written, generated, or autograd) against finite differences.
"""

from __future__ import annotations

import numpy as np

from .derivation import grad as symbolic_grad
from .errors import InputError
from .printing import text
from .verify.exact import exact
from .verify.gradcheck import numeric_comparisons, require_finite
from .verify.numeric import finite_differences


def assert_gradient(expr, wrt, grad=None, sizes=None, domains=None, allow_numeric: bool = True):
    """Assert ``grad`` (default: ``symdiff.grad(expr, wrt)``) is the gradient of ``expr``; return it."""
    grad = symbolic_grad(expr, wrt) if grad is None else grad
    result = exact(expr, wrt, grad, sizes)
    assert result.ok, f"d/d{wrt} {text(expr)} = {text(grad)}: {result.summary()}"
    if not allow_numeric:
        assert result.numeric == 0, f"d/d{wrt} {text(expr)}: not proved symbolically: {result.summary()}"
    numeric = finite_differences(expr, wrt, grad, sizes, domains)
    assert numeric.ok, f"{text(expr)} = {text(grad)}: " + numeric.line(f"d/d{wrt}")
    return grad


def assert_grad_close(fn, inputs, backward=None, *, wrt=None, tolerance: float = 1e-6, seed: int = 0):
    """Assert that the backward of ``fn`` agrees with finite differences at ``inputs``; return the comparisons.

    ``fn(*inputs)`` returns an array or tensor. The backward under test is
    ``backward(grad_output, *inputs)`` when given (a hand-written numpy or
    torch backward returning one gradient per input, or the array of a single
    input's; a gradient of the wrong shape fails), else torch autograd
    through ``fn`` (a torch function, a custom ``autograd.Function.apply``...).
    Inputs are taken in float64; a random upstream gradient V of the output's
    shape is drawn and the claimed vector-Jacobian products are compared with
    central differences of sum(V * fn(x)), entry by entry for small inputs and
    along random directions for large ones. ``wrt`` lists the input positions
    to check (default: all). The failure message shows the errors and the
    worst entry of each gradient.
    """
    torch_inputs = any(hasattr(x, "detach") for x in inputs)
    values = [require_finite(f"#{k}", x) for k, x in enumerate(inputs)]
    positions = list(range(len(values))) if wrt is None else list(wrt)
    outside = [k for k in positions if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(values)]
    if outside:
        raise InputError(f"wrt={wrt!r:.60}: positions of inputs are 0..{len(values) - 1}, not {outside[0]!r:.40}")
    if torch_inputs or backward is None:
        import torch

        device = next((x.device for x in inputs if hasattr(x, "device")), "cpu")

        def convert(arrays):
            return [torch.tensor(a, dtype=torch.float64, device=device) for a in arrays]

        def to_numpy(t):
            return None if t is None else t.detach().cpu().numpy()
    else:

        def convert(arrays):
            return [np.array(a, dtype=np.float64) for a in arrays]

        def to_numpy(t):
            return None if t is None else np.asarray(t, dtype=np.float64)

    output = to_numpy(fn(*convert(values)))
    upstream = np.random.default_rng(seed).normal(size=np.shape(output))

    def f(arrays) -> float:
        return float(np.sum(upstream * to_numpy(fn(*convert(arrays)))))

    if backward is not None:
        grads = [to_numpy(g) for g in _one_per_input(backward(convert([upstream])[0], *convert(values)), len(values))]
    else:
        leaves = convert(values)
        for k in positions:
            leaves[k].requires_grad_(True)
        claimed = torch.autograd.grad(
            fn(*leaves), [leaves[k] for k in positions], convert([upstream])[0], allow_unused=True
        )
        grads = dict(zip(positions, map(to_numpy, claimed)))
    missing = [k for k in positions if grads[k] is None]
    assert not missing, f"the backward returned no gradient for inputs {missing}"
    wrong = [
        k for k in positions if np.shape(grads[k]) != values[k].shape and not np.size(grads[k]) == values[k].size == 1
    ]
    assert not wrong, "the backward's gradients have the wrong shapes: " + ", ".join(
        f"input {k} is {values[k].shape}, its gradient {np.shape(grads[k])}" for k in wrong
    )
    claimed = {k: np.reshape(grads[k], values[k].shape) for k in positions}  # a 1 x 1 gradient of a scalar
    comparisons = numeric_comparisons(f, values, claimed, tolerance, seed)
    assert all(c.ok for c in comparisons.values()), "gradient check failed:\n" + "\n".join(
        c.line(f"d/d(input {k})") for k, c in comparisons.items()
    )
    return comparisons


def _one_per_input(returned, count: int) -> list:
    """What a backward returned, as one gradient per input: a single array or tensor is the gradient of a
    single input; anything else must hold exactly ``count`` (None for an input it does not differentiate)."""
    if hasattr(returned, "shape") and count == 1:
        return [returned]
    if hasattr(returned, "shape") or not isinstance(returned, (tuple, list)):
        raise InputError(
            f"the backward must return one gradient per input ({count}, as a tuple or list), "
            f"got {type(returned).__name__}"
        )
    if len(returned) != count:
        raise InputError(
            f"the backward returned {len(returned)} gradients for {count} inputs: it must return one per input, "
            "in order (None for an input it does not differentiate)"
        )
    return list(returned)
