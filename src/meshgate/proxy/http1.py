"""Downstream HTTP/1.1: one `HttpProtocol` per client connection, parsing with httptools (llhttp).

Theory of operation
-------------------
`data_received` feeds the parser. httptools gets no on_url/on_header callbacks: when a head is
complete, `request_wire.request_fields` reads it from the received bytes in one call (C when built),
and the head goes to an `Exchange` (forward.py). A read that is exactly one request head without a
body, in the strict reading `request_wire.lone_request` checks (the common GET), skips llhttp: what
its three callbacks would do is done directly (`_lone`), and llhttp, which never saw those bytes,
stays at the start of a message (`_lone_ok` says when it is there).

Responses go out in request order: the first exchange is `current`; requests pipelined behind it
wait in `queue` (their bodies buffered) and reading is paused until the queue drains. Reading is
paused for several independent reasons (a bit each: upstream write buffer full, pipelined requests
waiting, body buffered while connecting, upgrade pending) and resumes only when none is left.

Writes go to `out` and leave in one `transport.write` per callback batch (`flush`). One lazy timer
per connection enforces the header-read and keep-alive idle timeouts (watchdog.py).

Protocol errors (httptools errors, oversize heads, bad chunk sizes, CL+TE conflicts, NUL bytes,
bad paths) are answered in order with 400/413/431 and close the connection; nothing of such a
request is forwarded upstream.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

from meshgate.proxy import watchdog
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.errors import (
    BodyTooLarge,
    DownstreamError,
    HeaderTooLarge,
    ProxyError,
)
from meshgate.proxy.forward import Exchange
from meshgate.proxy.limits import clock
from meshgate.proxy.message import partial_head, read_head
from meshgate.proxy.request_wire import ChunkWalker, RequestFields, lone_request, request_fields
from meshgate.proxy.tls import DownstreamTls
from meshgate.proxy.tunnel import Tunnel


class HttpProtocol(asyncio.Protocol):
    PAUSE_UPSTREAM = 1
    PAUSE_PIPELINE = 2
    PAUSE_BUFFER = 4
    PAUSE_TUNNEL = 8
    PAUSE_DEAD = 16

    __slots__ = (
        "_advancing",
        "_body_at",
        "_ended_in_read",
        "_feed",
        "_head_kept",
        "_head_parts",
        "_head_since",
        "_head_start",
        "_idle_since",
        "_keeps",
        "_lone_ok",
        "_next_start",
        "_read",
        "_read_paused",
        "_tunnel_buffer",
        "_walker",
        "_watchdog",
        "_write",
        "_writelines",
        "bind",
        "client_ip",
        "client_ip_bytes",
        "closed",
        "closing",
        "ctx",
        "current",
        "deferred",
        "in_feed",
        "in_head",
        "limits",
        "local_address",
        "loop",
        "out",
        "parse_dead",
        "parser",
        "port",
        "queue",
        "receiving",
        "remote_address",
        "scheme",
        "scheme_bytes",
        "sni",
        "tls",
        "transport",
        "tunnel",
        "write_paused",
        "xfcc",
    )

    transport: asyncio.Transport

    def __init__(
        self,
        ctx: ProxyContext,
        port: int,
        bind: str = "",
        scheme: str = "http",
        tls: DownstreamTls | None = None,
    ) -> None:
        # server-wide
        self.ctx = ctx
        self.limits = ctx.limits
        self.loop = asyncio.get_running_loop()
        self.port = port  # the Gateway server port (RequestView.port), not the listen port
        self.bind = bind
        self.scheme = scheme
        self.tls = tls
        self.scheme_bytes = scheme.encode("ascii")
        self.sni: str | None = None
        self.xfcc = b""  # x-forwarded-client-cert value of a verified client certificate
        # per connection
        self.parser = httptools.HttpRequestParser(self)
        # bound methods held: a call through one is a plain call, where `self.parser.feed_data(...)`
        # on an object mypyc cannot type is a method lookup by name (~0.15k instructions) per call
        self._feed: Callable[[bytes], None] = self.parser.feed_data
        self.out: list[bytes] = []
        self.current: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.receiving: Exchange | None = None
        self.deferred: list[Exchange] = []
        self.tunnel: Tunnel | None = None
        self._tunnel_buffer = b""
        self.closed = self.closing = self.parse_dead = False
        self.in_feed = self.in_head = self.write_paused = False
        self._advancing = False
        self._read_paused = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self.client_ip = self.local_address = self.remote_address = ""
        self.client_ip_bytes = b""
        self._idle_since = self._head_since = 0.0
        # where the request being parsed starts (request_wire.py): the read being parsed, the
        # head's bytes from earlier reads, its offset in them + the read (-1: unknown), where the
        # body continues in the read, where a request following the one just ended starts
        self._read = b""
        self._head_parts: list[bytes] = []
        self._head_kept = 0
        self._head_start = 0
        self._body_at = 0
        self._next_start = -1
        self._ended_in_read = False
        self._walker: ChunkWalker | None = None
        # llhttp is between messages of a kept-alive connection: a lone head may skip it (after a
        # message that does not keep the connection, llhttp refuses what follows: it must see it)
        self._lone_ok = True
        self._keeps = True  # the message llhttp is reading keeps the connection alive

    # --- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._write: Callable[[bytes], None] = self.transport.write
        self._writelines: Callable[[list[bytes]], None] = self.transport.writelines
        self.transport.set_write_buffer_limits(high=self.limits.high_water, low=self.limits.low_water)
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip = str(peer[0])
            self.client_ip_bytes = self.client_ip.encode("latin-1")
            self.remote_address = f"{peer[0]}:{peer[1]}"
        local = transport.get_extra_info("sockname")
        if local:
            self.local_address = f"{local[0]}:{local[1]}"
        if self.tls is not None:
            ssl_object = transport.get_extra_info("ssl_object")
            self.sni = self.tls.server_name(ssl_object)
            self.xfcc = self.tls.client_cert(ssl_object)
        self.ctx.connections.add(self)
        stats = self.ctx.stats
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        self._idle_since = clock()
        self._arm_watchdog(min(self.limits.idle_timeout, self.limits.header_read_timeout))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.ctx.connections.discard(self)
        self.ctx.stats.downstream_cx_active -= 1
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.out.clear()
        pending = [self.current, *self.queue] if self.current else list(self.queue)
        self.current = None
        self.queue.clear()
        for exchange in pending:
            if exchange is not None:
                exchange.abort_downstream()

    def eof_received(self) -> bool:
        # A client that half-closes after a complete request still gets its response.
        if self.tunnel is None and self.receiving is None and (self.current or self.queue):
            self.closing = True
            return True
        return False

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.tunnel is not None:
            self.tunnel.downstream_write_paused(True)
        elif self.current is not None and self.current.conn is not None:
            self.current.conn.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.tunnel is not None:
            self.tunnel.downstream_write_paused(False)
        elif self.current is not None and self.current.conn is not None:
            self.current.conn.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_downstream(data)
            return
        if self.parse_dead:
            if self.current is not None and self.current.head.upgrade:
                self._tunnel_buffer += data  # sent before the 101; forwarded once tunnelled
            return
        self.in_feed = True
        self._read, self._ended_in_read, self._body_at = data, False, 0
        try:
            fields = lone_request(data) if self._lone_ok else None
            if fields is not None:
                self._lone(data, fields)
            else:
                self._feed(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade(data[exc.args[0] :])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, ProxyError):
                raise
            self._protocol_error(cause)
        except httptools.HttpParserError as exc:
            self._protocol_error(DownstreamError(str(exc)))
        except ProxyError as exc:  # from `_lone`, where llhttp did not wrap it
            self._protocol_error(exc)
        else:
            if self.in_head:  # the head continues in the next read: keep its bytes
                self._keep_head(data)
            elif self._walker is not None:
                self._walker.walk(data)  # a chunked body goes on in the next read
        finally:
            self.in_feed = False
            self._read = b""
        if self.deferred:
            deferred, self.deferred = self.deferred, []
            for exchange in deferred:
                exchange.emit_pending_reply()
        if self.out:
            self.flush()
        current = self.current
        if current is not None:
            conn = current.conn
            if conn is not None and conn.out:
                conn.flush()

    # --- httptools callbacks ---------------------------------------------------------------
    # No on_url/on_header: httptools then makes no per-header Python call; the complete head is
    # read in one go by request_wire.request_fields from the bytes received (request_wire.py says
    # how the start of each request is tracked: _head_start, _body_at, ChunkWalker).

    def on_message_begin(self) -> None:
        # _head_parts and _head_kept are empty here: on_headers_complete took them
        self.in_head = True
        self._lone_ok = False
        self._head_start = self._next_start if self._ended_in_read else 0
        self._head_since = clock()

    def on_headers_complete(self) -> None:
        self.in_head = False
        read, parts, start = self._read, self._head_parts, self._head_start
        if parts:
            parts.append(read)
            data = b"".join(parts)
            self._head_parts = []
            self._head_kept = 0
        else:
            data = read
        fields = request_fields(data, start) if start >= 0 else None
        if fields is None:  # unplaceable, or not the shape llhttp accepts: nothing of it is used
            raise DownstreamError("request head not readable")
        end_in_read = fields[0] - (len(data) - len(read))
        self._body_at = end_in_read
        if fields[7]:  # chunked
            self._walker = ChunkWalker(end_in_read)
        if not self._begin(fields, data, start, self._head_since):
            raise _Stop

    def _begin(self, fields: RequestFields, data: bytes, start: int, since: float) -> bool:
        """The exchange of a complete head, started (or queued); False when the head is refused."""
        self._keeps = fields[14]
        head, error = read_head(fields, data, start, self.xfcc, self.limits, self.parser)
        exchange = Exchange(self, head, error, since)
        if error is not None:
            # Answered in order, then the connection closes; nothing of it goes upstream.
            self.ctx.stats.downstream_protocol_errors += 1
            self._stop_parsing()
            self._enqueue(exchange)
            return False
        self.receiving = exchange
        self._enqueue(exchange)
        return True

    def _lone(self, data: bytes, fields: RequestFields) -> None:
        """`data` is exactly one request head without a body (lone_request): what llhttp's
        on_message_begin, on_headers_complete and on_message_complete would do with it."""
        if self._begin(fields, data, 0, clock()):
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._body_at += len(body)  # a Content-Length body is contiguous in the read
        receiving = self.receiving
        if receiving is None:
            return
        limit = self.limits.max_body_bytes
        if limit and receiving.bytes_received + len(body) > limit:
            raise BodyTooLarge("request body above the limit")
        receiving.request_body(body)

    def on_message_complete(self) -> None:
        self._ended_in_read = True
        self._lone_ok = self._keeps
        walker = self._walker
        if walker is not None:
            self._walker = None
            self._next_start = walker.walk(self._read)  # -1: the next head cannot be placed
        else:
            self._next_start = self._body_at
        receiving = self.receiving
        self.receiving = None
        if receiving is not None:
            receiving.request_end()

    def _keep_head(self, data: bytes) -> None:
        start = self._head_start
        kept = self._head_kept + len(data) - start
        if start < 0:  # began after a body whose end was not found: cannot be read
            self._protocol_error(DownstreamError("request head not readable"))
        elif kept > self.limits.max_header_bytes:
            self._protocol_error(HeaderTooLarge("request head too large"))
        else:
            self._head_parts.append(data[start:] if start else data)
            self._head_kept = kept
            self._head_start = 0

    # --- exchanges -------------------------------------------------------------------------

    def _enqueue(self, exchange: Exchange) -> None:
        if self.current is None and not self.queue:
            self.current = exchange
            self._advancing = True
            try:
                exchange.start()
            finally:
                self._advancing = False
            if self.current is None and self.queue:
                self._advance()  # it finished at once and requests are waiting
        else:
            self.queue.append(exchange)
            self.pause_reading(self.PAUSE_PIPELINE)

    def exchange_finished(self, exchange: Exchange) -> None:
        if exchange is not self.current:
            return  # aborted while queued
        self.current = None
        if exchange.close_after or self.closing or self.closed:
            self.close()
            return
        self._idle_since = exchange.ended_at  # the clock _finish just read (one clock read fewer)
        if self.queue:
            self._advance()
        elif self._read_paused & self.PAUSE_PIPELINE:
            self.resume_reading(self.PAUSE_PIPELINE)

    def _advance(self) -> None:
        if self._advancing:
            return  # the loop below (further up the stack) starts the next one
        self._advancing = True
        try:
            while self.current is None and self.queue and not self.closed:
                self.current = self.queue.popleft()
                self.current.start()
        finally:
            self._advancing = False
        if not self.queue:
            self.resume_reading(self.PAUSE_PIPELINE)

    def take_tunnel_buffer(self) -> bytes:
        data, self._tunnel_buffer = self._tunnel_buffer, b""
        return data

    # --- errors ----------------------------------------------------------------------------

    def _protocol_error(self, err: ProxyError) -> None:
        if isinstance(err, _Stop):
            return
        self.ctx.stats.downstream_protocol_errors += 1
        self._stop_parsing()
        receiving = self.receiving
        self.receiving = None
        if receiving is not None:
            receiving.fail_request(err)
            return
        buffered = b"".join((*self._head_parts, self._read[max(self._head_start, 0) :]))
        self._enqueue(Exchange(self, partial_head(buffered.lstrip(b"\r\n")), err, clock()))

    def _stop_parsing(self) -> None:
        self.parse_dead = True
        self.in_head = False
        self.pause_reading(self.PAUSE_DEAD)

    def _upgrade(self, rest: bytes) -> None:
        """The request asked for an Upgrade: stop parsing HTTP; bytes wait for the tunnel."""
        self.parse_dead = True
        self._tunnel_buffer = rest
        self.pause_reading(self.PAUSE_TUNNEL)

    # --- I/O helpers -----------------------------------------------------------------------

    def flush(self) -> None:
        out = self.out
        if out:
            if not self.closed:
                if len(out) == 1:
                    self._write(out[0])
                elif self.tls is not None:
                    # TLS: one SSL_write, hence one record, for the whole batch (writelines makes
                    # one record per item: twice the encryption calls for a head + body response)
                    self._write(b"".join(out))
                else:
                    self._writelines(out)
            out.clear()

    def write_now(self, data: bytes) -> None:
        self.flush()
        if not self.closed:
            self._write(data)

    def close(self) -> None:
        """Flush what is pending and close (the client sees a clean EOF after the last byte)."""
        self.flush()
        if not self.closed:
            self.closing = True
            self.transport.close()

    def pause_reading(self, reason: int) -> None:
        if not self._read_paused and not self.closed:
            self.transport.pause_reading()
        self._read_paused |= reason

    def read_paused_for(self, reasons: int) -> bool:
        return bool(self._read_paused & reasons)

    def resume_reading(self, reason: int) -> None:
        if self._read_paused & reason:
            self._read_paused &= ~reason
            if not self._read_paused and not self.closed:
                self.transport.resume_reading()

    # --- timeouts --------------------------------------------------------------------------

    def _arm_watchdog(self, delay: float) -> None:
        self._watchdog = self.loop.call_later(max(delay, 0.01), self._on_watchdog)

    def _on_watchdog(self) -> None:
        self._watchdog = None
        delay = watchdog.check(self)
        if delay is not None:
            self._arm_watchdog(delay)


class _Stop(DownstreamError):
    """Raised from a callback to stop parsing after the exchange already carries the error."""
