"""A soak case: a generated expression with everything ``symdiff check`` needs to reproduce it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

AUTOGRAD_TOL, FD_TOL = 1e-8, 1e-5  # the verdicts' tolerances, which a case's command line repeats


@dataclass
class Case:
    """A generated expression with everything ``symdiff check`` needs to reproduce it."""

    expr: str
    shapes: dict  # matrix name -> (rows, cols), each a dimension name or "1"
    sizes: dict  # dimension name -> size
    domains: dict  # input name -> positive | nonzero | spd (the rest: any)
    seed: int  # of the inputs, as ``symdiff check --seed``
    hvp: str | None = None  # the second-order soak's variable: the case checks the HVP in it
    structures: dict | None = None  # input name -> symmetric | spd | diagonal | lower | upper
    convention: str = "structured"  # a structured input's gradient: structured or coordinates
    labels: tuple = ()  # the inputs that are class labels (in take or one_hot): no gradient

    def structure(self, name: str) -> str:
        return f":{self.structures[name]}" if self.structures and name in self.structures else ""

    @property
    def wrt(self) -> list[str]:
        return [name for name in self.shapes if name not in self.labels]

    def shape_entries(self) -> list[str]:
        return [f"{name}={rows},{cols}{self.structure(name)}" for name, (rows, cols) in self.shapes.items()]

    def command(self) -> str:
        """The ``symdiff check`` command line reproducing this case."""
        which = ["--hvp", self.hvp] if self.hvp else ["--wrt", *self.wrt]
        parts = ["symdiff", "check", self.expr, "--shape", *self.shape_entries(), *which]
        parts += ["--sizes", *[f"{k}={v}" for k, v in self.sizes.items()]]
        if self.domains:
            parts += ["--domain", *[f"{k}={v}" for k, v in self.domains.items()]]
        if self.convention != "structured" and not self.hvp:  # an HVP is in the structure's own convention
            parts += ["--convention", self.convention]
        parts += [
            "--seed",
            str(self.seed),
            "--no-exact",
            "--fd-tol",
            f"{FD_TOL:g}",
            "--autograd-tol",
            f"{AUTOGRAD_TOL:g}",
        ]
        return " ".join(shlex.quote(p) for p in parts)
