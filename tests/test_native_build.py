"""The compiled data plane is what runs: the mypyc build must match its sources (an extension
module shadows its .py file, so a stale build would run old code), and where the test command
requires it (scripts/test.sh) every module of native-modules.txt must load as an extension."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _compiled_modules() -> list[str]:
    lines = (ROOT / "native-modules.txt").read_text().splitlines()
    return [
        line.strip().removesuffix(".py").replace("/", ".")
        for line in lines
        if line.strip() and not line.startswith("#")
    ]


def _is_extension(module_name: str) -> bool:
    origin = importlib.import_module(module_name).__file__ or ""
    return any(origin.endswith(suffix) for suffix in EXTENSION_SUFFIXES)


def test_native_modules_list_names_real_modules() -> None:
    names = _compiled_modules()
    assert "meshgate.proxy.http1" in names and "meshgate.routing.decide" in names
    for name in names:
        assert (ROOT / "src" / (name.replace(".", "/") + ".py")).is_file(), name


def test_compiled_build_matches_its_sources() -> None:
    compiled = [name for name in _compiled_modules() if _is_extension(name)]
    if not compiled:
        if os.environ.get("MESHGATE_REQUIRE_NATIVE"):
            pytest.fail("no compiled data-plane modules: run scripts/build-native.sh")
        pytest.skip("pure-Python run (MESHGATE_PURE): nothing compiled to check")
    stamp = ROOT / "build" / "native.stamp"
    want = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "native_stamp.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert stamp.is_file() and stamp.read_text().strip() == want, (
        "the compiled modules are older than their sources: run scripts/build-native.sh"
    )
    if os.environ.get("MESHGATE_REQUIRE_NATIVE"):
        missing = [name for name in _compiled_modules() if name not in compiled]
        assert not missing, f"interpreted although listed in native-modules.txt: {missing}"
