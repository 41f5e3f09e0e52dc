r"""Vanishing gradients in a sigmoid MLP (seed 004, problem 2): a bound on $\lVert \partial y_L / \partial b_i \rVert$.

For $y_\ell = \sigma(\tilde y_\ell)$, $\tilde y_\ell = A_\ell y_{\ell-1} + b_\ell$, the chain rule gives the
Jacobian (numerator layout, as the seed writes it)
$\partial y_L / \partial b_i = D_L A_L D_{L-1} A_{L-1} \cdots D_{i+1} A_{i+1} D_i$ with
$D_\ell = \operatorname{diag}(\sigma'(\tilde y_\ell))$. SymPy proves $\max \sigma' = 1/4$ and checks the product
form against the entrywise Jacobian of an explicit network; with $\lVert D_\ell \rVert_2 = \max_j
\sigma'(\tilde y_{\ell j}) \le 1/4$ and submultiplicativity of the spectral norm,
$\lVert \partial y_L / \partial b_i \rVert_2 \le 4^{-(L - i + 1)} \prod_{k=i+1}^{L} \lVert A_k \rVert_2$.
Random networks of depth up to 20 confirm it, and a figure plots the norms against the bound.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..latex.document import Block, Figure
from ..ops.activations import elementary
from ..printing import LatexPrinter
from . import ProofResult, document_head, parse_form, png

WIDTH, DEPTHS, NETWORKS, SEED = 8, range(2, 21), 10, 4
EXPLICIT = (3, 2)  # layers and width of the network whose Jacobian SymPy expands entrywise


def vanishing_gradients(forms: dict, title: str = "", source: str = "", notes: str = "") -> ProofResult:
    tex = LatexPrinter().doprint
    x = sp.Symbol("x", real=True)
    derivative = parse_form(forms, "sigmoid_derivative", {"x": x})
    failures = []
    exact = sp.diff(1 / (1 + sp.exp(-x)), x)
    if sp.simplify(elementary(derivative) - exact) != 0:
        failures.append(f"sigma'(x) is {sp.simplify(exact)}, not {derivative}")
    s = sp.Symbol("s", positive=True)  # s = sigma(x) in (0, 1)
    peak = sp.maximum(s * (1 - s), s, sp.Interval.open(0, 1))
    at = sp.solve(sp.diff(s * (1 - s), s), s)
    if peak != sp.Rational(1, 4) or at != [sp.S.Half]:
        failures.append(f"max s(1 - s) on (0, 1) is {peak} at {at}, not 1/4 at 1/2")
    if not _product_form_holds():
        failures.append("the Jacobian of the explicit network differs from the product form")
    worst, norms = _random_networks()
    if worst > 1 + 1e-12:
        failures.append(f"a random network exceeds the bound (ratio {worst:.3g})")
    ok = not failures
    summary = (
        f"{'proved' if ok else 'FAILED'}: max sigma' = 1/4, bound 4^-(L-i+1) prod ||A_k||; "
        f"{NETWORKS * len(DEPTHS)} random nets within it (largest ratio {worst:.2f})"
    )
    layers, width = EXPLICIT
    blocks = [
        *document_head(title, source, notes),
        Block("heading2", "The derivative of the sigmoid"),
        Block(
            "math",
            [
                (r"\sigma'(x)", tex(derivative)),
                ("", r"\sigma(x)\left(1 - \sigma(x)\right) \quad \text{(SymPy: the difference simplifies to 0)}"),
                (r"\max_{0 < s < 1} s (1 - s)", tex(peak) + r" \quad \text{at } s = " + tex(at[0] if at else 0)),
            ],
        ),
        Block(
            "text",
            "So $0 < \\sigma'(\\tilde y) \\le 1/4$ everywhere, with equality only at $\\tilde y = 0$, and "
            "$\\lVert D_\\ell \\rVert_2 = \\max_j \\sigma'(\\tilde y_{\\ell j}) \\le 1/4$.",
        ),
        Block("heading2", "The bound"),
        Block(
            "text",
            "By the chain rule, with $D_\\ell = \\operatorname{diag}(\\sigma'(\\tilde y_\\ell))$ "
            f"(SymPy checks this product against the entrywise Jacobian of an explicit {layers}-layer network of "
            f"width {width}):",
        ),
        Block(
            "math",
            [
                (r"\frac{\partial y_L}{\partial b_i}", r"D_L A_L \, D_{L-1} A_{L-1} \cdots D_{i+1} A_{i+1} \, D_i"),
                (
                    r"\left\lVert \frac{\partial y_L}{\partial b_i} \right\rVert_2",
                    r"\le \prod_{k=i}^{L} \lVert D_k \rVert_2 \prod_{k=i+1}^{L} \lVert A_k \rVert_2"
                    r" \le 4^{-(L-i+1)} \prod_{k=i+1}^{L} \lVert A_k \rVert_2",
                ),
            ],
        ),
        Block(
            "text",
            "The gradient reaching layer $i$ shrinks by at least a factor 4 per layer above it unless the weights "
            "grow to compensate ($\\lVert A_k \\rVert_2 > 4$); saturated units ($|\\tilde y| \\to \\infty$, "
            "$\\sigma' \\to 0$) make it smaller still, as the seed argues.",
        ),
        Block("heading2", "Numeric confirmation"),
        Block(
            "text",
            f"{NETWORKS} random networks of width {WIDTH} at each depth $L$ = {DEPTHS.start}, ..., {DEPTHS.stop - 1} "
            "(weights $N(0, 4/d)$, biases $N(0, 1)$, input $N(0, 1)$): every $\\lVert \\partial y_L / \\partial b_i "
            "\\rVert_2$, from torch's Jacobian, is at most the bound. The figure shows one network of depth 20.",
        ),
        Block("figure", Figure("vanishing_gradients.png", "gradient norms and the bound, depth 20", _plot(norms))),
    ]
    return ProofResult(ok, summary, blocks, failures)


def _product_form_holds() -> bool:
    """SymPy: the entrywise Jacobian d y_L / d b_1 of an explicit network equals the product of D_l A_l."""
    layers, width = EXPLICIT
    x = sp.Matrix(sp.symbols(f"x0:{width}", real=True))
    sigma = sp.Function("sigma")
    y, pre, weights, biases = x, [], [], []
    for layer in range(layers):
        a = sp.Matrix(width, width, sp.symbols(f"a{layer}_0:{width * width}", real=True))
        b = sp.Matrix(sp.symbols(f"b{layer}_0:{width}", real=True))
        weights.append(a)
        biases.append(b)
        pre.append(a * y + b)
        y = pre[-1].applyfunc(sigma)
    jacobian = y.jacobian(biases[0])
    u = sp.Symbol("u")

    def d(layer):  # D_l = diag(sigma'(pre-activation of layer l))
        return sp.diag(*[sp.diff(sigma(u), u).subs(u, v) for v in pre[layer]])

    product = d(layers - 1)
    for layer in range(layers - 1, 0, -1):
        product = product * weights[layer] * d(layer - 1)
    return (jacobian - product).applyfunc(sp.expand) == sp.zeros(width, width)


def _random_networks() -> tuple[float, list]:
    """The largest norm / bound ratio over random networks, and one depth-20 network's (norms, bounds) by layer."""
    import torch

    rng = np.random.default_rng(SEED)
    worst, example = 0.0, []
    for depth in DEPTHS:
        for net in range(NETWORKS):
            weights = [rng.normal(scale=2 / np.sqrt(WIDTH), size=(WIDTH, WIDTH)) for _ in range(depth)]
            biases = [torch.tensor(rng.normal(size=WIDTH)) for _ in range(depth)]
            x = torch.tensor(rng.normal(size=WIDTH))

            def output(*bs):
                y = x
                for a, b in zip(weights, bs):
                    y = torch.sigmoid(torch.tensor(a) @ y + b)
                return y

            jacobians = torch.autograd.functional.jacobian(output, tuple(biases))
            spectral = [np.linalg.norm(a, 2) for a in weights]
            rows = []
            for i, jac in enumerate(jacobians):
                norm = float(torch.linalg.matrix_norm(jac, 2))
                bound = 4.0 ** -(depth - i) * float(np.prod(spectral[i + 1 :]))
                worst = max(worst, norm / bound)
                rows.append((i + 1, norm, bound))
            if depth == DEPTHS.stop - 1 and net == 0:
                example = rows
    return worst, example


def _plot(rows: list) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layer, norm, bound = zip(*rows)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.semilogy(layer, norm, marker="o", label="||dy_L/db_i|| (torch)")
    ax.semilogy(layer, bound, marker="s", linestyle="--", label="bound 4^-(L-i+1) prod ||A_k||")
    ax.set_xlabel("layer i (L = 20)")
    ax.set_ylabel("spectral norm")
    ax.set_title("Vanishing gradients in a sigmoid MLP")
    ax.legend()
    fig.tight_layout()
    return png(fig)
