"""Upstream failures map to Envoy's local replies and flags (istio-semantics 5.4); nothing hangs."""

from __future__ import annotations

import asyncio
import time

from meshgate import ir
from meshgate.proxy import Limits
from proxy.gw import Backend, Client, build_request, cluster, config, fetch, free_port, gateway, route, run

RESET = b"upstream connect error or disconnect/reset before headers. reset reason: "


class Scripted(asyncio.Protocol):
    """Answers each request head with `reply` (bytes or a callable), then optionally closes."""

    def __init__(self, reply: bytes, close: bool = False) -> None:
        self.reply = reply
        self.close = close
        self.received = b""
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in data:
            self.transport.write(self.reply)  # type: ignore[attr-defined]
            if self.close:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def test_connection_refused_is_503_uf() -> None:
    async def main() -> None:
        svc = cluster("down", free_port())
        async with gateway(config([route("r", svc)], [svc])) as gw:
            response = await fetch(gw.port, "/")
            assert response.status == 503
            assert response.body == RESET + b"connection failure"
            assert response.header("content-type") == "text/plain"
            assert response.header("server") == "istio-envoy"
            # Istio's default retry policy retries connect failures twice: UF, then URX (3.12.1)
            assert gw.ctx.stats.total(status=503, flags="UF,URX") == 1

    run(main())


def test_no_ready_endpoint_is_503_uh() -> None:
    async def main() -> None:
        svc = cluster("unready", 1, ready=False)
        empty = ir.Cluster("outbound|80||empty", "empty", 80)
        cfg = config([route("a", svc, prefix="/a"), route("b", empty)], [svc, empty])
        async with gateway(cfg) as gw:
            for path in ("/a", "/b"):
                response = await fetch(gw.port, path)
                assert (response.status, response.body) == (503, b"no healthy upstream")
            assert gw.ctx.stats.total(status=503, flags="UH") == 2

    run(main())


def test_no_route_is_404_nr_with_empty_body() -> None:
    async def main() -> None:
        svc = cluster("b", 1)
        async with gateway(config([route("r", svc, prefix="/only")], [svc], domains=("a.example",))) as gw:
            for host, path in (("a.example", "/other"), ("b.example", "/only")):
                response = await fetch(gw.port, path, host=host)
                assert (response.status, response.body) == (404, b"")
            assert gw.ctx.stats.total(status=404, flags="NR") == 2

    run(main())


def test_route_timeout_is_504_ut() -> None:
    async def main() -> None:
        async with Backend("slow") as backend:
            svc = cluster("slow", backend.port)
            async with gateway(config([route("r", svc, timeout=0.2)], [svc])) as gw:
                started = time.monotonic()
                response = await fetch(gw.port, "/?delay=2")
                elapsed = time.monotonic() - started
                assert (response.status, response.body) == (504, b"upstream request timeout")
                assert elapsed < 1.5
                assert gw.ctx.stats.total(status=504, flags="UT") == 1
                assert (await fetch(gw.port, "/")).status == 200  # the gateway is fine afterwards

    run(main())


def test_upstream_closing_mid_response_truncates_the_client_response() -> None:
    async def main() -> None:
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100
        async with Backend("cut", protocol=lambda _: Scripted(reply, close=True)) as backend:
            svc = cluster("cut", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request())
                data = await client.read_until_eof(timeout=3)  # EOF, not a hang
                head, _, body = data.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200") and b"content-length: 1000" in head.lower()
                assert body == b"x" * 100
                await asyncio.sleep(0.05)
                assert gw.ctx.stats.total(flags="UC") == 1

    run(main())


def test_upstream_closing_before_response_is_503_uc() -> None:
    async def main() -> None:
        async with Backend("rst", protocol=lambda _: Scripted(b"", close=True)) as backend:
            svc = cluster("rst", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                response = await fetch(gw.port, "/")
                assert (response.status, response.body) == (503, RESET + b"connection termination")

    run(main())


def test_unparsable_upstream_response_is_502() -> None:
    async def main() -> None:
        async with Backend("junk", protocol=lambda _: Scripted(b"NOT HTTP AT ALL\r\n\r\n")) as backend:
            svc = cluster("junk", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                response = await fetch(gw.port, "/")
                assert response.status == 502
                assert gw.ctx.stats.total(status=502, flags="UPE") == 1

    run(main())


def test_close_delimited_response_reaches_the_client_chunked() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                response = await client.get("/?size=100000&close=1")
                assert response.status == 200 and response.body == b"x" * 100000
                assert response.header("transfer-encoding") == "chunked"
                assert (await client.get("/")).status == 200  # the client connection stays usable

    run(main())


def test_slow_upstream_does_not_block_other_connections() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                slow = asyncio.ensure_future(fetch(gw.port, "/slow?delay=1.5"))
                await asyncio.sleep(0.1)
                started = time.monotonic()
                fast = await fetch(gw.port, "/fast")
                assert fast.status == 200 and time.monotonic() - started < 0.5
                assert not slow.done()
                assert (await slow).status == 200

    run(main())


def test_client_disconnecting_mid_upload_aborts_the_upstream_request() -> None:
    async def main() -> None:
        upstream = Scripted(b"")
        async with Backend("sink", protocol=lambda _: upstream) as backend:
            svc = cluster("sink", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                client = Client(gw.port)
                await client.__aenter__()
                client.send(
                    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"y" * 200000
                )
                for _ in range(100):
                    if len(upstream.received) > 100000:
                        break
                    await asyncio.sleep(0.02)
                await client.close()
                for _ in range(100):
                    if upstream.lost and not gw.ctx.connections:
                        break
                    await asyncio.sleep(0.02)
                assert upstream.lost, "the upstream request was not aborted"
                assert not gw.ctx.connections
                assert gw.ctx.stats.upstream_cx_active == 0
                assert gw.ctx.stats.downstream_cx_active == 0
                assert gw.ctx.pools.idle_count() == 0
                assert gw.ctx.stats.total(flags="DC") == 1

    run(main())


def test_stale_pooled_connection_is_retried_once() -> None:
    async def main() -> None:
        # answers without `connection: close`, then closes: the pooled socket is stale
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        async with Backend("flaky", protocol=lambda _: Scripted(reply, close=True)) as backend:
            svc = cluster("flaky", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                for _ in range(5):
                    response = await client.get("/")
                    assert (response.status, response.body) == (200, b"ok")
                    await asyncio.sleep(0.02)

    run(main())


def test_circuit_breaker_queues_then_overflows() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            queued = ir.ConnectionPool(max_connections=1, max_pending_requests=10)
            svc = cluster("b", backend.port, connection_pool=queued)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                results = await asyncio.gather(*(fetch(gw.port, "/?delay=0.1") for _ in range(3)))
                assert [r.status for r in results] == [200, 200, 200]
                assert backend.accepted == 1
            strict = ir.ConnectionPool(max_connections=1, max_pending_requests=0)
            svc = cluster("b", backend.port, connection_pool=strict)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                first = asyncio.ensure_future(fetch(gw.port, "/?delay=0.3"))
                await asyncio.sleep(0.1)
                overflow = await fetch(gw.port, "/")
                assert (overflow.status, overflow.body) == (503, RESET + b"overflow")
                assert (await first).status == 200
                assert gw.ctx.stats.total(flags="UO") == 1

    run(main())


def test_idle_upstream_connections_expire() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            limits = Limits(upstream_idle_timeout=0.2)
            async with gateway(config([route("r", svc)], [svc]), limits=limits) as gw:
                assert (await fetch(gw.port, "/")).status == 200
                assert gw.ctx.pools.idle_count() == 1
                await asyncio.sleep(0.6)
                assert gw.ctx.pools.idle_count() == 0
                assert gw.ctx.stats.upstream_cx_active == 0
                assert (await fetch(gw.port, "/")).status == 200
                assert backend.accepted == 2

    run(main())
