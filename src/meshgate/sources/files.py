"""Load resources from files, directories and stdin into one ResourceBundle.

Problems never stop the load: a broken document, an unknown kind or an invalid object becomes a
diagnostic naming the file and line, and everything else still loads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meshgate.diag import Diagnostic, Origin, ResourceRef, make
from meshgate.resources.base import Resource
from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.ingress import convert_beta_ingress
from meshgate.resources.registry import KNOWN_KINDS, LEGACY_INGRESS_VERSIONS, model_for
from meshgate.sources.yaml_docs import RawDocument, YamlProblem, parse_stream

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
_MAX_STRIP_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class LoadResult:
    bundle: ResourceBundle
    diagnostics: tuple[Diagnostic, ...]
    files: tuple[str, ...]


def expand_paths(paths: Sequence[str]) -> tuple[list[str], list[Diagnostic]]:
    """Files in the order given; directories walked recursively in sorted order."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        if raw == STDIN:
            files.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(
                    str(Path(root) / name) for name in sorted(names) if name.endswith(CONFIG_SUFFIXES)
                )
        elif path.is_file():
            files.append(str(path))
        else:
            problems.append(make("MG0006", origin=Origin(raw), file=raw, reason="no such file or directory"))
    return files, problems


def load_paths(paths: Sequence[str], stdin_text: str | None = None) -> LoadResult:
    files, diagnostics = expand_paths(paths)
    loaded: list[Resource] = []
    for file in files:
        if file == STDIN:
            text = stdin_text if stdin_text is not None else sys.stdin.read()
            name = "<stdin>"
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.append(make("MG0006", origin=Origin(file), file=file, reason=str(exc)))
                continue
            name = file
        objects, problems = _load_text(text, name, first_seq=len(loaded))
        loaded.extend(objects)
        diagnostics.extend(problems)
    unique, duplicates = _deduplicate(loaded)
    diagnostics.extend(duplicates)
    return LoadResult(ResourceBundle.build(unique), tuple(diagnostics), tuple(files))


def load_text(text: str, name: str = "<memory>") -> LoadResult:
    objects, problems = _load_text(text, name, first_seq=0)
    unique, duplicates = _deduplicate(objects)
    return LoadResult(ResourceBundle.build(unique), tuple(problems + duplicates), (name,))


def _load_text(text: str, name: str, first_seq: int) -> tuple[list[Resource], list[Diagnostic]]:
    objects: list[Resource] = []
    problems: list[Diagnostic] = []
    for doc in _documents(text, name, problems):
        for data, lines, line in _items(doc):
            resource, notes = build_resource(data, lines, Origin(name, line), first_seq + len(objects))
            if resource is not None:
                objects.append(resource)
            problems.extend(notes)
    return objects, problems


def _documents(text: str, name: str, problems: list[Diagnostic]) -> Iterable[RawDocument]:
    if name.endswith(".json"):
        try:
            yield RawDocument(json.loads(text), 1, {})
        except json.JSONDecodeError as exc:
            problems.append(make("MG0001", origin=Origin(name, exc.lineno), file=name, reason=exc.msg))
        return
    for parsed in parse_stream(text):
        if isinstance(parsed, YamlProblem):
            problems.append(
                make("MG0001", origin=Origin(name, parsed.line), file=name, reason=parsed.message)
            )
        else:
            if parsed.nbsp_lines:
                problems.append(
                    make(
                        "MG0008",
                        origin=Origin(name, parsed.nbsp_lines[0]),
                        file=name,
                        count=len(parsed.nbsp_lines),
                        first=parsed.nbsp_lines[0],
                    )
                )
            yield parsed


def _items(doc: RawDocument) -> Iterable[tuple[Any, dict[str, int], int]]:
    """Unpack `kind: List` (and any `*List`) into its items, re-rooting the line map."""
    data = doc.data
    if isinstance(data, dict) and str(data.get("kind", "")).endswith("List") and "items" in data:
        items = data.get("items") or []
        for index, item in enumerate(items if isinstance(items, list) else []):
            prefix = f"items[{index}]"
            lines = {
                key[len(prefix) + 1 :]: value
                for key, value in doc.lines.items()
                if key.startswith(prefix + ".")
            }
            yield item, lines, doc.lines.get(prefix, doc.line)
        return
    yield data, dict(doc.lines), doc.line


def build_resource(
    data: Any, lines: dict[str, int], origin: Origin, seq: int
) -> tuple[Resource | None, list[Diagnostic]]:
    """Validate one object: the resource (None when it cannot be used) and what was noticed."""
    if not isinstance(data, dict) or not data.get("kind") or not data.get("apiVersion"):
        return None, [make("MG0005", origin=origin)]
    kind, api_version = str(data["kind"]), str(data["apiVersion"])
    raw_metadata = data.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    ref = ResourceRef(kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
    model = model_for(api_version, kind)
    if model is None:
        code = "MG0007" if kind in KNOWN_KINDS else "MG0002"
        return None, [make(code, origin=origin, resource=ref, kind=kind, api_version=api_version)]
    if api_version in LEGACY_INGRESS_VERSIONS and kind == "Ingress":
        data = convert_beta_ingress(data, lines)
    if model.NAMESPACED and not metadata.get("namespace"):
        data = {**data, "metadata": {**metadata, "namespace": "default"}}
        ref = ResourceRef(kind, "default", ref.name)
    notes: list[Diagnostic] = []
    for _ in range(_MAX_STRIP_ROUNDS):
        try:
            resource = model.model_validate(data)
            break
        except ValidationError as exc:
            extra = [e for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra or len(extra) != len(exc.errors()):
                errors = [e for e in exc.errors() if e["type"] != "extra_forbidden"]
                return None, notes + [_schema_error(e, ref, origin, lines) for e in errors]
            for error in extra:
                path = _dotted(error["loc"])
                notes.append(
                    make(
                        "MG0003",
                        origin=_line_of(origin, lines, path),
                        resource=ref,
                        field_path=path,
                        field=path,
                    )
                )
                data = _without(data, error["loc"])
    else:
        return None, [
            *notes,
            make("IST0106", origin=origin, resource=ref, field="(object)", reason="too many unknown fields"),
        ]
    if not resource.metadata.name:
        return None, [
            *notes,
            make(
                "IST0106",
                origin=origin,
                resource=ref,
                field_path="metadata.name",
                field="metadata.name",
                reason="a name is required",
            ),
        ]
    resource.attach(origin, lines, seq)
    return resource, notes


def _schema_error(error: Any, ref: ResourceRef, origin: Origin, lines: dict[str, int]) -> Diagnostic:
    path = _dotted(error["loc"])
    reason = str(error["msg"])
    return make(
        "IST0106",
        origin=_line_of(origin, lines, path),
        resource=ref,
        field_path=path,
        field=path or "(object)",
        reason=reason,
    )


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "union[", "int", "str")) and out:
            continue  # pydantic's union/validator branch names are not fields
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(origin: Origin, lines: dict[str, int], path: str) -> Origin:
    probe = path
    while probe:
        if probe in lines:
            return Origin(origin.file, lines[probe])
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return origin


def _without(data: Any, loc: tuple[Any, ...]) -> Any:
    """A copy of `data` with the key at `loc` removed."""
    if not loc:
        return data
    head, rest = loc[0], loc[1:]
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {k: (_without(v, rest) if k == head else v) for k, v in data.items()}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        return [(_without(v, rest) if i == head else v) for i, v in enumerate(data)]
    return data


def _deduplicate(items: list[Resource]) -> tuple[list[Resource], list[Diagnostic]]:
    """Same kind/namespace/name twice: the later definition wins, as `kubectl apply` would."""
    latest: dict[tuple[str, str, str], Resource] = {}
    problems: list[Diagnostic] = []
    for item in items:
        key = (item.kind, item.namespace, item.name)
        previous = latest.get(key)
        if previous is not None:
            problems.append(make("MG0004", origin=item.origin, resource=item.ref, other=previous.origin))
        latest[key] = item
    return list(latest.values()), problems
