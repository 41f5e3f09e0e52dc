"""What README.md quotes from deterministic commands is what they print: console sessions, the Python
example, the catalog's FLOPs, quoted generated code and the limits it states. (The training table is tested in
test_train.py, the proofs' table in test_theory.py and the emitted module in test_cli.py, beside the runs
those files already make; timings are from runs and README says so.)"""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from symdiff import catalog
from symdiff.cli import _flops, main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _sessions() -> list:
    """(command, the output README shows) for each ``$ symdiff ...`` line of a console block that shows output."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for command, output in re.findall(r"^\$ symdiff (.*)\n((?:(?!\$ ).*\n)*)", block, re.M):
            if output:
                found.append((command, output))
    return found


@pytest.mark.parametrize("command, shown", _sessions(), ids=lambda v: v.split()[0] if " " in v else None)
def test_console_sessions_show_what_the_commands_print(command, shown):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(shlex.split(command))
    assert out.getvalue() == shown


def test_the_console_sessions_are_found():
    assert [command.split()[:2] for command, _ in _sessions()] == [
        ["derive", '"sum((X'],
        ["check", "002_batchnorm"],
        ["derive", '"sum(softplus(X'],
        ["check", '"sum(tanh(X'],
        ["check", '"sum((tanh(X'],
        ["derive", '"logdet(S)'],
        ["derive", '"logdet(S)'],
        ["check", '"logdet(S)'],
    ]


def test_the_python_example_runs_as_written(capsys):
    """Run as a user would paste it; what its comments say it gives is what it gives."""
    code = re.search(r"### From Python\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (README's own example)
    assert capsys.readouterr().out.rstrip().endswith("PASS")
    sd, sympy, g, at, values = (namespace[k] for k in ("sd", "sympy", "g", "at", "values"))
    line = next(line for line in code.splitlines() if ".doit()" in line)
    quoted = line.split("# numbers: ")[1]
    numbers = g.subs(at).subs({m.subs(at): v for m, v in values.items()}).doit()
    assert str(numbers) == quoted
    quoted_text = re.search(r"sd.text\(sd.grad\(loss, \"W\"\)\)\s+# '([^']*)'", code).group(1)
    assert sd.text(sd.grad(namespace["loss"], "W")) == quoted_text


def test_the_catalog_flops_readme_quotes():
    quoted = re.findall(r"(linear regression|attention|batchnorm) `([^`]*)`", " ".join(README.split()))
    specs = {
        "linear regression": "000_linear_regression_batch",
        "attention": "006_attention",
        "batchnorm": "002_batchnorm",
    }
    assert len(quoted) == 3
    for what, flops in quoted:
        assert _flops(catalog.load(specs[what]).derive()) == flops, what


def test_the_quoted_batchnorm_numpy_backward_is_the_generated_one():
    from symdiff.target import spec_module

    spec = catalog.load("002_batchnorm")
    source = spec_module(spec, spec.derive(), "numpy")
    quoted = re.search(r"numpy:\n\n  ```python\n(.*?)  ```", README, re.S).group(1)
    lines = [line.strip() for line in quoted.splitlines()]
    generated = [line.strip() for line in source.splitlines()]
    start = generated.index(lines[0])
    assert generated[start : start + len(lines)] == lines


def test_the_limits_readme_states_are_the_codes():
    import importlib

    from symdiff.bench import QUICK_ROUNDS, ROUNDS

    limits, exact, gradcheck = map(
        importlib.import_module, ["symdiff.limits", "symdiff.verify.exact", "symdiff.verify.gradcheck"]
    )

    text = " ".join(README.split())
    assert f"{limits.MAX_CHARS:,} characters, {limits.MAX_OPERATIONS:,} operations" in text
    assert (
        f"{limits.MAX_DEPTH} levels of operations" in text
        and f"-{limits.MAX_EXPONENT:,}..{limits.MAX_EXPONENT:,}" in text
    )
    assert f"more than {exact.SIMPLIFY_LIMIT} distinct subexpressions" in text
    assert f"{exact.SIMPLIFY_BUDGET:g} seconds in all" in text and f"{exact.DIGITS}-digit agreement" in text
    assert f"up to {gradcheck.ENTRYWISE_LIMIT:,} entries; beyond that along {gradcheck.DIRECTIONS} random" in text
    assert f"median of {ROUNDS} rounds" in text and f"{QUICK_ROUNDS} rounds" in text
    assert f"the whole catalog ({len(catalog.names())} specs)" in text
