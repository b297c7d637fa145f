"""Turning IR provenance (`ir.Source`) back into what a message needs: resource, origin, readable names."""

from __future__ import annotations

import re

from meshgate import ir
from meshgate.diag import Origin, ResourceRef

__all__ = ["origin", "ref", "route_label", "rule_path", "where"]

_RULE = re.compile(r"^(spec\.http\[\d+\])(?:\.match\[(\d+)\])?")


def ref(source: ir.Source) -> ResourceRef:
    return ResourceRef(source.kind, source.namespace, source.name)


def origin(source: ir.Source) -> Origin | None:
    return Origin(source.file, source.line) if source.file else None


def where(source: ir.Source) -> str:
    """`file:line` of a source, or "" when unknown."""
    found = origin(source)
    return str(found) if found else ""


def rule_path(source: ir.Source) -> tuple[str, int | None]:
    """("spec.http[2]", match index or None) from a route's source detail."""
    found = _RULE.match(source.detail)
    if found is None:
        return source.detail, None
    return found.group(1), int(found.group(2)) if found.group(2) is not None else None


def route_label(route: ir.Route, *, with_where: bool = True) -> str:
    """`VirtualService ns/name spec.http[1].match[0] ("api") at file:line`."""
    source = route.source
    if source is None:
        return f"route {route.name or '(unnamed)'}"
    name = f' ("{route.name}")' if route.name else ""
    at = f" at {where(source)}" if with_where and source.file else ""
    return f"{source.kind} {source.namespace}/{source.name} {source.detail}{name}{at}"
