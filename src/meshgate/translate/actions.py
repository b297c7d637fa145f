"""VirtualService `http[]` rule fields → IR route actions and policies (sec. 3.7–3.16).

Each function returns IR values or raises `RuleError` naming the field; the caller turns that into a
diagnostic and drops only the affected route.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from meshgate import ir
from meshgate.resources.istio import (
    CorsPolicy,
    Destination,
    HeaderOperations,
    Headers,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
)
from meshgate.translate.matches import MatchError, string_match, validate_regex

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
MAX_DIRECT_BODY = 1024 * 1024
DEFAULT_RETRY_ON = ir.DEFAULT_RETRY_POLICY.retry_on
KNOWN_RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
AUTHORITY_HEADERS = frozenset({"host", ":authority"})


class RuleError(MatchError):
    """Same shape as MatchError: a field (relative to the rule) and a reason."""


@dataclass(frozen=True, slots=True)
class ResolvedDestination:
    cluster: str
    service_host: str
    port: int


# resolve(destination, field) -> ResolvedDestination; reports its own (non-fatal) diagnostics.
DestinationResolver = Callable[[Destination, str], ResolvedDestination]


def header_edits(ops: HeaderOperations | None, field: str, *, request: bool) -> tuple[ir.HeaderEdits, str]:
    """(edits, authority rewrite). `host`/`:authority` in request set/add become an authority rewrite."""
    if ops is None:
        return ir.HeaderEdits(), ""
    authority = ""
    set_pairs: list[tuple[str, str]] = []
    add_pairs: list[tuple[str, str]] = []
    for target, pairs, label in ((set_pairs, ops.set, "set"), (add_pairs, ops.add, "add")):
        for name, value in pairs.items():
            lower = name.lower()
            if lower in AUTHORITY_HEADERS:
                if not request:
                    raise RuleError(f"{field}.{label}.{name}", "host cannot be set on responses")
                authority = value
                continue
            if lower.startswith(":"):
                continue  # other pseudo-headers are dropped, as istiod does
            target.append((lower, value))
    for name in ops.remove:
        if name.lower() in AUTHORITY_HEADERS or name.startswith(":"):
            raise RuleError(f"{field}.remove", f"{name} cannot be removed")
    return (
        ir.HeaderEdits(tuple(set_pairs), tuple(add_pairs), tuple(n.lower() for n in ops.remove)),
        authority,
    )


def headers_pair(headers: Headers | None, field: str) -> tuple[ir.HeaderEdits, ir.HeaderEdits, str]:
    if headers is None:
        return ir.HeaderEdits(), ir.HeaderEdits(), ""
    request, authority = header_edits(headers.request, f"{field}.request", request=True)
    response, _ = header_edits(headers.response, f"{field}.response", request=False)
    return request, response, authority


def forward(rule: HTTPRoute, resolve: DestinationResolver) -> tuple[ir.Forward, str]:
    """(Forward action, route-level authority rewrite from headers)."""
    routes = rule.route
    if len(routes) > 1:
        if any((r.weight or 0) < 0 for r in routes):
            raise RuleError("route", "weights must not be negative")
        if sum(r.weight or 0 for r in routes) == 0:
            raise RuleError("route", "several destinations need weights; the total is 0")
    clusters: list[ir.WeightedCluster] = []
    for i, destination in enumerate(routes):
        weight = 100 if len(routes) == 1 else (destination.weight or 0)
        if weight == 0:
            continue  # weight 0 entries are dropped (sec. 3.7.6)
        resolved = resolve(destination.destination, f"route[{i}].destination")
        request, response, authority = headers_pair(destination.headers, f"route[{i}].headers")
        clusters.append(
            ir.WeightedCluster(
                cluster=resolved.cluster,
                weight=weight,
                request_headers=request,
                response_headers=response,
                authority=authority,
                service_host=resolved.service_host,
                port=resolved.port,
            )
        )
    return ir.Forward(tuple(clusters), rewrite(rule.rewrite)), ""


def rewrite(value: HTTPRewrite | None) -> ir.Rewrite | None:
    if value is None:
        return None
    if value.uri is not None and value.uri_regex_rewrite is not None:
        raise RuleError("rewrite", "uri and uriRegexRewrite are mutually exclusive")
    if value.uri is None and value.uri_regex_rewrite is None and not value.authority:
        raise RuleError("rewrite", "one of uri, uriRegexRewrite or authority is required")
    regex, substitution = None, ""
    if value.uri_regex_rewrite is not None:
        if not value.uri_regex_rewrite.match:
            raise RuleError("rewrite.uriRegexRewrite.match", "match is required")
        regex = validate_regex(value.uri_regex_rewrite.match, "rewrite.uriRegexRewrite.match")
        substitution = value.uri_regex_rewrite.rewrite
    return ir.Rewrite(
        uri=value.uri, regex=regex, regex_substitution=substitution, authority=value.authority or ""
    )


def redirect(value: HTTPRedirect, server_port: int, server_tls: bool) -> ir.Redirect:
    code = value.redirect_code or 301
    if code not in REDIRECT_CODES:
        raise RuleError(
            "redirect.redirectCode", f"{code} is not a redirect code Envoy supports (301, 302, 303, 307, 308)"
        )
    if value.uri is not None and value.prefix_rewrite is not None:
        raise RuleError("redirect", "uri and prefixRewrite are mutually exclusive")
    if value.scheme is not None and value.scheme not in ("http", "https"):
        raise RuleError("redirect.scheme", "scheme must be http or https")
    port: int | None = value.port
    if value.derive_port == "FROM_REQUEST_PORT":
        port = server_port  # the server's port.number, not the container port (sec. 3.8.4)
    elif value.derive_port == "FROM_PROTOCOL_DEFAULT":
        port = 0
    elif value.derive_port is not None:
        raise RuleError("redirect.derivePort", f"unknown derivePort {value.derive_port!r}")
    if all(v is None for v in (value.uri, value.prefix_rewrite, value.authority, value.scheme, port)):
        raise RuleError(
            "redirect", "one of uri, prefixRewrite, authority, scheme, port or derivePort is required"
        )
    return ir.Redirect(
        code=code,
        scheme=value.scheme,
        host=value.authority,
        port=port,
        path=value.uri,
        prefix_rewrite=value.prefix_rewrite,
        server_tls=server_tls,
    )


def direct_response(value: HTTPDirectResponse) -> ir.DirectResponse:
    if not 200 <= value.status <= 600:
        raise RuleError("directResponse.status", "status must be between 200 and 600")
    body = b""
    if value.body is not None:
        if value.body.string is not None and value.body.bytes is not None:
            raise RuleError("directResponse.body", "only one of string and bytes may be set")
        if value.body.string is not None:
            body = value.body.string.encode("utf-8")
        elif value.body.bytes is not None:
            try:
                body = base64.b64decode(value.body.bytes, validate=True)
            except (binascii.Error, ValueError):
                raise RuleError("directResponse.body.bytes", "bytes must be base64") from None
    if len(body) > MAX_DIRECT_BODY:
        raise RuleError("directResponse.body", "body is larger than 1 MiB")
    return ir.DirectResponse(value.status, body)


def retries(value: HTTPRetry | None) -> ir.RetryPolicy:
    if value is None:
        return ir.DEFAULT_RETRY_POLICY
    if value.attempts < 0:
        raise RuleError("retries.attempts", "attempts must not be negative")
    if value.attempts == 0:
        return ir.NO_RETRIES
    retry_on: list[str] = []
    codes: list[int] = []
    for item in (value.retry_on or ",".join(DEFAULT_RETRY_ON)).split(","):
        token = item.strip()
        if not token:
            continue
        if token.isdigit():
            codes.append(int(token))
            if "retriable-status-codes" not in retry_on:
                retry_on.append("retriable-status-codes")
        elif token in KNOWN_RETRY_ON:
            if token not in retry_on:
                retry_on.append(token)
        else:
            raise RuleError("retries.retryOn", f"unknown retry condition {token!r}")
    return ir.RetryPolicy(
        attempts=value.attempts,
        retry_on=tuple(retry_on),
        per_try_timeout=value.per_try_timeout,
        retriable_status_codes=tuple(codes),
        backoff_base=value.backoff if value.backoff is not None else 0.025,
        retry_ignore_previous_hosts=value.retry_ignore_previous_hosts is not False,
    )


def fault(value: HTTPFaultInjection | None) -> ir.FaultPolicy | None:
    if value is None:
        return None
    if value.delay is None and value.abort is None:
        raise RuleError("fault", "one of delay or abort is required")
    delay, delay_percent = None, 0.0
    if value.delay is not None:
        if value.delay.exponential_delay is not None:
            raise RuleError("fault.delay.exponentialDelay", "exponentialDelay is not supported")
        if value.delay.fixed_delay is None:
            raise RuleError("fault.delay.fixedDelay", "fixedDelay is required")
        delay = value.delay.fixed_delay
        if value.delay.percentage is not None:
            delay_percent = _percent(value.delay.percentage.value, "fault.delay.percentage.value")
        else:
            delay_percent = float(value.delay.percent or 0)  # deprecated integer form
    abort_status, abort_grpc, abort_percent = None, None, 0.0
    if value.abort is not None:
        if value.abort.http2_error:
            raise RuleError("fault.abort.http2Error", "http2Error is not supported")
        abort_status, abort_grpc = value.abort.http_status, value.abort.grpc_status
        if abort_status is not None and not 200 <= abort_status <= 600:
            raise RuleError("fault.abort.httpStatus", "httpStatus must be between 200 and 600")
        if abort_status is None and abort_grpc is None:
            raise RuleError("fault.abort", "httpStatus or grpcStatus is required")
        if value.abort.percentage is not None:
            abort_percent = _percent(value.abort.percentage.value, "fault.abort.percentage.value")
    return ir.FaultPolicy(delay, delay_percent, abort_status, abort_grpc, abort_percent)


def _percent(value: float, field: str) -> float:
    if not 0.0 <= value <= 100.0:
        raise RuleError(field, "percentage must be between 0 and 100")
    return value


def mirrors(rule: HTTPRoute, resolve: DestinationResolver) -> tuple[ir.Mirror, ...]:
    if rule.mirror is not None and rule.mirrors:
        raise RuleError("mirrors", "mirror and mirrors are mutually exclusive")
    out: list[ir.Mirror] = []
    if rule.mirror is not None:
        percent = 100.0
        if rule.mirror_percentage is not None:
            percent = _percent(rule.mirror_percentage.value, "mirrorPercentage.value")
        elif rule.mirror_percent is not None:
            percent = _percent(float(rule.mirror_percent), "mirrorPercent")
        if percent > 0:
            target = resolve(rule.mirror, "mirror")
            out.append(ir.Mirror(target.cluster, percent, target.service_host))
    for i, policy in enumerate(rule.mirrors):
        percent = (
            _percent(policy.percentage.value, f"mirrors[{i}].percentage.value")
            if policy.percentage
            else 100.0
        )
        if percent > 0:
            target = resolve(policy.destination, f"mirrors[{i}].destination")
            out.append(ir.Mirror(target.cluster, percent, target.service_host))
    return tuple(out)


def cors(value: CorsPolicy | None) -> ir.CorsPolicy | None:
    if value is None:
        return None
    origins = [string_match(o, f"corsPolicy.allowOrigins[{i}]") for i, o in enumerate(value.allow_origins)]
    for origin in value.allow_origin:  # deprecated exact list; "*" = any origin
        origins.append(
            ir.StringMatch(ir.MatchKind.REGEX, ".*")
            if origin == "*"
            else ir.StringMatch(ir.MatchKind.EXACT, origin)
        )
    if value.max_age is not None and value.max_age != int(value.max_age):
        raise RuleError("corsPolicy.maxAge", "maxAge must be whole seconds")
    return ir.CorsPolicy(
        allow_origins=tuple(origins),
        allow_methods=tuple(value.allow_methods),
        allow_headers=tuple(value.allow_headers),
        expose_headers=tuple(value.expose_headers),
        max_age=int(value.max_age) if value.max_age is not None else None,
        allow_credentials=value.allow_credentials,
        forward_unmatched_preflights=(value.unmatched_preflights or "FORWARD") != "IGNORE",
    )
