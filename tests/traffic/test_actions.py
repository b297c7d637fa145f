"""Point 1: one test per route action and filter, through real sockets (istio-semantics 3.8-3.16)."""

from __future__ import annotations

import asyncio
import datetime
import time

from meshgate import ir
from proxy.gw import Backend, Client, build_request, cluster, config, fetch, gateway, route, run

from .traffic_helpers import Script, log_records, memory_log


def _prefix(value: str) -> ir.RouteMatch:
    return ir.RouteMatch(path=ir.PathMatch(ir.PathMatchKind.PREFIX, value))


def test_rewrite_api_to_slash_gives_double_slash_and_original_path() -> None:
    async def main() -> None:
        script = Script("b")  # raw request target (a URL parser would read `//users` as a host)
        async with script.backend() as backend:
            svc = cluster("b", backend.port)
            r = route("r", svc, prefix="/api", rewrite=ir.Rewrite(uri="/"))
            async with gateway(config([r], [svc])) as gw:
                await fetch(gw.port, "/api/users?x=1")
        assert script.seen[0].path == "//users?x=1"
        assert script.seen[0].headers["x-envoy-original-path"] == "/api/users?x=1"

    run(main())


def test_rewrite_prefix_keeps_query_and_exact_replaces_whole_path() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            exact = ir.RouteMatch(path=ir.PathMatch(ir.PathMatchKind.EXACT, "/login"))
            routes = [
                route("login", svc, match=exact, rewrite=ir.Rewrite(uri="/auth/login")),
                route("v2", svc, prefix="/api", rewrite=ir.Rewrite(uri="/v2")),
            ]
            async with gateway(config(routes, [svc])) as gw:
                login = (await fetch(gw.port, "/login?next=/")).json()
                v2 = (await fetch(gw.port, "/api/users")).json()
        assert (login["path"], login["query"]) == ("/auth/login", "next=/")
        assert v2["path"] == "/v2/users"

    run(main())


def test_redirect_location_forms() -> None:
    async def main() -> None:
        def redirect(name: str, prefix: str, action: ir.Redirect) -> ir.Route:
            return ir.Route(name, _prefix(prefix), action)

        routes = [
            redirect("moved", "/old", ir.Redirect(code=308, host="new.example.com", path="/new")),
            redirect("secure", "/secure", ir.Redirect(scheme="https")),
            redirect("port", "/port", ir.Redirect(port=8443, scheme="https")),
            redirect("prefix", "/shop", ir.Redirect(code=302, prefix_rewrite="/store")),
        ]
        async with gateway(config(routes, [])) as gw:
            moved = await fetch(gw.port, "/old/x?q=1", host="shop.example.com:8080")
            secure = await fetch(gw.port, "/secure/a", host="shop.example.com:80")
            port = await fetch(gw.port, "/port", host="shop.example.com")
            prefix = await fetch(gw.port, "/shop/cart?id=2", host="shop.example.com")
        assert (moved.status, moved.header("location")) == (308, "http://new.example.com/new?q=1")
        assert (secure.status, secure.header("location")) == (301, "https://shop.example.com/secure/a")
        assert port.header("location") == "https://shop.example.com:8443/port"
        assert (prefix.status, prefix.header("location")) == (302, "http://shop.example.com/store/cart?id=2")

    run(main())


def test_direct_response() -> None:
    async def main() -> None:
        r = ir.Route(
            "direct",
            _prefix("/"),
            ir.DirectResponse(418, b"teapot"),
            response_headers=ir.HeaderEdits(set=(("content-type", "text/x-tea"),)),
        )
        async with gateway(config([r], [])) as gw:
            response = await fetch(gw.port, "/")
        assert (response.status, response.body) == (418, b"teapot")

    run(main())


def _cors_route(svc: ir.Cluster, **kwargs: object) -> ir.Route:
    policy = ir.CorsPolicy(
        allow_origins=(ir.StringMatch(ir.MatchKind.EXACT, "https://app.example"),),
        allow_methods=("GET", "POST"),
        allow_headers=("x-token",),
        expose_headers=("x-trace",),
        max_age=600,
        allow_credentials=True,
        **kwargs,  # type: ignore[arg-type]
    )
    return route("cors", svc, cors=policy)


def test_cors_preflight_is_answered_without_reaching_the_backend() -> None:
    async def main() -> None:
        script = Script("b")
        async with script.backend() as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([_cors_route(svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(
                    build_request(
                        "OPTIONS",
                        "/items",
                        headers={"origin": "https://app.example", "access-control-request-method": "POST"},
                    )
                )
                (preflight,) = await client.read_responses(1)
                actual = await client.get("/items", origin="https://app.example")
                other = await client.get("/items", origin="https://evil.example")
                plain = await client.get("/items")
        assert preflight.status == 200
        assert preflight.header("access-control-allow-origin") == "https://app.example"
        assert preflight.header("access-control-allow-methods") == "GET,POST"
        assert preflight.header("access-control-allow-headers") == "x-token"
        assert preflight.header("access-control-max-age") == "600"
        assert preflight.header("access-control-allow-credentials") == "true"
        assert [s.method for s in script.seen] == ["GET", "GET", "GET"]  # the preflight never went up
        assert actual.header("access-control-allow-origin") == "https://app.example"
        assert actual.header("access-control-expose-headers") == "x-trace"
        assert other.header("access-control-allow-origin") is None
        assert plain.header("access-control-allow-origin") is None

    run(main())


def test_cors_unmatched_preflight_is_forwarded_by_default() -> None:
    async def main() -> None:
        script = Script("b")
        async with script.backend() as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([_cors_route(svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(
                    build_request(
                        "OPTIONS",
                        "/",
                        headers={"origin": "https://x.example", "access-control-request-method": "GET"},
                    )
                )
                (response,) = await client.read_responses(1)
        assert response.header("access-control-allow-origin") is None
        assert [s.method for s in script.seen] == ["OPTIONS"]

    run(main())


def test_fault_abort_and_delay() -> None:
    async def main() -> None:
        script = Script("b")
        async with script.backend() as backend:
            svc = cluster("b", backend.port)
            routes = [
                route(
                    "abort", svc, prefix="/abort", fault=ir.FaultPolicy(abort_status=418, abort_percent=100.0)
                ),
                route("delay", svc, prefix="/delay", fault=ir.FaultPolicy(delay=0.3, delay_percent=100.0)),
                route(
                    "never", svc, prefix="/never", fault=ir.FaultPolicy(abort_status=500, abort_percent=0.0)
                ),
            ]
            log, stream = memory_log()
            async with gateway(config(routes, [svc]), access_log=log) as gw:
                abort = await fetch(gw.port, "/abort")
                began = time.monotonic()
                delayed = await fetch(gw.port, "/delay")
                elapsed = time.monotonic() - began
                never = await fetch(gw.port, "/never")
                records = log_records(log, stream)
        assert (abort.status, abort.body) == (418, b"fault filter abort")
        assert delayed.status == 200 and elapsed >= 0.29
        assert never.status == 200
        assert [s.path for s in script.seen] == ["/delay", "/never"]  # the abort never reached it
        flags = {r["path"]: (r["response_flags"], r["response_code_details"]) for r in records}
        assert flags["/abort"] == ("FI", "fault_filter_abort")
        assert flags["/delay"][0] == "DI"

    run(main())


def test_fault_percentages_use_the_injected_rng() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            r = route("half", svc, fault=ir.FaultPolicy(abort_status=503, abort_percent=50.0))
            async with gateway(config([r], [svc]), seed=7) as gw, Client(gw.port) as client:
                statuses = [(await client.get("/")).status for _ in range(200)]
        aborted = statuses.count(503)
        assert 60 < aborted < 140, aborted

    run(main())


def test_header_edit_order_single_and_weighted_destinations() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            route_edits = ir.HeaderEdits(
                set=(("x-who", "route"),), add=(("x-list", "r"),), remove=("x-drop",)
            )
            dest_edits = ir.HeaderEdits(set=(("x-who", "destination"),), add=(("x-list", "d"),))
            resp_route = ir.HeaderEdits(set=(("x-resp", "route"),))
            resp_dest = ir.HeaderEdits(set=(("x-resp", "destination"),))

            def make(name: str, prefix: str, weights: tuple[int, ...]) -> ir.Route:
                dests = tuple(
                    ir.WeightedCluster(
                        svc.name, weight=w, request_headers=dest_edits, response_headers=resp_dest
                    )
                    for w in weights
                )
                return ir.Route(
                    name,
                    _prefix(prefix),
                    ir.Forward(dests),
                    request_headers=route_edits,
                    response_headers=resp_route,
                )

            routes = [make("single", "/single", (100,)), make("weighted", "/weighted", (50, 50))]
            async with gateway(config(routes, [svc])) as gw, Client(gw.port) as client:
                single = await client.get("/single", x_drop="1")
                weighted = await client.get("/weighted")
        # one destination: route ops, then destination ops (destination `set` wins)
        assert single.json()["headers"]["x-who"] == "destination"
        assert single.json()["headers"]["x-list"] == "r,d"
        assert "x-drop" not in single.json()["headers"]
        assert single.header("x-resp") == "destination"
        # weighted destinations: destination ops, then route ops (route `set` wins)
        assert weighted.json()["headers"]["x-who"] == "route"
        assert weighted.json()["headers"]["x-list"] == "d,r"
        assert weighted.header("x-resp") == "route"

    run(main())


def test_route_timeout_is_504_ut() -> None:
    async def main() -> None:
        script = Script("slow", answer=lambda n, seen: (200, 1.0))
        async with script.backend() as backend:
            svc = cluster("slow", backend.port)
            r = route("r", svc, timeout=0.2)
            async with gateway(config([r], [svc])) as gw:
                response = await fetch(gw.port, "/")
                assert gw.ctx.stats.total(status=504, flags="UT") == 1
        assert (response.status, response.body) == (504, b"upstream request timeout")
        assert script.seen[0].headers["x-envoy-expected-rq-timeout-ms"] == "200"

    run(main())


def test_access_log_times_start_at_the_first_byte_of_the_request() -> None:
    """Envoy's %START_TIME% and %DURATION% run from the request's first byte: a head sent in two
    parts 0.3 s apart is logged as one 300+ ms request that started at the first part."""

    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            log, stream = memory_log()
            async with gateway(config([route("r", svc)], [svc]), access_log=log) as gw:
                reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
                first_byte_at = time.time()
                writer.write(b"GET /slow HTTP/1.1\r\nHo")
                await writer.drain()
                await asyncio.sleep(0.3)
                writer.write(b"st: example.com\r\nConnection: close\r\n\r\n")
                answer = await reader.read()
                writer.close()
                records = log_records(log, stream)
        assert answer.startswith(b"HTTP/1.1 200 ")
        (record,) = records
        assert record["duration"] >= 290, record
        assert int(record["upstream_service_time"]) < record["duration"]
        started = datetime.datetime.strptime(record["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        logged = started.replace(tzinfo=datetime.UTC).timestamp()
        assert abs(logged - first_byte_at) < 0.1, (logged, first_byte_at)

    run(main())
