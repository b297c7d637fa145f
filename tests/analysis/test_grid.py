"""The analyzer test grid: every analyzer fires on its trigger fixture, exactly as the fixture's
`# expect:` lines say (code, resource and line), and says nothing about its clean fixture."""

from __future__ import annotations

import pytest

from meshgate.analysis.analyzers import ALL
from meshgate.diag import Diagnostic

from .fixtures import TESTDATA, Expected, load_fixture

NAMES = [analyzer.name for analyzer in ALL]


def _run(name: str, case: str) -> tuple[list[Diagnostic], tuple[Expected, ...]]:
    analyzer = next(a for a in ALL if a.name == name)
    fixture = load_fixture(TESTDATA / name / f"{case}.yaml")
    found = list(analyzer.analyze(fixture.context()))
    for diagnostic in found:
        assert diagnostic.code in analyzer.codes, f"{name} emitted undeclared {diagnostic.code}"
    return found, fixture.expected


def _key(diagnostic: Diagnostic, with_line: bool) -> tuple[str, str, int | None]:
    line = diagnostic.origin.line if diagnostic.origin and with_line else None
    return diagnostic.code, str(diagnostic.resource), line


@pytest.mark.parametrize("name", NAMES)
def test_trigger(name: str) -> None:
    found, expected = _run(name, "trigger")
    assert expected, "a trigger fixture needs '# expect:' lines"
    want = sorted((e.code, e.resource, e.line) for e in expected)
    got = sorted(_key(d, with_line=True) for d in found)
    # Lines are compared where the fixture gives one.
    got_cmp = sorted(
        (
            code,
            resource,
            line
            if any(e.line is not None and (e.code, e.resource) == (code, resource) for e in expected)
            else None,
        )
        for code, resource, line in got
    )
    assert got_cmp == want, "\n".join(d.render() for d in found)
    for diagnostic in found:
        assert diagnostic.origin is not None and diagnostic.origin.line > 0, diagnostic.render()
        assert diagnostic.message and diagnostic.fix, diagnostic.render()
        assert diagnostic.resource is not None


@pytest.mark.parametrize("name", NAMES)
def test_clean(name: str) -> None:
    found, _ = _run(name, "clean")
    assert found == [], "\n".join(d.render() for d in found)
