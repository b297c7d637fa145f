"""Headers the gateway removes, adds and rewrites (istio-semantics 8.3, 8.4), over real sockets."""

from __future__ import annotations

import re

from meshgate import ir
from proxy.gw import Backend, Client, build_request, cluster, config, gateway, route, run

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_forwarding_headers_and_hop_by_hop_removal() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(
                    build_request(
                        "GET",
                        "/h",
                        host="shop.example:8080",
                        headers=[
                            ("X-Forwarded-For", "203.0.113.7"),
                            ("X-Forwarded-Proto", "https"),
                            ("X-Request-Id", "client-chosen"),
                            ("X-Envoy-Retry-On", "5xx"),
                            ("X-Envoy-Upstream-Rq-Timeout-Ms", "1"),
                            ("Connection", "keep-alive, X-Secret-Hop"),
                            ("X-Secret-Hop", "drop me"),
                            ("Keep-Alive", "timeout=5"),
                            ("TE", "trailers"),
                            ("Proxy-Connection", "keep-alive"),
                            ("User-Agent", "tests"),
                            ("X-Custom", "a"),
                            ("X-Custom", "b"),
                        ],
                    )
                )
                (response,) = await client.read_responses()
        seen = response.json()["headers"]
        assert seen["host"] == "shop.example:8080"  # preserved
        assert seen["x-forwarded-for"] == "203.0.113.7,127.0.0.1"  # client appended
        assert seen["x-forwarded-proto"] == "http"  # overwritten with the connection scheme
        assert UUID4.match(seen["x-request-id"]) and seen["x-request-id"] != "client-chosen"
        assert seen["x-envoy-attempt-count"] == "1"
        assert seen["x-envoy-external-address"] == "127.0.0.1"
        assert "x-envoy-retry-on" not in seen and "x-envoy-upstream-rq-timeout-ms" not in seen
        for hop in ("connection", "x-secret-hop", "keep-alive", "te", "proxy-connection"):
            assert hop not in seen, hop
        assert seen["user-agent"] == "tests"
        assert seen["x-custom"] == "a,b"
        assert response.header("server") == "istio-envoy"  # backend said demo-backend
        assert response.header("x-envoy-upstream-service-time") is not None
        assert response.header("date")

    run(main())


def test_response_hop_by_hop_and_connection_listed_headers_are_removed() -> None:
    async def main() -> None:
        import asyncio

        class Upstream(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                if b"\r\n\r\n" in data:
                    self.transport.write(  # type: ignore[attr-defined]
                        b"HTTP/1.1 200 OK\r\nServer: backend\r\nConnection: keep-alive, X-Hop\r\n"
                        b"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok"
                    )

        async with Backend("raw", protocol=lambda _: Upstream()) as backend:
            svc = cluster("raw", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                response = await client.get("/")
        assert response.body == b"ok"
        names = {name.lower() for name, _ in response.headers}
        assert "x-hop" not in names and "keep-alive" not in names
        assert response.header("x-kept") == "yes"
        assert response.all("server") == ["istio-envoy"]

    run(main())


def test_route_and_destination_header_edits() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            r = route(
                "r",
                svc,
                request_headers=ir.HeaderEdits(
                    set=(("X-Route", "route"), ("X-Both", "route")),
                    add=(("X-Added", "1"),),
                    remove=("x-drop",),
                ),
                response_headers=ir.HeaderEdits(set=(("X-Resp", "yes"),), remove=("content-type",)),
            )
            destination = ir.WeightedCluster(
                svc.name,
                request_headers=ir.HeaderEdits(set=(("X-Both", "destination"), ("X-Dest", "d"))),
                response_headers=ir.HeaderEdits(add=(("X-Resp-Dest", "d"),)),
            )
            r = ir.Route(r.name, r.match, ir.Forward((destination,)), r.request_headers, r.response_headers)
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                response = await client.get("/", x_drop="1", x_added="0")
        seen = response.json()["headers"]
        assert seen["x-route"] == "route"
        # one destination: route-level ops first, destination-level after (istio-semantics 3.16.5)
        assert seen["x-both"] == "destination"
        assert seen["x-dest"] == "d"
        assert seen["x-added"] == "0,1"
        assert "x-drop" not in seen
        assert seen["x-envoy-attempt-count"] == "1"
        assert response.header("x-resp") == "yes"
        assert response.header("x-resp-dest") == "d"
        assert response.header("content-type") is None
        assert response.header("server") == "istio-envoy"

    run(main())


def test_rewrite_sets_path_authority_and_original_path() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            r = route("r", svc, prefix="/old", rewrite=ir.Rewrite(uri="/new", authority="internal.svc"))
            async with gateway(config([r], [svc])) as gw, Client(gw.port) as client:
                seen = (await client.get("/old/page?x=1", host="public.example")).json()
        assert (seen["path"], seen["query"]) == ("/new/page", "x=1")
        assert seen["host"] == "internal.svc"
        assert seen["headers"]["x-envoy-original-path"] == "/old/page?x=1"

    run(main())
