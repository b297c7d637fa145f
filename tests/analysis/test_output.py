"""`-o json`, `-o yaml` and `-o sarif` validated against their schemas (tests/analysis/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from meshgate.analysis import AnalysisResult, analyze_paths
from meshgate.analysis.output import document, render, sarif
from meshgate.diag import Level

SCHEMAS = Path(__file__).parent / "schemas"
SEED = Path(__file__).parents[2] / "tests" / "translate" / "testdata" / "seed-notes.in.yaml"


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _validate(instance: Any, name: str) -> None:
    validator = jsonschema.Draft202012Validator(_schema(name), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.fixture(scope="module")
def seed() -> AnalysisResult:
    return analyze_paths([str(SEED)])


def test_json_matches_schema(seed: AnalysisResult) -> None:
    data = json.loads(render(seed, "json"))
    _validate(data, "analyze-output.schema.json")
    assert data["summary"]["errors"] == len(seed.at_least(Level.ERROR))
    assert len(data["diagnostics"]) == len(seed.diagnostics)
    assert all("file" in d and "line" in d for d in data["diagnostics"])


def test_yaml_is_the_same_document(seed: AnalysisResult) -> None:
    data = yaml.safe_load(render(seed, "yaml"))
    _validate(data, "analyze-output.schema.json")
    assert data == json.loads(render(seed, "json"))


def test_sarif_matches_schema(seed: AnalysisResult) -> None:
    log = json.loads(render(seed, "sarif"))
    _validate(log, "sarif-2.1.0-subset.schema.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(seed.diagnostics)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["IST0161"] == "error" and levels["MG0409"] == "warning"


def test_schemas_reject_malformed_documents(seed: AnalysisResult) -> None:
    # The schemas must be able to fail: drop a required member, misspell a level.
    bad = document(seed)
    del bad["diagnostics"][0]["code"]
    with pytest.raises(AssertionError):
        _validate(bad, "analyze-output.schema.json")
    log = sarif(seed)
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError):
        _validate(log, "sarif-2.1.0-subset.schema.json")


def test_text_prints_file_line_and_fix(seed: AnalysisResult) -> None:
    text = render(seed, "text")
    assert "seed-notes.in.yaml:49: Error [IST0161]" in text
    assert "    fix: " in text
    assert text.rstrip().splitlines()[-1].startswith(f"{len(seed.at_least(Level.ERROR))} errors")
