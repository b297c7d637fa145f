"""The life cycle every exchange shares (forward.py builds on it): its fields and their defaults,
local replies, timers, the per-attempt accounting of the chosen endpoint, and the end of the
exchange (stats, access log, next pipelined request)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from meshgate import ir
from meshgate.proxy import local_reply
from meshgate.proxy.errors import DownstreamDisconnect, ProxyError
from meshgate.proxy.limits import clock
from meshgate.proxy.message import RequestHead
from meshgate.routing.decision import LocalReply, RouteDecision

if TYPE_CHECKING:
    from meshgate.proxy.http1 import HttpProtocol
    from meshgate.proxy.plan import RoutePlan
    from meshgate.proxy.tunnel import Tunnel
    from meshgate.proxy.upstream import EndpointPool, UpstreamConnection

# Response body framing toward the client.
NONE: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2


class ExchangeBase:
    # Fields and their defaults for what most exchanges never change. Compiled (mypyc), these
    # become native attributes set from the defaults in C; interpreted, the class-level defaults
    # let __init__ set only what differs. One assignment per line: mypyc rejects chained ones.
    started = False
    finished = False
    request_done = False
    response_done = False
    response_started = False
    discard_body = False
    waiting_upstream = False
    retried = False
    close_delimited = False
    body_buffer: list[bytes] | None = None
    buffered = 0
    bytes_received = 0
    bytes_sent = 0
    body_mode = NONE
    conn: UpstreamConnection | None = None
    pool: EndpointPool | None = None
    bound: EndpointPool | None = None  # the endpoint whose `active` count this attempt holds
    retry_pending: EndpointPool | None = None  # a scheduled retry holds a retry slot of its cluster
    tunnel: Tunnel | None = None
    decision: RouteDecision | None = None
    plan: RoutePlan | None = None
    pending_reply: tuple[int, bytes, tuple[tuple[str, str], ...]] | None = None
    timer: asyncio.TimerHandle | None = None  # route timeout
    try_timer: asyncio.TimerHandle | None = None  # per-try timeout, or the back-off wait
    status = 0
    flags = ""
    details = ""
    route_name = ""
    upstream_local = ""
    upstream_sni = ""
    request_id = b""
    xff = b""
    up_head = b""
    attempt_at = -1  # where up_head's x-envoy-attempt-count line starts: retries rewrite it there
    service_time = -1
    sent_at = 0.0
    ended_at = 0.0  # limits.clock() when the exchange finished (read by the access log)
    response_extra: ir.HeaderEdits | None = None  # CORS / set-cookie additions
    exhausted = False  # a retriable outcome with no retry left: flag URX
    mirror_to: list[ir.Cluster] | None = None  # mirror copies waiting for the end of the body

    def __init__(
        self, proto: HttpProtocol, head: RequestHead, error: ProxyError | None, started_at: float
    ) -> None:
        self.proto = proto
        self.head = head
        self.error = error
        self.close_after = error is not None or not head.keep_alive or len(head.upgrade) > 0
        # loop time of the request's first byte: Envoy's %START_TIME% and the start of %DURATION%
        self.started_at = started_at

    # --- attempt accounting -----------------------------------------------------------------

    def bind(self, pool: EndpointPool) -> None:
        self.pool = self.bound = pool
        pool.active += 1
        pool.state.requests += 1

    def unbind(self) -> None:
        pool = self.bound
        if pool is not None:
            self.bound = None
            pool.active -= 1
            pool.state.requests -= 1

    # --- timers -----------------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def cancel_try_timer(self) -> None:
        if self.try_timer is not None:
            self.try_timer.cancel()
            self.try_timer = None
        pending = self.retry_pending
        if pending is not None:  # a retry waiting for its back-off was abandoned
            self.retry_pending = None
            pending.state.retries -= 1

    def _drop_upstream(self) -> None:
        self.waiting_upstream = False
        self.cancel_try_timer()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()

    def add_flag(self, flag: str) -> None:
        self.flags = f"{self.flags},{flag}" if self.flags else flag

    # --- the client went away ---------------------------------------------------------------

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

    def decided_locally(self, decision: LocalReply) -> None:
        if decision.route is not None:
            self.route_name = decision.route.name
        if decision.status == 0:  # close the connection without an answer
            self.flags, self.details = decision.flags, decision.details
            self.close_after = True
            self.response_done = True
            self._finish()
            return
        self._local(decision.status, decision.body, decision.headers, decision.flags, decision.details)

    def fail_request(self, err: ProxyError) -> None:
        """The client broke the protocol in the middle of this request's body."""
        self.request_done = True
        self.close_after = True
        self.mirror_to = None
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

    def _local_error(self, err: ProxyError) -> None:
        flags = [flag for flag in (self.flags, err.flags, "URX" if self.exhausted else "") if flag]
        self._local(err.status, err.body, (), ",".join(flags), err.details)

    def local(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...], flags: str, details: str
    ) -> None:
        self._local(status, body, headers, flags, details)

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
            self.proto.deferred.append(self)  # type: ignore[arg-type]
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
        if self.try_timer is not None:
            self.cancel_try_timer()
        if self.bound is not None:
            self.unbind()
        proto = self.proto
        ctx = proto.ctx
        decision = self.decision
        self.ended_at = clock()
        ctx.stats.observe(
            self.status,
            self.flags,
            decision.cluster.name if decision is not None else "",
            (self.ended_at - self.started_at) * 1000,
            self.bytes_received,
            self.bytes_sent,
        )
        if ctx.access_log is not None:
            ctx.access_log.log(self)  # type: ignore[arg-type]
        if proto.read_paused_for(proto.PAUSE_UPSTREAM | proto.PAUSE_BUFFER):
            # this exchange's backpressure must not outlive it
            proto.resume_reading(proto.PAUSE_UPSTREAM | proto.PAUSE_BUFFER)
        proto.exchange_finished(self)  # type: ignore[arg-type]
