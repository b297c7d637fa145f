"""One VirtualService's `http` rules → ordered IR routes for one gateway server (sec. 3.5).

A rule without `match` is one catch-all route; a rule with matches gives one route per surviving
match entry (OR). Translation of a VirtualService stops at its first catch-all route: later rules
can never match and are left out (reported once as MG0107).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from meshgate import ir
from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import Destination, HTTPMatchRequest, HTTPRoute, VirtualService
from meshgate.translate import actions
from meshgate.translate.actions import DestinationResolver, ResolvedDestination
from meshgate.translate.delegate import DelegateLookup, expand_rules
from meshgate.translate.matches import MatchContext, MatchError, applies_here, route_match


@dataclass(slots=True)
class RouteBatch:
    routes: list[ir.Route] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def route_name(rule: HTTPRoute, match: HTTPMatchRequest | None) -> str:
    if match is not None and match.name:
        return f"{rule.name}.{match.name}" if rule.name else match.name
    return rule.name


ResolverFor = Callable[[VirtualService], DestinationResolver]


def translate_http(
    root: VirtualService,
    ctx: MatchContext,
    resolver_for: ResolverFor,
    server_tls: bool,
    delegates: DelegateLookup | None = None,
) -> RouteBatch:
    batch = RouteBatch()
    sources = expand_rules(root, delegates or _no_delegates, batch.diagnostics)
    for index, source_rule in enumerate(sources):
        rule, vs, at = source_rule.rule, source_rule.owner, source_rule.at
        entries: list[tuple[str, HTTPMatchRequest | None]] = [
            (f"{at}.match[{j}]", m) for j, m in enumerate(rule.match) if applies_here(m, ctx)
        ]
        if rule.match and not entries:
            continue  # every match entry was pruned for this server (port/gateways/sourceLabels)
        if not rule.match:
            entries = [(at, None)]
        try:
            scoped = _scoped(resolver_for(vs), at)
            template = _rule_template(vs, rule, at, ctx, scoped, server_tls, batch)
        except MatchError as exc:
            _drop(batch, vs, at, exc)
            continue
        if template is None:
            continue
        for match_at, match in entries:
            try:
                matched = route_match(match, ctx)
            except MatchError as exc:
                _drop(batch, vs, match_at, exc)
                continue
            source = ir.Source(
                "VirtualService", vs.namespace, vs.name, vs.origin.file, vs.origin_of(match_at).line, match_at
            )
            batch.routes.append(replace(template, name=route_name(rule, match), match=matched, source=source))
            if matched.is_catch_all:
                remaining = len(sources) - index - 1
                if remaining:
                    batch.diagnostics.append(
                        make(
                            "MG0107",
                            origin=vs.origin_of(match_at),
                            resource=vs.ref,
                            field_path=match_at,
                            count=remaining,
                            route=route_name(rule, match) or match_at,
                        )
                    )
                return batch
    return batch


def _no_delegates(namespace: str, name: str) -> VirtualService | None:
    return None


def _scoped(resolve: DestinationResolver, at: str) -> DestinationResolver:
    """Field paths in resolver diagnostics are relative to the rule; make them absolute."""

    def scoped(destination: Destination, field_path: str) -> ResolvedDestination:
        return resolve(destination, f"{at}.{field_path}")

    return scoped


def _drop(batch: RouteBatch, vs: VirtualService, at: str, exc: MatchError) -> None:
    path = f"{at}.{exc.field}" if exc.field else at
    batch.diagnostics.append(
        make(
            "IST0106",
            origin=vs.origin_of(path),
            resource=vs.ref,
            field_path=path,
            field=path,
            reason=exc.reason,
        )
    )


def _rule_template(
    vs: VirtualService,
    rule: HTTPRoute,
    at: str,
    ctx: MatchContext,
    resolve: DestinationResolver,
    server_tls: bool,
    batch: RouteBatch,
) -> ir.Route | None:
    """The rule's action and policies as a Route with an empty match; one copy per match entry."""
    present = [
        name
        for name, value in (
            ("route", rule.route),
            ("redirect", rule.redirect),
            ("directResponse", rule.direct_response),
        )
        if value
    ]
    if len(present) != 1:
        reason = "exactly one of route, redirect, directResponse or delegate is required"
        raise MatchError("", f"{reason} (found {', '.join(present) or 'none'})")
    request, response, authority = actions.headers_pair(rule.headers, "headers")
    template = ir.Route(
        name="",
        match=ir.RouteMatch(),
        action=ir.DirectResponse(404),  # replaced below
        request_headers=request,
        response_headers=response,
        timeout=rule.timeout or None,
        retries=actions.retries(rule.retries),
        fault=actions.fault(rule.fault),
        mirrors=actions.mirrors(rule, resolve),
        cors=actions.cors(rule.cors_policy),
    )
    if rule.redirect is not None:
        if rule.rewrite is not None or rule.fault is not None:
            raise MatchError("redirect", "redirect cannot be combined with rewrite or fault")
        return replace(template, action=actions.redirect(rule.redirect, ctx.server_port, server_tls))
    if rule.direct_response is not None:
        if rule.rewrite is not None or rule.fault is not None:
            raise MatchError("directResponse", "directResponse cannot be combined with rewrite or fault")
        return replace(template, action=actions.direct_response(rule.direct_response))
    forward, _ = actions.forward(rule, resolve)
    if authority:
        rewrite = forward.rewrite or ir.Rewrite()
        if rewrite.authority:
            raise MatchError("headers.request", "only one authority rewrite may be configured per route")
        forward = ir.Forward(
            forward.clusters, ir.Rewrite(rewrite.uri, rewrite.regex, rewrite.regex_substitution, authority)
        )
    _check_weights(vs, rule, at, batch)
    return replace(template, action=forward)


def _check_weights(vs: VirtualService, rule: HTTPRoute, at: str, batch: RouteBatch) -> None:
    if len(rule.route) < 2:
        return
    weights = [d.weight or 0 for d in rule.route]
    total = sum(weights)
    if total != 100:
        split = ", ".join(
            f"{d.destination.host} {100 * (d.weight or 0) / total:.1f}%" for d in rule.route if d.weight
        )
        batch.diagnostics.append(
            make(
                "MG0104",
                origin=vs.origin_of(f"{at}.route"),
                resource=vs.ref,
                field_path=f"{at}.route",
                route=rule.name or at,
                total=total,
                split=split,
            )
        )
