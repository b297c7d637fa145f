"""The same policies written as Istio YAML: translate → serve → real backends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Client, build_request, gateway, run

from .test_balancing import GATEWAY
from .traffic_helpers import Script


def _service(name: str, port: int) -> str:
    return f"""\
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  ports: [{{name: http, port: 80, targetPort: {port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: {name}, namespace: shop}}
subsets:
  - addresses: [{{ip: 127.0.0.1}}]
    ports: [{{name: http, port: {port}}}]
"""


ROUTES = """\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.example]
  gateways: [istio-system/edge]
  http:
    - name: faulty
      match: [{uri: {prefix: /teapot}}]
      fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
      route: [{destination: {host: app}}]
    - name: main
      route: [{destination: {host: app}}]
      retries: {attempts: 3, retryOn: "503", perTryTimeout: 2s}
      mirror: {host: shadow}
      mirrorPercentage: {value: 100}
      corsPolicy:
        allowOrigins: [{exact: "https://app.example"}]
        allowMethods: [GET, PUT]
        maxAge: 60s
"""


def test_policies_from_yaml(tmp_path: Path) -> None:
    async def main() -> None:
        app = Script("app", answer=lambda n, seen: (503 if n == 1 else 200, 0.0))
        shadow = Script("shadow")
        async with app.backend() as a, shadow.backend() as s:
            path = tmp_path / "shop.yaml"
            path.write_text(GATEWAY + _service("app", a.port) + _service("shadow", s.port) + ROUTES)
            snapshot, diagnostics = build_snapshot([str(path)])
            assert snapshot is not None, [d.render() for d in diagnostics]
            async with gateway(snapshot) as gw, Client(gw.port) as client:
                teapot = await client.get("/teapot", host="shop.example")
                ok = await client.get("/items", host="shop.example")
                client.send(
                    build_request(
                        "OPTIONS",
                        "/items",
                        host="shop.example",
                        headers={"origin": "https://app.example", "access-control-request-method": "PUT"},
                    )
                )
                (preflight,) = await client.read_responses(1)
                deadline = time.monotonic() + 3
                while not shadow.seen and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
        assert teapot.status == 418 and teapot.body == b"fault filter abort"
        assert ok.status == 200 and ok.json()["headers"]["x-envoy-attempt-count"] == "2"
        assert preflight.status == 200 and preflight.header("access-control-max-age") == "60"
        assert len(app.seen) == 2  # the retry; the preflight never reached the backend
        assert shadow.seen and shadow.seen[0].headers["host"] == "shop.example"

    run(main())
