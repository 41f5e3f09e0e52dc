"""Generated code as the page shows it: each line with the backward step it computes, read from the module's
comments (``# dC/dS: step 3, Softmax rule``; ``# part of steps 4, 7``), so that the page can link the lines
with the document's steps."""

from __future__ import annotations

import ast
import re

STEP_COMMENT = re.compile(r"^\s*# (?:d\S+: step (\d+)\b|part of steps? ([\d, ]+)$)")


def _target(statement) -> str | None:
    """What a statement assigns: ``t0`` of ``t0 = ...`` and ``t0 -= T``, ``grads["W"]`` of ``grads["W"] = ...``."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return ast.unparse(statement.targets[0])
    if isinstance(statement, ast.AugAssign):
        return ast.unparse(statement.target)
    return None


def _statements(tree) -> list:
    """Every simple statement of the module's functions, in order (inside ``if`` blocks too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.If)):
            found += [s for s in node.body if not isinstance(s, (ast.If, ast.FunctionDef))]
    return sorted(found, key=lambda s: s.lineno)


def linked_lines(source: str) -> list[tuple[str, str | None]]:
    """The module's lines, each with the steps it computes ("3", or "4 7" for a temporary of two) or None.

    A step comment covers the statement after it and the updates of that statement's target that follow
    (numpy's ``t0 = ...; t0 *= Gh``, a buffer's ``dL_dA[:, h:2*h] += ...``)."""
    lines = source.splitlines()
    steps = [None] * len(lines)
    comments = {}
    for k, line in enumerate(lines):
        match = STEP_COMMENT.match(line)
        if match:
            comments[k + 1] = " ".join(re.findall(r"\d+", match.group(1) or match.group(2)))
            steps[k] = comments[k + 1]
    try:
        statements = _statements(ast.parse(source))
    except SyntaxError:
        return list(zip(lines, steps))
    current = None  # (steps, target) of the statement a comment named
    for statement in statements:
        said = comments.get(statement.lineno - 1)
        target = _target(statement)
        if said is not None:
            current = (said, target)
        elif current is None or target is None or current[1] not in (target, target.split("[")[0]):
            current = None
            continue
        for k in range(statement.lineno - 1, statement.end_lineno):
            steps[k] = current[0]
    return list(zip(lines, steps))
