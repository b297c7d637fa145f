"""Point 4: subsets by labels (ServiceEntry endpoints, Pods) and consistent hashing
(istio-semantics 6.2, 6.3), through YAML → translate → serve on loopback."""

from __future__ import annotations

from pathlib import Path

from meshgate import ir
from meshgate.proxy.balancer import Ring, hash64
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Client, backends, cluster, config, gateway, route, run

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
"""


def _snapshot(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    snapshot, diagnostics = build_snapshot([str(path)])
    assert snapshot is not None
    assert not [d for d in diagnostics if d.level.name == "ERROR"], [d.render() for d in diagnostics]
    return snapshot


def test_subsets_from_service_entry_endpoint_labels(tmp_path: Path) -> None:
    async def main() -> None:
        async with backends("old-v1", "old-v2") as (v1, v2):
            text = (
                GATEWAY
                + f"""\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: legacy, namespace: shop}}
spec:
  hosts: [legacy.internal]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints:
    - {{address: 127.0.0.1, ports: {{http: {v1.port}}}, labels: {{version: v1}}}}
    - {{address: 127.0.0.1, ports: {{http: {v2.port}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: legacy, namespace: shop}}
spec:
  host: legacy.internal
  subsets:
    - {{name: v1, labels: {{version: v1}}}}
    - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.example]
  gateways: [istio-system/edge]
  http:
    - match: [{{uri: {{prefix: /v2}}}}]
      route: [{{destination: {{host: legacy.internal, subset: v2}}}}]
    - route: [{{destination: {{host: legacy.internal, subset: v1}}}}]
"""
            )
            async with gateway(_snapshot(tmp_path, text)) as gw, Client(gw.port) as client:  # type: ignore[arg-type]
                first = [(await client.get("/x", host="shop.example")).json()["name"] for _ in range(4)]
                second = [(await client.get("/v2/x", host="shop.example")).json()["name"] for _ in range(4)]
        assert first == ["old-v1"] * 4
        assert second == ["old-v2"] * 4

    run(main())


def test_subsets_from_pod_labels(tmp_path: Path) -> None:
    async def main() -> None:
        async with backends("pod-v1", "pod-v2") as (v1, v2):
            text = (
                GATEWAY
                + f"""\
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop}}
spec:
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: web, namespace: shop}}
subsets:
  - addresses: [{{ip: 127.0.0.1, targetRef: {{kind: Pod, name: web-v1}}}}]
    ports: [{{name: http, port: {v1.port}}}]
  - addresses: [{{ip: 127.0.0.1, targetRef: {{kind: Pod, name: web-v2}}}}]
    ports: [{{name: http, port: {v2.port}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: web-v1, namespace: shop, labels: {{app: web, version: v1}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-v2, namespace: shop, labels: {{app: web, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web, namespace: shop}}
spec:
  host: web
  subsets:
    - {{name: v1, labels: {{version: v1}}}}
    - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web, namespace: shop}}
spec:
  hosts: [web.example]
  gateways: [istio-system/edge]
  http:
    - match: [{{headers: {{x-canary: {{exact: "1"}}}}}}]
      route: [{{destination: {{host: web, subset: v2}}}}]
    - route: [{{destination: {{host: web, subset: v1}}}}]
"""
            )
            async with gateway(_snapshot(tmp_path, text)) as gw, Client(gw.port) as client:  # type: ignore[arg-type]
                stable = [(await client.get("/", host="web.example")).json()["name"] for _ in range(4)]
                canary = [
                    (await client.get("/", host="web.example", x_canary="1")).json()["name"] for _ in range(4)
                ]
        assert stable == ["pod-v1"] * 4
        assert canary == ["pod-v2"] * 4

    run(main())


def test_ring_is_stable_and_moves_about_one_nth_when_an_endpoint_is_added() -> None:
    members = [(f"10.0.0.{i}:8080", 1) for i in range(1, 5)]
    ring = Ring(members)
    users = [hash64(f"user-{n}".encode()) for n in range(1000)]
    before = [members[ring.lookup(u)][0] for u in users]
    assert before == [members[ring.lookup(u)][0] for u in users]  # deterministic
    counts = {m: before.count(m) for m, _ in members}
    assert all(150 < c < 350 for c in counts.values()), counts  # 1000 users over 4: ~250 each
    grown = Ring([*members, ("10.0.0.5:8080", 1)])
    after = [([*members, ("10.0.0.5:8080", 1)])[grown.lookup(u)][0] for u in users]
    moved = sum(1 for a, b in zip(before, after, strict=True) if a != b)
    assert 120 < moved < 300, moved  # ~1/5 of the users, all of them to the new endpoint
    assert all(b == "10.0.0.5:8080" for a, b in zip(before, after, strict=True) if a != b)


def _hash_cluster(name: str, ports: list[int], policy: ir.HashPolicy) -> ir.Cluster:
    return cluster(name, *ports, load_balancer=ir.LoadBalancer("CONSISTENT_HASH", policy))


def test_consistent_hash_on_header_keeps_a_user_on_one_endpoint() -> None:
    async def main() -> None:
        async with backends("a", "b", "c") as bs:
            svc = _hash_cluster("svc", [b.port for b in bs], ir.HashPolicy(header="x-user"))
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                alice = {(await client.get("/", x_user="alice")).json()["name"] for _ in range(1000)}
                users = {(await client.get("/", x_user=f"u{n}")).json()["name"] for n in range(60)}
        assert len(alice) == 1
        assert len(users) == 3  # different users spread over the endpoints

    run(main())


def test_consistent_hash_cookie_is_created_when_absent_and_then_sticks() -> None:
    async def main() -> None:
        async with backends("a", "b", "c") as bs:
            policy = ir.HashPolicy(cookie="sticky", cookie_path="/", cookie_ttl=3600.0)
            svc = _hash_cluster("svc", [b.port for b in bs], policy)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                first = await client.get("/")
                cookie = first.header("set-cookie")
                assert cookie is not None and cookie.startswith('sticky="')
                assert "Max-Age=3600" in cookie and "Path=/" in cookie and "HttpOnly" in cookie
                value = cookie.split(";")[0]
                names = {(await client.get("/", cookie=value)).json()["name"] for _ in range(30)}
                again = await client.get("/", cookie=value)
        assert names == {first.json()["name"]}
        assert again.header("set-cookie") is None

    run(main())


def test_consistent_hash_on_query_parameter_and_source_ip() -> None:
    async def main() -> None:
        async with backends("a", "b", "c") as bs:
            by_query = _hash_cluster("q", [b.port for b in bs], ir.HashPolicy(query_parameter="u"))
            by_ip = ir.Cluster(
                "outbound|80||ip",
                "ip",
                80,
                endpoints=by_query.endpoints,
                load_balancer=ir.LoadBalancer("CONSISTENT_HASH", ir.HashPolicy(source_ip=True)),
            )
            routes = [route("q", by_query, prefix="/q"), route("ip", by_ip, prefix="/")]
            async with gateway(config(routes, [by_query, by_ip])) as gw, Client(gw.port) as client:
                query = {(await client.get("/q?u=bob")).json()["name"] for _ in range(20)}
                ip = {(await client.get("/ip")).json()["name"] for _ in range(20)}
        assert len(query) == 1 and len(ip) == 1

    run(main())


def test_least_request_and_random_use_every_endpoint() -> None:
    async def main() -> None:
        async with backends("a", "b") as bs:
            lr = cluster("lr", *[b.port for b in bs], load_balancer=ir.LoadBalancer("LEAST_REQUEST"))
            rnd = ir.Cluster(
                "outbound|80||rnd", "rnd", 80, endpoints=lr.endpoints, load_balancer=ir.LoadBalancer("RANDOM")
            )
            routes = [route("lr", lr, prefix="/lr"), route("rnd", rnd, prefix="/")]
            async with gateway(config(routes, [lr, rnd])) as gw, Client(gw.port) as client:
                least = [(await client.get("/lr")).json()["name"] for _ in range(4)]
                random_names = {(await client.get("/r")).json()["name"] for _ in range(40)}
        assert least == ["a", "b", "a", "b"]  # no concurrency: ties go round robin
        assert random_names == {"a", "b"}

    run(main())
