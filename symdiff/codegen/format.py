"""Formatting generated source with ``ruff format`` (a dependency), so it reads like formatted code."""

from __future__ import annotations

import subprocess

FORMAT = ["format", "--isolated", "--line-length", "120", "--config", "format.skip-magic-trailing-comma = true", "-"]


def format_source(source: str) -> str:
    """``source`` formatted by ruff."""
    from ruff.__main__ import find_ruff_bin

    result = subprocess.run([find_ruff_bin(), *FORMAT], input=source, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ruff could not format the generated code (a symdiff bug): {result.stderr}")
    return result.stdout
