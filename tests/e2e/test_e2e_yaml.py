"""YAML → load → translate → compile → serve, in process, against real backends on loopback."""

from __future__ import annotations

from pathlib import Path

from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Client, backends, build_request, fetch, gateway, run

from .e2e_helpers import GATEWAY, service


def _virtual_service(body: str, name: str = "shop", hosts: str = '["shop.example"]') -> str:
    return f"""\
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: {hosts}
  gateways: [istio-system/edge]
{body}"""


ROUTES = """\
  http:
    - name: canary
      match: [{uri: {prefix: /api}, headers: {x-canary: {exact: "true"}}}]
      route: [{destination: {host: canary}}]
    - name: api
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: api}}]
      headers:
        request: {set: {x-from-route: api}}
        response: {add: {x-served-by: api}}
    - name: writes
      match: [{method: {exact: POST}}]
      route: [{destination: {host: writes}}]
    - name: by-query
      match: [{queryParams: {version: {exact: "2"}}}]
      route: [{destination: {host: v2}}]
    - name: legacy
      match: [{uri: {prefix: /legacy/}}]
      rewrite: {uri: /modern/, authority: modern.internal}
      route: [{destination: {host: v2}}]
    - name: moved
      match: [{uri: {exact: /old}}]
      redirect: {uri: /new, redirectCode: 301}
    - name: health
      match: [{uri: {exact: /healthz}}]
      directResponse: {status: 200, body: {string: "fine"}}
    - name: split
      route:
        - {destination: {host: v1}, weight: 75}
        - {destination: {host: v2}, weight: 25}
"""


def test_yaml_routes_to_the_right_backends(tmp_path: Path) -> None:
    async def main() -> None:
        async with backends("canary", "api", "writes", "v1", "v2") as bs:
            text = GATEWAY + _virtual_service(ROUTES) + "".join(service(b.name, b.port) for b in bs)
            path = tmp_path / "shop.yaml"
            path.write_text(text)
            snapshot, diagnostics = build_snapshot([str(path)])
            assert snapshot is not None, [d.render() for d in diagnostics]
            assert not [d for d in diagnostics if d.level.name == "ERROR"], [d.render() for d in diagnostics]
            async with gateway(snapshot, seed=3) as gw:
                port = gw.port

                async def name_of(p: str, **headers: str) -> str:
                    return str((await fetch(port, p, host="shop.example", **headers)).json()["name"])

                assert await name_of("/api/items") == "api"
                assert await name_of("/api/items", x_canary="true") == "canary"
                assert await name_of("/x?version=2") == "v2"
                api = await fetch(port, "/api/x", host="shop.example")
                assert api.json()["headers"]["x-from-route"] == "api"
                assert api.header("x-served-by") == "api"
                async with Client(port) as client:
                    client.send(build_request("POST", "/orders", host="shop.example", body=b"{}"))
                    (posted,) = await client.read_responses()
                    assert posted.json()["name"] == "writes"
                legacy = (await fetch(port, "/legacy/page", host="shop.example")).json()
                assert (legacy["name"], legacy["path"], legacy["host"]) == (
                    "v2",
                    "/modern/page",
                    "modern.internal",
                )
                moved = await fetch(port, "/old", host="shop.example")
                assert moved.status == 301 and moved.header("location") == "http://shop.example/new"
                health = await fetch(port, "/healthz", host="shop.example")
                assert (health.status, health.body) == (200, b"fine")
                assert (await fetch(port, "/", host="unknown.example")).status == 404
                async with Client(port) as client:
                    counts = {"v1": 0, "v2": 0}
                    for _ in range(400):
                        counts[(await client.get("/", host="shop.example")).json()["name"]] += 1
                assert abs(counts["v2"] - 100) < 45, counts  # binomial(400, .25): sd ~8.7

    run(main())


def test_partly_broken_config_still_serves_the_rest(tmp_path: Path) -> None:
    async def main() -> None:
        async with backends("good") as (good,):
            broken = _virtual_service("  http: not-a-list\n", name="broken", hosts='["broken.example"]')
            ok = _virtual_service(
                "  http:\n    - route: [{destination: {host: good}}]\n", name="ok", hosts='["ok.example"]'
            )
            path = tmp_path / "mixed.yaml"
            path.write_text(GATEWAY + broken + ok + service("good", good.port))
            snapshot, diagnostics = build_snapshot([str(path)])
            assert snapshot is not None
            assert any(d.origin is not None and d.origin.file == str(path) for d in diagnostics)
            async with gateway(snapshot) as gw:
                assert (await fetch(gw.port, "/", host="ok.example")).json()["name"] == "good"
                assert (await fetch(gw.port, "/", host="broken.example")).status == 404

    run(main())
