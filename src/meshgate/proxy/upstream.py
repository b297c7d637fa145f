"""Upstream side: one `UpstreamConnection` protocol per backend socket and per-endpoint pools.

Theory of operation
-------------------
`UpstreamPools.acquire(cluster, endpoint, sink)` returns an idle keep-alive connection at once
(most requests: no task, no await), or starts a connect and returns None; the sink (the exchange
in `forward.py`) is then called back with `on_upstream_ready(conn)` or `on_upstream_failed(err)`.
A connect is the only place a Task is created. Limits come from the cluster's `ConnectionPool`
(Istio DestinationRule `connectionPool`): past `max_connections` requests wait in the pool
(`max_pending_requests`), past that they fail with 503 UO.

While a request is in flight the connection's `sink` is its exchange, and the response parser
(httptools) calls into the sink. When the exchange is done it calls `release(conn)`: a reusable
connection goes back to the endpoint's idle stack (LIFO, so a warm socket is reused and the oldest
ones expire); one timer per `UpstreamPools` closes connections idle longer than the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from time import monotonic as _monotonic
from typing import Protocol, cast

import httptools

from meshgate import ir
from meshgate.proxy.errors import Overflow, UpstreamError, UpstreamProtocol, connect_error
from meshgate.proxy.headers import PLAIN_CONNECTION, RESPONSE_OWNED
from meshgate.proxy.limits import Limits
from meshgate.proxy.stats import Stats


class ResponseSink(Protocol):
    """What an upstream connection reports to (implemented by forward.Exchange)."""

    waiting_upstream: bool

    def on_upstream_ready(self, conn: UpstreamConnection) -> None: ...
    def on_upstream_failed(self, err: UpstreamError) -> None: ...
    def on_response_head(self, conn: UpstreamConnection, status: int) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...
    def on_upstream_upgrade(self, rest: bytes) -> None: ...
    def on_upstream_lost(self, exc: BaseException | None) -> None: ...
    def on_upstream_error(self, err: UpstreamError) -> None: ...
    def upstream_write_paused(self, paused: bool) -> None: ...
    def flush(self) -> None: ...


class RawSink(Protocol):
    """After an Upgrade, bytes go to a tunnel instead (tunnel.py)."""

    def from_upstream(self, data: bytes) -> None: ...
    def upstream_lost(self) -> None: ...
    def upstream_write_paused(self, paused: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_detached",
        "_informational",
        "chunked",
        "closed",
        "connection",
        "has_date",
        "head_only",
        "idle_since",
        "length",
        "lines",
        "local_address",
        "out",
        "parser",
        "pool",
        "read_paused",
        "requests",
        "reusable",
        "sink",
        "transport",
        "tunnel",
        "upgrade",
    )

    transport: asyncio.Transport

    def __init__(self, pool: EndpointPool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.tunnel: RawSink | None = None
        self.out: list[bytes] = []
        self.requests = 0
        self.reusable = True
        self.closed = False
        self.read_paused = False
        self.head_only = False  # the request in flight is HEAD: the response has no body
        self.idle_since = 0.0
        self.local_address = ""
        # the response head being received (read by the sink in on_response_head)
        self.lines: list[bytes] = []  # "name: value\r\n" forwarded as received
        self.length = b""  # content-length as sent, b"" when absent
        self.connection = b""  # Connection value when it names fields to drop
        self.upgrade = b""
        self.chunked = self.has_date = False
        self._informational = self._detached = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        limits = self.pool.pools.limits
        self.transport.set_write_buffer_limits(high=limits.high_water, low=limits.low_water)
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.local_address = f"{sockname[0]}:{sockname[1]}"
        self.pool.pools.stats.upstream_cx_active += 1
        self.pool.pools.stats.upstream_cx_total += 1

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_upstream(data)
            return
        sink = self.sink
        if sink is None:  # bytes on an idle connection: not HTTP we understand, drop the socket
            self.reusable = False
            self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            sink.on_upstream_upgrade(data[exc.args[0] :])
        except httptools.HttpParserError as exc:
            self.reusable = False
            self.transport.abort()
            sink.on_upstream_error(UpstreamProtocol(str(exc)))
        self._detached = False
        sink.flush()

    def begin(self, sink: ResponseSink, head_only: bool) -> None:
        """A request was sent on this connection: its response comes next."""
        self.sink = sink
        self.head_only = head_only

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.pools.on_closed(self)
        if self.tunnel is not None:
            self.tunnel.upstream_lost()
            return
        sink = self.sink
        if sink is not None:
            self.sink = None
            sink.on_upstream_lost(exc)
            sink.flush()

    def pause_writing(self) -> None:
        target = self.tunnel or self.sink
        if target is not None:
            target.upstream_write_paused(True)

    def resume_writing(self) -> None:
        target = self.tunnel or self.sink
        if target is not None:
            target.upstream_write_paused(False)

    # --- httptools callbacks ---------------------------------------------------------------
    # Header lines are kept pre-rendered ("name: value\r\n") minus what the gateway owns, so the
    # common response head is one join in forward.py; the framing fields are remembered.

    def on_message_begin(self) -> None:
        self.lines = []
        self.length = self.connection = b""
        self.chunked = self.has_date = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower in RESPONSE_OWNED:
            if lower == b"content-length":
                self.length = value
            elif lower == b"transfer-encoding":
                self.chunked = value.lower().endswith(b"chunked")
            elif lower == b"connection" and value.lower() not in PLAIN_CONNECTION:
                # names other fields to drop (keep-alive/close themselves come from httptools)
                self.connection = value if not self.connection else self.connection + b"," + value
            elif lower == b"date":
                self.has_date = True
                self.lines.append(b"%s: %s\r\n" % (name, value))
            elif lower == b"upgrade":
                self.upgrade = value
        else:
            self.lines.append(b"%s: %s\r\n" % (name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue & co: the final response follows
            return
        if not parser.should_keep_alive() or parser.get_http_version() != "1.1":
            self.reusable = False
        sink = self.sink
        if sink is not None:
            head_only = self.head_only
            sink.on_response_head(self, status)
            if head_only and self.sink is sink:
                # A HEAD response ends at its head, but httptools would wait for the advertised
                # body: whatever this parser still reports in this feed belongs to nobody, and
                # `release` gives the connection a fresh parser.
                self._detached = True
                sink.on_response_end()

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is not None and not self._detached:
            sink.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        sink = self.sink
        if sink is not None and not self._detached:
            sink.on_response_end()

    # --- used by the exchange --------------------------------------------------------------

    def flush(self) -> None:
        out = self.out
        if out:
            if not self.closed:
                if len(out) == 1:
                    self.transport.write(out[0])
                else:
                    self.transport.writelines(out)
            out.clear()

    def pause_reading(self) -> None:
        if not self.read_paused and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def abort(self) -> None:
        self.reusable = False
        self.sink = None
        self.out.clear()  # nothing of an abandoned request leaves
        if not self.closed:
            self.transport.abort()


class EndpointPool:
    """Connections to one endpoint of one cluster. `state` is the cluster's shared accounting."""

    __slots__ = ("address", "cluster", "idle", "key", "pools", "port", "state", "waiters")

    def __init__(self, pools: UpstreamPools, state: _ClusterState, address: str, port: int) -> None:
        self.pools = pools
        self.state = state
        self.cluster = state.cluster.name
        self.address = address
        self.port = port
        self.key = (self.cluster, address, port)
        self.idle: deque[UpstreamConnection] = deque()
        self.waiters: deque[ResponseSink] = deque()


class _ClusterState:
    """Per cluster name: the current `ir.Cluster` (limits), ready endpoints' pools, round-robin
    position, connection and pending-request counts (circuit breakers)."""

    __slots__ = ("cluster", "connections", "pending", "pools", "rr")

    def __init__(self, cluster: ir.Cluster) -> None:
        self.cluster = cluster
        self.pools: tuple[EndpointPool, ...] = ()
        self.rr = 0
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
        return state

    def pick(self, cluster: ir.Cluster) -> EndpointPool | None:
        """Round-robin over ready endpoints (also used for LEAST_REQUEST, see the README);
        None when the cluster has no ready endpoint (503 UH)."""
        state = self._clusters.get(cluster.name)
        if state is None or state.cluster is not cluster:
            state = self._refresh(cluster)
        pools = state.pools
        if not pools:
            return None
        index = state.rr
        state.rr = index + 1
        return pools[index % len(pools)]

    # --- connections -----------------------------------------------------------------------

    def acquire(
        self, pool: EndpointPool, sink: ResponseSink, *, fresh: bool = False
    ) -> UpstreamConnection | None:
        """An idle connection now, or None and a later callback. Raises Overflow (503 UO)."""
        if not fresh:
            idle = pool.idle
            while idle:
                conn = idle.pop()
                if not conn.closed and conn.reusable:
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

    def _connect(self, pool: EndpointPool, sink: ResponseSink) -> None:
        pool.state.connections += 1
        task = asyncio.get_running_loop().create_task(self._open(pool, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, pool: EndpointPool, sink: ResponseSink) -> None:
        loop = asyncio.get_running_loop()
        state = pool.state
        timeout = self.limits.upstream_connect_timeout or state.cluster.connection_pool.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: UpstreamConnection(pool), pool.address, pool.port
                )
        except (OSError, TimeoutError) as exc:
            state.connections -= 1
            self.stats.upstream_cx_connect_fail += 1
            if sink.waiting_upstream:
                sink.on_upstream_failed(connect_error(exc))
                sink.flush()
            self._wake_waiter(pool)
            return
        if self._closing:
            conn.transport.close()
            return
        if sink.waiting_upstream:
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
            conn.parser = httptools.HttpResponseParser(conn)
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
            if sink.waiting_upstream:
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
            if sink.waiting_upstream:
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
