"""Listeners that look at the connection before choosing a filter chain, and the TCP proxy.

`SniffingListener` serves a listener with TLS chains (terminating, passthrough, or both) and TCP
listeners. It accepts connections itself and, for TLS listeners, *peeks* (MSG_PEEK: nothing is
consumed) at the ClientHello (clienthello.py, at most 16 KiB, `hello_timeout`), then asks routing
which chain the SNI selects (exact, longest `*.suffix`, then the chain without names; 1.8.7):

- no chain, a disabled chain, or bytes that are not TLS (plain HTTP to a TLS port) → closed;
  a plaintext chain sharing the port (1.8.5) takes the non-TLS connections;
- a terminating chain → the handshake runs with that chain's own SSLContext (tls.py), then HTTP/1.1
  (`HttpProtocol`) or, for TLS servers, the TCP proxy;
- a passthrough or TCP chain → `TcpRelay`: raw bytes both ways (the ClientHello still unread in the
  socket) to an endpoint of the weighted cluster, round robin over its ready endpoints.

The snapshot is taken once per connection, so a reload applies to new connections only.
`SniffingListener` quacks like `asyncio.Server` (`close`, `wait_closed`, `sockets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from meshgate import ir, routing
from meshgate.proxy import clienthello
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.http1 import HttpProtocol
from meshgate.proxy.tls import TERMINATING, DownstreamTls, TlsContexts
from meshgate.routing.weights import WeightedPicker

HELLO_TIMEOUT = 15.0  # Envoy listener_filters_timeout default: close if no ClientHello by then
HANDSHAKE_TIMEOUT = 10.0
_RETRY_PEEK = 0.005  # a partial ClientHello: look again shortly (the socket stays readable)
_ACCEPT_BATCH = 64


def needs_sniffing(listener: ir.Listener) -> bool:
    return any(chain.tls is not None or chain.transport == "tls" for chain in listener.chains)


def served_here(listener: ir.Listener) -> bool:
    """Listeners `SniffingListener` serves (the plain HTTP ones go straight to HttpProtocol)."""
    return needs_sniffing(listener) or any(isinstance(c.handler, ir.TcpProxy) for c in listener.chains)


class SniffingListener:
    def __init__(
        self,
        ctx: ProxyContext,
        listener: ir.Listener,
        sock: socket.socket,
        contexts: TlsContexts,
        *,
        hello_timeout: float = HELLO_TIMEOUT,
    ) -> None:
        self.ctx = ctx
        self.listener = listener
        self.sock = sock
        self.sockets = [sock]
        self.contexts = contexts
        self.sniff = needs_sniffing(listener)
        self.hello_timeout = hello_timeout
        self.loop = asyncio.get_running_loop()
        self.rr: dict[str, int] = {}  # round-robin position per cluster
        self.pending: set[_Sniff] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.relays: set[TcpRelay] = set()
        self.closed = False
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._accept)

    # --- asyncio.Server-like ----------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for sniff in list(self.pending):
            sniff.drop()

    async def wait_closed(self) -> None:
        for relay in list(self.relays):
            relay.close()
        for task in list(self.tasks):
            task.cancel()

    # --- accept and peek --------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # EMFILE and friends: try again on the next wakeup
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.sniff:
                self.pending.add(_Sniff(self, conn))
            else:
                self.dispatch(conn, None)

    def dispatch(
        self, conn: socket.socket, hello: clienthello.ClientHello | clienthello.NotTls | None
    ) -> None:
        """Choose the chain for a connection and hand the socket to its protocol."""
        snapshot = self.ctx.store.current
        compiled = (
            routing.select_listener(snapshot.table, self.listener.port, self.listener.bind)
            if snapshot is not None
            else None
        )
        if snapshot is None or compiled is None:
            conn.close()
            return
        chain: ir.FilterChain | None = None
        sni: str | None = None
        if isinstance(hello, clienthello.ClientHello):
            sni = hello.server_name
            match = routing.select_chain(snapshot.table, compiled, sni)
            if match is not None and (match.chain.tls is not None or match.chain.transport == "tls"):
                chain = match.chain
        else:  # not TLS (or a plaintext listener): the plaintext chain, if the port has one
            chain = next(
                (c.chain for c in compiled.chains if c.chain.tls is None and c.chain.transport == "raw"), None
            )
        if chain is None or chain.disabled:
            conn.close()  # no chain for this name (NR), or its certificate is unusable
            return
        handler = chain.handler
        ssl_context = None
        if chain.tls is not None and chain.tls.mode in TERMINATING:
            ssl_context = self.contexts.context_for(chain)
            if ssl_context is None:
                conn.close()
                return
        factory: Callable[[], asyncio.Protocol]
        if isinstance(handler, ir.HttpHandler):
            tls = DownstreamTls(sni, chain) if ssl_context is not None else None
            scheme = "https" if ssl_context is not None else "http"
            ctx, port, bind = self.ctx, self.listener.port, self.listener.bind
            factory = lambda: HttpProtocol(ctx, port, bind, scheme, tls)  # noqa: E731
        else:
            relay = TcpRelay(self, handler, snapshot.table)
            factory = lambda: relay  # noqa: E731
        task = self.loop.create_task(self._connect(factory, conn, ssl_context))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(
        self, factory: Callable[[], asyncio.Protocol], conn: socket.socket, ssl_context: Any
    ) -> None:
        try:
            if ssl_context is None:
                await self.loop.connect_accepted_socket(factory, conn)
            else:
                await self.loop.connect_accepted_socket(
                    factory, conn, ssl=ssl_context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
                )
                self.ctx.stats.tls_handshake(True)
        except (OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
            if ssl_context is not None:
                self.ctx.stats.tls_handshake(False)
            if conn.fileno() != -1:
                conn.close()

    def pick_endpoint(
        self, table: routing.RoutingTable, proxy: ir.TcpProxy
    ) -> tuple[ir.Cluster, ir.Endpoint] | None:
        destination = WeightedPicker.build(proxy.clusters).pick(self.ctx.rng)
        cluster = table.clusters.get(destination.cluster) if destination is not None else None
        if cluster is None:
            return None
        ready = [e for e in cluster.endpoints if e.ready]
        if not ready:
            return None
        position = self.rr.get(cluster.name, 0)
        self.rr[cluster.name] = position + 1
        return cluster, ready[position % len(ready)]


class _Sniff:
    """Waits for a complete ClientHello on one accepted socket (peeking, never consuming)."""

    __slots__ = ("conn", "fd", "listener", "timer")

    def __init__(self, listener: SniffingListener, conn: socket.socket) -> None:
        self.listener = listener
        self.conn = conn
        self.fd = conn.fileno()
        listener.loop.add_reader(self.fd, self._peek)
        self.timer: asyncio.TimerHandle | None = listener.loop.call_later(listener.hello_timeout, self.drop)

    def _finish(self) -> None:
        self.listener.loop.remove_reader(self.fd)
        self.listener.pending.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def drop(self) -> None:
        self._finish()
        self.conn.close()

    def _peek(self) -> None:
        try:
            data = self.conn.recv(clienthello.MAX_HELLO, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop()
            return
        if not data:
            self.drop()
            return
        result = clienthello.parse(data)
        if result is clienthello.NEED_MORE:
            if len(data) >= clienthello.MAX_HELLO:
                self.drop()
                return
            loop = self.listener.loop
            loop.remove_reader(self.fd)  # level-triggered: wait a moment instead of spinning
            loop.call_later(_RETRY_PEEK, self._rearm)
            return
        self._finish()
        self.listener.dispatch(self.conn, cast(clienthello.ClientHello | clienthello.NotTls, result))

    def _rearm(self) -> None:
        if self.timer is not None and self.conn.fileno() != -1:
            self.listener.loop.add_reader(self.fd, self._peek)


# --- the TCP proxy ----------------------------------------------------------------------------


class TcpRelay(asyncio.Protocol):
    """One downstream connection proxied byte for byte to one upstream endpoint, with flow control
    (each side pauses reading while the other's write buffer is above the high-water mark),
    half-close passed on, and an idle timeout (`Limits.tunnel_idle_timeout`, Envoy's 1 h)."""

    def __init__(self, owner: SniffingListener, proxy: ir.TcpProxy, table: routing.RoutingTable) -> None:
        self.owner = owner
        self.proxy = proxy
        self.table = table
        self.down: asyncio.Transport | None = None
        self.up: asyncio.Transport | None = None
        self.buffer: list[bytes] = []
        self.closed = False
        self.eofs = 0
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.down = cast(asyncio.Transport, transport)
        limits = self.owner.ctx.limits
        self.down.set_write_buffer_limits(high=limits.high_water, low=limits.low_water)
        self.owner.relays.add(self)
        picked = self.owner.pick_endpoint(self.table, self.proxy)
        if picked is None:
            self.close()  # no healthy upstream (UH)
            return
        self.down.pause_reading()
        self.last = self.owner.loop.time()
        self._arm(limits.tunnel_idle_timeout)
        task = self.owner.loop.create_task(self._open(*picked))
        self.owner.tasks.add(task)
        task.add_done_callback(self.owner.tasks.discard)

    async def _open(self, cluster: ir.Cluster, endpoint: ir.Endpoint) -> None:
        timeout = self.owner.ctx.limits.upstream_connect_timeout or cluster.connection_pool.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                await self.owner.loop.create_connection(
                    lambda: _UpstreamSide(self), endpoint.address, endpoint.port
                )
        except (OSError, TimeoutError):
            self.close()  # upstream connect failure (UF)

    def upstream_made(self, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.close()
            return
        limits = self.owner.ctx.limits
        transport.set_write_buffer_limits(high=limits.high_water, low=limits.low_water)
        self.up = transport
        if self.buffer:
            transport.writelines(self.buffer)
            self.buffer.clear()
        if self.down is not None:
            self.down.resume_reading()

    # downstream events
    def data_received(self, data: bytes) -> None:
        self.last = self.owner.loop.time()
        if self.up is not None:
            self.up.write(data)
        else:
            self.buffer.append(data)

    def eof_received(self) -> bool:
        return self._half_close(self.up)

    def pause_writing(self) -> None:
        if self.up is not None:
            self.up.pause_reading()

    def resume_writing(self) -> None:
        if self.up is not None:
            self.up.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    # upstream events (from _UpstreamSide)
    def upstream_data(self, data: bytes) -> None:
        self.last = self.owner.loop.time()
        if self.down is not None:
            self.down.write(data)

    def upstream_eof(self) -> bool:
        return self._half_close(self.down)

    def _half_close(self, other: asyncio.Transport | None) -> bool:
        self.eofs += 1
        if other is None or self.eofs >= 2 or not other.can_write_eof():
            self.close()
            return False
        other.write_eof()
        return True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.owner.relays.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        for transport in (self.down, self.up):
            if transport is not None:
                transport.close()  # pending bytes are flushed first

    def _arm(self, delay: float) -> None:
        self.timer = self.owner.loop.call_later(max(delay, 0.01), self._on_timer)

    def _on_timer(self) -> None:
        idle = self.owner.ctx.limits.tunnel_idle_timeout
        remaining = self.last + idle - self.owner.loop.time()
        if remaining <= 0:
            self.close()
        else:
            self._arm(remaining)


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, relay: TcpRelay) -> None:
        self.relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.relay.upstream_made(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self.relay.upstream_data(data)

    def eof_received(self) -> bool:
        return self.relay.upstream_eof()

    def pause_writing(self) -> None:
        if self.relay.down is not None:
            self.relay.down.pause_reading()

    def resume_writing(self) -> None:
        if self.relay.down is not None:
            self.relay.down.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.close()
