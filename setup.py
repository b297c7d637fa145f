"""Build: the data plane's per-request modules (native-modules.txt) are compiled with mypyc.

They stay plain, typed Python: with `MESHGATE_PURE=1` (or without mypyc) the same files run
interpreted, only slower. Why compiled: the per-request work is ~130 small Python calls spread over
these modules; mypyc turns them into C with native classes and direct calls, without a second
source language (bench/results/README.md has the measurements). Every `.c` file under src/meshgate
is a small C extension named by its path (proxy/_wire.c: see proxy/wire.py, its Python reference).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    lines = (HERE / "native-modules.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def c_extensions() -> list[Extension]:
    sources = sorted((HERE / "src").glob("meshgate/**/*.c"))
    return [
        Extension(
            ".".join(path.relative_to(HERE / "src").with_suffix("").parts),
            [str(path.relative_to(HERE))],
            extra_compile_args=["-O2", "-Wall", "-Werror"],
        )
        for path in sources
    ]


def extensions() -> list[Extension]:
    if os.environ.get("MESHGATE_PURE"):
        return []
    from mypyc.build import mypycify

    cwd = os.getcwd()
    os.chdir(HERE / "src")  # mypyc names the modules after their paths
    try:
        compiled = mypycify(compiled_modules(), opt_level="3", target_dir=str(HERE / "build" / "mypyc"))
    finally:
        os.chdir(cwd)
    return [*compiled, *c_extensions()]


setup(ext_modules=extensions())
