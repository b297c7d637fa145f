"""Common pieces of every input model: metadata, origin tracking, Go-style durations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from meshgate.diag import Origin, ResourceRef


class Model(BaseModel):
    """Frozen, camelCase on the wire, unknown fields refused (the loader turns them into warnings)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        str_strip_whitespace=False,
    )


class Lenient(Model):
    """For parts of foreign objects we only read a few fields of (status, managedFields...)."""

    model_config = ConfigDict(extra="allow")


class ObjectMeta(Model):
    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str | None = None
    # Present in objects exported from a cluster (`kubectl get -o yaml`); kept, never used.
    resource_version: str | None = None
    uid: str | None = None
    generation: int | None = None
    self_link: str | None = None
    managed_fields: list[dict[str, Any]] | None = None
    owner_references: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None


class Resource(Model):
    """One loaded object. `_origin` and `_lines` say where it (and each field) was written."""

    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ()
    KIND: ClassVar[str] = ""
    # Namespace-less kinds (IngressClass) keep "" as namespace.
    NAMESPACED: ClassVar[bool] = True

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    status: dict[str, Any] | None = None

    _origin: Origin = PrivateAttr(default=Origin("<memory>"))
    _lines: Mapping[str, int] = PrivateAttr(default_factory=dict)
    _seq: int = PrivateAttr(default=0)

    def attach(self, origin: Origin, lines: Mapping[str, int], seq: int) -> None:
        """Called once by the loader right after validation."""
        self._origin = origin
        self._lines = lines
        self._seq = seq

    @property
    def origin(self) -> Origin:
        return self._origin

    @property
    def seq(self) -> int:
        return self._seq

    def origin_of(self, path: str) -> Origin:
        """Origin of a field given as a dotted path (`spec.http[0].route`), falling back upwards."""
        probe = path
        while probe:
            line = self._lines.get(probe)
            if line:
                return Origin(self._origin.file, line)
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self._origin

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.kind, self.namespace, self.name)

    def creation_key(self) -> tuple[str, int, str, str]:
        """Istio orders by creationTimestamp, then name, then namespace. Objects read from files
        usually have no timestamp: they count as created after every timestamped object, in the
        order they were loaded (the order `kubectl apply -f` would create them)."""
        stamp = self.metadata.creation_timestamp or "~"
        return (stamp, self._seq, self.name, self.namespace)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Go/protobuf duration text ("1.5s", "100ms", "1h30m") to seconds. Numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as '5s' or '250ms' is required")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a duration such as '5s' or '250ms' is required")
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        part = _DURATION_PART.match(text, pos)
        if part is None:
            raise ValueError(f"invalid duration {value!r}: use forms like '5s', '250ms', '1m30s'")
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        pos = part.end()
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in YAML as a Go duration."""
