"""CORS for routes with a `corsPolicy` (istio-semantics 3.15; Envoy's CORS filter).

Requests without `Origin` are untouched. A preflight (`OPTIONS` + `Origin` +
`Access-Control-Request-Method`) from an allowed origin is answered 200 by the gateway itself;
from another origin it is forwarded (`unmatchedPreflights: FORWARD`, the default) or answered
200 without CORS headers (`IGNORE`). Actual requests from an allowed origin get
`access-control-allow-origin` (the origin echoed), `-allow-credentials` and `-expose-headers`.
"""

from __future__ import annotations

from meshgate import ir
from meshgate.routing.primitives import StrMatcher, compile_string


class CompiledCors:
    __slots__ = ("_any", "_matchers", "policy", "preflight_headers", "response_headers")

    def __init__(self, policy: ir.CorsPolicy) -> None:
        self.policy = policy
        self._any = any(m.kind is ir.MatchKind.EXACT and m.value == "*" for m in policy.allow_origins)
        self._matchers: tuple[StrMatcher, ...] = tuple(compile_string(m) for m in policy.allow_origins)
        preflight: list[tuple[str, str]] = []
        if policy.allow_methods:
            preflight.append(("access-control-allow-methods", ",".join(policy.allow_methods)))
        if policy.allow_headers:
            preflight.append(("access-control-allow-headers", ",".join(policy.allow_headers)))
        if policy.max_age is not None:
            preflight.append(("access-control-max-age", str(policy.max_age)))
        if policy.allow_credentials:
            preflight.append(("access-control-allow-credentials", "true"))
        self.preflight_headers = tuple(preflight)
        actual: list[tuple[str, str]] = []
        if policy.allow_credentials:
            actual.append(("access-control-allow-credentials", "true"))
        if policy.expose_headers:
            actual.append(("access-control-expose-headers", ",".join(policy.expose_headers)))
        self.response_headers = tuple(actual)

    def allowed(self, origin: str) -> bool:
        return self._any or any(m.test(origin) for m in self._matchers)

    def preflight(self, origin: str) -> tuple[tuple[str, str], ...] | None:
        """Headers of the gateway's answer to a preflight, or None to forward it."""
        if self.allowed(origin):
            return (("access-control-allow-origin", origin), *self.preflight_headers)
        return None if self.policy.forward_unmatched_preflights else ()

    def actual(self, origin: str) -> ir.HeaderEdits | None:
        """Response headers for an actual cross-origin request (None: origin not allowed)."""
        if not self.allowed(origin):
            return None
        return ir.HeaderEdits(set=(("access-control-allow-origin", origin), *self.response_headers))
