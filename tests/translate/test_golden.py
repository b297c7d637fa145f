"""Golden translation tests: every `testdata/<case>.in.yaml` → `<case>.out.yaml` (IR dump + diagnostics).

Per-case options go in a header comment of the input: `# options: namespace=gw, ingress_mode=STRICT,
workload_labels=istio=custom`. Refresh with `pytest --update-golden` and review the diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshgate.ir.dump import to_plain
from meshgate.sources import load_paths
from meshgate.translate import IngressMode, TranslateOptions, translate

from _golden import check_golden

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(TESTDATA.glob("*.in.yaml"))


def options_for(path: Path) -> TranslateOptions:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# options:"):
            values: dict[str, object] = {}
            for item in line.removeprefix("# options:").split(","):
                key, _, value = item.strip().partition("=")
                if key == "workload_labels":
                    values[key] = tuple(sorted(tuple(p.split(":", 1)) for p in value.split(";")))
                elif key == "ingress_mode":
                    values[key] = IngressMode(value)
                elif key == "ingress_default_backend":
                    values[key] = value == "true"
                else:
                    values[key] = value
            return TranslateOptions(**values)  # type: ignore[arg-type]
    return TranslateOptions()


def render_case(path: Path) -> str:
    load = load_paths([str(path)])
    result = translate(load.bundle, options_for(path))
    relative = path.relative_to(TESTDATA.parent).as_posix()
    diagnostics = [d.render().replace(str(path), relative) for d in (*load.diagnostics, *result.diagnostics)]
    document = {
        "listeners": to_plain(result.config.listeners),
        "clusters": to_plain(result.config.clusters),
        "diagnostics": diagnostics,
    }
    text = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=110, allow_unicode=True)
    return text.replace(str(TESTDATA.parent), ".")


def test_cases_exist() -> None:
    assert len(CASES) >= 5, "golden inputs went missing"


@pytest.mark.parametrize("case", CASES, ids=[c.name.removesuffix(".in.yaml") for c in CASES])
def test_golden(case: Path, request: pytest.FixtureRequest) -> None:
    expected = case.with_name(case.name.removesuffix(".in.yaml") + ".out.yaml")
    check_golden(request.config, expected, render_case(case))


def test_no_orphan_outputs() -> None:
    inputs = {c.name.removesuffix(".in.yaml") for c in CASES}
    orphans = [p.name for p in TESTDATA.glob("*.out.yaml") if p.name.removesuffix(".out.yaml") not in inputs]
    assert not orphans, f"golden outputs without inputs: {orphans}"
