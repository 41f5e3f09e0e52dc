"""The torch.autograd.Function and nn.Module a generated torch module defines over its forward and backward."""

from __future__ import annotations


def torch_wrappers(
    output: str,
    inputs: list[str],
    parameters: list[str],
    title: str | None,
    double_backward: bool = False,
    outputs: int = 1,
) -> list[str]:
    """A torch.autograd.Function over forward/backward (``double_backward``: differentiable twice by the module's
    pairing_forward/pairing_backward; ``outputs``: how many the forward returns, each with its gradient in backward,
    which torch gives as zeros for an output not used), and an nn.Module holding ``parameters``."""
    if double_backward:
        function = _twice_differentiable(output, inputs, title)
    else:
        function = _function(output, inputs, title, outputs)
    return [function] + _module(output, inputs, parameters, title)


def _function(output: str, inputs: list[str], title: str | None, outputs: int = 1) -> str:
    args = ", ".join(inputs)
    grad, given = ("*grad_outputs", "grad_outputs") if outputs > 1 else ("grad_output", "grad_output")
    return f'''class Function(torch.autograd.Function):
    """{title or output} as an autograd Function: Function.apply({args}) -> {output}."""

    @staticmethod
    def forward(ctx, {args}):
        out, saved = forward({args})
        values = ({args},) + saved
        ctx.others = tuple(None if isinstance(v, torch.Tensor) else v for v in values)
        ctx.save_for_backward(*(v for v in values if isinstance(v, torch.Tensor)))
        return out

    @staticmethod
    def backward(ctx, {grad}):
        wanted = [name for name, needs in zip(INPUTS, ctx.needs_input_grad) if needs]
        underived = [name for name in wanted if name not in GRADIENTS]
        if underived:
            raise RuntimeError(f"symdiff derived no gradient for {{underived}}; derive them too (--wrt)")
        tensors = iter(ctx.saved_tensors)
        values = tuple(next(tensors) if other is None else other for other in ctx.others)
        inputs, saved = values[: len(INPUTS)], values[len(INPUTS) :]
        if torch.is_grad_enabled():  # double backward: rebuild the intermediates with their graph
            saved = forward(*inputs)[1]
        grads = backward(saved, {given}, wanted)
        return tuple(grads.get(name) for name in INPUTS)'''


def _module(output: str, inputs: list[str], parameters: list[str], title: str | None) -> list[str]:
    if not parameters:
        return []
    data = [n for n in inputs if n not in parameters]
    init = "\n".join(f"        self.{p} = torch.nn.Parameter({p})" for p in parameters)
    call = ", ".join(f"self.{n}" if n in parameters else n for n in inputs)
    module = f'''class Module(torch.nn.Module):
    """{title or output} as a layer: parameters {", ".join(parameters)}; forward({", ".join(data)}) -> {output}."""

    def __init__(self, {", ".join(parameters)}):
        super().__init__()
{init}

    def forward(self, {", ".join(data)}):
        return Function.apply({call})'''
    return [module]


def _twice_differentiable(output: str, inputs: list[str], title: str | None) -> str:
    """``Function`` over ``Pass``, an autograd Function in torch.func's style (forward without ctx, then
    setup_context), whose backward, where a graph is being built (create_graph=True, torch.func.jvp outside), is
    ``Gradient``: the gradients as a Function of (grad_output, inputs), whose backward and jvp are the derived
    HVP. Pass's forward returns (output, saved), since setup_context sees only inputs and outputs."""
    args = ", ".join(inputs)
    count = len(inputs)
    return f'''def _stash(ctx, values):
    """Keep ``values`` for backward and jvp: tensors through ctx (as torch.func needs), the rest as they are."""
    ctx.others = tuple(None if isinstance(v, torch.Tensor) else v for v in values)
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    ctx.save_for_backward(*tensors)
    ctx.save_for_forward(*tensors)
    ctx.set_materialize_grads(False)


def _unstash(ctx):
    tensors = iter(ctx.saved_tensors)
    return tuple(next(tensors) if other is None else other for other in ctx.others)


def _derived(names):
    names = list(names)
    underived = [name for name in names if name not in GRADIENTS]
    if underived:
        raise RuntimeError(f"symdiff derived no gradient for {{underived}}; derive them too (--wrt)")
    return names


def _hvp(inputs, grad_output, given, wanted):
    """grad_output (H V) in the variables ``wanted`` (pairing_backward), V being the directions ``given`` (by
    variable name, zero for the rest), and <grad f, V> (pairing_forward)."""
    directions = [given.get(name) for name in DIRECTIONS]
    directions = [
        torch.zeros_like(torch.as_tensor(inputs[INPUTS.index(name)])) if v is None else v
        for name, v in zip(DIRECTIONS, directions)
    ]
    pairing, saved = pairing_forward(*inputs, *directions)
    return pairing_backward(saved, grad_output, wanted), pairing


class Gradient(torch.autograd.Function):
    """The gradients as a Function of (grad_output, wanted, saved, {args}): its backward and jvp are the derived
    HVP, so that differentiating the gradients runs the second-order closed form."""

    @staticmethod
    def forward(grad_output, wanted, saved, {args}):
        grads = backward(saved, grad_output, wanted)
        return tuple(grads[name] for name in wanted)

    @staticmethod
    def setup_context(ctx, inputs, output):
        grad_output, ctx.wanted, saved = inputs[:3]
        ctx.count = len(saved)
        _stash(ctx, (grad_output, *saved, *inputs[3:]))

    @staticmethod
    def backward(ctx, *cotangents):
        values = _unstash(ctx)
        grad_output, inputs = values[0], values[1 + ctx.count :]
        wanted = _derived(name for name, needs in zip(INPUTS, ctx.needs_input_grad[3:]) if needs)
        hvp, pairing = _hvp(inputs, grad_output, dict(zip(ctx.wanted, cotangents)), wanted)
        return (pairing if ctx.needs_input_grad[0] else None, None, None) + tuple(hvp.get(n) for n in INPUTS)

    @staticmethod
    def jvp(ctx, grad_output_tangent, _wanted, _saved, *tangents):
        values = _unstash(ctx)
        grad_output, saved, inputs = values[0], values[1 : 1 + ctx.count], values[1 + ctx.count :]
        moved = _derived(name for name, t in zip(INPUTS, tangents) if t is not None)
        out = [0] * len(ctx.wanted)
        if moved:  # grad_output (H V) along the inputs' tangents
            hvp, _ = _hvp(inputs, grad_output, dict(zip(INPUTS, tangents)), ctx.wanted)
            out = [o + hvp[name] for o, name in zip(out, ctx.wanted)]
        if grad_output_tangent is not None:  # and the gradient itself along grad_output's
            grads = backward(saved, grad_output_tangent, ctx.wanted)
            out = [o + grads[name] for o, name in zip(out, ctx.wanted)]
        return tuple(out)


class Pass(torch.autograd.Function):
    """The autograd Function under ``Function``: Pass.apply({args}) -> ({output}, saved)."""

    @staticmethod
    def forward({args}):
        return forward({args})

    @staticmethod
    def setup_context(ctx, inputs, output):
        _stash(ctx, tuple(inputs) + tuple(output[1]))

    @staticmethod
    def backward(ctx, grad_output, *_):
        if grad_output is None:  # only the saved values were used, which have no gradient
            return (None,) * len(INPUTS)
        values = _unstash(ctx)
        inputs, saved = values[:{count}], values[{count}:]
        wanted = _derived(name for name, needs in zip(INPUTS, ctx.needs_input_grad) if needs)
        if torch.is_grad_enabled():  # a graph of the gradients is wanted: through Gradient, for the derived HVP
            grads = dict(zip(wanted, Gradient.apply(grad_output, tuple(wanted), saved, *inputs)))
        else:
            grads = backward(saved, grad_output, wanted)
        return tuple(grads.get(name) for name in INPUTS)

    @staticmethod
    def jvp(ctx, *tangents):  # d{output} = <grad {output}, tangent>
        saved = _unstash(ctx)[{count}:]
        moved = _derived(name for name, t in zip(INPUTS, tangents) if t is not None)
        grads = backward(saved, 1.0, moved)
        return sum((grads[name] * t).sum() for name, t in zip(INPUTS, tangents) if t is not None), None


class Function:
    """{title or output} as an autograd Function: Function.apply({args}) -> {output}, differentiable twice by
    the derived HVP (torch.autograd.grad with create_graph=True, torch.autograd.functional.hvp,
    torch.func.jvp(torch.func.grad(...)))."""

    @staticmethod
    def apply({args}):
        return Pass.apply({args})[0]'''
