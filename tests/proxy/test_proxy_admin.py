"""Admin API: readiness, config dump (secrets redacted), Prometheus counters."""

from __future__ import annotations

import json

from meshgate import ir
from meshgate.admin import AdminServer
from meshgate.diag import make
from meshgate.proxy import ProxyContext, ProxyServer
from meshgate.runtime import Snapshot, SnapshotStore
from proxy.gw import LOCAL, Backend, Client, build_request, cluster, config, fetch, route, run, snapshot

SECRET = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"


async def _admin_get(port: int, path: str) -> tuple[int, str, bytes]:
    async with Client(port) as client:
        client.send(build_request("GET", path))
        (response,) = await client.read_responses()
        return response.status, response.header("content-type") or "", response.body


def _config_with_secret(svc: ir.Cluster) -> ir.Config:
    base = config([route("r", svc)], [svc])
    tls = ir.TlsSettings(
        ir.TlsMode.SIMPLE, certificates=(ir.TlsCertificate("secret istio-system/cert", b"CERT", SECRET),)
    )
    chain = ir.FilterChain(
        "https.443", ("a.example",), ir.HttpHandler("https.443", ()), tls=tls, transport="tls"
    )
    return ir.Config(
        listeners=(*base.listeners, ir.Listener("0.0.0.0_443", 443, protocol="HTTPS", chains=(chain,))),
        clusters=base.clusters,
    )


def test_ready_config_dump_and_prometheus() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            cfg = _config_with_secret(svc)
            problem = make("MG0006", file="missing.yaml", reason="no such file or directory")
            snap = Snapshot("v1", snapshot(cfg).table, cfg, (problem,))
            ctx = ProxyContext(SnapshotStore(None))
            server = ProxyServer(ctx, {80: (LOCAL, 0)})
            admin = AdminServer(ctx, lambda: server.ready)
            _, admin_port = await admin.start(LOCAL, 0)
            try:
                status, _, body = await _admin_get(admin_port, "/healthz/ready")
                assert status == 503 and b"no configuration" in body
                ctx.store.swap(snap)
                assert (await _admin_get(admin_port, "/healthz/ready"))[0] == 503  # not bound yet
                bound = await server.start()
                status, _, body = await _admin_get(admin_port, "/healthz/ready")
                assert status == 200
                assert [s[1] for s in server.skipped] == ["no chain has a usable certificate"]

                port = bound[0].listen_port
                for path in ("/", "/", "/x"):
                    assert (await fetch(port, path)).status == 200
                status, content_type, body = await _admin_get(admin_port, "/config_dump")
                assert status == 200 and content_type == "application/json"
                assert b"TOPSECRETKEYMATERIAL" not in body and b"PRIVATE KEY" not in body
                dump = json.loads(body)
                assert dump["version"] == "v1"
                cert = dump["config"]["listeners"][1]["chains"][0]["tls"]["certificates"][0]
                assert cert["key_pem"] == "<redacted>"
                assert dump["diagnostics"][0]["code"] == "MG0006"

                status, content_type, body = await _admin_get(admin_port, "/stats/prometheus")
                text = body.decode()
                assert status == 200 and content_type.startswith("text/plain")
                assert "# TYPE istio_requests_total counter" in text
                line = next(x for x in text.splitlines() if x.startswith("istio_requests_total{"))
                assert 'response_code="200"' in line and 'response_flags="-"' in line
                assert 'destination_service="b.default.svc.cluster.local"' in line
                assert 'destination_service_name="b"' in line and 'reporter="source"' in line
                assert line.endswith(" 3")
                assert "meshgate_downstream_cx_total 3" in text
                assert (await _admin_get(admin_port, "/nope"))[0] == 404
            finally:
                await server.stop()
                await admin.stop()

    run(main())
