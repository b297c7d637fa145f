"""The compiled routing table and the three selection steps: listener, filter chain, virtual host.

Everything here is frozen and built once by `compile.py`; a request only does dictionary look-ups.
Selection answers (`ChainMatch`, `HostMatch`) are prebuilt objects that also say *why* they were
chosen, so `decide()` allocates nothing for them and `explain()` reads the reason from the very
object routing used.

Wildcard look-ups are indexed by pattern length: for each distinct suffix length (longest first)
one dict probe on the request name's tail. That is "longest matching wildcard first" without
scanning every pattern, and at most one pattern of a given length can match a given name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from meshgate import ir
from meshgate.hostnames import strip_port
from meshgate.routing.decision import LocalReply, RouteDecision
from meshgate.routing.matchers import Condition, RouteMatcher
from meshgate.routing.weights import WeightedPicker

__all__ = [
    "ChainMatch",
    "CompiledChain",
    "CompiledListener",
    "CompiledRoute",
    "CompiledVirtualHost",
    "HostIndex",
    "HostMatch",
    "PrefixIndex",
    "RoutingTable",
    "SuffixIndex",
    "normalize_host",
    "select_chain",
    "select_listener",
    "select_vhost",
]

T = TypeVar("T")

WILDCARD_BINDS = ("0.0.0.0", "::", "")


class _LengthIndex(Generic[T]):
    """Wildcard patterns keyed by their fixed part, probed by length (longest first). Built once
    by compile.py and never changed (a plain class, not a dataclass: mypyc compiles this module and
    does not support generic dataclasses)."""

    __slots__ = ("entries", "lengths")

    def __init__(self, lengths: tuple[int, ...], entries: dict[str, T]) -> None:
        self.lengths = lengths  # distinct lengths of the fixed parts, longest first
        self.entries = entries  # fixed part -> value


class SuffixIndex(_LengthIndex[T]):
    """`*<suffix>` patterns: the wildcard must cover at least one character of the name."""

    __slots__ = ()

    def longest(self, name: str) -> T | None:
        size = len(name)
        entries = self.entries
        for length in self.lengths:
            if size > length:
                hit = entries.get(name[size - length :])
                if hit is not None:
                    return hit
        return None


class PrefixIndex(_LengthIndex[T]):
    """`<prefix>*` patterns (Envoy prefix wildcards such as `example.*`)."""

    __slots__ = ()

    def longest(self, name: str) -> T | None:
        size = len(name)
        entries = self.entries
        for length in self.lengths:
            if size > length:
                hit = entries.get(name[:length])
                if hit is not None:
                    return hit
        return None


# --- routes and virtual hosts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    index: int  # position in the virtual host
    route: ir.Route
    matcher: RouteMatcher
    conditions: tuple[Condition, ...]  # matcher.conditions, one attribute hop closer for decide()
    picker: WeightedPicker | None  # Forward routes only
    # Answers known at compile time, shared by every request (they are immutable): for a Forward
    # one per `picker.choices` entry (a RouteDecision, or 503 NC when its cluster is missing);
    # for a DirectResponse its reply; for a Redirect nothing (the location depends on the request).
    outcomes: tuple[RouteDecision | LocalReply, ...]
    # Forward with no destination of positive weight: 503 NC.
    no_destination: LocalReply | None = None


@dataclass(frozen=True, slots=True)
class CompiledVirtualHost:
    vhost: ir.VirtualHost
    routes: tuple[CompiledRoute, ...]
    uses_query: bool  # some route has a query condition: build the lazy query view
    # Where the virtual host lives (each route table belongs to exactly one chain), so answers can
    # be built from the virtual host alone.
    listener: ir.Listener
    chain: ir.FilterChain
    no_route: LocalReply  # 404 NR route_not_found, prebuilt


@dataclass(frozen=True, slots=True)
class HostMatch:
    """Answer of `select_vhost`: the virtual host and the rule that chose it."""

    compiled: CompiledVirtualHost
    rule: str  # "exact" | "suffix wildcard" | "prefix wildcard" | "any"
    domain: str  # the domain pattern that matched, as configured (lower-case)

    @property
    def vhost(self) -> ir.VirtualHost:
        return self.compiled.vhost


@dataclass(frozen=True, slots=True)
class HostIndex:
    exact: dict[str, HostMatch]
    suffixes: SuffixIndex[HostMatch]
    prefixes: PrefixIndex[HostMatch]
    star: HostMatch | None
    domains: tuple[str, ...]  # every domain in configuration order, for explain

    def lookup(self, host: str) -> HostMatch | None:
        """`host` already normalized: port stripped, lower-case."""
        hit = self.exact.get(host)
        if hit is not None:
            return hit
        hit = self.suffixes.longest(host)
        if hit is not None:
            return hit
        hit = self.prefixes.longest(host)
        if hit is not None:
            return hit
        return self.star


# --- filter chains and listeners --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledChain:
    chain: ir.FilterChain
    hosts: HostIndex | None  # None: the chain proxies TCP (no HTTP routing)
    tcp_picker: WeightedPicker | None = None  # TcpProxy destinations
    # Prebuilt status-0 answer for chains that never serve a request: a TCP proxy ("tcp_proxy") or
    # a chain whose certificate could not be loaded (`FilterChain.disabled`).
    closed: LocalReply | None = None


@dataclass(frozen=True, slots=True)
class ChainMatch:
    """Answer of `select_chain`: the chain and the rule that chose it."""

    compiled: CompiledChain
    rule: str  # "exact" | "wildcard" | "default" | "plaintext"
    server_name: str  # the server name pattern that matched ("" for default/plaintext)

    @property
    def chain(self) -> ir.FilterChain:
        return self.compiled.chain


@dataclass(frozen=True, slots=True)
class CompiledListener:
    listener: ir.Listener
    chains: tuple[CompiledChain, ...]
    plaintext: ChainMatch | None  # set for listeners without TLS chains: SNI is irrelevant
    sni_exact: dict[str, ChainMatch]
    sni_wildcard: SuffixIndex[ChainMatch]
    sni_default: ChainMatch | None  # the chain without server names
    server_names: tuple[str, ...]  # every configured server name, for explain


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Frozen result of `compile_config`; safe to share between requests and threads. The
    dicts read per request (ports here, host and SNI names in the indexes) are never changed after
    compile but are plain dicts, not MappingProxyType: compiled code reads a dict directly, a
    proxy's `.get` is a generic method call (~500 instructions, three per request)."""

    config: ir.Config
    listeners: tuple[CompiledListener, ...]
    by_port: dict[int, CompiledListener]  # per port: the wildcard-bind listener, else the first
    by_port_bind: dict[tuple[int, str], CompiledListener]
    wildcard_by_port: dict[int, CompiledListener]
    clusters: Mapping[str, ir.Cluster]  # read-only view: not read per request
    problems: tuple[str, ...] = ()  # compile-time findings (invalid regex, duplicate domain...)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted(self.by_port))


# --- selection --------------------------------------------------------------------------------


def select_listener(table: RoutingTable, port: int, bind: str = "") -> CompiledListener | None:
    """The listener for a server port. With `bind`, the listener bound to that address, else the
    wildcard-bind one on the port; without, the wildcard-bind listener (else the first)."""
    if bind:
        hit = table.by_port_bind.get((port, bind))
        if hit is not None:
            return hit
        return table.wildcard_by_port.get(port)
    return table.by_port.get(port)


def select_chain(table: RoutingTable, listener: CompiledListener, sni: str | None) -> ChainMatch | None:
    """Envoy filter-chain choice: exact server name, longest `*.suffix`, then the chain without
    server names; plaintext listeners have one chain whatever the SNI. None = close the connection."""
    if listener.plaintext is not None:
        return listener.plaintext
    if sni:
        name = sni.lower()
        hit = listener.sni_exact.get(name)
        if hit is not None:
            return hit
        hit = listener.sni_wildcard.longest(name)
        if hit is not None:
            return hit
    return listener.sni_default


_NORMALIZED: Final[dict[str, str]] = {}  # Host as sent -> normalize_host's answer
_NORMALIZED_MAX: Final = 4096  # the Host header is the client's: the memo is bounded (cleared when full)


def normalize_host(authority: str) -> str:
    """Host used for virtual-host selection: port stripped (IPv6-safe), lower-case. Memoized: a
    gateway sees few distinct Host values, and parsing one cost ~1.3k instructions per request."""
    found = _NORMALIZED.get(authority)
    if found is not None:
        return found
    host = (strip_port(authority) if ":" in authority else authority).lower()
    if len(_NORMALIZED) >= _NORMALIZED_MAX:
        _NORMALIZED.clear()
    _NORMALIZED[authority] = host
    return host


def select_vhost(chain: CompiledChain, authority: str) -> HostMatch | None:
    """Virtual host for the Host as sent: exact, longest suffix wildcard, longest prefix wildcard,
    then `*`; None when the chain has no matching host (or proxies TCP)."""
    hosts = chain.hosts
    if hosts is None:
        return None
    return hosts.lookup(normalize_host(authority))
