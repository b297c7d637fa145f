"""Upstream side: one `UpstreamConnection` protocol per backend socket and per-endpoint pools.

Theory of operation
-------------------
`UpstreamPools.acquire(cluster, endpoint, sink)` returns an idle keep-alive connection at once
(most requests: no task, no await), or starts a connect and returns None; the sink (the exchange
in `forward.py`) is then called back with `on_upstream_ready(conn)` or `on_upstream_failed(err)`.
A connect is the only place a Task is created. Limits come from the cluster's `ConnectionPool`
(Istio DestinationRule `connectionPool`): past `max_connections` requests wait in the pool
(`max_pending_requests`), past that they fail with 503 UO. `pick` chooses the endpoint by the
cluster's load-balancing policy, skipping ejected endpoints (balancer.py); `report` feeds outlier
detection. Connections use TLS when the cluster's DestinationRule originates it (upstream_tls.py),
and endpoints named by DNS are resolved when a connection is opened (dns.py).

The connection protocol itself is in upstream_conn.py. When the exchange is done it calls
`release(conn)`: a reusable
connection goes back to the endpoint's idle stack (LIFO, so a warm socket is reused and the oldest
ones expire); one timer per `UpstreamPools` closes connections idle longer than the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from ipaddress import ip_address
from random import Random
from typing import TYPE_CHECKING, Final

from meshgate import ir
from meshgate.proxy import balancer, upstream_tls
from meshgate.proxy.dns import Resolver
from meshgate.proxy.errors import ConnectFailure, Overflow, connect_error
from meshgate.proxy.limits import Limits
from meshgate.proxy.stats import Stats
from meshgate.proxy.upstream_conn import RawSink, UpstreamConnection

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange

_random: Final = Random().random
_monotonic: Final = time.monotonic

__all__ = ["EndpointPool", "RawSink", "UpstreamConnection", "UpstreamPools"]


class EndpointPool:
    """Connections to one endpoint of one cluster. `state` is the cluster's shared accounting;
    `active` counts requests in flight (LEAST_REQUEST); the `fails_*`/`eject*` fields are the
    outlier-detection state (balancer.report)."""

    __slots__ = (
        "active",
        "address",
        "cluster",
        "ejected_until",
        "ejections",
        "fails_5xx",
        "fails_gw",
        "host_port",
        "idle",
        "key",
        "pools",
        "port",
        "returned_at",
        "state",
        "waiters",
    )

    def __init__(self, pools: UpstreamPools, state: _ClusterState, address: str, port: int) -> None:
        self.pools = pools
        self.state = state
        self.cluster = state.cluster.name
        self.address = address
        self.port = port
        self.host_port = f"{address}:{port}"  # the access log's upstream_host
        self.key = (self.cluster, address, port)
        self.idle: deque[UpstreamConnection] = deque()
        self.waiters: deque[Exchange] = deque()
        self.active = self.fails_5xx = self.fails_gw = self.ejections = 0
        self.ejected_until = self.returned_at = 0.0


class _ClusterState:
    """Per cluster name: the current `ir.Cluster` (limits), ready endpoints' pools, round-robin
    position, connection and pending-request counts (circuit breakers)."""

    __slots__ = ("cluster", "connections", "pending", "pools", "requests", "retries", "ring", "rr")

    def __init__(self, cluster: ir.Cluster) -> None:
        self.cluster = cluster
        self.pools: tuple[EndpointPool, ...] = ()
        self.ring: balancer.Ring | None = None
        self.rr = 0
        self.requests = 0  # requests in flight (connectionPool http2MaxRequests)
        self.retries = 0  # retries in flight (connectionPool maxRetries)
        self.connections = 0  # open or connecting
        self.pending = 0  # requests waiting for a connection slot


class UpstreamPools:
    """All upstream connections of one gateway process, keyed by (cluster, address, port)."""

    def __init__(self, limits: Limits, stats: Stats) -> None:
        self.limits = limits
        self.stats = stats
        self._pools: dict[tuple[str, str, int], EndpointPool] = {}
        self._clusters: dict[str, _ClusterState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closing = False
        self.resolver = Resolver()

    # --- load balancing --------------------------------------------------------------------

    def _refresh(self, cluster: ir.Cluster) -> _ClusterState:
        """First use of a cluster, or a new snapshot's version of it: new endpoints and limits.
        Endpoint pools (and their idle connections) survive when the endpoint stays."""
        state = self._clusters.get(cluster.name)
        if state is None:
            state = self._clusters[cluster.name] = _ClusterState(cluster)
        state.cluster = cluster
        pools = []
        for endpoint in cluster.endpoints:
            if not endpoint.ready:
                continue
            key = (cluster.name, endpoint.address, endpoint.port)
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = EndpointPool(self, state, endpoint.address, endpoint.port)
            pools.append(pool)
        state.pools = tuple(pools)
        state.ring = None
        if cluster.load_balancer.policy == "CONSISTENT_HASH":
            weights = {(e.address, e.port): e.weight for e in cluster.endpoints}
            members = [(f"{p.address}:{p.port}", weights.get((p.address, p.port), 1)) for p in pools]
            state.ring = balancer.Ring(members)
        return state

    def state_of(self, cluster: ir.Cluster) -> _ClusterState:
        state = self._clusters.get(cluster.name)
        if state is None or state.cluster is not cluster:
            state = self._refresh(cluster)
        return state

    def pick(
        self, cluster: ir.Cluster, key: bytes | None = None, exclude: Sequence[EndpointPool] = ()
    ) -> EndpointPool | None:
        """An endpoint by the cluster's load-balancing policy (balancer.py); None when no ready,
        non-ejected endpoint is left (503 UH)."""
        state = self._clusters.get(cluster.name)
        if state is None or state.cluster is not cluster:
            state = self._refresh(cluster)
        pools = state.pools
        if not pools:
            return None
        index = state.rr
        state.rr = index + 1
        policy = cluster.load_balancer.policy
        if not exclude and cluster.outlier_detection is None:  # the common cases, inlined
            count = len(pools)
            first = pools[index % count]
            if policy == "ROUND_ROBIN" or count == 1:
                return first
            if policy == "LEAST_REQUEST":
                other = pools[int(_random() * count) % count]
                return other if other.active < first.active else first
        return balancer.choose(policy, pools, index, state.ring, key, exclude, _monotonic())

    def report(self, pool: EndpointPool, *, status: int = 0, local_failure: bool = False) -> None:
        """An attempt's outcome, for outlier detection (no-op without `outlierDetection`)."""
        policy = pool.state.cluster.outlier_detection
        if policy is not None:
            balancer.report(
                pool, policy, pool.state.pools, status=status, local_failure=local_failure, now=_monotonic()
            )

    # --- connections -----------------------------------------------------------------------

    def acquire(
        self, pool: EndpointPool, sink: Exchange, *, fresh: bool = False
    ) -> UpstreamConnection | None:
        """An idle connection now, or None and a later callback. Raises Overflow (503 UO)."""
        if not fresh:
            idle = pool.idle
            sni = sink.upstream_sni
            while idle:
                conn = idle.pop()
                if not conn.closed and conn.reusable:
                    if conn.sni != sni:  # TLS to another server name: keep it for its own host
                        self._idle_other(pool, conn, sni)
                        break
                    conn.sink = sink
                    return conn
        state = pool.state
        limits = state.cluster.connection_pool
        if state.connections < limits.max_connections:
            self._connect(pool, sink)
            return None
        if state.pending < limits.max_pending_requests:
            state.pending += 1
            pool.waiters.append(sink)
            return None
        raise Overflow("connection pool overflow")

    def _idle_other(self, pool: EndpointPool, first: UpstreamConnection, sni: str) -> None:
        """Rare: idle connections with different SNI (auto-SNI clusters). Put `first` back;
        a matching one further down the stack is left for the next call."""
        pool.idle.append(first)
        for conn in reversed(pool.idle):
            if conn.sni == sni and not conn.closed:
                pool.idle.remove(conn)
                pool.idle.append(conn)
                return

    def _connect(self, pool: EndpointPool, sink: Exchange) -> None:
        pool.state.connections += 1
        task = asyncio.get_running_loop().create_task(self._open(pool, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, pool: EndpointPool, sink: Exchange) -> None:
        loop = asyncio.get_running_loop()
        state = pool.state
        timeout = self.limits.upstream_connect_timeout or state.cluster.connection_pool.connect_timeout
        tls = state.cluster.tls
        sni = sink.upstream_sni
        try:
            async with asyncio.timeout(timeout):
                address = pool.address
                if state.cluster.discovery != "STATIC" and not _is_ip(address):
                    rotate = state.cluster.discovery != "DNS_ROUND_ROBIN"
                    address = await self.resolver.resolve(address, pool.port, rotate=rotate)
                if tls is not None and tls.mode in upstream_tls.ORIGINATING:
                    _, conn = await loop.create_connection(
                        lambda: UpstreamConnection(pool),
                        address,
                        pool.port,
                        ssl=upstream_tls.context_for(tls),
                        server_hostname=sni or None,
                    )
                else:
                    _, conn = await loop.create_connection(
                        lambda: UpstreamConnection(pool), address, pool.port
                    )
                conn.sni = sni
        except (OSError, TimeoutError) as exc:
            state.connections -= 1
            self.stats.upstream_cx_connect_fail += 1
            if sink.waiting_upstream and sink.pool is pool:
                sink.on_upstream_failed(connect_error(exc))
                sink.flush()
            self._wake_waiter(pool)
            return
        if self._closing:
            conn.transport.close()
            return
        problem = upstream_tls.peer_problem(tls, conn.transport) if tls is not None else ""
        if problem:  # subjectAltNames mismatch: as a failed handshake (503 UF)
            conn.abort()  # connection_lost → on_closed frees the slot
            self.stats.upstream_cx_connect_fail += 1
            if sink.waiting_upstream and sink.pool is pool:
                sink.on_upstream_failed(ConnectFailure(problem))
                sink.flush()
            return
        if sink.waiting_upstream and sink.pool is pool:
            conn.sink = sink
            sink.on_upstream_ready(conn)
            sink.flush()
            conn.flush()
        else:  # the client went away meanwhile: keep the fresh connection for the next request
            self.release(conn)

    def release(self, conn: UpstreamConnection) -> None:
        """Called by the exchange when its response is complete (or abandoned)."""
        conn.sink = None
        if conn.read_paused:
            conn.resume_reading()
        if conn.head_only:
            conn.new_parser()
            conn.head_only = False
        if conn.closed:
            return
        pool = conn.pool
        limit = pool.state.cluster.connection_pool.max_requests_per_connection
        if not conn.reusable or self._closing or (limit and conn.requests >= limit):
            conn.transport.close()
            return
        waiters = pool.waiters
        while waiters:
            sink = waiters.popleft()
            pool.state.pending -= 1
            if sink.waiting_upstream and sink.pool is pool:
                conn.sink = sink
                sink.on_upstream_ready(conn)
                conn.flush()
                return
        conn.idle_since = _monotonic()
        pool.idle.append(conn)
        if self._sweeper is None:
            self._arm_sweeper()

    def on_closed(self, conn: UpstreamConnection) -> None:
        self.stats.upstream_cx_active -= 1
        pool = conn.pool
        pool.state.connections -= 1
        with contextlib.suppress(ValueError):
            pool.idle.remove(conn)
        self._wake_waiter(pool)

    def _wake_waiter(self, pool: EndpointPool) -> None:
        """A connection slot freed up: open a connection for the first request still waiting."""
        state = pool.state
        while pool.waiters and state.connections < state.cluster.connection_pool.max_connections:
            sink = pool.waiters.popleft()
            state.pending -= 1
            if sink.waiting_upstream and sink.pool is pool:
                self._connect(pool, sink)
                return

    # --- idle expiry -----------------------------------------------------------------------

    def _arm_sweeper(self) -> None:
        interval = max(0.05, min(self.limits.upstream_idle_timeout / 4, 5.0))
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = _monotonic()
        any_idle = False
        cap = self.limits.upstream_idle_timeout
        for pool in list(self._pools.values()):
            timeout = min(pool.state.cluster.connection_pool.idle_timeout, cap)
            idle = pool.idle
            while idle and now - idle[0].idle_since >= timeout:
                idle.popleft().transport.close()
            any_idle = any_idle or bool(idle)
        if any_idle:
            self._arm_sweeper()

    def idle_count(self) -> int:
        return sum(len(pool.idle) for pool in self._pools.values())

    async def close(self) -> None:
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().transport.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _is_ip(address: str) -> bool:
    try:
        ip_address(address)
    except ValueError:
        return False
    return True
