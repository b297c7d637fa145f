"""What `decide()` returns: forward to a cluster, or answer locally (404 NR, redirects, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from meshgate import ir


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Forward the request. `destination` is the weighted cluster already picked."""

    listener: ir.Listener
    chain: ir.FilterChain
    virtual_host: ir.VirtualHost
    route: ir.Route
    destination: ir.WeightedCluster
    cluster: ir.Cluster


@dataclass(frozen=True, slots=True)
class LocalReply:
    """Answer without an upstream. `flags`/`details` follow Envoy's %RESPONSE_FLAGS% and
    %RESPONSE_CODE_DETAILS% (e.g. 404, "NR", "route_not_found")."""

    status: int
    flags: str = ""
    details: str = ""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    listener: ir.Listener | None = None
    chain: ir.FilterChain | None = None
    virtual_host: ir.VirtualHost | None = None
    route: ir.Route | None = None


Decision = RouteDecision | LocalReply
