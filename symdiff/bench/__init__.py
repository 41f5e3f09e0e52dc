"""``symdiff bench``: the generated backward code against torch autograd, fused kernels and hand-written forms.

Each case runs in its own process. After a warm-up, its contenders alternate round by round (each round in a
rotated order), and the report gives each contender's median time and its ratio to autograd's median in the
same run: these machines are shared and noisy, so a ratio measured side by side means more than a bare time.
Every contender's gradients are compared with autograd's, so a fast wrong contender shows up. The report is
printed as a table and written as JSON and a figure.
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


def _time_case(name: str, quick: bool, dtype: str, device: str) -> dict:
    """One case, in this process: the contenders' medians, ratios to autograd, and agreement."""
    import torch

    from .cases import CASES, SIZES

    sizes = SIZES[name][1 if quick else 0]
    contenders = CASES[name](sizes, getattr(torch, dtype), device)
    names = list(contenders)
    reference = [g.detach().double().cpu() for g in contenders["autograd"]()]
    agreement = {}
    for contender, run in contenders.items():
        grads = run()
        scale = max(float(r.abs().max()) for r in reference)
        worst = max(
            float((g.detach().double().cpu().reshape(r.shape) - r).abs().max()) for g, r in zip(grads, reference)
        )
        agreement[contender] = worst / max(scale, 1e-30)
    times = {n: [] for n in names}
    rounds = QUICK_ROUNDS if quick else ROUNDS
    for r in range(WARMUP + rounds):
        for contender in names[r % len(names) :] + names[: r % len(names)]:
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            contenders[contender]()
            if device == "cuda":
                torch.cuda.synchronize()
            if r >= WARMUP:
                times[contender].append(time.perf_counter() - started)
    medians = {n: float(np.median(t)) for n, t in times.items()}
    return {
        "sizes": sizes,
        "rounds": rounds,
        "median_ms": {n: m * 1e3 for n, m in medians.items()},
        "ratio_to_autograd": {n: m / medians["autograd"] for n, m in medians.items()},
        "agreement": agreement,
        "agrees": {n: agreement[n] <= TOLERANCE[dtype] for n in names},
    }


def run(quick: bool = False, dtype: str = "float32", device: str = "cpu", cases=None, progress=True) -> dict:
    """Every case (or ``cases``), each in a fresh process; the report as a dict."""
    from tqdm.auto import tqdm

    from .cases import CASES

    chosen = list(cases or CASES)
    report = {"dtype": dtype, "device": device, "quick": quick, "cases": {}}
    # numpy's OpenBLAS threads spin after each call and take the cores from the torch contender that runs next:
    # measured here, generated torch went from 1.0x to 1.7x autograd behind the numpy contender. The shortest
    # spin (2^4 cycles) removes that; the case processes inherit it.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    context = multiprocessing.get_context("spawn")
    for name in tqdm(chosen, desc="bench", disable=not progress):
        with context.Pool(1) as pool:
            report["cases"][name] = pool.apply(_time_case, (name, quick, dtype, device))
    return report


def table(report: dict) -> str:
    """The report as text: per case, each contender's median and its ratio to autograd."""
    lines = [f"{report['dtype']} on {report['device']}{' (quick)' if report['quick'] else ''}; ratio < 1 is faster"]
    for name, case in report["cases"].items():
        sizes = ", ".join(f"{k}={v}" for k, v in case["sizes"].items())
        lines.append(f"\n{name} ({sizes}), median of {case['rounds']} rounds:")
        for contender, ms in case["median_ms"].items():
            ratio = case["ratio_to_autograd"][contender]
            agrees = "agrees" if case["agrees"][contender] else f"DIFFERS ({case['agreement'][contender]:.1e})"
            lines.append(f"  {contender:<18} {ms:9.3f} ms   {ratio:5.2f} x autograd   {agrees}")
    return "\n".join(lines)


def figure(report: dict, path: Path) -> Path:
    """Each case's ratios to autograd as horizontal bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = report["cases"]
    fig, axes = plt.subplots(len(cases), 1, figsize=(7, 1.6 + 1.2 * len(cases)), squeeze=False)
    for ax, (name, case) in zip(axes[:, 0], cases.items()):
        names = list(case["ratio_to_autograd"])
        ax.barh(names, [case["ratio_to_autograd"][n] for n in names], color="C0")
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time / autograd's time (same run)")
    fig.suptitle(f"symdiff bench: {report['dtype']} on {report['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(report: dict, out) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return out / "bench.json", figure(report, out / "bench.png")
