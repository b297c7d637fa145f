"""Requests reach the backend their route names: host, path, header, method, query; weights;
round-robin; keep-alive on both sides; pipelining."""

from __future__ import annotations

from meshgate import ir
from proxy.gw import Backend, Client, backends, build_request, cluster, config, fetch, gateway, route, run


def _match(**kwargs: object) -> ir.RouteMatch:
    return ir.RouteMatch(**kwargs)  # type: ignore[arg-type]


def test_routes_by_host_path_header_method_and_query() -> None:
    async def main() -> None:
        async with backends("default", "api", "canary", "post", "query", "other-host") as bs:
            default, api, canary, post, query, other = bs
            c = {b.name: cluster(b.name, b.port) for b in bs}
            routes = [
                route(
                    "canary",
                    c["canary"],
                    match=_match(
                        path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/api"),
                        headers=(ir.HeaderMatch("x-canary", ir.StringMatch(ir.MatchKind.EXACT, "true")),),
                    ),
                ),
                route("api", c["api"], prefix="/api"),
                route("post", c["post"], match=_match(method=ir.StringMatch(ir.MatchKind.EXACT, "POST"))),
                route(
                    "query",
                    c["query"],
                    match=_match(query=(ir.QueryMatch("v", ir.StringMatch(ir.MatchKind.EXACT, "2")),)),
                ),
                route("default", c["default"]),
            ]
            other_host = ir.VirtualHost("other", ("other.example",), (route("other", c["other-host"]),))
            cfg = config(routes, list(c.values()), extra_hosts=[other_host])
            async with gateway(cfg) as gw:
                assert (await fetch(gw.port, "/api/x")).json()["name"] == "api"
                assert (await fetch(gw.port, "/api/x", x_canary="true")).json()["name"] == "canary"
                assert (await fetch(gw.port, "/x?v=2")).json()["name"] == "query"
                assert (await fetch(gw.port, "/x?v=3")).json()["name"] == "default"
                assert (await fetch(gw.port, "/x", host="other.example")).json()["name"] == "other-host"
                assert (await fetch(gw.port, "/x", host="OTHER.example:80")).json()["name"] == "other-host"
                async with Client(gw.port) as client:
                    client.send(build_request("POST", "/x", body=b"hello"))
                    (response,) = await client.read_responses()
                    assert response.json()["name"] == "post"
                    assert response.json()["body_bytes"] == 5
            assert default.accepted == api.accepted == canary.accepted == 1
            assert post.accepted == query.accepted == other.accepted == 1

    run(main())


def test_weighted_split_within_statistical_bounds() -> None:
    async def main() -> None:
        async with backends("v1", "v2") as (v1, v2):
            c1, c2 = cluster("v1", v1.port), cluster("v2", v2.port)
            cfg = config([route("split", (c1, 80), (c2, 20))], [c1, c2])
            async with gateway(cfg, seed=None) as gw, Client(gw.port) as client:
                counts = {"v1": 0, "v2": 0}
                n = 600
                for _ in range(n):
                    counts[(await client.get("/")).json()["name"]] += 1
        # binomial(600, 0.2): mean 120, sd ~9.8; 5 sd either side fails with p < 1e-6
        assert abs(counts["v2"] - 120) < 50, counts

    run(main())


def test_round_robin_over_ready_endpoints_only() -> None:
    async def main() -> None:
        async with backends("a", "b", "c") as (a, b, c):
            endpoints = (
                ir.Endpoint("127.0.0.1", a.port),
                ir.Endpoint("127.0.0.1", b.port),
                ir.Endpoint("127.0.0.1", c.port, ready=False),
            )
            svc = ir.Cluster("outbound|80||svc", "svc", 80, endpoints=endpoints)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                names = [(await client.get("/")).json()["name"] for _ in range(6)]
        assert names == ["a", "b"] * 3
        assert c.accepted == 0

    run(main())


def test_keep_alive_reuses_connections_on_both_sides() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                async with Client(gw.port) as client:
                    for _ in range(20):
                        assert (await client.get("/")).status == 200
                async with Client(gw.port) as client:  # a new client reuses the pooled connection
                    assert (await client.get("/")).status == 200
                assert gw.ctx.stats.downstream_cx_total == 2
                assert gw.ctx.stats.upstream_cx_total == 1
        assert backend.accepted == 1

    run(main())


def test_pipelined_requests_are_answered_in_order() -> None:
    async def main() -> None:
        async with backends("slow", "fast") as (slow, fast):
            cs, cf = cluster("slow", slow.port), cluster("fast", fast.port)
            cfg = config([route("slow", cs, prefix="/slow"), route("fast", cf)], [cs, cf])
            async with gateway(cfg) as gw, Client(gw.port) as client:
                burst = b"".join(
                    build_request("GET", path)
                    for path in ("/slow/1?delay=0.2", "/fast/2", "/nowhere/3", "/slow/4", "/fast/5")
                )
                client.send(burst)
                responses = await client.read_responses(5)
                assert [r.json()["path"] for r in responses] == [
                    "/slow/1",
                    "/fast/2",
                    "/nowhere/3",
                    "/slow/4",
                    "/fast/5",
                ]
                assert (await client.get("/fast/6")).json()["path"] == "/fast/6"  # still usable

    run(main())


def test_pipelined_local_replies_keep_the_connection() -> None:
    async def main() -> None:
        svc = cluster("none", 1)
        cfg = config([route("r", svc, prefix="/only")], [svc])
        async with gateway(cfg) as gw, Client(gw.port) as client:
            client.send(b"".join(build_request("GET", f"/x{i}") for i in range(50)))
            responses = await client.read_responses(50)
            assert [r.status for r in responses] == [404] * 50
            assert all(r.body == b"" for r in responses)
            client.send(build_request("POST", "/y", body=b"abc") + build_request("GET", "/z"))
            assert [r.status for r in await client.read_responses(2)] == [404, 404]

    run(main())


def test_path_is_normalized_before_routing_and_forwarding() -> None:
    async def main() -> None:
        async with backends("b", "admin") as (b, admin):
            cb, ca = cluster("b", b.port), cluster("admin", admin.port)
            cfg = config([route("admin", ca, prefix="/admin"), route("r", cb)], [cb, ca])
            async with gateway(cfg) as gw:
                seen = (await fetch(gw.port, "/admin/../public/./x%2Fy?q=1#frag")).json()
                assert (seen["name"], seen["path"], seen["query"]) == ("b", "/public/x%2Fy", "q=1")
                assert (await fetch(gw.port, "/public/%2e%2e/admin/x")).json()["name"] == "admin"

    run(main())
