"""Renderers for `meshgate analyze -o text|json|yaml|sarif`.

json and yaml carry the same document (`document()`); its shape is pinned by
`tests/analysis/schemas/analyze-output.schema.json`. SARIF is version 2.1.0, one run, one rule per
catalog code that appears (with its level, description and fix) and one result per message, with the
file:line as a physical location and the resource as a logical location.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import yaml

from meshgate import __version__
from meshgate.analysis import AnalysisResult
from meshgate.diag import CATALOG, Diagnostic, Level

__all__ = ["FORMATS", "document", "render", "sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "note"}


def text(result: AnalysisResult) -> str:
    lines: list[str] = []
    for diagnostic in result.diagnostics:
        lines.append(diagnostic.render())
        if diagnostic.fix:
            lines.append(f"    fix: {diagnostic.fix}")
    counts = result.counts()
    summary = ", ".join(_count(counts[level.label], level) for level in reversed(Level))
    suppressed = f" ({result.suppressed} suppressed)" if result.suppressed else ""
    if not result.diagnostics:
        lines.append("No problems found.")
    lines.append(f"{summary}{suppressed}")
    return "\n".join(lines) + "\n"


def document(result: AnalysisResult) -> dict[str, Any]:
    counts = result.counts()
    return {
        "version": 1,
        "tool": {"name": "meshgate", "version": __version__},
        "summary": {
            "errors": counts[Level.ERROR.label],
            "warnings": counts[Level.WARNING.label],
            "info": counts[Level.INFO.label],
            "suppressed": result.suppressed,
        },
        "diagnostics": [diagnostic.as_dict() for diagnostic in result.diagnostics],
    }


def _json(result: AnalysisResult) -> str:
    return json.dumps(document(result), indent=2, sort_keys=True) + "\n"


def _yaml(result: AnalysisResult) -> str:
    return yaml.safe_dump(document(result), sort_keys=True, allow_unicode=True)


def _result(diagnostic: Diagnostic, rule_index: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[diagnostic.level],
        "message": {"text": diagnostic.message},
    }
    location: dict[str, Any] = {}
    if diagnostic.origin is not None:
        # SARIF wants a URI reference: a relative path works as one once special characters are escaped.
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(diagnostic.origin.file)}}
        if diagnostic.origin.line:
            physical["region"] = {"startLine": diagnostic.origin.line}
        location["physicalLocation"] = physical
    if diagnostic.resource is not None:
        ref = diagnostic.resource
        location["logicalLocations"] = [
            {
                "fullyQualifiedName": f"{ref.kind}/{ref.namespace}/{ref.name}"
                if ref.namespace
                else f"{ref.kind}/{ref.name}",
                "kind": "resource",
            }
        ]
    if location:
        out["locations"] = [location]
    properties: dict[str, Any] = {}
    if diagnostic.fix:
        properties["fix"] = diagnostic.fix
    if diagnostic.field_path:
        properties["field"] = diagnostic.field_path
    if properties:
        out["properties"] = properties
    return out


def sarif(result: AnalysisResult) -> dict[str, Any]:
    codes = sorted({d.code for d in result.diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = []
    for code in codes:
        entry = CATALOG[code]
        rule: dict[str, Any] = {
            "id": code,
            "name": entry.name,
            "shortDescription": {"text": entry.name},
            "fullDescription": {"text": entry.description or entry.name},
            "defaultConfiguration": {"level": _SARIF_LEVEL[entry.level]},
        }
        if entry.fix and "{" not in entry.fix:
            rule["help"] = {"text": entry.fix}
        rules.append(rule)
    run = {
        "tool": {"driver": {"name": "meshgate", "version": __version__, "rules": rules}},
        "results": [_result(d, index[d.code]) for d in result.diagnostics],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _sarif(result: AnalysisResult) -> str:
    return json.dumps(sarif(result), indent=2, sort_keys=True) + "\n"


FORMATS: dict[str, Callable[[AnalysisResult], str]] = {
    "json": _json,
    "sarif": _sarif,
    "text": text,
    "yaml": _yaml,
}


def render(result: AnalysisResult, fmt: str) -> str:
    return FORMATS[fmt](result)


def _count(number: int, level: Level) -> str:
    word = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "info"}[level]
    return f"{number} {word}{'s' if number != 1 and level is not Level.INFO else ''}"
