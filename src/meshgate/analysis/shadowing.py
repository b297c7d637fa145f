"""Which routes of a virtual host can never match, and which routes of different objects overlap.

For each route B of a vhost (in evaluation order) the earliest route A before it with
`contains(A.match, B.match)` shadows it: every request B matches is taken by A first. Routes are
compared pairwise only when their paths can be related at all; `PathIndex` finds those candidates
from the (case-folded) path values, so a vhost with thousands of routes is not quadratic in practice.
The index is only a filter: every candidate is decided by `containment.contains` / `overlap`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from meshgate import ir
from meshgate.analysis.analyzer import Context
from meshgate.analysis.containment import contains, overlap, satisfiable
from meshgate.routing.primitives import fold
from meshgate.routing.request import RequestView

__all__ = ["Overlap", "PathIndex", "Shadow", "Shadowing"]


@dataclass(frozen=True, slots=True)
class Shadow:
    route_table: str
    vhost: ir.VirtualHost
    route: ir.Route  # B: never matches
    by: ir.Route | None  # A: takes every request B matches; None when B matches nothing at all


@dataclass(frozen=True, slots=True)
class Overlap:
    route_table: str
    vhost: ir.VirtualHost
    route: ir.Route  # B
    earlier: ir.Route  # A, before B, from another object
    example: RequestView  # matched by both: A answers it


class PathIndex:
    """Positions of routes by folded path value, for candidate look-ups (a superset filter)."""

    def __init__(self, routes: tuple[ir.Route, ...]) -> None:
        self.size = len(routes)
        self.no_path: list[int] = []
        self.regex: dict[str, list[int]] = {}
        self.by_value: dict[str, list[int]] = {}
        for position, route in enumerate(routes):
            path = route.match.path
            if path is None:
                self.no_path.append(position)
            elif path.kind is ir.PathMatchKind.REGEX:
                self.regex.setdefault(path.value, []).append(position)
            else:
                self.by_value.setdefault(self._key(path), []).append(position)
        self.sorted_values = sorted(self.by_value)
        self.regex_positions = frozenset(p for positions in self.regex.values() for p in positions)

    @staticmethod
    def _key(path: ir.PathMatch) -> str:
        value = path.value
        if path.kind is ir.PathMatchKind.SEGMENT_PREFIX:
            value = value.removesuffix("/")
        return fold(value)

    def containing(self, path: ir.PathMatch | None) -> set[int]:
        """Routes whose path condition could contain `path` (all of them accept its requests)."""
        # Every path starts with '/': a prefix "" or "/" (or segment prefix "/") accepts them all.
        out = set(self.no_path) | set(self.by_value.get("", ())) | set(self.by_value.get("/", ()))
        if path is None:
            return out
        if path.kind is ir.PathMatchKind.REGEX:
            return out | set(self.regex.get(path.value, ()))
        key = self._key(path)
        for end in range(len(key) + 1):
            out.update(self.by_value.get(key[:end], ()))
        if path.kind is ir.PathMatchKind.EXACT:
            out |= self.regex_positions  # a regex is checked against the few paths an exact match allows
        return out

    def overlapping(self, path: ir.PathMatch | None) -> set[int]:
        """Routes whose path condition could accept some request `path` accepts. Regexes only for an
        exact `path`: other overlaps with a regex are not decided."""
        if path is None:
            return set(range(self.size)) - self.regex_positions
        if path.kind is ir.PathMatchKind.REGEX:
            return set()
        out = self.containing(path)
        if path.kind is not ir.PathMatchKind.EXACT:
            out -= self.regex_positions
            key = self._key(path)
            start = bisect.bisect_left(self.sorted_values, key)
            for value in self.sorted_values[start:]:
                if not value.startswith(key):
                    break
                out.update(self.by_value[value])
        return out


def _same_object(a: ir.Route, b: ir.Route) -> bool:
    sa, sb = a.source, b.source
    return (
        sa is not None
        and sb is not None
        and (sa.kind, sa.namespace, sa.name) == (sb.kind, sb.namespace, sb.name)
    )


class Shadowing:
    """Shadowed routes and cross-object overlaps of every HTTP vhost, computed once per context."""

    def __init__(self, context: Context) -> None:
        self.context = context

    @cached_property
    def shadows(self) -> tuple[Shadow, ...]:
        return tuple(self._shadows())

    @cached_property
    def shadowed_routes(self) -> frozenset[tuple[str, str, int]]:
        return frozenset((s.route_table, s.vhost.name, id(s.route)) for s in self.shadows)

    @cached_property
    def overlaps(self) -> tuple[Overlap, ...]:
        return tuple(self._overlaps())

    def _shadows(self) -> Iterator[Shadow]:
        for table, vhost in self.context.http_vhosts:
            routes = vhost.routes
            if len(routes) < 2 and not any(satisfiable(r.match) is False for r in routes):
                continue
            index = PathIndex(routes)
            for j, route in enumerate(routes):
                if satisfiable(route.match) is False:
                    yield Shadow(table, vhost, route, None)
                    continue
                for i in sorted(p for p in index.containing(route.match.path) if p < j):
                    if contains(routes[i].match, route.match).contained:
                        yield Shadow(table, vhost, route, routes[i])
                        break

    def _overlaps(self) -> Iterator[Overlap]:
        shadowed = self.shadowed_routes
        for table, vhost in self.context.http_vhosts:
            routes = vhost.routes
            if len({(r.source.namespace, r.source.name) for r in routes if r.source}) < 2:
                continue
            index = PathIndex(routes)
            for j, route in enumerate(routes):
                # A catch-all is last on purpose (Istio moves them); B shadowed is reported already.
                if route.match.is_catch_all or (table, vhost.name, id(route)) in shadowed:
                    continue
                for i in sorted(p for p in index.overlapping(route.match.path) if p < j):
                    earlier = routes[i]
                    if earlier.match.is_catch_all or _same_object(earlier, route):
                        continue
                    example = overlap(earlier.match, route.match)
                    if example is not None:
                        yield Overlap(table, vhost, route, earlier, example)
                        break
