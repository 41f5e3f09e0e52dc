"""Coverage of the op cards: every op says everything about itself in one place, and has a test row."""

import re

import pytest
import sympy as sp
from test_ops import OPS

import symdiff as sd
from symdiff.ops import CARDS, DIALECTS, FUNCTIONS
from symdiff.ops.card import helper_sources

CONSTANTS = {"OneMatrix", "ZeroMatrix", "Identity"}  # no arguments to differentiate: no rule
CARD_LIST = list(dict.fromkeys(CARDS.values()))


def test_every_card_is_complete():
    missing = []
    for card in CARD_LIST:
        name = card.op.__name__
        lacks = [dialect for dialect in DIALECTS if card.spelling(dialect) is None]
        if not card.title or not card.syntax:
            lacks.append("title or syntax")
        if card.construct is None:
            lacks.append("constructor")
        if name not in CONSTANTS and "$" not in (getattr(card.rule, "__doc__", None) or ""):
            lacks.append("rule with its formula in LaTeX")
        for function in re.findall(r"\b([a-z_0-9]+)\(", card.syntax):
            if function not in FUNCTIONS and function not in ("f",):
                lacks.append(f"language function {function}")
        if lacks:
            missing.append(f"{name}: {', '.join(lacks)}")
    assert not missing, "op cards lacking what a card must declare:\n" + "\n".join(missing)


def test_every_card_has_a_row_in_the_op_tests():
    tested = {row[0] for row in OPS}
    untested = [card.op.__name__ for card in CARD_LIST if card.op.__name__ not in tested | CONSTANTS]
    assert not untested, f"op cards without a row in tests/test_ops.py OPS: {untested}"


@pytest.mark.parametrize("dialect", ["numpy", "torch"])
def test_helpers_are_functions_of_their_names(dialect):
    for name, source in helper_sources(dialect).items():
        assert source.startswith(f"def {name}("), f"the {dialect} helper {name} does not define {name}"
        compile(source, name, "exec")


def test_every_language_function_builds_an_expression():
    n = sd.dims("n")
    A, v = sd.matrix("A", n, n), sd.matrix("v", n, 1)
    for name, signature in FUNCTIONS.items():
        assert signature.params, name
    assert isinstance(sd.parse("maximum(A, 0)", A=A), sp.MatrixExpr)
    assert sd.parse("pi * sum(v)", v=v).has(sp.pi)
    with pytest.raises(sd.ParseError, match="constant"):
        sd.parse("sum(e)", e=v)


def test_the_readme_lists_every_language_function():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| write | means |") : readme.index("At kinks symdiff follows PyTorch")]
    missing = [name for name in FUNCTIONS if not re.search(rf"`[^`]*\b{name}\b[^`]*`", table)]
    assert not missing, f"README's expression-language table does not mention {missing}"
