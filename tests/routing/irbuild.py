"""Small builders for IR configs and requests used by the routing tests.

Only the fields a test cares about are spelled out; everything else gets a harmless default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from meshgate import ir
from meshgate.routing import RequestView, RoutingTable, compile_config

S = ir.StringMatch
K = ir.MatchKind
P = ir.PathMatchKind


def exact(value: str, ignore_case: bool = False) -> ir.StringMatch:
    return S(K.EXACT, value, ignore_case)


def prefix(value: str, ignore_case: bool = False) -> ir.StringMatch:
    return S(K.PREFIX, value, ignore_case)


def regex(value: str) -> ir.StringMatch:
    return S(K.REGEX, value)


PRESENT = S(K.PRESENT)


def path(kind: ir.PathMatchKind, value: str, ignore_case: bool = False) -> ir.PathMatch:
    return ir.PathMatch(kind, value, ignore_case)


def cluster_name(service: str, port: int = 80) -> str:
    return f"outbound|{port}||{service}"


def forward(*services: str | tuple[str, int], rewrite: ir.Rewrite | None = None) -> ir.Forward:
    """forward("a") or forward(("a", 90), ("b", 10)): destinations by service name and weight."""
    clusters = []
    for item in services:
        name, weight = (item, 100) if isinstance(item, str) else item
        clusters.append(ir.WeightedCluster(cluster_name(name), weight, service_host=name, port=80))
    return ir.Forward(tuple(clusters), rewrite)


def route(
    name: str = "r",
    *,
    match: ir.RouteMatch | None = None,
    action: ir.RouteAction | None = None,
    to: str = "svc",
    **conditions: object,
) -> ir.Route:
    """A route; `conditions` are RouteMatch fields (path=..., method=..., headers=(...))."""
    if match is None:
        match = ir.RouteMatch(**conditions)  # type: ignore[arg-type]
    return ir.Route(name=name, match=match, action=action if action is not None else forward(to))


def vhost(name: str, domains: Iterable[str], *routes: ir.Route, require_tls: bool = False) -> ir.VirtualHost:
    return ir.VirtualHost(name=name, domains=tuple(domains), routes=tuple(routes), require_tls=require_tls)


def http_chain(
    *vhosts: ir.VirtualHost, name: str = "http", server_names: Iterable[str] = (), tls: bool = False
) -> ir.FilterChain:
    settings = ir.TlsSettings(ir.TlsMode.SIMPLE) if tls else None
    return ir.FilterChain(
        name=name,
        server_names=tuple(server_names),
        handler=ir.HttpHandler(route_table=f"rt.{name}", virtual_hosts=tuple(vhosts)),
        tls=settings,
        transport="tls" if tls else "raw",
    )


def tcp_chain(name: str, server_names: Iterable[str] = (), to: str = "svc") -> ir.FilterChain:
    return ir.FilterChain(
        name=name,
        server_names=tuple(server_names),
        handler=ir.TcpProxy(clusters=forward(to).clusters, name=name),
        transport="tls",
    )


def listener(port: int, *chains: ir.FilterChain, bind: str = "0.0.0.0") -> ir.Listener:
    protocol = "HTTPS" if any(c.transport == "tls" for c in chains) else "HTTP"
    return ir.Listener(name=f"{bind}_{port}", port=port, bind=bind, protocol=protocol, chains=chains)


def cluster(service: str, port: int = 80) -> ir.Cluster:
    return ir.Cluster(name=cluster_name(service, port), service_host=service, port=port)


def config(*listeners: ir.Listener, services: Iterable[str] = ("svc",)) -> ir.Config:
    return ir.Config(listeners=tuple(listeners), clusters=tuple(cluster(s) for s in services))


def table(*vhosts: ir.VirtualHost, port: int = 80, services: Iterable[str] = ("svc",)) -> RoutingTable:
    """One plaintext HTTP listener on `port` serving `vhosts`."""
    return compile_config(config(listener(port, http_chain(*vhosts)), services=services))


def req(
    authority: str = "a.example.com",
    path: str = "/",
    *,
    query: str = "",
    method: str = "GET",
    scheme: str = "http",
    headers: Mapping[str, str] | None = None,
    port: int = 80,
    sni: str | None = None,
    bind: str = "",
) -> RequestView:
    return RequestView(
        port=port,
        authority=authority,
        path=path,
        query=query,
        method=method,
        scheme=scheme,
        headers=dict(headers or {}),
        sni=sni,
        bind=bind,
    )


def fixed_rng(*values: float) -> Callable[[], float]:
    """An rng returning `values` in turn (cycling), for deterministic weighted picks."""
    state = {"i": 0}

    def rng() -> float:
        value = values[state["i"] % len(values)]
        state["i"] += 1
        return value

    return rng
