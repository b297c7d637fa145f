"""The message catalog: stable codes, names, levels and templates, read from catalog.yaml.

Codes follow Istio's `istioctl analyze` (IST....) where Istio has the same check; meshgate's own
checks use the MG.... range. Codes are never reused: a retired entry stays in the file with
`retired: true`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources

import yaml

from meshgate.diag.model import Level


@dataclass(frozen=True, slots=True)
class MessageType:
    code: str
    name: str
    level: Level
    template: str
    fix: str
    description: str
    retired: bool = False

    @property
    def placeholders(self) -> frozenset[str]:
        names = set()
        for text in (self.template, self.fix):
            for _, field_name, _, _ in string.Formatter().parse(text):
                if field_name:
                    names.add(field_name)
        return frozenset(names)


def _load() -> dict[str, MessageType]:
    text = resources.files("meshgate.diag").joinpath("catalog.yaml").read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=yaml.CSafeLoader)
    catalog: dict[str, MessageType] = {}
    for entry in raw["messages"]:
        catalog[entry["code"]] = MessageType(
            code=entry["code"],
            name=entry["name"],
            level=Level.parse(entry["level"]),
            template=entry["template"],
            fix=entry.get("fix", ""),
            description=entry.get("description", ""),
            retired=bool(entry.get("retired", False)),
        )
    return catalog


CATALOG: dict[str, MessageType] = _load()
