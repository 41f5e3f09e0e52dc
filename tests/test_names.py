"""One name, one thing: a matrix named like a dimension (or a scalar, or another matrix) is refused where it
is declared, naming both uses; generated code names values by their names."""

import pytest
import sympy as sp

import symdiff as sd
from symdiff.catalog import SpecError, load_file
from symdiff.cli import main
from symdiff.errors import InputError


@pytest.mark.parametrize("command", ["emit", "derive", "check"])
def test_a_matrix_named_like_a_dimension_is_refused_on_the_command_line(command, capsys):
    """The emitted code set B = A.shape[0] and then used B as the matrix (dA = 64, a scalar); derive --check
    said proved; check crashed with AttributeError."""
    assert main([command, "sum(A * B)", "--shape", "A=B,D", "B=B,D", "--wrt", "A"]) == 2
    err = capsys.readouterr().err
    assert "B is both a matrix (B=B,D) and a dimension (in the shape of A, B)" in err and "Traceback" not in err


def test_a_matrix_named_like_a_dimension_is_refused_in_a_spec_file(tmp_path):
    spec = tmp_path / "clash.toml"
    spec.write_text(
        'title = "t"\nsource = "s"\ndims = ["B", "D"]\nwrt = ["A"]\n'
        '[shapes]\nA = ["B", "D"]\nB = ["B", "D"]\n[forward]\nf = "sum(A * B)"\n'
    )
    with pytest.raises(SpecError, match="B is declared both as a dim and as a matrix"):
        load_file(spec)


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda B, D: sd.parse("sum(A * B)", A=sd.matrix("A", B, D), B=sd.matrix("B", B, D)),
            "a B x D matrix and a dim",
        ),
        (
            lambda B, D: sd.parse("sum(A) * D", A=sd.matrix("A", B, D), D=sd.scalar("D")),
            "a dimension .of A. and a scalar",
        ),
        (
            lambda B, D: sp.Trace(sd.matrix("X", 2, 2)) + sp.Trace(sd.matrix("X", 3, 3)),
            "a 2 x 2 matrix and a 3 x 3 matrix",
        ),
    ],
)
def test_one_name_for_two_things_is_refused_by_the_python_api(build, message):
    B, D = sd.dims("B D")
    expr = build(B, D)
    with pytest.raises(InputError, match=message):
        sd.derive(expr, [min(expr.free_symbols, key=str)])
    v = sd.matrix("v", 3, 1)
    with pytest.raises(InputError, match=message):
        sd.derive_jacobian(v * expr, [v])
