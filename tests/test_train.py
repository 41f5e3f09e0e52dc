"""Short versions of the six training runs: generated backward code trains exactly as torch autograd does."""

import pytest
import torch

from symdiff import train
from symdiff.errors import SymdiffError
from symdiff.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cache = {}

    def get(name, dtype="float64", device="cpu"):
        if (name, dtype, device) not in cache:
            cache[name, dtype, device] = train.run(name, device, quick=True, dtype=dtype, out=out, progress=False)
        return cache[name, dtype, device]

    return get


@pytest.mark.parametrize("name", list(train.RUNS))
def test_float64_runs_agree_to_1e_9(name, runs):
    run = runs(name)
    assert run.ok, run.summary()
    for label in run.curves:
        assert run.loss_difference(label) < 1e-9 and run.parameters[label] < 1e-9, run.summary()
        losses = run.curves[label][0]
        assert len(losses) >= 5 and min(losses[-3:]) < losses[0], f"{name} {label} did not train: {losses}"
    assert all(path.stat().st_size > 10_000 for path in run.saved), run.saved


def test_sigmoid_mlp_reproduces_the_seed_values(runs):
    checks = runs("sigmoid-mlp").checks
    assert checks["A1 grad vs the values printed in seed 004 (rel)"][0] < 5e-4
    assert checks["A1 grad vs autograd, float32 (rel)"][0] < 1e-5


def test_classifiers_learn(runs):
    facts = runs("numpy-mlp").facts
    assert float(facts["test accuracy, relu"].split()[0]) > 0.6
    assert float(facts["test accuracy, leaky relu"].split()[0]) > 0.6
    bn = runs("batchnorm-mlp").facts
    assert bn["test accuracy, generated"] == bn["test accuracy, nn.BatchNorm1d"]
    assert float(bn["test accuracy, generated"].split()[0]) > 0.8


def test_autoencoder_reports_timing_and_the_pca_figure(runs):
    run = runs("autoencoder")
    # a quick run has 1 timed epoch per side after the warm-up: too few to report a time
    assert run.facts["time per epoch on cpu"].startswith("not measured: 1 timed epoch(s) per side, too few")
    share = float(run.facts["variance explained by 3 principal components of the codes"].rstrip("%"))
    assert 0 < share <= 100
    assert any(p.name == "autoencoder_codes.png" for p in run.saved)


def test_ddp_all_reduced_gradients_agree(runs):
    value, tolerance = runs("ddp").checks["all-reduced gradients, max rel difference over steps"]
    assert value < tolerance == 1e-9


def test_float32_agrees_within_its_stated_tolerance(runs):
    run = runs("batchnorm-mlp", "float32")
    assert run.tolerance == 1e-3 and run.ok, run.summary()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_runs_agree_with_autograd_and_with_the_cpu(runs):
    on_cuda, on_cpu = runs("batchnorm-mlp", device="cuda"), runs("batchnorm-mlp")
    assert on_cuda.ok, on_cuda.summary()
    a, b = on_cuda.curves["MLP with batchnorm"][1], on_cpu.curves["MLP with batchnorm"][1]
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-9


def test_train_command(tmp_path, capsys):
    assert main(["train", "sigmoid-mlp", "--quick", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().endswith("AGREE")
    assert (tmp_path / "sigmoid-mlp.png").is_file()
    if not torch.cuda.is_available():
        assert main(["train", "sigmoid-mlp", "--quick", "--device", "cuda", "--out", str(tmp_path)]) == 2
        assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
@pytest.mark.parametrize("name", ["linear-regression", "sigmoid-mlp", "autoencoder"])
def test_derived_optimizers_match_torch_optim(name, optimizer):
    """symdiff's update, evaluated from the proved forms, against torch.optim.SGD on the same run, within what
    README says of the quick runs."""
    import re
    from pathlib import Path

    result = train.run(name, "cpu", quick=True, progress=False, optimizer=optimizer)
    assert result.ok, result.summary()
    assert optimizer in result.title
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8").split())
    loss, parameters = map(
        float, re.search(r"quick runs: per-step loss within (\S+), parameters within (\S+),", readme).groups()
    )
    # README quotes the largest of these six runs, to 3 digits
    assert max(map(result.loss_difference, result.curves)) <= loss * 1.005
    assert max(result.parameters.values()) <= parameters * 1.005


def test_a_wrong_update_form_disagrees_with_torch_optim(monkeypatch):
    from dataclasses import replace

    from symdiff.train import optimizers

    spec = optimizers.load_proof("004_momentum_forms")
    wrong = replace(spec, forms={**spec.forms, "form_2_velocity": "g + beta * beta * v"})
    monkeypatch.setattr(optimizers, "load_proof", lambda name: wrong)
    result = train.run("linear-regression", "cpu", quick=True, progress=False, optimizer="momentum")
    assert not result.ok


def test_an_optimizer_only_where_a_run_takes_one():
    with pytest.raises(SymdiffError, match="--optimizer"):
        train.run("numpy-mlp", "cpu", quick=True, progress=False, optimizer="momentum")


def test_timed_epochs_alternate_after_a_warm_up_each():
    """Both sides warm up, then alternate epoch by epoch (each round in the other order); only later epochs are
    timed, and too few of them report no time."""
    from symdiff.train.runs import _alternating_epochs, _epoch_times

    calls = []

    def side(name):
        def step(parameters, batch):
            calls.append(name)
            return 0.0, {"W": torch.zeros(1)}

        return step, None

    init = {"W": torch.zeros(1)}
    results = _alternating_epochs({"a": side("a"), "g": side("g")}, init, [[0]] * 4, 0.1, False)
    assert calls == ["a", "g", "g", "a", "a", "g", "g", "a"]
    assert [len(times) for _, _, times in results.values()] == [3, 3]
    assert _epoch_times([0.1] * 3, [0.2] * 3).startswith("not measured: 3 timed epoch(s)")
    assert _epoch_times([0.1] * 5, [0.2] * 5) == (
        "autograd 100.0 ms, generated 200.0 ms (median of 5 alternating epochs each, after a warm-up epoch)"
    )


def _readme_training_table() -> dict:
    """README's table of training runs: name -> (what, agreement)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Training runs") :]
    section = section[: section.index("\n## ")]
    return {
        name: (what, agreement)
        for name, what, agreement in re.findall(r"^\| `([a-z-]+)` \| (.*) \| (.*) \|$", section, re.M)
    }


def _agreement(run) -> str:
    loss = max(run.loss_difference(label) for label in run.curves)
    return f"loss {loss:.2e}, parameters {max(run.parameters.values()):.2e}"


def _percent(fact: str) -> str:
    return f"{100 * float(fact.split()[0]):.1f}"


def test_readme_quotes_what_the_training_runs_print(runs, tmp_path):
    """Each figure of README's training table is what the run prints (full runs: seconds each; ddp: quick)."""
    import re

    table = _readme_training_table()
    assert set(table) == set(train.RUNS)
    printed = {}
    full = ["linear-regression", "sigmoid-mlp", "numpy-mlp", "batchnorm-mlp", "autoencoder", "newton-cg"]
    for name in full + ["gaussian-covariance"]:
        printed[name] = run = train.run(name, "cpu", quick=False, dtype="float64", out=tmp_path, progress=False)
        assert table[name][1] == _agreement(run), name
    facts = printed["linear-regression"].facts
    gd, sgd = (
        float(facts[f"loss on all data after 30 epochs, {k}"]) for k in ("all data (GD)", "mini-batch of 30 (SGD)")
    )
    assert f"the loss ends at {gd:.3f} (GD) and {sgd:.3f} (SGD)" in table["linear-regression"][0]
    seed = printed["sigmoid-mlp"].checks["A1 grad vs the values printed in seed 004 (rel)"][0]
    assert f"(rel. {seed:.1e} at the seed's 5 digits)" in table["sigmoid-mlp"][0]
    facts = printed["numpy-mlp"].facts
    accuracies = " / ".join(_percent(facts[f"test accuracy, {k}"]) for k in ("sigmoid", "relu", "leaky relu"))
    assert f"reach {accuracies} % test accuracy" in table["numpy-mlp"][0]
    facts = printed["batchnorm-mlp"].facts
    assert facts["test accuracy, generated"] == facts["test accuracy, nn.BatchNorm1d"]
    assert f"({_percent(facts['test accuracy, generated'])} % both)" in table["batchnorm-mlp"][0]
    facts = printed["newton-cg"].facts
    steps = r"after (\d+) Newton steps, (\d+) curvature products"
    newton = re.search(steps, facts["logistic: Newton-CG, generated HVP"]).groups()
    descent = next(v for k, v in facts.items() if k.startswith("logistic: gradient descent"))
    descent = re.search(r"target reached after (\d+) steps", descent).group(1)
    gauss_newton = re.search(steps, facts["least squares: Gauss-Newton-CG, generated GNVP"]).groups()
    what = table["newton-cg"][0]
    assert f"optimum's loss in {newton[0]} steps ({newton[1]} HVPs), gradient descent at 1/L in {descent}" in what
    assert f"in {gauss_newton[0]} steps ({gauss_newton[1]} GNVPs)" in what
    facts, what = printed["gaussian-covariance"].facts, table["gaussian-covariance"][0]
    distances = [float(facts[f"{k}: distance to the closed form after 400 steps (max rel)"]) for k in ("covariance", "precision")]
    assert "they end within {:.2e} and {:.2e} of the closed forms".format(*distances) in what
    drift = facts["covariance, Sigma declared general: max |Sigma - Sigma^T| after 1, 10, 50, 400 steps"].split(", ")
    assert f"(asymmetry {drift[-1]} after 400)" in what
    reduced = runs("ddp").checks["all-reduced gradients, max rel difference over steps"][0]
    assert table["ddp"][1] == f"all-reduced gradients {reduced:.2e} (`--quick`)"


@pytest.mark.parametrize("name", train.WITH_SHARPNESS)
def test_sharpness_runs_agree_with_autograd_and_eigvalsh(name, tmp_path):
    """lambda_max by power iteration on the emitted HVP: against autograd's double backward and eigvalsh."""
    run = train.run(name, "cpu", quick=True, progress=False, sharpness=True, out=tmp_path)
    assert run.ok, run.summary()
    eigvalsh = [k for k in run.checks if "eigvalsh" in k]
    assert eigvalsh and all(run.checks[k][0] < 1e-6 for k in eigvalsh), run.summary()
    assert any("autograd" in k and "double backward" in k for k in run.checks), run.summary()
    if name == "linear-regression":  # seed 003: below 2 / lambda_max converges, above diverges
        (below, _), (above, _) = run.curves.values()
        assert below[-1] < 0.6 * below[0] and above[-1] > 1e3 * above[0], run.summary()
    else:
        assert (tmp_path / f"{name}-sharpness_lambda_max.png").stat().st_size > 10_000
    assert not (tmp_path / f"{name}.png").exists()  # the plain run's figure is not overwritten


def test_power_iteration_finds_the_eigenvalue_of_largest_magnitude():
    from symdiff.train.curvature import power_iteration

    rng = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=rng, dtype=torch.float64))
    H = Q @ torch.diag(torch.tensor([-9.0, 5, 3, 2, 1, 0.5, 0.1, -1], dtype=torch.float64)) @ Q.T
    estimate, iterations = power_iteration(lambda v: {"x": H @ v["x"]}, {"x": torch.zeros(8, 1, dtype=torch.float64)})
    assert abs(estimate + 9) < 1e-8 and iterations < 300


def test_sharpness_only_where_a_run_has_it():
    with pytest.raises(SymdiffError, match="--sharpness"):
        train.run("numpy-mlp", "cpu", quick=True, progress=False, sharpness=True)
    with pytest.raises(SymdiffError, match="--sharpness"):
        train.run("sigmoid-mlp", "cpu", quick=True, progress=False, sharpness=True, optimizer="momentum")


def test_newton_cg_on_the_emitted_curvature_takes_the_same_steps_as_autograd(runs):
    run = runs("newton-cg")
    assert run.ok, run.summary()
    for label in ("logistic: Newton-CG", "least squares: Gauss-Newton-CG"):
        assert run.loss_difference(label) < 1e-12 and run.parameters[label] < 1e-12, run.summary()
    newton = run.curves["logistic: Newton-CG"][1]
    descent = next(losses for label, (_, losses) in run.curves.items() if "logistic: gradient descent" in label)
    assert newton[-1] < descent[-1] - 1e-4  # 8 Newton steps beat 300 gradient steps
    assert any(path.name == "newton-cg_least_squares.png" for path in run.saved)


def test_conjugate_gradient_solves_a_positive_definite_system():
    from symdiff.train.newton import conjugate_gradient

    rng = torch.Generator().manual_seed(2)
    A = torch.randn(12, 12, generator=rng, dtype=torch.float64)
    H, b = A @ A.T + torch.eye(12, dtype=torch.float64), torch.randn(12, 1, generator=rng, dtype=torch.float64)
    x, iterations = conjugate_gradient(lambda v: {"x": H @ v["x"]}, {"x": b}, 1e-12)
    assert torch.allclose(x["x"], torch.linalg.solve(H, b), atol=1e-10) and iterations <= 13


def test_gaussian_covariance_keeps_the_structure_and_agrees_with_the_parametrization(tmp_path):
    """Structured gradient steps (generated) against autograd through torch.nn.utils.parametrize: the same steps,
    exactly symmetric matrices; the general gradient's steps leave the symmetric matrices."""
    run = train.run("gaussian-covariance", "cpu", quick=True, progress=False, out=tmp_path)
    assert run.ok, run.summary()
    exact = [k for k in run.checks if "(exactly 0)" in k]
    assert len(exact) == 2 and all(run.checks[k][0] == 0.0 for k in exact)
    drift = run.facts["covariance, Sigma declared general: max |Sigma - Sigma^T| after 1, 10, 50, 60 steps"]
    assert float(drift.split(", ")[-1]) > 1e-8, drift
    assert (tmp_path / "gaussian-covariance_matrices.png").stat().st_size > 10_000
