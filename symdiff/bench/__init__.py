"""``symdiff bench``: the generated backward code against torch autograd, fused kernels and hand-written forms,
and how symdiff's own work scales.

Each case runs in its own process. After a warm-up, its contenders alternate round by round (each round in a
rotated order), and the report gives each contender's median time and its ratio to autograd's median in the
same run: these machines are shared and noisy, so a ratio measured side by side means more than a bare time.
The same process times the case's own matrix products (torch.mm at their shapes) and a copy of the bytes
it must move, so each case also has a floor (the products' time or the copy's, whichever is longer) and each
time is reported as a multiple of it: measured at the case's shapes, a floor is what this machine does at
best with that work, where a rate measured on other shapes can be beaten (in cache, small products). Every contender's gradients are compared with autograd's, so a fast
wrong contender shows up. Each case has three sets of sizes (``sizes_for``): full, quick, and on CUDA sizes that
fill the GPU (small ones there time kernel launches, not the code). The scaling measurements (``scaling.py``)
and, with any second-order case, the derive + emit time of every second-order catalog entry
(``catalog_timing.py``) run in their own processes too. The report is printed as tables and written as JSON and
a figure.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

ROUNDS, QUICK_ROUNDS, WARMUP = 21, 5, 2
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}  # agreement of gradients with autograd's, relative to their size
# what the issue asked of each case: (contender, its time over the reference's at most, reference)
TARGETS = {
    "linear_mse": [("generated torch", 1.02, "autograd"), ("generated numpy", 1.1, "floor")],
    "softmax_cross_entropy": [("generated torch", 1 / 1.15, "autograd"), ("generated compiled", 0.5, "autograd")],
    "batchnorm": [("generated torch", 1 / 2.5, "autograd"), ("generated compiled", 1.5, "fused")],
    "mlp_step": [("generated torch", 1.0, "autograd")],
    # issue 21: Hessians 10x faster than torch.func.hessian and within 1.5x of the hand form; HVPs 10x faster
    # than torch.func.jvp(grad) and 2.5x faster than double backward
    **{
        name: [("generated torch", 0.1, "torch.func"), ("generated torch", 1.5, "hand")]
        for name in ("hessian_quadratic", "hessian_logsumexp", "hessian_logistic")
    },
    **{
        name: [("generated torch", 0.1, "torch.func"), ("generated torch", 1 / 2.5, "double backward")]
        for name in ("hvp_logistic", "hvp_mlp")
    },
}
SCALING = ("depth", "catalog", "startup", "gradcheck")
DERIVE_EMIT = "derive_emit"  # the step timing the second-order catalog entries' derivation and code


def _median_seconds(run, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        sync()
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def _sync(device: str):
    """What waits for ``device``'s queued work: torch.cuda.synchronize on a GPU, nothing on the CPU."""
    import torch

    return (lambda: None) if device == "cpu" else torch.cuda.synchronize


def floors(case, dtype, device: str) -> dict:
    """Seconds this machine takes, now, for the case's matrix products (each torch.mm at its shape) and for
    copying the bytes it must move (a read and a write of half of them)."""
    import torch

    sync = _sync(device)
    matmul = 0.0
    for m, k, n in case.products:
        a, b = torch.randn(m, k, dtype=dtype, device=device), torch.randn(k, n, dtype=dtype, device=device)
        product = torch.empty(m, n, dtype=dtype, device=device)
        matmul += _median_seconds(lambda: torch.mm(a, b, out=product), 5, sync)
    elements = max(1, round(case.bytes / 2 / torch.empty((), dtype=dtype).element_size()))
    source, target = (
        torch.randn(elements, dtype=dtype, device=device),
        torch.empty(elements, dtype=dtype, device=device),
    )
    return {"matmul": matmul, "copy": _median_seconds(lambda: target.copy_(source), 5, sync)}


def _time_case(name: str, quick: bool, dtype: str, device: str) -> dict:
    """One case, in this process: the contenders' medians, ratios to autograd and to the floor, and agreement."""
    import torch

    sizes = sizes_for(name, quick, device)
    kind = getattr(torch, dtype)
    built = time.perf_counter()
    case = all_cases()[name](sizes, kind, device, compile_=not quick)
    contenders, names = case.contenders, list(case.contenders)
    reference = [g.detach().double().cpu() for g in contenders[case.reference]()]
    agreement = {}
    for contender, run in contenders.items():
        grads = run()  # also the first call, which compiles the compiled contender
        scale = max(float(r.abs().max()) for r in reference)
        worst = max(
            float((g.detach().double().cpu().reshape(r.shape) - r).abs().max()) for g, r in zip(grads, reference)
        )
        agreement[contender] = worst / max(scale, 1e-30)
    setup = time.perf_counter() - built
    sync = _sync(device)
    times = {n: [] for n in names}
    rounds = QUICK_ROUNDS if quick else ROUNDS
    for r in range(WARMUP + rounds):
        for contender in names[r % len(names) :] + names[: r % len(names)]:
            sync()
            started = time.perf_counter()
            contenders[contender]()
            sync()
            if r >= WARMUP:
                times[contender].append(time.perf_counter() - started)
    medians = {n: float(np.median(t)) for n, t in times.items()}
    parts = floors(case, kind, device)
    floor = max(parts.values())
    return {
        "sizes": sizes,
        "rounds": rounds,
        "setup_s": setup,
        "median_ms": {n: m * 1e3 for n, m in medians.items()},
        "reference": case.reference,
        "ratio_to_reference": {n: m / medians[case.reference] for n, m in medians.items()},
        "notes": case.notes,
        "floor_ms": floor * 1e3,
        "floor_from": "matmul" if parts["matmul"] >= parts["copy"] else "copy",
        "floor_parts_ms": {k: v * 1e3 for k, v in parts.items()},
        "ratio_to_floor": {n: m / floor for n, m in medians.items()},
        "agreement": agreement,
        "agrees": {n: agreement[n] <= TOLERANCE[dtype] for n in names},
        "targets": [] if quick else _targets(name, medians, floor),  # 5 rounds at small sizes: times, no verdicts
    }


def _targets(name: str, medians: dict, floor: float) -> list:
    """Each target of the case: the contender's time over its reference's, the bound, and whether it is met."""
    out = []
    for contender, bound, against in TARGETS.get(name, []):
        if contender not in medians:
            continue
        ratio = medians[contender] / (floor if against == "floor" else medians[against])
        out.append(
            {"contender": contender, "against": against, "ratio": ratio, "at_most": bound, "met": ratio <= bound}
        )
    return out


def _scaling(name: str, quick: bool) -> dict:
    from . import scaling

    if name == "depth":
        return scaling.depth(scaling.QUICK_DEPTHS if quick else scaling.DEPTHS)
    if name == "catalog":
        return scaling.catalog_time()
    if name == "startup":
        return scaling.startup()
    return scaling.gradcheck_scaling(scaling.QUICK_PARAMETERS if quick else scaling.PARAMETERS)


def in_own_process(function, args: tuple):
    """``function(*args)`` in a new Python process, which then ends on its own."""
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        return pool.apply(function, args)
    finally:  # ending on its own runs the worker's finalizers; terminated (Pool's with), it leaked semaphores
        pool.close()
        pool.join()


def all_cases() -> dict:
    """The cases by name: first order (``cases``), then second order (``second_order``)."""
    from . import cases, second_order

    return {**cases.CASES, **second_order.CASES}


def all_sizes() -> dict:
    """Each case's sets of sizes by name: "full", "quick" and "cuda"."""
    from . import cases, second_order

    return {**cases.SIZES, **second_order.SIZES}


def sizes_for(name: str, quick: bool, device: str) -> dict:
    """The sizes case ``name`` runs at: its quick ones with ``quick`` (on any device), else on a CUDA device those
    that fill the GPU, else its full ones."""
    return all_sizes()[name]["quick" if quick else "cuda" if device.startswith("cuda") else "full"]


def run(quick: bool = False, dtype: str = "float32", device: str = "cpu", cases=None, progress=True) -> dict:
    """Every case and scaling measurement (or those named in ``cases``), each in a fresh process; with any
    second-order case, also the derive + emit time of every second-order catalog entry."""
    from ..progress import progress as bar
    from . import catalog_timing, second_order

    known = all_cases()
    chosen = list(cases or [*known, *SCALING])
    if quick and not cases:
        chosen.remove("catalog")  # 45 s of the minute --quick has
    if any(name in second_order.CASES for name in chosen) and DERIVE_EMIT not in chosen:
        chosen.append(DERIVE_EMIT)
    report = {"dtype": dtype, "device": device, "quick": quick, "cases": {}, "scaling": {}}
    # numpy's OpenBLAS threads spin after each call and take the cores from the torch contender that runs next:
    # measured here, generated torch went from 1.0x to 1.7x autograd behind the numpy contender. The shortest
    # spin (2^4 cycles) removes that; the case processes inherit it.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    started = time.perf_counter()
    for name in bar(chosen, "bench", progress):
        if name in known:
            report["cases"][name] = in_own_process(_time_case, (name, quick, dtype, device))
        elif name == DERIVE_EMIT:
            report[DERIVE_EMIT] = in_own_process(catalog_timing.derive_emit, ())
        else:
            report["scaling"][name] = in_own_process(_scaling, (name, quick))
    report["seconds"] = time.perf_counter() - started
    return report


def _case_table(name: str, case: dict) -> list[str]:
    sizes = ", ".join(f"{k}={v}" for k, v in case["sizes"].items())
    lines = [
        f"\n{name} ({sizes}), median of {case['rounds']} rounds; floor {case['floor_ms']:.3f} ms "
        f"({case['floor_from']}-bound):"
    ]
    reference = case["reference"]
    for contender, ms in case["median_ms"].items():
        ratio, floor = case["ratio_to_reference"][contender], case["ratio_to_floor"][contender]
        agrees = "agrees" if case["agrees"][contender] else f"DIFFERS ({case['agreement'][contender]:.1e})"
        lines.append(f"  {contender:<20} {ms:9.3f} ms   {ratio:5.2f} x {reference:<10} {floor:6.2f} x floor   {agrees}")
    lines += [f"  {note}" for note in case["notes"]]
    for t in case["targets"]:
        verdict = "met" if t["met"] else f"MISSED by {t['ratio'] / t['at_most']:.2f}x"
        lines.append(
            f"  target: {t['contender']} at most {t['at_most']:.2f} x {t['against']}: {t['ratio']:.2f}, {verdict}"
        )
    return lines


def _scaling_table(scaling: dict) -> list[str]:
    lines = []
    if "depth" in scaling:
        lines.append("\nL-layer sigmoid MLP, derive + emit (torch), seconds:")
        for layers, t in scaling["depth"].items():
            lines.append(
                f"  L = {layers:>3}: {t['derive'] + t['emit']:7.3f} (derive {t['derive']:.3f}, emit {t['emit']:.3f})"
            )
    if "catalog" in scaling:
        c = scaling["catalog"]
        lines.append(f"\ncatalog: {c['specs']} specs derived and emitted (numpy, torch) in {c['seconds']:.1f} s")
    if "startup" in scaling:
        s = scaling["startup"]
        lines.append(f"\n`{s['command']}`: {s['derive']:.2f} s wall (bare python: {s['python']:.2f} s)")
    if "gradcheck" in scaling:
        lines.append("\ngradient check (finite differences + autograd of the reference), seconds by parameter count:")
        for count, g in scaling["gradcheck"].items():
            lines.append(f"  {int(count):>9,}: {g['seconds']:7.2f}   {'PASS' if g['ok'] else 'FAIL'}   {g['method']}")
    return lines


def _derive_emit_table(seconds: dict) -> list[str]:
    """Each second-order catalog entry's derive + emit seconds and its verdict against the target, as text."""
    from .catalog_timing import TARGET_S, missed_by

    if not seconds:
        return []
    lines = [f"\nsecond-order catalog entries, derive + emit (torch, numpy), seconds (target: under {TARGET_S:g} s):"]
    for name, s in seconds.items():
        factor = missed_by(s)
        lines.append(f"  {name:<40} {s:7.2f}   {'met' if factor is None else f'MISSED by {factor:.2f}x'}")
    return lines


def table(report: dict) -> str:
    """The report as text: per case, each contender's median and its ratios; then the scaling measurements and the
    second-order catalog entries' derive + emit times."""
    lines = [f"{report['dtype']} on {report['device']}{' (quick)' if report['quick'] else ''}; ratio < 1 is faster"]
    if report["quick"]:
        lines.append(f"quick: {QUICK_ROUNDS} rounds at small sizes, times only (no targets judged on so few)")
    for name, case in report["cases"].items():
        lines += _case_table(name, case)
    lines += _scaling_table(report.get("scaling", {}))
    lines += _derive_emit_table(report.get(DERIVE_EMIT, {}))
    if "seconds" in report:
        lines.append(f"\nwhole run: {report['seconds']:.0f} s")
    return "\n".join(lines)


def figure(report: dict, path: Path) -> Path:
    """Each case's ratios to autograd as horizontal bars, and derivation time against depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = report["cases"]
    depth = report.get("scaling", {}).get("depth")
    panels = len(cases) + (1 if depth else 0)
    fig, axes = plt.subplots(panels, 1, figsize=(7, 1.6 + 1.5 * panels), squeeze=False)
    for ax, (name, case) in zip(axes[:, 0], cases.items()):
        names = list(case["ratio_to_reference"])
        colors = ["C0" if case["agrees"][n] else "C3" for n in names]
        ax.barh(names, [case["ratio_to_reference"][n] for n in names], color=colors)
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(f"{name}: time / {case['reference']}'s time (same run; red: results differ)", fontsize=9)
    if depth:
        ax = axes[-1, 0]
        layers = [int(k) for k in depth]
        ax.loglog(layers, [t["derive"] + t["emit"] for t in depth.values()], "o-", label="derive + emit")
        ax.loglog(
            layers,
            [t["derive"] + t["emit"] for t in depth.values()][-1] * np.array(layers) / layers[-1],
            ":",
            color="grey",
            label="linear in L",
        )
        ax.set_xlabel("layers L")
        ax.set_ylabel("seconds")
        ax.set_title("L-layer sigmoid MLP: derivation time", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(f"symdiff bench: {report['dtype']} on {report['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(report: dict) -> str:
    """The cases as a Markdown table: each contender's time as a multiple of autograd's and of the floor; then the
    targets and the second-order catalog entries' derive + emit times."""
    head = (
        f"{report['dtype']}, median of {next(iter(report['cases'].values()))['rounds']} rounds"
        if report["cases"]
        else ""
    )
    references = {case["reference"] for case in report["cases"].values()}
    against = next(iter(references)) if len(references) == 1 else "reference"
    lines = [f"| case ({head}) | contender | x {against} | x floor | agrees |", "|---|---|---|---|---|"]
    for name, case in report["cases"].items():
        sizes = ", ".join(f"{k} {v}" for k, v in case["sizes"].items())
        mixed = f"; x {case['reference']}" if against == "reference" else ""
        for k, contender in enumerate(case["median_ms"]):
            label = f"{name} ({sizes}); floor {case['floor_ms']:.2f} ms, {case['floor_from']}{mixed}" if k == 0 else ""
            lines.append(
                f"| {label} | {contender} | {case['ratio_to_reference'][contender]:.2f} "
                f"| {case['ratio_to_floor'][contender]:.2f} | {'yes' if case['agrees'][contender] else 'NO'} |"
            )
    targets = [(name, t) for name, case in report["cases"].items() for t in case["targets"]]
    if targets:
        lines += ["", "| target | measured | verdict |", "|---|---|---|"]
        for name, t in targets:
            verdict = "met" if t["met"] else f"missed by {t['ratio'] / t['at_most']:.2f}x"
            lines.append(
                f"| {name}: {t['contender']} at most {t['at_most']:.2f} x {t['against']} | {t['ratio']:.2f} | {verdict} |"
            )
    lines += _derive_emit_markdown(report.get(DERIVE_EMIT, {}))
    return "\n".join(lines)


def _derive_emit_markdown(seconds: dict) -> list[str]:
    """Each second-order catalog entry's derive + emit seconds and its verdict against the target, as Markdown."""
    from .catalog_timing import TARGET_S, missed_by

    if not seconds:
        return []
    head = f"| second-order catalog entry: derive + emit under {TARGET_S:g} s | seconds | verdict |"
    lines = ["", head, "|---|---|---|"]
    for name, s in seconds.items():
        factor = missed_by(s)
        lines.append(f"| {name} | {s:.2f} | {'met' if factor is None else f'missed by {factor:.2f}x'} |")
    return lines


def write(report: dict, out) -> tuple[Path, Path]:
    """bench.json, bench.md (the tables) and bench.png in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "bench.md").write_text(markdown(report) + "\n\n```\n" + table(report) + "\n```\n", encoding="utf-8")
    return out / "bench.json", figure(report, out / "bench.png")
