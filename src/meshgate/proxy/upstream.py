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
from typing import Protocol, cast

import httptools

from meshgate import ir
from meshgate.proxy.errors import Overflow, UpstreamError, UpstreamProtocol, connect_error
from meshgate.proxy.headers import Header
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
        "head_only",
        "headers",
        "idle_since",
        "length",
        "local_address",
        "out",
        "parser",
        "pool",
        "read_paused",
        "reason",
        "requests",
        "reusable",
        "sink",
        "transport",
        "tunnel",
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
        self.headers: list[Header] = []
        self.reason = b""
        self.length = ""  # content-length as sent, "" when absent
        self.chunked = False
        self._informational = False
        self._detached = False

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

    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""
        self.length = ""
        self.chunked = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        text = name.decode("latin-1")
        lower = text.lower()
        decoded = value.decode("latin-1")
        if lower == "content-length":
            self.length = decoded
        elif lower == "transfer-encoding":
            self.chunked = decoded.lower().endswith("chunked")
        self.headers.append((lower, text, decoded))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue & co: the final response follows
            return
        keep_alive = parser.should_keep_alive() and parser.get_http_version() == "1.1"
        if not keep_alive:
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
        if not self.closed:
            self.transport.abort()


class EndpointPool:
    __slots__ = ("address", "cluster", "idle", "key", "pools", "port", "waiters")

    def __init__(self, pools: UpstreamPools, cluster: str, address: str, port: int) -> None:
        self.pools = pools
        self.cluster = cluster
        self.address = address
        self.port = port
        self.key = (cluster, address, port)
        self.idle: deque[UpstreamConnection] = deque()
        self.waiters: deque[tuple[ResponseSink, ir.Cluster]] = deque()


class _ClusterState:
    __slots__ = ("cluster", "connections", "pending", "ready", "rr")

    def __init__(self, cluster: ir.Cluster) -> None:
        self.cluster = cluster
        self.ready = tuple(e for e in cluster.endpoints if e.ready)
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

    def _state(self, cluster: ir.Cluster) -> _ClusterState:
        state = self._clusters.get(cluster.name)
        if state is None:
            state = self._clusters[cluster.name] = _ClusterState(cluster)
        elif state.cluster is not cluster:  # a new snapshot: new endpoints and limits
            state.cluster = cluster
            state.ready = tuple(e for e in cluster.endpoints if e.ready)
        return state

    def pick(self, cluster: ir.Cluster) -> ir.Endpoint | None:
        """Round-robin over ready endpoints (also used for LEAST_REQUEST, see the README)."""
        state = self._state(cluster)
        ready = state.ready
        if not ready:
            return None
        index = state.rr
        state.rr = index + 1
        return ready[index % len(ready)]

    # --- connections -----------------------------------------------------------------------

    def _pool(self, cluster: ir.Cluster, endpoint: ir.Endpoint) -> EndpointPool:
        key = (cluster.name, endpoint.address, endpoint.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = EndpointPool(self, cluster.name, endpoint.address, endpoint.port)
        return pool

    def acquire(
        self, cluster: ir.Cluster, endpoint: ir.Endpoint, sink: ResponseSink, *, fresh: bool = False
    ) -> UpstreamConnection | None:
        """An idle connection now, or None and a later callback. Raises Overflow (503 UO)."""
        pool = self._pool(cluster, endpoint)
        if not fresh:
            idle = pool.idle
            while idle:
                conn = idle.pop()
                if not conn.closed and conn.reusable:
                    conn.sink = sink
                    return conn
        state = self._state(cluster)
        limits = cluster.connection_pool
        if state.connections < limits.max_connections:
            self._connect(pool, state, sink)
            return None
        if state.pending < limits.max_pending_requests:
            state.pending += 1
            pool.waiters.append((sink, cluster))
            return None
        raise Overflow("connection pool overflow")

    def _connect(self, pool: EndpointPool, state: _ClusterState, sink: ResponseSink) -> None:
        state.connections += 1
        task = asyncio.get_running_loop().create_task(self._open(pool, state, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, pool: EndpointPool, state: _ClusterState, sink: ResponseSink) -> None:
        loop = asyncio.get_running_loop()
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
            self._wake_waiter(pool, state)
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
        conn.resume_reading()
        if conn.head_only:
            conn.parser = httptools.HttpResponseParser(conn)
            conn.head_only = False
        if conn.closed:
            return
        limit = self._clusters[conn.pool.cluster].cluster.connection_pool.max_requests_per_connection
        if not conn.reusable or self._closing or (limit and conn.requests >= limit):
            conn.transport.close()
            return
        pool = conn.pool
        while pool.waiters:
            sink, cluster = pool.waiters.popleft()
            self._state(cluster).pending -= 1
            if sink.waiting_upstream:
                conn.sink = sink
                sink.on_upstream_ready(conn)
                conn.flush()
                return
        conn.idle_since = asyncio.get_running_loop().time()
        pool.idle.append(conn)
        if self._sweeper is None:
            self._arm_sweeper()

    def on_closed(self, conn: UpstreamConnection) -> None:
        self.stats.upstream_cx_active -= 1
        pool = conn.pool
        state = self._clusters.get(pool.cluster)
        if state is not None:
            state.connections -= 1
        with contextlib.suppress(ValueError):
            pool.idle.remove(conn)
        if state is not None:
            self._wake_waiter(pool, state)

    def _wake_waiter(self, pool: EndpointPool, state: _ClusterState) -> None:
        """A connection slot freed up: open a connection for the first request still waiting."""
        while pool.waiters and state.connections < state.cluster.connection_pool.max_connections:
            sink, cluster = pool.waiters.popleft()
            self._state(cluster).pending -= 1
            if sink.waiting_upstream:
                self._connect(pool, state, sink)
                return

    # --- idle expiry -----------------------------------------------------------------------

    def _idle_timeout(self, cluster: str) -> float:
        state = self._clusters.get(cluster)
        cluster_timeout = state.cluster.connection_pool.idle_timeout if state else 3600.0
        return min(cluster_timeout, self.limits.upstream_idle_timeout)

    def _arm_sweeper(self) -> None:
        interval = max(0.05, min(self.limits.upstream_idle_timeout / 4, 5.0))
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        any_idle = False
        for pool in list(self._pools.values()):
            timeout = self._idle_timeout(pool.cluster)
            idle = pool.idle
            while idle and now - idle[0].idle_since >= timeout:
                idle.popleft().transport.close()
            any_idle = any_idle or bool(idle)
            if not idle and not pool.waiters and pool.key[0] not in self._clusters:
                del self._pools[pool.key]
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
