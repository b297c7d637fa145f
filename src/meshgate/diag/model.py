"""The diagnostic record and its rendering."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any


class Level(enum.IntEnum):
    """Severity; ordered so that `level >= Level.WARNING` reads naturally."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    @classmethod
    def parse(cls, text: str) -> Level:
        return cls[text.strip().upper()]

    @property
    def label(self) -> str:
        return self.name.capitalize()


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource (or one of its fields) was written: file and 1-based line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """kind/namespace/name of the object a message is about."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    name: str
    level: Level
    message: str
    origin: Origin | None = None
    resource: ResourceRef | None = None
    field_path: str = ""
    fix: str = ""
    args: tuple[tuple[str, str], ...] = field(default=())

    def render(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        what = f" ({self.resource})" if self.resource else ""
        at = f" [{self.field_path}]" if self.field_path else ""
        return f"{where}{self.level.label} [{self.code}] {self.message}{what}{at}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "level": self.level.label,
            "message": self.message,
        }
        if self.origin:
            out["file"] = self.origin.file
            out["line"] = self.origin.line
        if self.resource:
            out["resource"] = {
                "kind": self.resource.kind,
                "namespace": self.resource.namespace,
                "name": self.resource.name,
            }
        if self.field_path:
            out["field"] = self.field_path
        if self.fix:
            out["fix"] = self.fix
        return out

    def sort_key(self) -> tuple[str, int, str, str]:
        origin = self.origin or Origin("")
        return (origin.file, origin.line, self.code, self.message)


STRICT_ENV = "MESHGATE_STRICT_MESSAGES"


class _Args(dict[str, str]):
    """Template arguments. In production a placeholder nobody filled renders empty rather than
    crashing on user input; the test suite sets MESHGATE_STRICT_MESSAGES=1 so it fails instead."""

    def __missing__(self, key: str) -> str:
        if os.environ.get(STRICT_ENV) == "1":
            raise KeyError(f"message template placeholder {{{key}}} was not given")
        return ""


def make(
    code: str,
    *,
    origin: Origin | None = None,
    resource: ResourceRef | None = None,
    field_path: str = "",
    **args: object,
) -> Diagnostic:
    """Build a diagnostic from the catalog entry `code`, filling its template with `args`."""
    from meshgate.diag.catalog import CATALOG

    entry = CATALOG[code]
    text_args = _Args({key: str(value) for key, value in args.items()})
    return Diagnostic(
        code=entry.code,
        name=entry.name,
        level=entry.level,
        message=entry.template.format_map(text_args),
        origin=origin,
        resource=resource,
        field_path=field_path,
        fix=entry.fix.format_map(text_args) if entry.fix else "",
        args=tuple(sorted(text_args.items())),
    )
