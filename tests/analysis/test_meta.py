"""Meta-tests: every analyzer is registered (explicit, alphabetised ALL), uniquely named, described,
in the test grid, and every catalog code is emitted by some analyzer or by loading/translation."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from meshgate.analysis import Analyzer
from meshgate.analysis.analyzers import ALL
from meshgate.diag import CATALOG
from meshgate.resources.registry import KNOWN_KINDS

from .fixtures import TESTDATA

SRC = Path(__file__).parents[2] / "src" / "meshgate"
ANALYZERS = SRC / "analysis" / "analyzers"
_CODE = re.compile(r"""["']((?:IST|MG)\d{4})["']""")
# Catalog entries outside the analysis section that no code emits yet, with the reason. The test
# below fails once one of them is emitted, so the list can only shrink.
KNOWN_UNUSED = {
    "MG0108": "translation serves MONGO/REDIS/MYSQL servers as TCP, so 'protocol not served' never happens",
}


def _analysis_section_codes() -> set[str]:
    """Codes defined in the catalog's `# --- analysis` section (the others belong to translation)."""
    text = (SRC / "diag" / "catalog.yaml").read_text(encoding="utf-8")
    return set(re.findall(r"code: ((?:IST|MG)\d{4})", text.split("# --- analysis", 1)[1]))


def _analyzer_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "Analyzer" for b in node.bases)
    ]


def test_all_is_alphabetised_and_names_are_unique() -> None:
    names = [a.name for a in ALL]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        area, _, short = name.partition(".")
        assert area.islower() and short[:1].isupper(), name


def test_every_analyzer_module_is_registered_once() -> None:
    registered = {(type(a).__module__, type(a).__name__) for a in ALL}
    found = set()
    for path in sorted(ANALYZERS.glob("*.py")):
        if path.name == "__init__.py":
            continue
        classes = _analyzer_classes(path)
        assert len(classes) == 1, f"{path.name}: one analyzer per file, found {classes}"
        found.add((f"meshgate.analysis.analyzers.{path.stem}", classes[0]))
    assert found == registered


def test_metadata_is_complete() -> None:
    for analyzer in ALL:
        assert isinstance(analyzer, Analyzer)
        assert analyzer.description and "\n" not in analyzer.description, analyzer.name
        assert analyzer.inputs and set(analyzer.inputs) <= KNOWN_KINDS, analyzer.name
        assert analyzer.codes and set(analyzer.codes) <= set(CATALOG), analyzer.name
        for code in set(analyzer.codes) & _analysis_section_codes():
            assert CATALOG[code].description and CATALOG[code].fix, f"{code}: description and fix"
        source = Path(sys.modules[type(analyzer).__module__].__file__ or "").read_text(encoding="utf-8")
        body = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("codes = "))
        for code in analyzer.codes:
            assert f'"{code}"' in body, f"{analyzer.name} declares {code} but never emits it"


def test_every_analyzer_is_in_the_grid() -> None:
    names = {a.name for a in ALL}
    assert {p.name for p in TESTDATA.iterdir() if p.is_dir()} == names
    for name in names:
        assert (TESTDATA / name / "trigger.yaml").is_file(), name
        assert (TESTDATA / name / "clean.yaml").is_file(), name


def test_every_catalog_code_is_used() -> None:
    used = {code for analyzer in ALL for code in analyzer.codes}
    for path in SRC.rglob("*.py"):
        if "analysis" not in path.relative_to(SRC).parts:
            used.update(_CODE.findall(path.read_text(encoding="utf-8")))
    unused = {code for code, entry in CATALOG.items() if code not in used and not entry.retired}
    assert unused == set(KNOWN_UNUSED), f"catalog codes nobody emits: {sorted(unused - set(KNOWN_UNUSED))}"


def test_importing_the_package_registers_nothing() -> None:
    # ALL is an explicit list: importing meshgate.analysis must not import (or register) analyzers.
    probe = (
        "import sys, meshgate.analysis;"
        " print(any(m.startswith('meshgate.analysis.analyzers') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
