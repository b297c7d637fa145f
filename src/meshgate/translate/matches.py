"""VirtualService `HTTPMatchRequest` → IR `RouteMatch` (istio-semantics sec. 3.5–3.6).

Config-time pruning happens here too: a match entry whose `port`, `gateways`, `sourceLabels` or
`sourceNamespace` cannot hold for this gateway server is dropped, as istiod does.
"""

from __future__ import annotations

from dataclasses import dataclass

import re2

from meshgate import ir
from meshgate.resources.istio import HTTPMatchRequest, StringMatch
from meshgate.routing.primitives import compile_regex, regex_error_text
from meshgate.translate.binding import resolve_gateway_name

MAX_REGEX_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What config-time pruning compares against: this server and this gateway workload."""

    server_port: int
    gateway_key: str  # "namespace/name"
    vs_namespace: str
    workload_labels: tuple[tuple[str, str], ...]
    workload_namespace: str
    ingress_semantics: bool = False


class MatchError(ValueError):
    """A match that cannot be translated; `field` is relative to the match entry."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def applies_here(match: HTTPMatchRequest, ctx: MatchContext) -> bool:
    """sec. 3.5.3: entries that can never hold on this gateway server are dropped at config time."""
    if match.port is not None and match.port != ctx.server_port:
        return False
    if match.gateways:
        return ctx.gateway_key in {resolve_gateway_name(g, ctx.vs_namespace) for g in match.gateways}
    labels = dict(ctx.workload_labels)
    if any(labels.get(k) != v for k, v in match.source_labels.items()):
        return False
    return not (match.source_namespace and match.source_namespace != ctx.workload_namespace)


def validate_regex(pattern: str, field: str) -> str:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise MatchError(field, f"regex is longer than {MAX_REGEX_LENGTH} characters")
    try:
        compile_regex(pattern)  # the same compiled pattern routing will use; RE2 logs nothing
    except re2.error as exc:
        raise MatchError(field, f"invalid RE2 regex {pattern!r}: {regex_error_text(exc)}") from None
    return pattern


def string_match(value: StringMatch, field: str, *, presence_ok: bool = False) -> ir.StringMatch:
    set_fields = [name for name in ("exact", "prefix", "regex") if getattr(value, name) is not None]
    if not set_fields:
        if presence_ok:
            return ir.StringMatch(ir.MatchKind.PRESENT)
        raise MatchError(field, "one of exact, prefix or regex is required")
    if len(set_fields) > 1:
        raise MatchError(
            field, f"only one of exact, prefix, regex may be set (found {', '.join(set_fields)})"
        )
    kind = set_fields[0]
    text = getattr(value, kind)
    if kind == "exact":
        return ir.StringMatch(ir.MatchKind.EXACT, text)
    if kind == "prefix":
        if text == "":
            raise MatchError(f"{field}.prefix", "prefix must not be empty")
        return ir.StringMatch(ir.MatchKind.PREFIX, text)
    if text == "":
        raise MatchError(f"{field}.regex", "regex must not be empty")
    if presence_ok and text == "*":
        return ir.StringMatch(ir.MatchKind.PRESENT)  # Istio accepts regex "*" as "header present"
    return ir.StringMatch(ir.MatchKind.REGEX, validate_regex(text, f"{field}.regex"))


def path_match(value: StringMatch, ignore_case: bool, ingress: bool) -> ir.PathMatch | None:
    matched = string_match(value, "uri")
    if matched.kind is ir.MatchKind.EXACT:
        return ir.PathMatch(ir.PathMatchKind.EXACT, matched.value, ignore_case)
    if matched.kind is ir.MatchKind.PREFIX:
        # Ingress `Prefix` paths are segment-wise (Kubernetes); Istio's own prefix is a raw string prefix.
        kind = ir.PathMatchKind.SEGMENT_PREFIX if ingress else ir.PathMatchKind.PREFIX
        return ir.PathMatch(kind, matched.value, ignore_case)
    return ir.PathMatch(ir.PathMatchKind.REGEX, matched.value)


def route_match(match: HTTPMatchRequest | None, ctx: MatchContext) -> ir.RouteMatch:
    if match is None:
        return ir.RouteMatch()
    path = path_match(match.uri, match.ignore_uri_case, ctx.ingress_semantics) if match.uri else None
    headers = [
        ir.HeaderMatch(name.lower(), string_match(value, f"headers.{name}", presence_ok=True))
        for name, value in sorted(match.headers.items())
    ]
    headers += [
        ir.HeaderMatch(
            name.lower(), string_match(value, f"withoutHeaders.{name}", presence_ok=True), invert=True
        )
        for name, value in sorted(match.without_headers.items())
    ]
    query = tuple(
        ir.QueryMatch(name, string_match(value, f"queryParams.{name}", presence_ok=True))
        for name, value in sorted(match.query_params.items())
    )
    return ir.RouteMatch(
        path=path,
        method=string_match(match.method, "method") if match.method else None,
        scheme=string_match(match.scheme, "scheme") if match.scheme else None,
        authority=string_match(match.authority, "authority") if match.authority else None,
        headers=tuple(headers),
        query=query,
    )
