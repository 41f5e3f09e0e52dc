"""The optimizers of the training runs: symdiff's updates, evaluated from the forms its proofs verify, and
torch.optim.SGD with the same settings, which the autograd side of each run uses.

``Derived(name, lr)`` applies the update of a proof spec: ``momentum`` is Form II of 004_momentum_forms
(which the proof shows is Form I), ``nesterov`` torch's form of 004_nesterov (which the proof shows is the
look-ahead method). ``Reference(name, lr)`` is torch.optim.SGD. Both update a dict of tensors in place from a
dict of gradients and keep their state (velocities, buffers) between calls.
"""

from __future__ import annotations

import torch

from ..catalog import load_proof
from ..errors import SymdiffError
from ..theory.momentum import parse_forms, update_function

OPTIMIZERS = ("sgd", "momentum", "nesterov")
MOMENTUM = 0.9
FORMS = {  # optimizer -> (proof spec, its state's form, its step's form)
    "momentum": ("004_momentum_forms", "form_2_velocity", "form_2_step"),
    "nesterov": ("004_nesterov", "torch_buffer", "torch_step"),
}
STATE = {"momentum": ("v", "v_next"), "nesterov": ("b", "b_next")}


def _check(name: str) -> None:
    if name not in OPTIMIZERS:
        raise SymdiffError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


class Derived:
    """symdiff's update ``name`` with step ``lr`` (and momentum 0.9)."""

    def __init__(self, name: str, lr: float):
        _check(name)
        self.name, self.lr, self.state = name, lr, {}
        if name in FORMS:
            spec, state_form, step_form = FORMS[name]
            forms = parse_forms(load_proof(spec).forms, (state_form, step_form))
            self.next_state, self.step = update_function(forms[state_form]), update_function(forms[step_form])

    def __call__(self, parameters: dict, grads: dict) -> None:
        for key, g in grads.items():
            g = g.reshape(parameters[key].shape)
            if self.name == "sgd":
                parameters[key] -= self.lr * g
                continue
            old, new = STATE[self.name]
            values = {"g": g, "alpha": self.lr, "beta": MOMENTUM, old: self.state.get(key, torch.zeros_like(g))}
            self.state[key] = self.next_state(**values)
            parameters[key].copy_(self.step(theta=parameters[key], **values, **{new: self.state[key]}))


class Reference:
    """torch.optim.SGD with step ``lr``, momentum 0.9 for ``momentum`` and ``nesterov`` (dampening 0)."""

    def __init__(self, name: str, lr: float):
        _check(name)
        self.name, self.lr, self.optimizer = name, lr, None

    def __call__(self, parameters: dict, grads: dict) -> None:
        if self.optimizer is None:
            momentum = 0.0 if self.name == "sgd" else MOMENTUM
            self.optimizer = torch.optim.SGD(
                list(parameters.values()), lr=self.lr, momentum=momentum, nesterov=self.name == "nesterov"
            )
        for key, g in grads.items():
            parameters[key].grad = g.reshape(parameters[key].shape)
        self.optimizer.step()
