"""ResourceBundle: everything one load produced, sorted, de-duplicated and indexed by kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from meshgate.resources.base import Resource

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True, slots=True)
class ResourceBundle:
    """Immutable set of resources. `of(kind)` returns objects in Istio's creation order."""

    resources: tuple[Resource, ...] = ()
    _by_kind: dict[str, tuple[Resource, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, items: Iterable[Resource]) -> ResourceBundle:
        ordered = tuple(sorted(items, key=lambda r: (r.kind, *r.creation_key())))
        by_kind: dict[str, list[Resource]] = {}
        for item in ordered:
            by_kind.setdefault(item.kind, []).append(item)
        return cls(ordered, {kind: tuple(group) for kind, group in by_kind.items()})

    def of(self, model: type[R]) -> tuple[R, ...]:
        return self._by_kind.get(model.KIND, ())  # type: ignore[return-value]

    def get(self, model: type[R], namespace: str, name: str) -> R | None:
        for item in self.of(model):
            if item.name == name and item.namespace == namespace:
                return item
        return None

    def __len__(self) -> int:
        return len(self.resources)
