"""Attempts, retries and timeouts of an exchange (istio-semantics 3.11, 3.12), between the
life cycle in exchange_base.py and the router in forward.py.

`_retry()` decides whether an outcome is retried (retry.py's compiled rule), abandons the attempt
and schedules the next one after the back-off; `_start_retry()` picks an endpoint (another one
when the previous-hosts predicate applies), bumps `x-envoy-attempt-count` and replays the kept
body. The route timeout bounds everything; the per-try timeout bounds one attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshgate.proxy.errors import NoHealthyUpstream, ProxyError, UpstreamTimeout
from meshgate.proxy.exchange_base import ExchangeBase
from meshgate.proxy.retry import ON_PER_TRY_TIMEOUT

if TYPE_CHECKING:
    from meshgate.proxy.upstream import EndpointPool


class RetryingExchange(ExchangeBase):
    attempt = 1
    replay: list[bytes] | None = None  # the body sent so far, kept for retries (None: not kept)
    replay_size = 0
    tried: list[EndpointPool] | None = None
    hash: bytes | None = None

    def _attempt(self, pool: EndpointPool) -> None:  # pragma: no cover - forward.Exchange
        raise NotImplementedError

    def flush(self) -> None:  # pragma: no cover - forward.Exchange
        raise NotImplementedError

    # --- retries ----------------------------------------------------------------------------

    def _retry(self, causes: int = 0, status: int = 0) -> bool:
        """Schedule another attempt if the policy covers this outcome; True when scheduled."""
        plan, pool = self.plan, self.pool
        if plan is None or pool is None or self.response_started or self.finished:
            return False
        rule = plan.retry
        if not (rule.on_status(status) if status else rule.mask & causes):
            return False
        if self.attempt > rule.attempts or self.replay is None:
            self.exhausted = self.attempt > rule.attempts > 0
            return False
        state = pool.state
        if state.retries >= state.cluster.connection_pool.max_retries:
            return False  # retry circuit breaker open
        self._drop_upstream()
        self.unbind()
        self.attempt += 1
        if self.tried is None:
            self.tried = []
        self.tried.append(pool)
        state.retries += 1
        delay = rule.backoff(self.attempt - 1, self.proto.ctx.rng)
        self.retry_pending = pool
        self.try_timer = self.proto.loop.call_later(delay, self._start_retry)
        return True

    def _start_retry(self) -> None:
        self.try_timer = None
        previous, self.retry_pending = self.retry_pending, None
        if previous is not None:
            previous.state.retries -= 1
        decision, plan = self.decision, self.plan
        if self.finished or decision is None or plan is None:
            return
        cluster = decision.cluster
        other_hosts = plan.retry.other_hosts and cluster.load_balancer.policy != "CONSISTENT_HASH"
        pool = self.proto.ctx.pools.pick(cluster, self.hash, (self.tried or ()) if other_hosts else ())
        if pool is None:
            self._fail(NoHealthyUpstream())
            self.flush()
            return
        self.pool = pool
        n = self.attempt
        # rewritten where build_request_head put it, not at the first match: a client's header
        # value can hold "x-envoy-attempt-count: 1" too, and comes earlier in the head
        at, head, old = self.attempt_at, self.up_head, b"x-envoy-attempt-count: %d\r\n" % (n - 1)
        assert head.startswith(old, at)
        self.up_head = head[:at] + b"x-envoy-attempt-count: %d\r\n" % n + head[at + len(old) :]
        replay = self.replay or []
        self.body_buffer, self.buffered = list(replay), self.replay_size
        self.retried = False
        self._attempt(pool)
        self.flush()

    def _report(self, status: int = 0, local_failure: bool = False) -> None:
        pool = self.pool
        if pool is not None and pool.state.cluster.outlier_detection is not None:
            self.proto.ctx.pools.report(pool, status=status, local_failure=local_failure)

    # --- failure paths ----------------------------------------------------------------------

    def _fail(self, err: ProxyError) -> None:
        self._drop_upstream()
        self._cancel_timer()
        self.unbind()
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

    def _arm_try_timer(self) -> None:
        plan = self.plan
        if (
            plan is not None
            and plan.retry.per_try_timeout
            and self.try_timer is None
            and not self.response_done
        ):
            self.try_timer = self.proto.loop.call_later(plan.retry.per_try_timeout, self._on_try_timeout)

    def _on_try_timeout(self) -> None:
        self.try_timer = None
        if self.finished:
            return
        self._report(local_failure=True)
        if not self._retry(ON_PER_TRY_TIMEOUT):
            self._fail(UpstreamTimeout(details="upstream_per_try_timeout"))
        self.flush()
