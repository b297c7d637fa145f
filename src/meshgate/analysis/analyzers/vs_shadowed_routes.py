"""virtualservice.ShadowedRoutes: routes that can never match because an earlier route takes them.

A route B is shadowed by an earlier route A of the same virtual host iff every request B matches is
also matched by A; `analysis.containment` decides that exactly for exact/prefix/header/method/query
conditions (regexes only when identical), so nothing here is a heuristic. Messages follow Istio:

* IST0131 (info): one match entry of a rule is covered by an earlier entry of the same VirtualService;
* IST0130: every match entry of a rule is covered by earlier entries of the same VirtualService;
* MG0401: covered by a route of *another* VirtualService merged earlier into the same host (Istio
  merges VirtualServices per host in creation order and moves catch-all routes last);
* MG0402: the route's own conditions contradict each other.

Catch-all rules in the middle of one VirtualService are MG0107 (translation drops what follows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from meshgate import ir
from meshgate.analysis import sources
from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.shadowing import Shadow, Shadowing
from meshgate.diag import Diagnostic, make
from meshgate.routing.matchers import RouteMatcher

_CATCH_ALL_NOTE = (
    "; Istio moves catch-all routes to the end of the host, so only the first catch-all can match"
)


@dataclass(frozen=True, slots=True)
class _RuleKey:
    kind: str
    namespace: str
    name: str
    rule: str

    @classmethod
    def of(cls, source: ir.Source) -> _RuleKey:
        return cls(source.kind, source.namespace, source.name, sources.rule_path(source)[0])


def _same_object(a: ir.Source, b: ir.Source) -> bool:
    return (a.kind, a.namespace, a.name) == (b.kind, b.namespace, b.name)


class ShadowedRoutes(Analyzer):
    name = "virtualservice.ShadowedRoutes"
    description = (
        "Finds VirtualService routes that an earlier route (same or merged VirtualService) always takes"
    )
    inputs = ("VirtualService",)
    codes = ("IST0130", "IST0131", "MG0401", "MG0402")

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        shadowing = context.shared("shadowing", Shadowing)
        mine = [
            s
            for s in shadowing.shadows
            if s.route.source is not None
            and not context.is_generated(s.route.source.kind, s.route.source.namespace, s.route.source.name)
        ]
        by_slot = {(s.route_table, s.vhost.name, id(s.route)): s for s in mine}
        unreachable = self._unreachable_rules(context, by_slot)
        emitted: set[tuple[str, ...]] = set()
        for shadow in mine:
            for diagnostic in self._messages(context, shadow, unreachable):
                key = (diagnostic.code, str(diagnostic.origin), diagnostic.message)
                if key not in emitted:
                    emitted.add(key)
                    yield diagnostic

    @staticmethod
    def _unreachable_rules(context: Context, by_slot: dict[tuple[str, str, int], Shadow]) -> set[_RuleKey]:
        """Rules all of whose routes in some vhost are shadowed by routes of the same object."""
        out: set[_RuleKey] = set()
        for table, vhost in context.http_vhosts:
            rules: dict[_RuleKey, list[Shadow | None]] = {}
            for route in vhost.routes:
                if route.source is not None:
                    rules.setdefault(_RuleKey.of(route.source), []).append(
                        by_slot.get((table, vhost.name, id(route)))
                    )
            for key, shadows in rules.items():
                if all(
                    s is not None
                    and s.by is not None
                    and s.by.source is not None
                    and s.route.source is not None
                    and _same_object(s.by.source, s.route.source)
                    for s in shadows
                ):
                    out.add(key)
        return out

    def _messages(self, context: Context, shadow: Shadow, unreachable: set[_RuleKey]) -> Iterator[Diagnostic]:
        route, by = shadow.route, shadow.by
        source = route.source
        assert source is not None
        resource = sources.ref(source)
        if by is None:
            yield make(
                "MG0402",
                origin=sources.origin(source),
                resource=resource,
                field_path=source.detail,
                route=sources.route_label(route, with_where=False),
                reason=RouteMatcher(route.match).describe(),
            )
            return
        other = sources.route_label(by)
        by_source = by.source
        if by_source is not None and _same_object(by_source, source):
            rule, match_index = sources.rule_path(source)
            fix = f"Remove it, or move it before {by_source.detail} (routes are tried in order)."
            if _RuleKey.of(source) in unreachable:
                owner = context.resource(source)
                origin = owner.origin_of(rule) if owner is not None else sources.origin(source)
                yield make(
                    "IST0130",
                    origin=origin,
                    resource=resource,
                    field_path=rule,
                    rule=_rule_text(rule, route),
                    reason=f"{other} already matches every request it matches",
                    fix=fix,
                )
            else:
                yield make(
                    "IST0131",
                    origin=sources.origin(source),
                    resource=resource,
                    field_path=source.detail,
                    rule=_rule_text(rule, route),
                    match=match_index if match_index is not None else 0,
                    reason=f"{other} already matches every request it matches",
                    fix=fix,
                )
            return
        note = _CATCH_ALL_NOTE if route.match.is_catch_all and by.match.is_catch_all else ""
        yield make(
            "MG0401",
            origin=sources.origin(source),
            resource=resource,
            field_path=source.detail,
            route=sources.route_label(route, with_where=False),
            host=", ".join(shadow.vhost.domains),
            other=other,
            note=note,
            fix="Make the matches differ, or move both routes into one VirtualService in the order you"
            " mean; VirtualServices for one host merge in creation order.",
        )


def _rule_text(rule: str, route: ir.Route) -> str:
    return f'{rule} ("{route.name}")' if route.name else rule
