"""Loading grid fixtures: `testdata/<analyzer name>/{trigger,clean}.yaml`.

A fixture is plain YAML plus a comment header:

    # expect: CODE Kind namespace/name [@line]   one per message the analyzer must produce
    # now: 2044-12-10T00:00:00+00:00              the analysis clock (certificate checks)

and placeholders for test certificates: `@CERTS@` (the tests/certs directory) and `@B64:<file>@`
(base64 of a file there, for Secret data).
"""

from __future__ import annotations

import base64
import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from meshgate.analysis import Context, Settings
from meshgate.sources import LoadResult, load_text
from meshgate.translate import TranslateOptions, translate

TESTDATA = Path(__file__).parent / "testdata"
CERTS = Path(__file__).parents[1] / "certs"
_EXPECT = re.compile(r"^# expect: (\S+) (\S+) (\S+)(?: @(\d+))?\s*$")
_NOW = re.compile(r"^# now: (\S+)\s*$")
_B64 = re.compile(r"@B64:([\w.]+)@")


@dataclass(frozen=True, slots=True)
class Expected:
    code: str
    resource: str  # "Kind namespace/name"
    line: int | None


@dataclass(frozen=True, slots=True)
class Fixture:
    path: Path
    load: LoadResult
    expected: tuple[Expected, ...]
    settings: Settings

    def context(self) -> Context:
        options = TranslateOptions()
        return Context(self.load.bundle, translate(self.load.bundle, options), options, self.settings)


def expand(text: str) -> str:
    text = text.replace("@CERTS@", str(CERTS))
    return _B64.sub(lambda m: base64.b64encode((CERTS / m.group(1)).read_bytes()).decode(), text)


def load_fixture(path: Path) -> Fixture:
    raw = path.read_text(encoding="utf-8")
    expected: list[Expected] = []
    settings = Settings()
    for line in raw.splitlines():
        found = _EXPECT.match(line)
        if found:
            code, kind, name, at = found.groups()
            expected.append(Expected(code, f"{kind} {name}", int(at) if at else None))
        now = _NOW.match(line)
        if now:
            settings = Settings(now=datetime.datetime.fromisoformat(now.group(1)))
    display = str(path.relative_to(TESTDATA.parent.parent.parent))
    return Fixture(path, load_text(expand(raw), display), tuple(expected), settings)
