"""The torch.autograd.Function and nn.Module a generated torch module defines over its forward and backward."""

from __future__ import annotations


def torch_wrappers(output: str, inputs: list[str], parameters: list[str], title: str | None) -> list[str]:
    """A torch.autograd.Function over forward/backward, and an nn.Module holding ``parameters``."""
    args = ", ".join(inputs)
    function = f'''class Function(torch.autograd.Function):
    """{title or output} as an autograd Function: Function.apply({args}) -> {output}."""

    @staticmethod
    def forward(ctx, {args}):
        out, saved = forward({args})
        values = ({args},) + saved
        ctx.others = tuple(None if isinstance(v, torch.Tensor) else v for v in values)
        ctx.save_for_backward(*(v for v in values if isinstance(v, torch.Tensor)))
        return out

    @staticmethod
    def backward(ctx, grad_output):
        wanted = [name for name, needs in zip(INPUTS, ctx.needs_input_grad) if needs]
        underived = [name for name in wanted if name not in GRADIENTS]
        if underived:
            raise RuntimeError(f"symdiff derived no gradient for {{underived}}; derive them too (--wrt)")
        tensors = iter(ctx.saved_tensors)
        values = tuple(next(tensors) if other is None else other for other in ctx.others)
        inputs, saved = values[: len(INPUTS)], values[len(INPUTS) :]
        if torch.is_grad_enabled():  # double backward: rebuild the intermediates with their graph
            saved = forward(*inputs)[1]
        grads = backward(saved, grad_output, wanted)
        return tuple(grads.get(name) for name in INPUTS)'''
    if not parameters:
        return [function]
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
    return [function, module]
