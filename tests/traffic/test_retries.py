"""Point 2: retries (istio-semantics 3.12): attempts, retryOn, per-try timeouts, other hosts,
bodies that may or may not be replayed, and URX in the access log."""

from __future__ import annotations

import asyncio
import time

from meshgate import ir
from meshgate.proxy.retry import REPLAY_LIMIT, compile_retry
from proxy.gw import Client, build_request, cluster, config, fetch, free_port, gateway, route, run

from .traffic_helpers import Script, log_records, memory_log


def _policy(attempts: int, *retry_on: str, per_try: float | None = None) -> ir.RetryPolicy:
    return ir.RetryPolicy(attempts=attempts, retry_on=retry_on, per_try_timeout=per_try, backoff_base=0.005)


def test_backend_failing_first_attempts_succeeds_within_attempts() -> None:
    async def main() -> None:
        script = Script("flaky", answer=lambda n, seen: (503 if n <= 2 else 200, 0.0))
        async with script.backend() as backend:
            svc = cluster("flaky", backend.port)
            r = route("r", svc, retries=_policy(3, "5xx"))
            log, stream = memory_log()
            async with gateway(config([r], [svc]), access_log=log) as gw:
                response = await fetch(gw.port, "/")
                records = log_records(log, stream)
        assert response.status == 200
        assert [s.headers["x-envoy-attempt-count"] for s in script.seen] == ["1", "2", "3"]
        assert records[0]["response_flags"] in (None, "-", "")

    run(main())


def test_retry_on_kinds() -> None:
    rule = compile_retry(_policy(2, "gateway-error", "retriable-4xx", "418"))
    assert rule.on_status(502) and rule.on_status(504) and rule.on_status(409) and rule.on_status(418)
    assert not rule.on_status(500) and not rule.on_status(404)
    assert compile_retry(_policy(2, "5xx")).on_status(500)
    codes = compile_retry(ir.RetryPolicy(2, ("retriable-status-codes",), retriable_status_codes=(429,)))
    assert codes.on_status(429) and not codes.on_status(503)
    default = compile_retry(ir.DEFAULT_RETRY_POLICY)
    assert default.attempts == 2 and not default.on_status(503)  # no codes listed: inert


def test_exhausted_retries_forward_the_last_response_with_urx() -> None:
    async def main() -> None:
        script = Script("down", answer=lambda n, seen: (503, 0.0))
        async with script.backend() as backend:
            svc = cluster("down", backend.port)
            r = route("r", svc, retries=_policy(2, "503"))
            log, stream = memory_log()
            async with gateway(config([r], [svc]), access_log=log) as gw:
                response = await fetch(gw.port, "/")
                records = log_records(log, stream)
        assert response.status == 503
        assert len(script.seen) == 3  # 1 try + 2 retries
        assert records[0]["response_flags"] == "URX"
        assert records[0]["response_code"] == 503

    run(main())


def test_no_retries_when_attempts_is_zero() -> None:
    async def main() -> None:
        script = Script("down", answer=lambda n, seen: (503, 0.0))
        async with script.backend() as backend:
            svc = cluster("down", backend.port)
            r = route("r", svc, retries=ir.NO_RETRIES)
            async with gateway(config([r], [svc])) as gw:
                assert (await fetch(gw.port, "/")).status == 503
        assert len(script.seen) == 1

    run(main())


def test_connect_failure_retries_on_another_host_by_default() -> None:
    async def main() -> None:
        script = Script("up")
        async with script.backend() as backend:
            dead = free_port()
            endpoints = (ir.Endpoint("127.0.0.1", dead), ir.Endpoint("127.0.0.1", backend.port))
            svc = ir.Cluster(
                "outbound|80||svc",
                "svc",
                80,
                endpoints=endpoints,
                load_balancer=ir.LoadBalancer("ROUND_ROBIN"),
            )
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                statuses = [(await client.get("/")).status for _ in range(6)]
        assert statuses == [200] * 6  # Istio's default policy: connect-failure, 2 retries
        assert {s.headers["x-envoy-attempt-count"] for s in script.seen} <= {"1", "2"}

    run(main())


def test_small_post_body_is_replayed() -> None:
    async def main() -> None:
        script = Script("flaky", answer=lambda n, seen: (503 if n == 1 else 200, 0.0))
        async with script.backend() as backend:
            svc = cluster("flaky", backend.port)
            r = route("r", svc, retries=_policy(2, "5xx"))
            body = b"x" * 2000
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request("POST", "/orders", body=body))
                (response,) = await client.read_responses(1)
        assert response.status == 200
        assert [s.body for s in script.seen] == [body, body]

    run(main())


def test_streamed_post_body_past_the_buffer_is_not_replayed() -> None:
    async def main() -> None:
        script = Script("flaky", answer=lambda n, seen: (503 if n == 1 else 200, 0.0))
        async with script.backend() as backend:
            svc = cluster("flaky", backend.port)
            r = route("r", svc, retries=_policy(2, "5xx"))
            body = b"y" * (REPLAY_LIMIT + 4096)
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request("POST", "/upload", body=body))
                (response,) = await client.read_responses(1)
        assert response.status == 503  # not replayed: the backend's answer goes back as is
        assert len(script.seen) == 1 and script.seen[0].body == body

    run(main())


def test_per_try_timeout_retries_and_route_timeout_bounds_all() -> None:
    async def main() -> None:
        script = Script("slow-once", answer=lambda n, seen: (200, 2.0 if n == 1 else 0.0))
        async with script.backend() as backend:
            svc = cluster("slow-once", backend.port)
            r = route("r", svc, retries=_policy(2, "5xx", per_try=0.2), timeout=5.0)
            async with gateway(config([r], [svc])) as gw:
                began = time.monotonic()
                response = await fetch(gw.port, "/")
                elapsed = time.monotonic() - began
        assert response.status == 200 and elapsed < 1.5
        assert response.json()["headers"]["x-envoy-attempt-count"] == "2"

    run(main())


def test_per_try_timeout_exhausted_is_504_ut_urx() -> None:
    async def main() -> None:
        script = Script("slow", answer=lambda n, seen: (200, 2.0))
        async with script.backend() as backend:
            svc = cluster("slow", backend.port)
            r = route("r", svc, retries=_policy(1, "reset", per_try=0.15))
            log, stream = memory_log()
            async with gateway(config([r], [svc]), access_log=log) as gw:
                response = await fetch(gw.port, "/")
                records = log_records(log, stream)
        assert (response.status, response.body) == (504, b"upstream request timeout")
        assert len(script.seen) == 2
        assert records[0]["response_flags"] == "UT,URX"

    run(main())


def test_5xx_retry_goes_to_another_host() -> None:
    async def main() -> None:
        bad = Script("bad", answer=lambda n, seen: (503, 0.0))
        good = Script("good")
        async with bad.backend() as b, good.backend() as g:
            endpoints = (ir.Endpoint("127.0.0.1", b.port), ir.Endpoint("127.0.0.1", g.port))
            svc = ir.Cluster("outbound|80||svc", "svc", 80, endpoints=endpoints)  # LEAST_REQUEST default
            r = route("r", svc, retries=_policy(1, "gateway-error"))
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                statuses = [(await client.get("/")).status for _ in range(10)]
        assert statuses == [200] * 10  # one retry is enough: it never picks the failed host again
        assert {s.headers["x-envoy-attempt-count"] for s in good.seen} <= {"1", "2"}
        assert len(good.seen) == 10

    run(main())


def test_in_flight_accounting_returns_to_zero() -> None:
    async def main() -> None:
        script = Script("flaky", answer=lambda n, seen: (503 if n % 2 else 200, 0.3 if n % 5 == 0 else 0.0))
        async with script.backend() as backend:
            svc = cluster("flaky", backend.port)
            r = route("r", svc, retries=_policy(2, "5xx", per_try=0.1))
            async with gateway(config([r], [svc])) as gw:
                async with Client(gw.port) as client:
                    for _ in range(10):
                        await client.get("/")
                async with Client(gw.port) as client:  # the client leaves in the middle of a retry
                    client.send(build_request("GET", "/"))
                state = gw.ctx.pools.state_of(svc)
                for _ in range(50):
                    if not state.requests and not state.retries:
                        break
                    await asyncio.sleep(0.02)
                assert (state.requests, state.retries) == (0, 0)
                assert all(pool.active == 0 for pool in state.pools)

    run(main())


def test_a_retry_counts_its_attempt_in_the_gateways_line_not_in_a_client_value() -> None:
    """The attempt-count line is rewritten where the gateway wrote it: a client header whose value
    holds the same text comes earlier in the head and must reach the backend as sent."""

    async def main() -> None:
        script = Script("flaky", answer=lambda n, seen: (503 if n == 1 else 200, 0.0))
        async with script.backend() as backend:
            svc = cluster("flaky", backend.port)
            r = route("r", svc, retries=_policy(2, "5xx"))
            async with gateway(config([r], [svc])) as gw:
                response = await fetch(gw.port, "/", x_note="x-envoy-attempt-count: 1")
        assert response.status == 200
        assert [s.headers["x-envoy-attempt-count"] for s in script.seen] == ["1", "2"]
        assert [s.headers["x-note"] for s in script.seen] == ["x-envoy-attempt-count: 1"] * 2

    run(main())
