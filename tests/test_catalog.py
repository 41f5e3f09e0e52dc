"""Every catalog derivation passes its exact check and agrees with its source (where the source is right)."""

import ast
from pathlib import Path

import pytest

from symdiff import catalog
from symdiff.ops import shape_text
from symdiff.verify.exact import same

SPECS = catalog.names()


def test_catalog_covers_every_source_document():
    # 000-004: the five seeds' documents; 005 and 006 go beyond them (layers, attention, second order); 007: structured
    assert {name[:3] for name in SPECS} == {"000", "001", "002", "003", "004", "005", "006", "007"}
    assert len(SPECS) >= 30


@pytest.mark.parametrize("name", SPECS)
def test_every_gradient_passes_the_exact_check(name, derived):
    spec, d, checks = derived(name)
    for w in d.wrt:
        assert checks[w].ok, f"{name} d/d{w}: {checks[w].summary()}"
        if d.kind == "gradient":  # denominator layout: a gradient has its variable's shape
            assert shape_text(d.gradients[w]) == shape_text(d.inputs[w])


@pytest.mark.parametrize("name", [n for n in SPECS if catalog.load(n).expected])
def test_closed_forms_stated_by_the_source(name, derived):
    spec, d, _ = derived(name)
    stated = spec.stated_forms(d)  # the comparison derive, check and catalog make
    assert [w for w, _, _ in stated] == list(spec.expected)
    for w, expected, result in stated:
        assert result.ok, (
            f"{name} d/d{w}: derived {d.closed_form(w)} but the spec states {expected.form}: {result.summary()}"
        )
        if expected.source_states is not None:
            assert expected.source_error, f"{name}: a mistake of the source needs an explanation"
            wrong = same(spec.parse_form(expected.source_states), d.closed_form(w), spec.size_values())
            assert not wrong.ok, f"{name} d/d{w}: the source's form {expected.source_states} is not actually wrong"


def test_known_source_mistakes_are_recorded():
    batch = catalog.load("000_linear_regression_batch").expected["b"]
    assert "sum" in batch.source_error or "sums" in batch.source_error
    assert catalog.load("002_softmax_cross_entropy").expected["z"].source_error


def test_bad_spec_is_rejected_with_its_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "t"\nsource = "s"\nwrt = ["Z"]\n[shapes]\nX = ["q", 1]\n[forward]\nL = "sum(X)"\n')
    with pytest.raises(catalog.SpecError, match="not a positive integer or a declared dim"):
        catalog.load_file(bad)
    bad.write_text(
        'title = "t"\nsource = "s"\ndims = ["q"]\nwrt = ["Z"]\n[shapes]\nX = ["q", 1]\n[forward]\nL = "sum(X)"\n'
    )
    with pytest.raises(catalog.SpecError, match="wrt 'Z' is not an input"):
        catalog.load_file(bad)
    bad.write_text(
        'title = "t"\nsource = "s"\nwrt = ["X"]\n[shapes]\nX = [2, 1]\n[forward]\nL = "sum(X)"\n'
        '[expected.X]\nform = "1"\nseed = "eq. 1"\n'
    )
    with pytest.raises(catalog.SpecError, match=r"\[expected.X\] needs a form, and only the keys form, source_ref"):
        catalog.load_file(bad)


def test_a_dim_may_take_a_constants_name_but_not_a_functions(tmp_path):
    spec = tmp_path / "embedding.toml"
    text = (
        'title = "t"\nsource = "s"\ndims = ["{}"]\nwrt = ["V"]\n[shapes]\nV = [2, "{}"]\n[forward]\nL = "sum(V) / {}"\n'
    )
    spec.write_text(text.format("e", "e", "e"))
    assert catalog.load_file(spec).derive().gradients["V"].shape == (2, catalog.load_file(spec).dims["e"])
    spec.write_text(text.format("exp", "exp", "2"))
    with pytest.raises(catalog.SpecError, match=r"dim 'exp' is reserved: the function exp\(\)"):
        catalog.load_file(spec)


def test_catalog_reads_specs_and_leaves_printing_to_others():
    """catalog comes before latex and codegen in the data flow (DESIGN.md): it imports neither."""
    tree = ast.parse(Path(catalog.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {node.module or ""} | {f"{node.module or ''}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    parts = {part for name in imported for part in name.split(".")}
    assert not parts & {"codegen", "latex", "torch"}, sorted(imported)
