"""`decide(table, request)`: the per-request routing decision (istio-semantics.md Appendix A).

listener by port (404 NR listener_not_found) → filter chain by SNI (none: status 0, close the
connection) → TCP proxy chains are not HTTP (status 0 "tcp_proxy") → virtual host by Host (404 NR
route_not_found) → httpsRedirect before any route (301) → first matching route (404 NR) → action:
direct response, redirect, or forward to a weighted destination whose cluster must exist (503 NC).

The steps are separate functions so `explain()` walks exactly the same code; `decide()` only
strings them together. Forward, direct-response and 404 answers are prebuilt at compile time, so a
request allocates nothing on those paths except, when a route of its virtual host matches on query
parameters, one lazy query view; redirects build their `location` per request.
"""

from __future__ import annotations

import random

from meshgate import ir
from meshgate.routing.decision import Decision, LocalReply
from meshgate.routing.primitives import QueryParams
from meshgate.routing.redirect import redirect_location, tls_redirect_location
from meshgate.routing.request import RequestView
from meshgate.routing.table import (
    ChainMatch,
    CompiledListener,
    CompiledRoute,
    CompiledVirtualHost,
    RoutingTable,
    select_chain,
    select_listener,
    select_vhost,
)
from meshgate.routing.weights import Rng

__all__ = [
    "DIRECT_RESPONSE",
    "FILTER_CHAIN_DISABLED",
    "act",
    "decide",
    "match_route",
    "no_vhost",
    "query_view",
    "tls_redirect",
]

# Envoy's %RESPONSE_CODE_DETAILS% for every route-level local answer: direct responses, redirects
# and the httpsRedirect (SslRedirector) all go through the router's direct-response path.
DIRECT_RESPONSE = "direct_response"
# A chain whose server certificate could not be loaded: Envoy would fail the TLS handshake, so the
# connection is closed (status 0). Envoy has no route-level detail for it; this name is ours.
FILTER_CHAIN_DISABLED = "filter_chain_disabled"


def decide(table: RoutingTable, request: RequestView, rng: Rng = random.random) -> Decision:
    listener = select_listener(table, request.port, request.bind)
    if listener is None:
        return LocalReply(404, "NR", "listener_not_found")
    chain = select_chain(table, listener, request.sni)
    if chain is None:
        return LocalReply(0, "NR", "filter_chain_not_found", listener=listener.listener)
    closed = chain.compiled.closed
    if closed is not None:
        return closed
    host = select_vhost(chain.compiled, request.authority)
    if host is None:
        return no_vhost(listener, chain)
    vhost = host.compiled
    redirect = tls_redirect(vhost, request)
    if redirect is not None:
        return redirect
    route = match_route(vhost, request)
    if route is None:
        return vhost.no_route
    return act(vhost, route, request, rng)


def no_vhost(listener: CompiledListener, chain: ChainMatch) -> LocalReply:
    """No domain of the chain's route table covers the Host: 404 NR."""
    return LocalReply(404, "NR", "route_not_found", listener=listener.listener, chain=chain.chain)


def tls_redirect(vhost: CompiledVirtualHost, request: RequestView) -> LocalReply | None:
    """httpsRedirect: a vhost requiring TLS answers 301 to plaintext requests before any route."""
    if not vhost.vhost.require_tls or request.scheme == "https":
        return None
    location = tls_redirect_location(request)
    return _reply(vhost, 301, "", DIRECT_RESPONSE, headers=(("location", location),))


def query_view(vhost: CompiledVirtualHost, request: RequestView) -> QueryParams | None:
    """The lazy query view, only when some route of the virtual host looks at the query."""
    return QueryParams(request.query) if vhost.uses_query else None


def match_route(vhost: CompiledVirtualHost, request: RequestView) -> CompiledRoute | None:
    """First route whose conditions all hold (routes are in order; catch-alls already last)."""
    query = QueryParams(request.query) if vhost.uses_query else None
    # Same as `route.matcher.matches()`, inlined: this loop is most of decide()'s time.
    for route in vhost.routes:
        for condition in route.conditions:
            if not condition.matches(request, query):
                break
        else:
            return route
    return None


def act(vhost: CompiledVirtualHost, compiled: CompiledRoute, request: RequestView, rng: Rng) -> Decision:
    """Carry out the matched route's action."""
    # Forward and direct-response answers were built at compile time (see CompiledRoute.outcomes).
    outcomes = compiled.outcomes
    if len(outcomes) == 1:
        return outcomes[0]
    picker = compiled.picker
    if outcomes and picker is not None:
        return outcomes[picker.pick_index(rng)]
    route = compiled.route
    match route.action:
        case ir.Redirect() as redirect:
            location = redirect_location(redirect, route.match.path, request)
            headers = (("location", location),)
            return _reply(vhost, redirect.code or 301, "", DIRECT_RESPONSE, route=route, headers=headers)
        case ir.Forward() if compiled.no_destination is not None:
            return compiled.no_destination  # no destination with a positive weight
    raise AssertionError(f"route {route.name!r} has no answer for {route.action!r}")  # pragma: no cover


def _reply(
    vhost: CompiledVirtualHost,
    status: int,
    flags: str,
    details: str,
    *,
    route: ir.Route | None = None,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> LocalReply:
    return LocalReply(
        status,
        flags,
        details,
        body=body,
        headers=headers,
        listener=vhost.listener,
        chain=vhost.chain,
        virtual_host=vhost.vhost,
        route=route,
    )
