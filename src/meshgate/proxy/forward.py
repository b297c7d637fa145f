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

Before forwarding, the route's filters run in Envoy's order (istio-semantics Appendix A): CORS
(cors.py), fault delay/abort (fault.py), then the router: endpoint pick (balancer.py, with the hash
key of consistent hashing), header edits, mirrors (mirror.py), the attempt. Everything per route is
compiled once per snapshot (plan.py).

Retries (retry.py): an attempt that fails before the response started (connect failure, reset,
per-try timeout, a retriable status) is abandoned and, after a jittered back-off, sent again to a
different endpoint when there is one, with `x-envoy-attempt-count` counting up. The request body is
kept for that only up to `REPLAY_LIMIT`: a request whose body streamed past it is never replayed.
Exhausted retries add the flag `URX`.

Failures map to the Envoy behaviour of istio-semantics 5.4: before the response started the client
gets a local reply (503 UF/UH/UO/UC, 504 UT); after, the client connection is closed so the
truncation is visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from meshgate import routing
from meshgate.proxy import fault, local_reply, mirror, route_filters, upstream_tls
from meshgate.proxy.attempts import RetryingExchange
from meshgate.proxy.errors import (
    ConnectFailure,
    NoHealthyUpstream,
    Overflow,
    UpstreamError,
    UpstreamProtocol,
    UpstreamReset,
)
from meshgate.proxy.exchange_base import CHUNKED
from meshgate.proxy.limits import clock
from meshgate.proxy.message import make_view
from meshgate.proxy.plan import plans
from meshgate.proxy.request_head import build_request_head, build_response_head, hash_key
from meshgate.proxy.retry import ON_CONNECT_FAILURE, ON_RESET, REPLAY_LIMIT
from meshgate.proxy.wire import request_id
from meshgate.routing.decision import LocalReply

if TYPE_CHECKING:
    from meshgate.proxy.upstream import EndpointPool, UpstreamConnection
    from meshgate.routing.request import RequestView
    from meshgate.runtime.snapshot import Snapshot

_END_CHUNK: Final = b"0\r\n\r\n"
_CRLF: Final = b"\r\n"
_decide: Final = routing.decide


class Exchange(RetryingExchange):
    view: RequestView | None = None
    snapshot: Snapshot | None = None
    mirror_body: list[bytes] | None = None
    mirror_size = 0

    # --- start: decide once, then the route's filters ---------------------------------------

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
        self.view = view = make_view(
            proto.port,
            head.authority,
            head.path,
            head.query,
            head.method,
            proto.scheme,
            head,  # the headers, decoded only if a route matches on them
            proto.sni,
            proto.bind,
            proto.client_ip,
        )
        self.request_id = request_id()  # edge request: always a fresh id (8.3.1)
        self.xff = head.xff + b"," + proto.client_ip_bytes if len(head.xff) > 0 else proto.client_ip_bytes
        decision = _decide(snapshot.table, view, ctx.rng)
        if isinstance(decision, LocalReply):  # compiled: a type-pointer compare
            self.decided_locally(decision)
            return
        self.decision = decision
        self.snapshot = snapshot
        self.route_name = decision.route.name
        plan = self.plan = plans.get(snapshot, decision.route, decision.cluster)
        if plan.cors is not None and route_filters.cors(self, view):
            return
        policy = plan.fault
        if policy is not None:
            delay = fault.delay_for(policy, ctx.rng)
            if delay:
                self.flags = "DI"
                self.try_timer = proto.loop.call_later(delay, self._after_delay)
                return
            if route_filters.fault_abort(self, policy):
                return
        self._forward()

    def _after_delay(self) -> None:
        self.try_timer = None
        if self.finished:
            return
        policy = self.plan.fault if self.plan is not None else None
        if policy is None or not route_filters.fault_abort(self, policy):
            self._forward()
        self.flush()

    # --- the router -------------------------------------------------------------------------

    def _forward(self) -> None:
        decision, view, plan = self.decision, self.view, self.plan
        assert decision is not None and view is not None and plan is not None
        proto = self.proto
        ctx = proto.ctx
        head = self.head
        route, destination, cluster = decision.route, decision.destination, decision.cluster
        policy = cluster.load_balancer.hash
        if policy is not None:
            self.hash = hash_key(self, policy, view)
        pool = ctx.pools.pick(cluster, self.hash)
        if pool is None:
            self._local_error(NoHealthyUpstream())
            return
        self.pool = pool
        if plan.plain_authority:  # routing.upstream_authority without a rewrite, inlined
            authority = destination.authority or view.authority
        else:
            authority = routing.upstream_authority(route, destination, view)
        if cluster.tls is not None:
            self.upstream_sni = upstream_tls.server_name(cluster.tls, authority)
        self.up_head = build_request_head(
            self,
            route,
            view,
            authority,
            None if plan.plain_request else plan.request_edits(route, destination),
            plan.plain_target,
        )
        if plan.mirrors and not head.upgrade:
            route_filters.plan_mirrors(self, plan.mirrors)
        if head.expect_continue and not self.request_done:
            proto.out.append(local_reply.CONTINUE_100)
        if route.timeout and self.request_done:
            self._arm_timeout()
        if plan.retry.attempts and not head.upgrade:
            buffered = self.body_buffer or []
            if self.buffered <= REPLAY_LIMIT:
                self.replay, self.replay_size = list(buffered), self.buffered
        self._attempt(pool)

    def _attempt(self, pool: EndpointPool) -> None:
        state = pool.state
        if state.requests >= state.cluster.connection_pool.max_requests:
            self._fail(Overflow("too many requests in flight"))
            return
        self.bind(pool)
        if self.request_done and self.plan is not None and self.plan.retry.per_try_timeout:
            self._arm_try_timer()
        self.waiting_upstream = True
        try:
            conn = self.proto.ctx.pools.acquire(pool, self)
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
        replay = self.replay
        if replay is not None:
            self.replay_size += len(chunk)
            if self.replay_size > REPLAY_LIMIT:
                self.replay = None  # streamed past what is kept: this request is never resent
            else:
                replay.append(chunk)
        if self.mirror_body is not None:
            self.mirror_size += len(chunk)
            if self.mirror_size > mirror.MAX_BODY:
                self.mirror_to = self.mirror_body = None
            else:
                self.mirror_body.append(chunk)
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
            if len(self.up_head) > 0:  # forwarding started (not waiting in a fault delay)
                decision = self.decision
                if decision is not None and decision.route.timeout:
                    self._arm_timeout()
                if self.bound is not None:
                    self._arm_try_timer()
            if self.mirror_to is not None:
                route_filters.launch_mirrors(self)
        if self.response_done and self.pending_reply is None:
            self._finish()

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
        self.sent_at = clock()
        if not proto.in_feed:
            conn.flush()

    def on_upstream_failed(self, err: UpstreamError) -> None:
        self.waiting_upstream = False
        if self.finished:
            return
        self._report(local_failure=True)
        if isinstance(err, ConnectFailure) and self._retry(ON_CONNECT_FAILURE):
            return
        self._fail(err)

    def upstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.proto.pause_reading(self.proto.PAUSE_UPSTREAM)
        else:
            self.proto.resume_reading(self.proto.PAUSE_UPSTREAM)

    # --- response from the backend ----------------------------------------------------------

    def on_response_head(self, conn: UpstreamConnection, status: int) -> None:
        decision, plan = self.decision, self.plan
        assert decision is not None and plan is not None
        pool = self.pool
        if pool is not None and pool.state.cluster.outlier_detection is not None:
            self._report(status)
        retry = plan.retry
        if (
            retry.mask
            and status != 101
            and (status >= 409 or status in retry.codes)  # else RetryRule.on_status is False
            and self._retry(status=status)
        ):
            return
        if self.exhausted:
            self.flags = f"{self.flags},URX" if self.flags else "URX"
        proto = self.proto
        self.service_time = int((clock() - self.sent_at) * 1000)
        self.status = status
        self.details = "via_upstream"
        head = self.head
        if status == 101:
            if not head.upgrade:
                self._fail(UpstreamProtocol("unexpected 101"))
                return
            self._cancel_timer()
            self.cancel_try_timer()
        out, mode, close_delimited = build_response_head(self, conn, status, decision, plan)
        self.body_mode, self.close_delimited = mode, close_delimited
        proto.out.append(out)
        self.response_started = True

    def on_response_body(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        if self.body_mode == CHUNKED:
            self.proto.out += (b"%x\r\n" % len(data), data, _CRLF)
        else:
            self.proto.out.append(data)

    def on_response_end(self) -> None:
        if self.status == 101:
            return  # the tunnel takes over in on_upstream_upgrade
        if self.body_mode == CHUNKED:
            self.proto.out.append(_END_CHUNK)
        self.response_done = True
        if self.timer is not None:
            self._cancel_timer()
        if self.try_timer is not None:
            self.cancel_try_timer()
        self.unbind()
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
        self._report(local_failure=True)
        if self._retry(ON_RESET):
            return
        self._fail(UpstreamReset(str(exc) if exc else "connection closed"))

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

    def on_upstream_error(self, err: UpstreamError) -> None:
        self.conn = None
        if self.finished:
            return
        self._report(local_failure=True)
        if self._retry(ON_RESET):
            return
        self._fail(err)

    def flush(self) -> None:
        self.proto.flush()
        conn = self.conn
        if conn is not None:
            conn.flush()
