"""`compile_config(ir.Config) -> RoutingTable`: index and pre-compile everything a request needs.

Pure and deterministic. Nothing raises on bad data: an invalid regex becomes a condition that never
matches and a duplicate domain or server name loses to the first one (Envoy would reject the whole
update; translation is expected to have caught both); each case is listed in `table.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import TypeVar

from meshgate import ir
from meshgate.routing import rewrite
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.table import (
    WILDCARD_BINDS,
    ChainMatch,
    CompiledChain,
    CompiledListener,
    CompiledRoute,
    CompiledVirtualHost,
    HostIndex,
    HostMatch,
    PrefixIndex,
    RoutingTable,
    SuffixIndex,
)
from meshgate.routing.weights import WeightedPicker

__all__ = ["compile_config"]

T = TypeVar("T")


def compile_config(config: ir.Config) -> RoutingTable:
    problems: list[str] = []
    listeners = tuple(_compile_listener(listener, problems) for listener in config.listeners)

    by_port: dict[int, CompiledListener] = {}
    wildcard_by_port: dict[int, CompiledListener] = {}
    by_port_bind: dict[tuple[int, str], CompiledListener] = {}
    for compiled in listeners:
        listener = compiled.listener
        key = (listener.port, listener.bind)
        if key in by_port_bind:
            problems.append(f"listener {listener.name}: port {listener.port} bind {listener.bind!r} repeated")
            continue
        by_port_bind[key] = compiled
        if listener.bind in WILDCARD_BINDS:
            wildcard_by_port.setdefault(listener.port, compiled)
        by_port.setdefault(listener.port, compiled)
    # A request without a bind address prefers the listener on all addresses.
    by_port.update(wildcard_by_port)

    clusters: dict[str, ir.Cluster] = {}
    for cluster in config.clusters:
        if cluster.name in clusters:
            problems.append(f"cluster {cluster.name}: defined twice, the first one is used")
            continue
        clusters[cluster.name] = cluster

    return RoutingTable(
        config=config,
        listeners=listeners,
        by_port=MappingProxyType(by_port),
        by_port_bind=MappingProxyType(by_port_bind),
        wildcard_by_port=MappingProxyType(wildcard_by_port),
        clusters=MappingProxyType(clusters),
        problems=tuple(problems),
    )


def _compile_listener(listener: ir.Listener, problems: list[str]) -> CompiledListener:
    chains = tuple(_compile_chain(listener, chain, problems) for chain in listener.chains)
    tls = any(c.chain.transport == "tls" or c.chain.tls is not None for c in chains)
    plaintext = ChainMatch(chains[0], "plaintext", "") if chains and not tls else None

    exact: dict[str, ChainMatch] = {}
    wildcards: dict[str, ChainMatch] = {}
    default: ChainMatch | None = None
    names: list[str] = []
    where = f"listener {listener.name}"
    for compiled in chains:
        server_names = tuple(n.lower() for n in compiled.chain.server_names)
        names.extend(server_names)
        # A '*' anywhere lifts the SNI restriction (istio-semantics 1.3.5): the chain is the default.
        if not server_names or "*" in server_names:
            if default is None:
                default = ChainMatch(compiled, "default", "")
            else:
                both = f"{default.chain.name} and {compiled.chain.name}"
                problems.append(f"{where}: chains {both} both match any SNI; the first one is used")
            continue
        for name in server_names:
            what = f"{where}: SNI {name}"
            if name.startswith("*"):
                _first(wildcards, name[1:], ChainMatch(compiled, "wildcard", name), problems, what)
            else:
                _first(exact, name, ChainMatch(compiled, "exact", name), problems, what)

    return CompiledListener(
        listener=listener,
        chains=chains,
        plaintext=plaintext,
        sni_exact=MappingProxyType(exact),
        sni_wildcard=_suffix_index(wildcards),
        sni_default=default,
        server_names=tuple(names),
    )


def _compile_chain(listener: ir.Listener, chain: ir.FilterChain, problems: list[str]) -> CompiledChain:
    handler = chain.handler
    if isinstance(handler, ir.TcpProxy):
        return CompiledChain(chain, None, WeightedPicker.build(handler.clusters))
    return CompiledChain(chain, _compile_hosts(listener, chain, handler, problems))


def _compile_hosts(
    listener: ir.Listener, chain: ir.FilterChain, handler: ir.HttpHandler, problems: list[str]
) -> HostIndex:
    exact: dict[str, HostMatch] = {}
    suffixes: dict[str, HostMatch] = {}
    prefixes: dict[str, HostMatch] = {}
    star: HostMatch | None = None
    domains: list[str] = []
    where = f"route table {handler.route_table}"
    for vhost in handler.virtual_hosts:
        compiled = _compile_vhost(listener, chain, vhost, problems)
        for raw in vhost.domains:
            domain = raw.lower()
            domains.append(domain)
            what = f"{where}: domain {domain}"
            if domain == "*":
                if star is None:
                    star = HostMatch(compiled, "any", domain)
                else:
                    problems.append(f"{what} repeated in {vhost.name}; {star.vhost.name} keeps it")
            elif domain.startswith("*"):
                _first(suffixes, domain[1:], HostMatch(compiled, "suffix wildcard", domain), problems, what)
            elif domain.endswith("*"):
                _first(prefixes, domain[:-1], HostMatch(compiled, "prefix wildcard", domain), problems, what)
            else:
                _first(exact, domain, HostMatch(compiled, "exact", domain), problems, what)
    return HostIndex(
        exact=MappingProxyType(exact),
        suffixes=_suffix_index(suffixes),
        prefixes=PrefixIndex(_lengths(prefixes), MappingProxyType(prefixes)),
        star=star,
        domains=tuple(domains),
    )


def _compile_vhost(
    listener: ir.Listener, chain: ir.FilterChain, vhost: ir.VirtualHost, problems: list[str]
) -> CompiledVirtualHost:
    routes: list[CompiledRoute] = []
    for index, route in enumerate(vhost.routes):
        matcher = RouteMatcher(route.match)
        where = f"virtual host {vhost.name} route {route.name or index}"
        problems.extend(f"{where}: {problem}" for problem in matcher.problems())
        picker = None
        if isinstance(route.action, ir.Forward):
            picker = WeightedPicker.build(route.action.clusters)
            if route.action.rewrite is not None:
                rewrite.prepare(route.action.rewrite)
        routes.append(CompiledRoute(index, route, matcher, picker))
    uses_query = any(r.matcher.uses_query for r in routes)
    return CompiledVirtualHost(vhost, tuple(routes), uses_query, listener, chain)


def _first(index: dict[str, T], key: str, value: T, problems: list[str], what: str) -> None:
    if key in index:
        problems.append(f"{what} repeated; the first one is used")
        return
    index[key] = value


def _lengths(keys: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({len(k) for k in keys}, reverse=True))


def _suffix_index(entries: dict[str, T]) -> SuffixIndex[T]:
    return SuffixIndex(_lengths(entries), MappingProxyType(entries))
