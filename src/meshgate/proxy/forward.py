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
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from meshgate import ir, routing
from meshgate.proxy import local_reply
from meshgate.proxy.access_log import LogRecord
from meshgate.proxy.errors import (
    NoHealthyUpstream,
    ProxyError,
    UpstreamError,
    UpstreamProtocol,
    UpstreamReset,
    UpstreamTimeout,
)
from meshgate.proxy.headers import Header, downstream_response_head, new_request_id, upstream_request_head
from meshgate.routing.decision import LocalReply, RouteDecision
from meshgate.routing.request import RequestView

if TYPE_CHECKING:
    from meshgate.proxy.http1 import HttpProtocol
    from meshgate.proxy.tunnel import Tunnel
    from meshgate.proxy.upstream import UpstreamConnection

# Response body framing toward the client.
_NONE, _LENGTH, _CHUNKED = 0, 1, 2
_END_CHUNK = b"0\r\n\r\n"
_CRLF = b"\r\n"


class RequestHead:
    """A parsed request head. `headers` keep wire order; `lower` is the RequestView mapping."""

    __slots__ = (
        "authority",
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "lower",
        "method",
        "path",
        "query",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        *,
        method: str,
        target: str,
        path: str,
        query: str,
        version: str,
        headers: list[Header],
        lower: dict[str, str],
        authority: str,
        keep_alive: bool,
        content_length: int | None = None,
        chunked: bool = False,
        upgrade: str = "",
        expect_continue: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.lower = lower
        self.authority = authority
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        self.upgrade = upgrade
        self.expect_continue = expect_continue


class Exchange:
    __slots__ = (
        "body_buffer",
        "body_mode",
        "buffered",
        "bytes_received",
        "bytes_sent",
        "close_after",
        "close_delimited",
        "conn",
        "ctx",
        "decision",
        "details",
        "discard_body",
        "endpoint",
        "error",
        "finished",
        "flags",
        "head",
        "pending_reply",
        "proto",
        "request_done",
        "request_id",
        "response_done",
        "response_started",
        "retried",
        "route_name",
        "sent_at",
        "service_time",
        "start_time",
        "started",
        "started_at",
        "status",
        "timer",
        "tunnel",
        "up_head",
        "upstream_host",
        "upstream_local",
        "waiting_upstream",
        "xff",
    )

    def __init__(self, proto: HttpProtocol, head: RequestHead, error: ProxyError | None = None) -> None:
        self.proto = proto
        self.ctx = proto.ctx
        self.head = head
        self.error = error
        self.started = self.finished = False
        self.request_done = self.response_done = self.response_started = False
        self.discard_body = False
        self.close_after = error is not None or not head.keep_alive or bool(head.upgrade)
        self.waiting_upstream = False
        self.retried = False
        self.body_buffer: list[bytes] = []
        self.buffered = self.bytes_received = self.bytes_sent = 0
        self.body_mode = _NONE
        self.close_delimited = False
        self.conn: UpstreamConnection | None = None
        self.tunnel: Tunnel | None = None
        self.decision: RouteDecision | None = None
        self.endpoint: ir.Endpoint | None = None
        self.pending_reply: tuple[int, bytes, tuple[tuple[str, str], ...]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.status = 0
        self.flags = self.details = ""
        self.request_id = self.route_name = ""
        self.up_head = b""
        self.upstream_host = self.upstream_local = self.xff = ""
        self.service_time = -1
        self.sent_at = 0.0
        self.start_time = time.time()
        self.started_at = proto.loop.time()

    # --- start: decide once -----------------------------------------------------------------

    def start(self) -> None:
        self.started = True
        if self.error is not None:
            self._local_error(self.error)
            return
        head = self.head
        snapshot = self.ctx.store.current  # once per request: a reload cannot change it midway
        if snapshot is None:
            self._local(404, b"", (), "NR", "route_not_found")
            return
        proto = self.proto
        view = RequestView(
            port=proto.port,
            authority=head.authority,
            path=head.path,
            query=head.query,
            method=head.method,
            scheme=proto.scheme,
            headers=head.lower,
            sni=proto.sni,
            bind=proto.bind,
            client_address=proto.client_ip,
        )
        self.request_id = new_request_id()  # edge request: always a fresh id (8.3.1)
        xff = head.lower.get("x-forwarded-for")
        self.xff = f"{xff},{proto.client_ip}" if xff else proto.client_ip
        decision = routing.decide(snapshot.table, view, self.ctx.rng)
        if isinstance(decision, LocalReply):
            if decision.route is not None:
                self.route_name = decision.route.name
            if decision.status == 0:
                self.flags, self.details = decision.flags, decision.details
                self.close_after = True
                self.response_done = True
                self._finish()
                return
            self._local(decision.status, decision.body, decision.headers, decision.flags, decision.details)
            return
        self.decision = decision
        endpoint = self.ctx.pools.pick(decision.cluster)
        if endpoint is None:
            self._local_error(NoHealthyUpstream())
            return
        self.endpoint = endpoint
        self.upstream_host = f"{endpoint.address}:{endpoint.port}"
        route = decision.route
        target = routing.upstream_target(route, view)
        authority = routing.upstream_authority(route, decision.destination, view)
        if head.chunked:
            framing = "transfer-encoding: chunked\r\n"
        elif head.content_length is not None:
            framing = f"content-length: {head.content_length}\r\n"
        else:
            framing = ""
        self.route_name = route.name
        timeout = route.timeout
        self.up_head = upstream_request_head(
            method=head.method,
            target=target,
            authority=authority,
            headers=head.headers,
            connection=head.lower.get("connection", ""),
            client_address=proto.client_ip,
            scheme=proto.scheme,
            request_id=self.request_id,
            edits=(decision.destination.request_headers, route.request_headers),
            body=framing,
            upgrade=head.upgrade,
            original_path=head.path if target.partition("?")[0] != head.path else "",
            timeout_ms=int(timeout * 1000) if timeout else 0,
        )
        if head.expect_continue and not self.request_done:
            proto.out.append(local_reply.CONTINUE_100)
        if self.request_done:
            self._arm_timeout()
        self._acquire(fresh=False)

    def _acquire(self, *, fresh: bool) -> None:
        decision = self.decision
        endpoint = self.endpoint
        assert decision is not None and endpoint is not None
        self.waiting_upstream = True
        try:
            conn = self.ctx.pools.acquire(decision.cluster, endpoint, self, fresh=fresh)
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
        self.body_buffer.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > self.ctx.limits.high_water:
            self.proto.pause_reading(self.proto.PAUSE_BUFFER)

    def request_end(self) -> None:
        self.request_done = True
        if self.finished:
            return
        conn = self.conn
        if conn is not None and self.head.chunked and not self.discard_body:
            conn.out.append(_END_CHUNK)
        if self.decision is not None and not self.discard_body:
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
        if self.finished:
            self.ctx.pools.release(conn)
            return
        self.conn = conn
        conn.sink = self
        conn.head_only = self.head.method == "HEAD"
        self.retried = self.retried or conn.requests > 0  # reused: may be stale, see on_upstream_lost
        conn.requests += 1
        self.upstream_local = conn.local_address
        out = conn.out
        out.append(self.up_head)
        if self.body_buffer:
            for chunk in self.body_buffer:
                if self.head.chunked:
                    out += (b"%x\r\n" % len(chunk), chunk, _CRLF)
                else:
                    out.append(chunk)
            self.body_buffer = []
            self.buffered = 0
            self.proto.resume_reading(self.proto.PAUSE_BUFFER)
        if self.request_done and self.head.chunked:
            out.append(_END_CHUNK)
        self.sent_at = self.proto.loop.time()
        if not self.proto.in_feed:
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
        headers, length, chunked = conn.headers, conn.length, conn.chunked
        decision = self.decision
        assert decision is not None
        self.service_time = int((self.proto.loop.time() - self.sent_at) * 1000)
        self.status = status
        self.details = "via_upstream"
        upgrade = ""
        head = self.head
        if status == 101:
            if not head.upgrade:
                self._upstream_broken()
                return
            upgrade = head.upgrade
            self.body_mode = _NONE
            framing = ""
            self._cancel_timer()
        elif head.method == "HEAD" or status in (204, 304):
            self.body_mode = _NONE
            framing = f"content-length: {length}\r\n" if length and status != 204 else ""
            if chunked and head.method == "HEAD":
                framing = "transfer-encoding: chunked\r\n"
        elif length:
            self.body_mode = _LENGTH
            framing = f"content-length: {length}\r\n"
        else:  # chunked, or delimited by the backend closing: chunked toward the client
            self.body_mode = _CHUNKED
            self.close_delimited = not chunked
            framing = "transfer-encoding: chunked\r\n"
        route = decision.route
        self.proto.out.append(
            downstream_response_head(
                status=status,
                reason=conn.reason,
                headers=headers,
                connection=_find(headers, "connection"),
                server=self.ctx.server_name,
                framing=framing,
                service_time_ms=self.service_time,
                edits=(decision.destination.response_headers, route.response_headers),
                close=self.close_after or self.proto.closing,
                upgrade=upgrade,
            )
        )
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
        self._cancel_timer()
        conn = self.conn
        if conn is not None:
            self.conn = None
            if not self.request_done:
                conn.reusable = False  # the backend answered before reading the whole request
            self.ctx.pools.release(conn)
        if not self.request_done:
            # Envoy closes an HTTP/1 connection whose response finished before its request.
            self.close_after = True
            self.discard_body = True
        self._finish()

    def on_upstream_upgrade(self, rest: bytes) -> None:
        from meshgate.proxy.tunnel import Tunnel

        conn = self.conn
        if conn is None or self.status != 101:
            self._upstream_broken()
            return
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
        if self.retried and not self._has_body() and not self.discard_body:
            # A reused keep-alive connection the backend had closed: retry once on a fresh one.
            self.retried = False
            self._acquire(fresh=True)
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

    def _upstream_broken(self) -> None:
        self._fail(UpstreamProtocol("unexpected 101"))

    def _fail(self, err: UpstreamError | ProxyError) -> None:
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

    def _has_body(self) -> bool:
        return self.head.chunked or bool(self.head.content_length)

    def abort_downstream(self) -> None:
        """The client connection is gone (DC): abandon the backend request."""
        if self.finished:
            return
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.downstream_lost()
            return
        if not self.response_done:
            self.flags = self.flags or "DC"
            self.details = self.details or "downstream_remote_disconnect"
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
        self.body_buffer = []
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
        if not self.request_done or self.proto.closing:
            self.close_after = True
        self.proto.resume_reading(self.proto.PAUSE_BUFFER)
        self.proto.out.append(
            local_reply.render(
                status,
                body,
                headers=headers,
                close=self.close_after,
                head_only=self.head.method == "HEAD",
                server=self.ctx.server_header,
            )
        )
        self.bytes_sent = 0 if self.head.method == "HEAD" else len(body)
        self.response_started = True
        self._finish()

    # --- the end ----------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._cancel_timer()
        ctx = self.ctx
        decision = self.decision
        ctx.stats.count(self.status, self.flags, decision.cluster.name if decision else "")
        if ctx.access_log is not None:
            ctx.access_log.write(self.record())
        self.proto.exchange_finished(self)

    def record(self) -> LogRecord:
        head = self.head
        decision = self.decision
        proto = self.proto
        return LogRecord(
            start_time=self.start_time,
            method=head.method,
            path=(f"{head.path}?{head.query}" if head.query else head.path) or head.target,
            protocol=f"HTTP/{head.version}",
            response_code=self.status,
            response_flags=self.flags,
            response_code_details=self.details,
            connection_termination_details="",
            upstream_transport_failure_reason="",
            bytes_received=self.bytes_received,
            bytes_sent=self.bytes_sent,
            duration=int((proto.loop.time() - self.started_at) * 1000),
            upstream_service_time=str(self.service_time) if self.service_time >= 0 else "",
            x_forwarded_for=self.xff,
            user_agent=head.lower.get("user-agent", ""),
            request_id=self.request_id,
            authority=head.authority,
            upstream_host=self.upstream_host,
            upstream_cluster=decision.cluster.name if decision else "",
            upstream_local_address=self.upstream_local,
            downstream_local_address=proto.local_address,
            downstream_remote_address=proto.remote_address,
            requested_server_name=proto.sni or "",
            route_name=self.route_name,
        )


def _find(headers: list[Header], name: str) -> str:
    for lower, _, value in headers:
        if lower == name:
            return value
    return ""

