"""What every training run shares: the comparison record, the SGD loop, data, and the figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOLERANCE = {"float64": 1e-9, "float32": 1e-3}  # relative agreement each run must reach, by dtype


@dataclass
class Run:
    """Two trainings of one model, by autograd and by generated code, and how far apart they ended."""

    name: str
    title: str
    device: str
    dtype: str
    curves: dict = field(default_factory=dict)  # label -> (autograd losses, generated losses)
    parameters: dict = field(default_factory=dict)  # label -> max relative difference of the final parameters
    facts: dict = field(default_factory=dict)  # other measured numbers: accuracy, times, values a source printed
    checks: dict = field(default_factory=dict)  # other agreements (name -> (value, tolerance)) the run asserts
    epoch_length: dict = field(default_factory=dict)  # label -> steps per epoch, to plot against epochs
    figures: dict = field(default_factory=dict)  # file name -> matplotlib figure builder
    saved: list = field(default_factory=list)

    def loss_difference(self, label: str) -> float:
        """Max over steps of |loss_autograd - loss_generated| / max(1, |loss_autograd|)."""
        a, g = (np.asarray(c, dtype=np.float64) for c in self.curves[label])
        return float(np.max(np.abs(a - g) / np.maximum(1.0, np.abs(a)))) if a.size else 0.0

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.dtype]

    @property
    def ok(self) -> bool:
        within = [self.loss_difference(k) <= self.tolerance for k in self.curves]
        within += [v <= self.tolerance for v in self.parameters.values()]
        within += [value <= tol for value, tol in self.checks.values()]
        return all(within)

    def summary(self) -> str:
        lines = [f"{self.title} [{self.name}]: {self.dtype} on {self.device}, tolerance {self.tolerance:.0e}"]
        for label, (a, _) in self.curves.items():
            lines.append(
                f"  {label}: {len(a)} steps, final loss {a[-1]:.6g}; max per-step loss difference "
                f"{self.loss_difference(label):.2e}; final parameters max rel difference {self.parameters[label]:.2e}"
            )
        for name, (value, tol) in self.checks.items():
            lines.append(f"  {name}: {value:.2e} (tolerance {tol:.0e}) {'ok' if value <= tol else 'TOO LARGE'}")
        lines += [f"  {k}: {v}" for k, v in self.facts.items()]
        lines += [f"  figure: {p}" for p in self.saved]
        lines.append("AGREE" if self.ok else "DISAGREE")
        return "\n".join(lines)

    def save_figures(self, out) -> list:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        builders = {f"{self.name}.png": loss_figure, **self.figures}
        for file_name, build in builders.items():
            fig = build(self)
            fig.savefig(out / file_name, dpi=110, bbox_inches="tight")
            plt.close(fig)
            self.saved.append(out / file_name)
        return self.saved


def loss_figure(run: Run):
    """Both loss curves of every training, and their difference per step."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True, height_ratios=[2, 1])
    for k, (label, (a, g)) in enumerate(run.curves.items()):
        colour = f"C{k}"
        x = np.arange(1, len(a) + 1) / run.epoch_length.get(label, 1)
        top.plot(x, a, color=colour, lw=2.2, alpha=0.45, label=f"{label}: autograd")
        top.plot(x, g, color=colour, lw=1, ls="--", label=f"{label}: generated")
        difference = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(g, dtype=np.float64))
        bottom.semilogy(x, np.maximum(difference, 1e-20), color=colour, lw=1, label=label)
    top.set_yscale("log")
    top.set_ylabel("training loss")
    top.set_title(f"{run.title}\n{run.dtype} on {run.device}: autograd (solid) and generated backward (dashed)")
    top.legend(fontsize=8)
    bottom.set_ylabel("|loss difference|\n(1e-20 = identical)")
    bottom.set_xlabel("epoch" if run.epoch_length else "step")
    bottom.axhline(run.tolerance, color="grey", ls=":", lw=1)
    fig.tight_layout()
    return fig


def max_relative_difference(a: dict, b: dict) -> float:
    """max |a - b| over all parameters, relative to the largest autograd parameter entry (b)."""
    differences, scale = 0.0, 1e-30
    for name, reference in b.items():
        ref = np.asarray(_numpy(reference), dtype=np.float64)
        got = np.asarray(_numpy(a[name]), dtype=np.float64).reshape(ref.shape)
        differences = max(differences, float(np.max(np.abs(got - ref))))
        scale = max(scale, float(np.max(np.abs(ref))))
    return differences / scale


def _numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def sgd(step, parameters: dict, batches: list, lr: float, desc: str, progress: bool, update=None) -> tuple[list, dict]:
    """Training steps: ``step(parameters, batch)`` returns (loss, gradients by name), and ``update(parameters,
    gradients)`` (plain SGD with rate ``lr`` when None) changes the parameters in place."""
    from ..progress import progress as bar

    losses = []
    for batch in bar(batches, desc, progress):
        loss, grads = step(parameters, batch)
        losses.append(float(loss))
        if update is not None:
            update(parameters, grads)
            continue
        for name, g in grads.items():
            parameters[name] -= lr * g.reshape(parameters[name].shape)
    return losses, parameters


def minibatches(n: int, size: int, epochs: int, seed: int) -> list:
    """Index arrays of shuffled mini-batches, the same for both trainings (the last short batch is kept)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        order = rng.permutation(n)
        out.extend(order[k : k + size] for k in range(0, n, size))
    return out


def digits(seed: int = 0):
    """scikit-learn's 8 x 8 digits (offline): pixels scaled to [0, 1], one-hot targets, a 80/20 split."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], y[order]
    T = np.eye(10)[y]
    cut = int(0.8 * len(X))
    return (X[:cut], T[:cut], y[:cut]), (X[cut:], T[cut:], y[cut:])
