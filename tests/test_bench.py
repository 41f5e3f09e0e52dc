"""symdiff bench: it runs from the command line, reports ratios measured in one run, and flags a contender
whose gradients differ from autograd's. (Timings are reported, never asserted.)"""

import json

import torch

from symdiff import bench
from symdiff.bench import cases
from symdiff.cli import main


def test_bench_quick_writes_a_report_and_a_figure(tmp_path, capsys):
    assert main(["bench", "--quick", "--cases", "softmax_cross_entropy", "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    case = report["cases"]["softmax_cross_entropy"]
    assert set(case["median_ms"]) == {"generated torch", "autograd", "fused", "hand"}
    assert case["ratio_to_autograd"]["autograd"] == 1.0 and all(case["agrees"].values())
    assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG")
    assert "x autograd" in capsys.readouterr().out


def test_a_contender_with_wrong_gradients_is_flagged(monkeypatch):
    def softmax_off_by_a_little(sizes, dtype, device):
        contenders = cases.softmax_cross_entropy(sizes, dtype, device)
        right = contenders["generated torch"]
        contenders["generated torch"] = lambda: [g * 1.01 for g in right()]
        return contenders

    monkeypatch.setitem(cases.CASES, "softmax_cross_entropy", softmax_off_by_a_little)
    case = bench._time_case("softmax_cross_entropy", True, "float64", "cpu")
    assert not case["agrees"]["generated torch"] and case["agrees"]["hand"]
    assert abs(case["agreement"]["generated torch"] - 0.01) < 0.005


def test_every_case_agrees_in_float64():
    for name, build in cases.CASES.items():
        contenders = build(cases.SIZES[name][1], torch.float64, "cpu")
        reference = contenders["autograd"]()
        for contender, run in contenders.items():
            for got, want in zip(run(), reference):
                torch.testing.assert_close(got.double().reshape(want.shape), want, rtol=1e-9, atol=1e-12)
