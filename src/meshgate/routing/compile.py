"""`compile_config(ir.Config) -> RoutingTable`: index and pre-compile everything a request needs.

Pure and deterministic. Nothing raises on bad data: an invalid regex becomes a condition that never
matches and a duplicate domain or server name loses to the first one (Envoy would reject the whole
update; translation is expected to have caught both); each case is listed in `table.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from meshgate import ir
from meshgate.routing import rewrite
from meshgate.routing.decide import DIRECT_RESPONSE, FILTER_CHAIN_DISABLED
from meshgate.routing.decision import LocalReply, RouteDecision
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
    compiler = _Compiler(config)
    listeners = tuple(compiler.listener(listener) for listener in config.listeners)
    problems = compiler.problems

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

    return RoutingTable(
        config=config,
        listeners=listeners,
        by_port=by_port,
        by_port_bind=by_port_bind,
        wildcard_by_port=wildcard_by_port,
        clusters=MappingProxyType(compiler.clusters),
        problems=tuple(problems),
    )


class _Compiler:
    """Compile-time state: the cluster index (answers are resolved against it) and findings."""

    def __init__(self, config: ir.Config) -> None:
        self.problems: list[str] = []
        self.clusters: dict[str, ir.Cluster] = {}
        for cluster in config.clusters:
            if cluster.name in self.clusters:
                self.problems.append(f"cluster {cluster.name}: defined twice, the first one is used")
                continue
            self.clusters[cluster.name] = cluster

    def listener(self, listener: ir.Listener) -> CompiledListener:
        chains = tuple(self.chain(listener, chain) for chain in listener.chains)
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
                    self.problems.append(f"{where}: chains {both} both match any SNI; the first one is used")
                continue
            for name in server_names:
                what = f"{where}: SNI {name}"
                if name.startswith("*"):
                    self._first(wildcards, name[1:], ChainMatch(compiled, "wildcard", name), what)
                else:
                    self._first(exact, name, ChainMatch(compiled, "exact", name), what)

        return CompiledListener(
            listener=listener,
            chains=chains,
            plaintext=plaintext,
            sni_exact=exact,
            sni_wildcard=_suffix_index(wildcards),
            sni_default=default,
            server_names=tuple(names),
        )

    def chain(self, listener: ir.Listener, chain: ir.FilterChain) -> CompiledChain:
        handler = chain.handler
        closed = None
        if chain.disabled:
            # It keeps its SNI names (other chains do not get those connections) but closes them.
            closed = LocalReply(0, "", FILTER_CHAIN_DISABLED, listener=listener, chain=chain)
        if isinstance(handler, ir.TcpProxy):
            closed = closed or LocalReply(0, "", "tcp_proxy", listener=listener, chain=chain)
            return CompiledChain(chain, None, WeightedPicker.build(handler.clusters), closed)
        return CompiledChain(chain, self.hosts(listener, chain, handler), None, closed)

    def hosts(self, listener: ir.Listener, chain: ir.FilterChain, handler: ir.HttpHandler) -> HostIndex:
        exact: dict[str, HostMatch] = {}
        suffixes: dict[str, HostMatch] = {}
        prefixes: dict[str, HostMatch] = {}
        star: HostMatch | None = None
        domains: list[str] = []
        where = f"route table {handler.route_table}"
        for vhost in handler.virtual_hosts:
            compiled = self.vhost(listener, chain, vhost)
            for raw in vhost.domains:
                domain = raw.lower()
                domains.append(domain)
                what = f"{where}: domain {domain}"
                if domain == "*":
                    if star is None:
                        star = HostMatch(compiled, "any", domain)
                    else:
                        self.problems.append(f"{what} repeated in {vhost.name}; {star.vhost.name} keeps it")
                elif domain.startswith("*"):
                    self._first(suffixes, domain[1:], HostMatch(compiled, "suffix wildcard", domain), what)
                elif domain.endswith("*"):
                    self._first(prefixes, domain[:-1], HostMatch(compiled, "prefix wildcard", domain), what)
                else:
                    self._first(exact, domain, HostMatch(compiled, "exact", domain), what)
        return HostIndex(
            exact=exact,
            suffixes=_suffix_index(suffixes),
            prefixes=PrefixIndex(_lengths(prefixes), prefixes),
            star=star,
            domains=tuple(domains),
        )

    def vhost(
        self, listener: ir.Listener, chain: ir.FilterChain, vhost: ir.VirtualHost
    ) -> CompiledVirtualHost:
        place = _Place(listener, chain, vhost)
        routes: list[CompiledRoute] = []
        for index, route in enumerate(vhost.routes):
            matcher = RouteMatcher(route.match)
            where = f"virtual host {vhost.name} route {route.name or index}"
            self.problems.extend(f"{where}: {problem}" for problem in matcher.problems())
            routes.append(self.route(place, index, route, matcher))
        uses_query = any(r.matcher.uses_query for r in routes)
        no_route = place.reply(404, "NR", "route_not_found")
        return CompiledVirtualHost(vhost, tuple(routes), uses_query, listener, chain, no_route)

    def route(self, place: _Place, index: int, route: ir.Route, matcher: RouteMatcher) -> CompiledRoute:
        picker = None
        outcomes: tuple[RouteDecision | LocalReply, ...] = ()
        no_destination = None
        match route.action:
            case ir.Forward(clusters=destinations, rewrite=rewrite_spec):
                picker = WeightedPicker.build(destinations)
                no_destination = place.reply(503, "NC", "cluster_not_found", route)
                outcomes = tuple(self._forward(place, route, d, no_destination) for d in picker.choices)
                if rewrite_spec is not None:
                    rewrite.prepare(rewrite_spec)
            case ir.DirectResponse(status=status, body=body):
                outcomes = (place.reply(status, "", DIRECT_RESPONSE, route, body),)
            case ir.Redirect():
                pass  # the location depends on the request
        return CompiledRoute(index, route, matcher, matcher.conditions, picker, outcomes, no_destination)

    def _forward(
        self, place: _Place, route: ir.Route, destination: ir.WeightedCluster, not_found: LocalReply
    ) -> RouteDecision | LocalReply:
        cluster = self.clusters.get(destination.cluster)
        if cluster is None:
            return not_found
        return RouteDecision(place.listener, place.chain, place.vhost, route, destination, cluster)

    def _first(self, index: dict[str, T], key: str, value: T, what: str) -> None:
        if key in index:
            self.problems.append(f"{what} repeated; the first one is used")
            return
        index[key] = value


def _lengths(keys: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({len(k) for k in keys}, reverse=True))


def _suffix_index(entries: dict[str, T]) -> SuffixIndex[T]:
    return SuffixIndex(_lengths(entries), entries)


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a virtual host lives; answers built at compile time carry it."""

    listener: ir.Listener
    chain: ir.FilterChain
    vhost: ir.VirtualHost

    def reply(
        self, status: int, flags: str, details: str, route: ir.Route | None = None, body: bytes = b""
    ) -> LocalReply:
        return LocalReply(
            status,
            flags,
            details,
            body=body,
            listener=self.listener,
            chain=self.chain,
            virtual_host=self.vhost,
            route=route,
        )
