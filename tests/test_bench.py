"""symdiff bench: it runs from the command line, reports ratios measured in one run, and flags a contender
whose gradients differ from autograd's. (Timings are reported, never asserted.)"""

import json

import torch

from symdiff import bench, catalog
from symdiff.bench import cases, catalog_timing, scaling
from symdiff.cli import main


def test_bench_quick_writes_a_report_and_a_figure(tmp_path, capsys):
    argv = ["bench", "--quick", "--cases", "softmax_cross_entropy", "depth", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    case = report["cases"]["softmax_cross_entropy"]
    assert set(case["median_ms"]) == {"generated torch", "generated numpy", "autograd", "fused", "hand"}
    assert (
        case["ratio_to_reference"]["autograd"] == 1.0
        and case["reference"] == "autograd"
        and all(case["agrees"].values())
    )
    assert case["floor_ms"] > 0 and case["floor_from"] == "copy"  # no matrix product in it
    assert case["targets"] == []  # 5 rounds at small sizes: times, no verdicts
    assert set(case["floor_parts_ms"]) == {"matmul", "copy"} and case["floor_parts_ms"]["matmul"] == 0.0
    assert list(report["scaling"]["depth"]) == ["1", "2", "4", "8"]
    assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG")
    out = capsys.readouterr().out
    assert "x autograd" in out and "x floor" in out and "L =   8" in out
    assert "target:" not in out and "no targets judged" in out
    assert "derive_emit" not in report and "second-order catalog" not in out  # no second-order case chosen


def test_a_contender_with_wrong_gradients_is_flagged(monkeypatch):
    def softmax_off_by_a_little(sizes, dtype, device, compile_):
        case = cases.softmax_cross_entropy(sizes, dtype, device, compile_)
        right = case.contenders["generated torch"]
        case.contenders["generated torch"] = lambda: [g * 1.01 for g in right()]
        return case

    monkeypatch.setitem(cases.CASES, "softmax_cross_entropy", softmax_off_by_a_little)
    case = bench._time_case("softmax_cross_entropy", True, "float64", "cpu")
    assert not case["agrees"]["generated torch"] and case["agrees"]["hand"]
    assert abs(case["agreement"]["generated torch"] - 0.01) < 0.005


def test_every_case_agrees_in_float64():
    """First order against autograd; second order (Hessians, HVPs) against torch.func."""
    sizes = bench.all_sizes()
    for name, build in bench.all_cases().items():
        case = build(sizes[name]["quick"], torch.float64, "cpu", compile_=False)
        contenders = case.contenders
        reference = contenders[case.reference]()
        for contender, run in contenders.items():
            for got, want in zip(run(), reference):
                torch.testing.assert_close(got.double().reshape(want.shape), want, rtol=1e-9, atol=1e-12)


def test_scaling_measurements_run():
    depth = scaling.depth((1, 3))
    assert set(depth) == {1, 3} and all(t["derive"] > 0 and t["emit"] > 0 for t in depth.values())
    checks = scaling.gradcheck_scaling((1000,))
    assert checks[1000]["ok"] and checks[1000]["parameters"] == 32 * 32  # the nearest square
    startup = scaling.startup(repeats=1)
    assert startup["derive"] > startup["python"] > 0


def test_the_mlp_spec_is_seed_004s_network():
    spec = scaling.mlp_spec(6)
    reference = catalog.load("004_sigmoid_mlp")
    assert spec.wrt == reference.wrt and spec.forward == reference.forward


def test_floors_are_timed_at_each_cases_own_shapes(monkeypatch):
    """The floor is this machine's time for the case's own products and bytes (a floor measured on 2048 x 2048
    products and a 64 MiB copy was beaten 4 times over by small quick cases, in cache)."""
    timed = []
    monkeypatch.setattr(torch, "mm", lambda a, b, out: timed.append((*a.shape, b.shape[1])))
    case = cases.linear_mse({"q": 8, "n": 4, "p": 2}, torch.float64, "cpu", compile_=False)
    parts = bench.floors(case, torch.float64, "cpu")
    assert sorted(set(timed)) == sorted([(8, 4, 2), (4, 8, 2), (8, 2, 4)]) and parts["copy"] > 0


def test_the_report_times_every_second_order_catalog_entry():
    """A second-order case brings the derive + emit time of every catalog spec of kind "hessian" or "hvp", in the
    report, its table and its Markdown."""
    report = bench.run(quick=True, cases=["hessian_quadratic"], progress=False)
    specs = [name for name in catalog.names() if catalog.load(name).kind in ("hessian", "hvp")]
    assert specs and list(report["derive_emit"]) == specs and all(s > 0 for s in report["derive_emit"].values())
    text, markdown = bench.table(report), bench.markdown(report)
    assert "derive + emit (torch, numpy)" in text and "| second-order catalog entry" in markdown
    for name in specs:
        assert f"  {name} " in text and f"| {name} |" in markdown


def test_a_derive_emit_time_over_the_target_says_by_how_much():
    report = {"dtype": "float32", "device": "cpu", "quick": True, "cases": {}, "derive_emit": {"a": 0.5, "b": 3.0}}
    assert catalog_timing.TARGET_S == 2.0 and catalog_timing.missed_by(0.5) is None
    lines = bench.table(report).splitlines()
    assert lines[-2].split()[-1] == "met" and lines[-1].endswith("MISSED by 1.50x")
    assert bench.markdown(report).splitlines()[-1] == "| b | 3.00 | missed by 1.50x |"


def test_on_cuda_the_cases_take_the_sizes_that_fill_the_gpu():
    """Without a GPU: full runs on CUDA take each case's "cuda" sizes, at least its full ones in every dimension;
    quick runs take the quick sizes everywhere, full runs on the CPU the full ones."""
    assert bench.sizes_for("hessian_quadratic", False, "cuda") == {"n": 8192}
    assert bench.sizes_for("hessian_logistic", False, "cuda:1") == {"q": 65536, "n": 1024}
    assert bench.sizes_for("softmax_cross_entropy", False, "cpu") == {"B": 4096, "C": 1000}
    for name, sizes in bench.all_sizes().items():
        assert set(sizes) == {"full", "quick", "cuda"} and name in bench.all_cases()
        assert bench.sizes_for(name, True, "cuda") == bench.sizes_for(name, True, "cpu") == sizes["quick"]
        cuda = bench.sizes_for(name, False, "cuda")
        assert cuda == sizes["cuda"] and bench.sizes_for(name, False, "cpu") == sizes["full"]
        assert cuda.keys() == sizes["full"].keys() and all(cuda[k] >= sizes["full"][k] for k in cuda)
        assert any(cuda[k] > sizes["full"][k] for k in cuda)
