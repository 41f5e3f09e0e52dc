"""Integers beyond 2**53 (1e20 as typed) print as floats: generated code computes in float64, and torch
refuses a Python int beyond int64."""

import pytest

import symdiff as sd
from symdiff import codegen
from symdiff.cli import main
from symdiff.printing import latex, text


def test_a_large_typed_float_runs_and_checks(capsys):
    """The forward printed 100000000000000000000, torch raised OverflowError inside it; then finite differences,
    which cannot see sum(tanh(X)) beside 1e20 in float64, failed a right gradient."""
    assert main(["check", "1e20 + sum(tanh(X))", "--shape", "X=2,2", "--wrt", "X"]) == 0
    out = capsys.readouterr().out
    assert "SKIP  d/dX vs finite differences" in out and "PASS  d/dX vs torch autograd" in out


@pytest.mark.parametrize("backend", codegen.BACKENDS)
def test_large_integers_print_as_floats(backend):
    X = sd.matrix("X", 2, 2)
    d = sd.derive(sd.parse("1e20 + 3e25 * sum(X) + 123456789012345678901234 * sum(X)", X=X), [X])
    source = codegen.emit(d, backend)
    assert "1e20" in source and "100000000000000000000" not in source
    assert "123456789012345678901234" not in source.split('"""')[-1]  # outside the title


def test_text_and_latex_keep_large_integers_readable_and_exact():
    assert text(sd.parse("1e20")) == "1e+20" and latex(sd.parse("1e20")) == "10^{20}"
    assert text(sd.parse("123456789012345678901234")) == "123456789012345678901234"  # parses back exactly
    assert text(sd.parse("12")) == "12"
