"""Endpoints from DNS ServiceEntries: resolved with loop.getaddrinfo, cached, rotated; a failed
lookup is 503 (istio-semantics 6.8.4)."""

from __future__ import annotations

from pathlib import Path

from meshgate import ir
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Backend, Client, config, fetch, gateway, route, run

from .test_balancing import GATEWAY


def _dns_cluster(name: str, address: str, port: int) -> ir.Cluster:
    return ir.Cluster(
        f"outbound|80||{name}",
        name,
        80,
        discovery="DNS",
        endpoints=(ir.Endpoint(address, port),),
        connection_pool=ir.ConnectionPool(connect_timeout=2.0),
    )


def test_dns_endpoint_is_resolved_and_failure_is_503() -> None:
    async def main() -> None:
        async with Backend("named") as backend:
            ok = _dns_cluster("ok", "localhost", backend.port)
            bad = _dns_cluster("bad", "no-such-host.invalid", backend.port)
            routes = [route("bad", bad, prefix="/bad"), route("ok", ok, prefix="/")]
            async with gateway(config(routes, [ok, bad])) as gw, Client(gw.port) as client:
                names = [(await client.get("/")).json()["name"] for _ in range(4)]
                failed = await fetch(gw.port, "/bad")
        assert names == ["named"] * 4
        assert failed.status == 503

    run(main())


def test_dns_service_entry_from_yaml(tmp_path: Path) -> None:
    async def main() -> None:
        async with Backend("legacy") as backend:
            text = (
                GATEWAY
                + f"""\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: legacy, namespace: shop}}
spec:
  hosts: [legacy.example.internal]
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {backend.port}}}]
  endpoints: [{{address: localhost}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.example]
  gateways: [istio-system/edge]
  http:
    - route: [{{destination: {{host: legacy.example.internal, port: {{number: 80}}}}}}]
"""
            )
            path = tmp_path / "dns.yaml"
            path.write_text(text)
            snapshot, _diagnostics = build_snapshot([str(path)])
            assert snapshot is not None
            async with gateway(snapshot) as gw:
                response = await fetch(gw.port, "/", host="shop.example")
        assert response.status == 200 and response.json()["name"] == "legacy"

    run(main())
