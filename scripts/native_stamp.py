"""Print the fingerprint of the compiled data-plane build: the sources named in native-modules.txt,
the C extensions' sources and headers (src/meshgate/**/*.c, *.h), setup.py and the mypy (mypyc)
version. scripts/build-native.sh and tests/test_native_build.py compare it with build/native.stamp."""

from __future__ import annotations

import hashlib
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fingerprint() -> str:
    digest = hashlib.sha256(version("mypy").encode())
    names = (ROOT / "native-modules.txt").read_text().splitlines()
    c_files = [p for pattern in ("*.c", "*.h") for p in (ROOT / "src").glob(f"meshgate/**/{pattern}")]
    c_sources = sorted(str(p.relative_to(ROOT)) for p in c_files)
    for name in ["setup.py", "native-modules.txt", *c_sources] + [
        f"src/{n.strip()}" for n in names if n.strip() and not n.startswith("#")
    ]:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    return digest.hexdigest()[:32]


if __name__ == "__main__":
    sys.stdout.write(fingerprint() + "\n")
