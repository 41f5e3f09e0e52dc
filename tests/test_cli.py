"""The command line, run as a user would."""

import subprocess
import sys

from conftest import LINEAR_MSE_ARGS

from symdiff.cli import main


def test_derive_an_expression(capsys):
    code = main(
        [
            "derive",
            *LINEAR_MSE_ARGS,
            "--wrt",
            "W",
            "b",
            "--check",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "df/dW = 2/q * X.T @ (X @ W + b - Y)    [n x p]" in out
    assert "df/db = 2/q * sum(X @ W + b - Y, axis=0)    [1 x p]" in out
    assert out.count("exact check: proved") == 2


def test_derive_a_spec(capsys):
    assert main(["derive", "002_softmax_cross_entropy"]) == 0
    assert "dL/dz = sum(t, axis=0) * s - t" in capsys.readouterr().out


def test_errors_are_reported_not_raised(capsys):
    assert main(["derive", "X @ X", "--shape", "X=q,n", "--wrt", "X"]) == 2
    assert "do not align" in capsys.readouterr().err
    assert main(["derive", "sum(X)", "--shape", "X=q,n"]) == 2
    assert "--wrt" in capsys.readouterr().err


def test_catalog_subset_exits_zero(capsys):
    assert main(["catalog", "--only", "001_relu", "003_softmax"]) == 0
    out = capsys.readouterr().out
    assert "001_relu" in out and "step(X) * G" in out and "all exact checks passed" in out


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "symdiff.cli", "derive", "trace(A @ A)", "--shape", "A=n,n", "--wrt", "A"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2 * A.T" in result.stdout


def test_example_script_runs():
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "linear_regression.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert "dC/dW = 2/q * X.T @ (Yhat - Y) = 2/q * X.T @ (X @ W + b - Y)" in result.stdout


def test_generated_code_example_runs():
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "generated_gradient_descent.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert "max distance to least squares" in result.stdout
