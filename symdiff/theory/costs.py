r"""Layer costs (seed 004, problem 5): parameters and operations of a $k \times k$ convolution, and the seed's
two models.

A $k \times k$ convolution from $C_{in}$ to $C_{out}$ channels on an $H \times W$ map (stride 1, padded to keep the
size) has, for each output position and channel, $k^2 C_{in}$ products and as many additions (their sum and the
bias), and one activation. SymPy sums these over the output and the spec's stated formulas must equal the sums;
the two models of the seed then follow, and their totals are checked against the seed's figures.
"""

from __future__ import annotations

import sympy as sp

from ..latex.document import Block
from ..printing import LatexPrinter
from . import ProofResult, document_head, parse_form

NAMES = ("k", "c_in", "c_out", "h", "w")
SYMBOLS = {n: sp.Symbol(n, integer=True, positive=True) for n in NAMES}
TEX = {"c_in": "C_{in}", "c_out": "C_{out}", "h": "H", "w": "W"}
COUNTS = ("parameters", "multiplications", "additions", "activations")


def _derived() -> dict:
    """The counts summed by SymPy over the kernel, the input channels and the output."""
    k, c_in, c_out, h, w = (SYMBOLS[n] for n in NAMES)
    i, j, c, o, y, x = sp.symbols("i j c o y x", integer=True)
    kernel = ((i, 1, k), (j, 1, k), (c, 1, c_in))
    output = ((y, 1, h), (x, 1, w), (o, 1, c_out))
    per_output = sp.summation(1, *kernel)  # one product per kernel entry and input channel
    # adding k^2 c_in products takes k^2 c_in - 1 additions, and the bias one more
    return {
        "parameters": sp.summation(sp.summation(1, *kernel) + 1, (o, 1, c_out)),
        "multiplications": sp.summation(per_output, *output),
        "additions": sp.summation(per_output - 1 + 1, *output),
        "activations": sp.summation(1, *output),
    }


def conv_costs(forms: dict, title: str = "", source: str = "", notes: str = "", models: dict | None = None):
    tex = LatexPrinter({SYMBOLS[n]: t for n, t in TEX.items()}).doprint
    failures = []
    stated = {name: parse_form(forms, name, SYMBOLS) for name in COUNTS}
    derived = _derived()
    for name in COUNTS:
        if sp.expand(stated[name] - derived[name]) != 0:
            failures.append(f"{name}: the spec states {stated[name]}, the sum is {derived[name]}")
    rows = [("Model", "Layer", "Parameters", "Multiplications", "Additions", "Activations")]
    totals = {}
    for model, spec in (models or {}).items():
        total = dict.fromkeys(COUNTS, 0)
        for k, c_in, c_out, copies in spec["layers"]:
            values = {SYMBOLS["k"]: k, SYMBOLS["c_in"]: c_in, SYMBOLS["c_out"]: c_out}
            values |= {SYMBOLS["h"]: spec["size"], SYMBOLS["w"]: spec["size"]}
            counts = {name: int(derived[name].xreplace(values)) * copies for name in COUNTS}
            for name in COUNTS:
                total[name] += counts[name]
            times = f" x {copies}" if copies > 1 else ""
            layer = f"{k} x {k}, {c_in} -> {c_out}{times}"
            rows.append((model, layer, *(f"{counts[n]:,}" for n in COUNTS)))
        rows.append((model, "total", *(f"{total[n]:,}" for n in COUNTS)))
        totals[model] = total
        seed = dict(zip(COUNTS, spec["seed"]))
        failures += [
            f"model {model} {n}: {total[n]:,}, the seed says {seed[n]:,}" for n in COUNTS if total[n] != seed[n]
        ]
    ok = not failures
    shown = "; ".join(f"{m}: {t['parameters']:,} params" for m, t in totals.items())
    summary = f"{'proved' if ok else 'FAILED'}: 4 counts summed by SymPy; {shown} (as the seed)"
    blocks = [
        *document_head(title, source, notes),
        Block("heading2", "One convolution"),
        Block(
            "text",
            "A $k \\times k$ convolution from $C_{in}$ to $C_{out}$ channels on an $H \\times W$ map computes, at "
            "each of the $H W C_{out}$ outputs, $k^2 C_{in}$ products, adds them up and adds the bias "
            "($k^2 C_{in}$ additions), and applies the activation once. Summed by SymPy:",
        ),
        Block("math", [(rf"\text{{{name}}}", tex(derived[name])) for name in COUNTS]),
        Block("text", "The spec's formulas equal these sums (SymPy expands each difference to 0)."),
        Block("heading2", "The seed's two models"),
        Block("text", "On a $32 \\times 32$ map, layer by layer and in total; the totals are the seed's figures:"),
        Block("table", rows),
    ]
    return ProofResult(ok, summary, blocks, failures)
