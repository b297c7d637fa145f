"""One request/response exchange: decide once, then stream the request up and the response down.

Theory of operation
-------------------
The downstream protocol (http1.py) creates an `Exchange` when a request head is complete and feeds
it body chunks and the end of the request. `start()` runs when the exchange is first in line (HTTP/1
answers in order): it takes `store.current` once, calls `routing.decide` once, and either renders a
local reply or asks the pool for a connection. Both directions are callbacks, no task per request:

    client bytes ─► HttpProtocol ─► Exchange.request_body ─► conn.out ─► backend
    backend bytes ─► UpstreamConnection ─► Exchange.on_response_* ─► proto.out ─► client

Writes are appended to `out` lists and flushed once at the end of each callback batch (the
`data_received` that caused them), so a response head and its first body bytes leave in one write.

The exchange is finished when both the request has been read and the response written (or either
side failed); the protocol then starts the next pipelined request or goes idle. Failures map to the
Envoy behaviour of istio-semantics 5.4: before the response started the client gets a local reply
(503 UF/UH/UO/UC, 504 UT); after, the client connection is closed so the truncation is visible.

This is the hot path: the common case (no header edits, no body, idle pooled connection) is
written inline with few calls; anything unusual goes through the general helpers in headers.py.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, cast

from meshgate import ir, routing
from meshgate.proxy import local_reply
from meshgate.proxy.access_log import record_of
from meshgate.proxy.errors import (
    DownstreamDisconnect,
    NoHealthyUpstream,
    ProxyError,
    UpstreamError,
    UpstreamProtocol,
    UpstreamReset,
    UpstreamTimeout,
)
from meshgate.proxy.headers import (
    ID_FORMAT as _ID,
)
from meshgate.proxy.headers import (
    LazyHeaders,
    downstream_response_head,
    upstream_request_head,
)
from meshgate.proxy.message import RequestHead, make_view
from meshgate.routing.decision import LocalReply, RouteDecision

if TYPE_CHECKING:
    from meshgate.proxy.http1 import HttpProtocol
    from meshgate.proxy.tunnel import Tunnel
    from meshgate.proxy.upstream import EndpointPool, UpstreamConnection

# Response body framing toward the client.
_NONE, _LENGTH, _CHUNKED = 0, 1, 2
_END_CHUNK = b"0\r\n\r\n"
_CRLF = b"\r\n"
_CHUNKED_LINE = b"transfer-encoding: chunked\r\n"
_GATEWAY_REQUEST_LINES = (
    b"x-forwarded-for: %s\r\nx-forwarded-proto: %s\r\nx-request-id: %s\r\nx-envoy-external-address: %s\r\n"
)
_ATTEMPT = b"x-envoy-attempt-count: 1\r\n"
_GATEWAY_RESPONSE_LINES = b"server: %s\r\nx-envoy-upstream-service-time: %d\r\n"

_bits = random.Random().getrandbits
_decide = routing.decide
_upstream_target = routing.upstream_target
_upstream_authority = routing.upstream_authority


class Exchange:
    # No __slots__: most fields keep their class-level default for the whole exchange, so
    # __init__ only sets what differs (measurably cheaper per request than 40 slot stores).
    started = finished = False
    request_done = response_done = response_started = False
    discard_body = waiting_upstream = retried = close_delimited = False
    body_buffer: list[bytes] | None = None
    buffered = bytes_received = bytes_sent = 0
    body_mode = _NONE
    conn: UpstreamConnection | None = None
    pool: EndpointPool | None = None
    tunnel: Tunnel | None = None
    decision: RouteDecision | None = None
    pending_reply: tuple[int, bytes, tuple[tuple[str, str], ...]] | None = None
    timer: asyncio.TimerHandle | None = None
    status = 0
    flags = details = route_name = upstream_local = ""
    request_id = xff = up_head = b""
    service_time = -1
    sent_at = 0.0

    def __init__(self, proto: HttpProtocol, head: RequestHead, error: ProxyError | None = None) -> None:
        self.proto = proto
        self.head = head
        self.error = error
        self.close_after = error is not None or not head.keep_alive or bool(head.upgrade)
        self.started_at = proto.loop.time()

    # --- start: decide once -----------------------------------------------------------------

    def start(self) -> None:
        self.started = True
        if self.error is not None:
            self._local_error(self.error)
            return
        proto = self.proto
        ctx = proto.ctx
        head = self.head
        snapshot = ctx.store.current  # once per request: a reload cannot change it midway
        if snapshot is None:
            self._local(404, b"", (), "NR", "route_not_found")
            return
        view = make_view(
            proto.port,
            head.authority,
            head.path,
            head.query,
            head.method,
            proto.scheme,
            LazyHeaders(head.headers),
            proto.sni,
            proto.bind,
            proto.client_ip,
        )
        # edge request: always a fresh id (8.3.1); new_request_id() inlined
        self.request_id = request_id = _ID % (_bits(32), _bits(16), _bits(12), 0x8000 | _bits(14), _bits(48))
        self.xff = xff = head.xff + b"," + proto.client_ip_bytes if head.xff else proto.client_ip_bytes
        decision = _decide(snapshot.table, view, ctx.rng)
        if decision.__class__ is LocalReply:
            self._decided_locally(decision)
            return
        decision = cast(RouteDecision, decision)
        self.decision = decision
        pool = ctx.pools.pick(decision.cluster)
        if pool is None:
            self._local_error(NoHealthyUpstream())
            return
        self.pool = pool
        route = decision.route
        destination = decision.destination
        self.route_name = route.name
        target = _upstream_target(route, view)
        gateway = _GATEWAY_REQUEST_LINES % (xff, proto.scheme_bytes, request_id, proto.client_ip_bytes)
        action = route.action
        if (
            action.__class__ is ir.Forward
            and action.rewrite is not None
            and target.partition("?")[0] != head.path
        ):
            original = f"{head.path}?{head.query}" if head.query else head.path  # :path as received
            gateway += b"x-envoy-original-path: %s\r\n" % original.encode("latin-1")
        timeout = route.timeout
        if timeout:
            gateway += b"x-envoy-expected-rq-timeout-ms: %d\r\n" % int(timeout * 1000)
        if head.chunked:
            framing = _CHUNKED_LINE
        elif head.content_length is not None:
            framing = b"content-length: %d\r\n" % head.content_length
        else:
            framing = b""
        if head.upgrade:
            framing += b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade
        request_line = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (
            head.method_bytes,
            target.encode("latin-1"),
            _upstream_authority(route, destination, view).encode("latin-1"),
        )
        edits_a, edits_b = destination.request_headers, route.request_headers
        if (
            head.connection
            or edits_a.set or edits_a.add or edits_a.remove
            or edits_b.set or edits_b.add or edits_b.remove
        ):  # fmt: skip
            self.up_head = upstream_request_head(request_line, head, gateway, (edits_a, edits_b), framing)
        else:
            self.up_head = b"".join([request_line, *head.lines, gateway, _ATTEMPT, framing, _CRLF])
        if head.expect_continue and not self.request_done:
            proto.out.append(local_reply.CONTINUE_100)
        if timeout and self.request_done:
            self._arm_timeout()
        self.waiting_upstream = True
        try:
            conn = ctx.pools.acquire(pool, self)
        except UpstreamError as err:
            self.waiting_upstream = False
            self._fail(err)
            return
        if conn is not None:
            self.on_upstream_ready(conn)

    def _decided_locally(self, decision: LocalReply) -> None:
        if decision.route is not None:
            self.route_name = decision.route.name
        if decision.status == 0:  # close the connection without an answer
            self.flags, self.details = decision.flags, decision.details
            self.close_after = True
            self.response_done = True
            self._finish()
            return
        self._local(decision.status, decision.body, decision.headers, decision.flags, decision.details)

    def _reacquire(self) -> None:
        """Retry once on a fresh connection (the reused one had been closed by the backend)."""
        pool = self.pool
        assert pool is not None
        self.waiting_upstream = True
        try:
            conn = self.proto.ctx.pools.acquire(pool, self, fresh=True)
        except UpstreamError as err:
            self.waiting_upstream = False
            self._fail(err)
            return
        if conn is not None:
            self.on_upstream_ready(conn)

    # --- request body from the client -------------------------------------------------------

    def request_body(self, chunk: bytes) -> None:
        self.bytes_received += len(chunk)
        if self.discard_body or self.finished:
            return
        conn = self.conn
        if conn is not None:
            if self.head.chunked:
                conn.out += (b"%x\r\n" % len(chunk), chunk, _CRLF)
            else:
                conn.out.append(chunk)
            return
        if self.body_buffer is None:
            self.body_buffer = [chunk]
        else:
            self.body_buffer.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > self.proto.limits.high_water:
            self.proto.pause_reading(self.proto.PAUSE_BUFFER)

    def request_end(self) -> None:
        self.request_done = True
        if self.finished:
            return
        if not self.discard_body:
            conn = self.conn
            if conn is not None and self.head.chunked:
                conn.out.append(_END_CHUNK)
            decision = self.decision
            if decision is not None and decision.route.timeout:
                self._arm_timeout()
        if self.response_done and self.pending_reply is None:
            self._finish()

    def fail_request(self, err: ProxyError) -> None:
        """The client broke the protocol in the middle of this request's body."""
        self.request_done = True
        self.close_after = True
        if self.finished:
            return
        if not self.started:
            self.error = err
            return
        self._drop_upstream()
        if self.response_started:
            self.flags = err.flags
            self.proto.close()
            self._finish()
        elif self.pending_reply is None:
            self._local_error(err)

    # --- upstream connection ----------------------------------------------------------------

    def on_upstream_ready(self, conn: UpstreamConnection) -> None:
        self.waiting_upstream = False
        proto = self.proto
        if self.finished:
            proto.ctx.pools.release(conn)
            return
        self.conn = conn
        head = self.head
        conn.begin(self, head.is_head)
        if proto.write_paused:  # the client is still behind on an earlier response
            conn.pause_reading()
        if conn.requests:
            self.retried = True  # reused: may be stale, see on_upstream_lost
        conn.requests += 1
        self.upstream_local = conn.local_address
        out = conn.out
        out.append(self.up_head)
        if self.body_buffer:
            for chunk in self.body_buffer:
                if head.chunked:
                    out += (b"%x\r\n" % len(chunk), chunk, _CRLF)
                else:
                    out.append(chunk)
            self.body_buffer = None
            self.buffered = 0
            proto.resume_reading(proto.PAUSE_BUFFER)
        if self.request_done and head.chunked:
            out.append(_END_CHUNK)
        self.sent_at = proto.loop.time()
        if not proto.in_feed:
            conn.flush()

    def on_upstream_failed(self, err: UpstreamError) -> None:
        self.waiting_upstream = False
        if not self.finished:
            self._fail(err)

    def upstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.proto.pause_reading(self.proto.PAUSE_UPSTREAM)
        else:
            self.proto.resume_reading(self.proto.PAUSE_UPSTREAM)

    # --- response from the backend ----------------------------------------------------------

    def on_response_head(self, conn: UpstreamConnection, status: int) -> None:
        decision = self.decision
        assert decision is not None
        proto = self.proto
        self.service_time = service_time = int((proto.loop.time() - self.sent_at) * 1000)
        self.status = status
        self.details = "via_upstream"
        head = self.head
        length = conn.length
        if status == 101:
            if not head.upgrade:
                self._fail(UpstreamProtocol("unexpected 101"))
                return
            framing = b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade
            self._cancel_timer()
        else:
            if head.is_head or status in {204, 304}:
                framing = b"content-length: %s\r\n" % length if length and status != 204 else b""
                if conn.chunked and head.is_head:
                    framing = _CHUNKED_LINE
            elif length:
                self.body_mode = _LENGTH
                framing = b"content-length: %s\r\n" % length
            else:  # chunked, or delimited by the backend closing: chunked toward the client
                self.body_mode = _CHUNKED
                self.close_delimited = not conn.chunked
                framing = _CHUNKED_LINE
            if self.close_after or proto.closing:
                framing += b"connection: close\r\n"
        gateway = _GATEWAY_RESPONSE_LINES % (proto.ctx.server_header, service_time)
        edits_a, edits_b = decision.destination.response_headers, decision.route.response_headers
        if (
            conn.connection
            or edits_a.set or edits_a.add or edits_a.remove
            or edits_b.set or edits_b.add or edits_b.remove
        ):  # fmt: skip
            proto.out.append(downstream_response_head(status, conn, gateway, (edits_a, edits_b), framing))
        else:
            parts = [local_reply.status_line(status), *conn.lines]
            if not conn.has_date:
                parts += (b"date: ", local_reply.date_header(), _CRLF)
            parts += (gateway, framing, _CRLF)
            proto.out.append(b"".join(parts))
        self.response_started = True

    def on_response_body(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        if self.body_mode == _CHUNKED:
            self.proto.out += (b"%x\r\n" % len(data), data, _CRLF)
        else:
            self.proto.out.append(data)

    def on_response_end(self) -> None:
        if self.status == 101:
            return  # the tunnel takes over in on_upstream_upgrade
        if self.body_mode == _CHUNKED:
            self.proto.out.append(_END_CHUNK)
        self.response_done = True
        if self.timer is not None:
            self._cancel_timer()
        conn = self.conn
        if conn is not None:
            self.conn = None
            if not self.request_done:
                conn.reusable = False  # the backend answered before reading the whole request
            self.proto.ctx.pools.release(conn)
        if not self.request_done:
            # Envoy closes an HTTP/1 connection whose response finished before its request.
            self.close_after = True
            self.discard_body = True
        self._finish()

    def on_upstream_upgrade(self, rest: bytes) -> None:
        from meshgate.proxy.tunnel import Tunnel

        conn = self.conn
        if conn is None or self.status != 101:
            self._fail(UpstreamProtocol("unexpected upgrade"))
            return
        self.upstream_local = conn.local_address
        self.conn = None
        self.tunnel = Tunnel(self, conn, rest)

    def on_upstream_lost(self, exc: BaseException | None) -> None:
        conn, self.conn = self.conn, None
        if self.finished or conn is None:
            return
        if self.response_started:
            if self.close_delimited:
                self.on_response_end()  # close-delimited body: the close is its end
                return
            self.flags = "UC"  # truncated: close the client connection so it sees it
            self.details = "upstream_reset_after_response_started{connection_termination}"
            self._cancel_timer()
            self.proto.close()
            self._finish()
            return
        head = self.head
        if self.retried and not (head.chunked or head.content_length) and not self.discard_body:
            # A reused keep-alive connection the backend had closed: retry once on a fresh one.
            self.retried = False
            self._reacquire()
            return
        self._fail(UpstreamReset(str(exc) if exc else "connection closed"))

    def on_upstream_error(self, err: UpstreamError) -> None:
        self.conn = None
        if not self.finished:
            self._fail(err)

    def flush(self) -> None:
        self.proto.flush()
        conn = self.conn
        if conn is not None:
            conn.flush()

    # --- failure paths ----------------------------------------------------------------------

    def _fail(self, err: ProxyError) -> None:
        self._drop_upstream()
        self._cancel_timer()
        if self.response_started:
            self.flags = err.flags
            self.details = err.details
            self.proto.close()
            self._finish()
            return
        self._local_error(err)

    def _on_timeout(self) -> None:
        self.timer = None
        if self.finished:
            return
        self.waiting_upstream = False
        self._fail(UpstreamTimeout())
        self.proto.flush()

    def _arm_timeout(self) -> None:
        decision = self.decision
        if decision is not None and decision.route.timeout and self.timer is None and not self.response_done:
            self.timer = self.proto.loop.call_later(decision.route.timeout, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _drop_upstream(self) -> None:
        self.waiting_upstream = False
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()

    def abort_downstream(self) -> None:
        """The client connection is gone (DC): abandon the backend request."""
        if self.finished:
            return
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.downstream_lost()
            return
        if not self.response_done:
            self.flags = self.flags or DownstreamDisconnect.flags
            self.details = self.details or DownstreamDisconnect.details
        self._drop_upstream()
        self._cancel_timer()
        self.close_after = True
        self._finish()

    def tunnel_closed(self) -> None:
        self.response_done = True
        self.close_after = True
        self._finish()

    # --- local replies ----------------------------------------------------------------------

    def _local_error(self, err: ProxyError) -> None:
        self._local(err.status, err.body, (), err.flags, err.details)

    def _local(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...], flags: str, details: str
    ) -> None:
        self.status, self.flags, self.details = status, flags, details
        self.response_done = True
        self.discard_body = True
        self.body_buffer = None
        self.pending_reply = (status, body, headers)
        if self.proto.in_feed and not self.request_done:
            # The rest of the request may be in the bytes being parsed right now: answer when
            # this batch is done, so a fully received request keeps its connection alive.
            self.proto.deferred.append(self)
        else:
            self.emit_pending_reply()

    def emit_pending_reply(self) -> None:
        pending = self.pending_reply
        if pending is None or self.finished:
            return
        self.pending_reply = None
        status, body, headers = pending
        proto = self.proto
        if not self.request_done or proto.closing:
            self.close_after = True
        proto.resume_reading(proto.PAUSE_BUFFER)
        proto.out.append(
            local_reply.render(
                status,
                body,
                headers=headers,
                close=self.close_after,
                head_only=self.head.is_head,
                server=proto.ctx.server_header,
            )
        )
        self.bytes_sent = 0 if self.head.is_head else len(body)
        self.response_started = True
        self._finish()

    # --- the end ----------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self._cancel_timer()
        proto = self.proto
        ctx = proto.ctx
        decision = self.decision
        key = (self.status, self.flags, decision.cluster.name if decision is not None else "")
        requests = ctx.stats.requests
        requests[key] = requests.get(key, 0) + 1
        if ctx.access_log is not None:
            ctx.access_log.write(record_of(self))
        if proto.read_paused_for(proto.PAUSE_UPSTREAM | proto.PAUSE_BUFFER):
            # this exchange's backpressure must not outlive it
            proto.resume_reading(proto.PAUSE_UPSTREAM | proto.PAUSE_BUFFER)
        proto.exchange_finished(self)
