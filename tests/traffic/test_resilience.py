"""Point 5: outlier detection, connection-pool overflow (503 UO), upstream TLS with a test CA
(SNI, CA, client certificates, insecureSkipVerify) (istio-semantics 6.4-6.6)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trustme

from meshgate import ir
from proxy.gw import LOCAL, Client, cluster, config, fetch, gateway, route, run

from .traffic_helpers import Script, _Scripted


def test_outlier_detection_ejects_a_failing_endpoint_and_returns_it() -> None:
    async def main() -> None:
        bad = Script("bad", answer=lambda n, seen: (500, 0.0))
        good = Script("good")
        async with bad.backend() as b, good.backend() as g:
            svc = cluster(
                "svc",
                b.port,
                g.port,
                load_balancer=ir.LoadBalancer("ROUND_ROBIN"),
                outlier_detection=ir.OutlierDetection(
                    consecutive_5xx=2, interval=0.1, base_ejection_time=0.6, max_ejection_percent=50
                ),
            )
            r = route("r", svc, retries=ir.NO_RETRIES)
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                warmup = [(await client.get("/")).status for _ in range(4)]  # bad twice → ejected
                ejected = [(await client.get("/")).status for _ in range(10)]
                hits_while_ejected = len(bad.seen)
                await asyncio.sleep(0.7)
                back = [(await client.get("/")).status for _ in range(4)]
        assert warmup.count(500) == 2
        assert ejected == [200] * 10
        assert hits_while_ejected == 2
        assert 500 in back and len(bad.seen) > 2  # returned after the ejection time

    run(main())


def test_max_ejection_percent_keeps_the_last_endpoint() -> None:
    async def main() -> None:
        bad = Script("bad", answer=lambda n, seen: (503, 0.0))
        async with bad.backend() as b:
            policy = ir.OutlierDetection(consecutive_5xx=1, base_ejection_time=5, max_ejection_percent=10)
            svc = cluster("svc", b.port, outlier_detection=policy)
            async with gateway(config([route("r", svc, retries=ir.NO_RETRIES)], [svc])) as gw:
                first = await fetch(gw.port, "/")
                second = await fetch(gw.port, "/")  # the only host was ejected: no healthy upstream
        assert first.status == 503 and second.status == 503
        assert second.body == b"no healthy upstream"

    run(main())


def test_connection_pool_overflow_is_503_uo_under_load() -> None:
    async def main() -> None:
        slow = Script("slow", answer=lambda n, seen: (200, 0.3))
        async with slow.backend() as backend:
            limits = ir.ConnectionPool(max_connections=2, max_pending_requests=1)
            svc = cluster("slow", backend.port, connection_pool=limits)
            async with gateway(config([route("r", svc, retries=ir.NO_RETRIES)], [svc])) as gw:
                responses = await asyncio.gather(*(fetch(gw.port, "/") for _ in range(10)))
                overflowed = gw.ctx.stats.total(status=503, flags="UO")
        statuses = [r.status for r in responses]
        assert statuses.count(200) == 3  # 2 connections + 1 pending
        assert statuses.count(503) == 7 and overflowed == 7
        assert all(
            r.body == b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
            for r in responses
            if r.status == 503
        )

    run(main())


def test_max_requests_limits_requests_in_flight() -> None:
    async def main() -> None:
        slow = Script("slow", answer=lambda n, seen: (200, 0.3))
        async with slow.backend() as backend:
            svc = cluster("slow", backend.port, connection_pool=ir.ConnectionPool(max_requests=2))
            async with gateway(config([route("r", svc, retries=ir.NO_RETRIES)], [svc])) as gw:
                responses = await asyncio.gather(*(fetch(gw.port, "/") for _ in range(5)))
        assert sorted(r.status for r in responses) == [200, 200, 503, 503, 503]

    run(main())


# --- upstream TLS -------------------------------------------------------------------------------


@asynccontextmanager
async def tls_backend(
    ca: trustme.CA, name: str, *, require_client: bool = False
) -> AsyncIterator[tuple[Script, int, list[str]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    names: list[str] = []

    def remember(sock: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(server_name or "")

    context.sni_callback = remember
    script = Script("tls")
    server = await asyncio.get_running_loop().create_server(lambda: _Scripted(script), LOCAL, 0, ssl=context)
    try:
        yield script, server.sockets[0].getsockname()[1], names
    finally:
        server.close()


def _tls_cluster(name: str, port: int, tls: ir.UpstreamTls) -> ir.Cluster:
    return cluster(name, port, tls=tls, connection_pool=ir.ConnectionPool(connect_timeout=2.0))


def test_upstream_tls_simple_with_ca_and_automatic_sni() -> None:
    async def main() -> None:
        ca = trustme.CA()
        ca_pem = ca.cert_pem.bytes()
        async with tls_backend(ca, "backend.internal") as (script, port, names):
            auto = _tls_cluster("auto", port, ir.UpstreamTls("SIMPLE", ca_pem=ca_pem))
            explicit = ir.Cluster(
                "outbound|80||explicit",
                "explicit",
                80,
                endpoints=auto.endpoints,
                tls=ir.UpstreamTls("SIMPLE", sni="backend.internal", ca_pem=ca_pem),
            )
            routes = [route("explicit", explicit, prefix="/explicit"), route("auto", auto, prefix="/")]
            async with gateway(config(routes, [auto, explicit])) as gw:
                by_host = await fetch(gw.port, "/", host="backend.internal")
                by_sni = await fetch(gw.port, "/explicit", host="shop.example")
                mismatch = await fetch(gw.port, "/", host="other.example")
        assert by_host.status == 200 and by_sni.status == 200
        assert names[:2] == ["backend.internal", "backend.internal"]
        assert script.seen[1].headers["host"] == "shop.example"  # Host unchanged, SNI explicit
        assert mismatch.status == 503  # the certificate does not name the Host used as SNI

    run(main())


def test_upstream_tls_mutual_and_insecure_skip_verify() -> None:
    async def main() -> None:
        ca = trustme.CA()
        client = ca.issue_cert("gateway.client")
        ca_pem = ca.cert_pem.bytes()
        async with tls_backend(ca, "secure.internal", require_client=True) as (_script, port, _):
            mutual = _tls_cluster(
                "mutual",
                port,
                ir.UpstreamTls(
                    "MUTUAL",
                    sni="secure.internal",
                    ca_pem=ca_pem,
                    cert_pem=client.cert_chain_pems[0].bytes(),
                    key_pem=client.private_key_pem.bytes(),
                ),
            )
            simple = ir.Cluster(
                "outbound|80||simple",
                "simple",
                80,
                endpoints=mutual.endpoints,
                tls=ir.UpstreamTls("SIMPLE", sni="secure.internal", ca_pem=ca_pem),
            )
            routes = [route("simple", simple, prefix="/simple"), route("mutual", mutual, prefix="/")]
            async with gateway(config(routes, [mutual, simple])) as gw:
                with_cert = await fetch(gw.port, "/")
                without = await fetch(gw.port, "/simple")
        assert with_cert.status == 200
        assert without.status == 503  # the backend requires a client certificate

        async with tls_backend(trustme.CA(), "unknown.internal") as (_script, port, _):
            insecure = _tls_cluster("insecure", port, ir.UpstreamTls("SIMPLE", insecure_skip_verify=True))
            strict = ir.Cluster(
                "outbound|80||strict",
                "strict",
                80,
                endpoints=insecure.endpoints,
                tls=ir.UpstreamTls("SIMPLE", ca_pem=ca_pem),
            )
            routes = [route("strict", strict, prefix="/strict"), route("insecure", insecure, prefix="/")]
            async with gateway(config(routes, [insecure, strict])) as gw, Client(gw.port) as c:
                assert (await c.get("/", host="whatever")).status == 200
                assert (await c.get("/strict", host="unknown.internal")).status == 503  # other CA

    run(main())


def test_upstream_tls_subject_alt_names() -> None:
    async def main() -> None:
        ca = trustme.CA()
        ca_pem = ca.cert_pem.bytes()
        async with tls_backend(ca, "backend.internal") as (_script, port, _):
            good = _tls_cluster(
                "good",
                port,
                ir.UpstreamTls(
                    "SIMPLE", sni="lb.old", ca_pem=ca_pem, subject_alt_names=("backend.internal",)
                ),
            )
            bad = ir.Cluster(
                "outbound|80||bad",
                "bad",
                80,
                endpoints=good.endpoints,
                tls=ir.UpstreamTls(
                    "SIMPLE", sni="lb.old", ca_pem=ca_pem, subject_alt_names=("other.internal",)
                ),
            )
            routes = [route("bad", bad, prefix="/bad"), route("good", good, prefix="/")]
            async with gateway(config(routes, [good, bad])) as gw:
                assert (await fetch(gw.port, "/")).status == 200  # SAN checked instead of the SNI
                assert (await fetch(gw.port, "/bad")).status == 503

    run(main())
