"""Golden-file comparison shared by every stage's tests.

`pytest --update-golden` (or UPDATE_GOLDEN=1) rewrites expected files atomically instead of
comparing; a mismatch fails with a unified diff. Review golden diffs like code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest


def update_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("--update-golden")) or os.environ.get("UPDATE_GOLDEN") == "1"


def check_golden(config: pytest.Config, expected_path: Path, actual: str) -> None:
    if update_requested(config):
        tmp = expected_path.with_suffix(expected_path.suffix + ".tmp")
        tmp.write_text(actual, encoding="utf-8")
        tmp.replace(expected_path)
        return
    if not expected_path.exists():
        pytest.fail(f"{expected_path} is missing; run pytest --update-golden and review the new file")
    expected = expected_path.read_text(encoding="utf-8")
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(expected_path),
                tofile="actual",
            )
        )
        pytest.fail(f"golden mismatch (pytest --update-golden to accept):\n{diff}", pytrace=False)
