"""Less common but legal exchanges: Connection: close, half-close, absolute-form targets, 1xx and
HTTP/1.0 backends, bodiless statuses."""

from __future__ import annotations

import asyncio

import pytest

from proxy.gw import Backend, Client, build_request, cluster, config, gateway, route, run

from .test_proxy_failures import Scripted


def test_client_connection_close_is_honoured() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request("GET", "/", headers={"Connection": "close"}))
                data = await client.read_until_eof(timeout=3)
                assert data.startswith(b"HTTP/1.1 200") and b"connection: close" in data.lower()

    run(main())


def test_half_closed_client_still_gets_its_response() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request("GET", "/half"))
                assert client.proto.transport is not None
                client.proto.transport.write_eof()
                data = await client.read_until_eof(timeout=3)
                assert data.startswith(b"HTTP/1.1 200") and b'"/half"' in data

    run(main())


def test_absolute_form_target_routes_by_its_authority() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            cfg = config([route("r", svc)], [svc], domains=("abs.example",))
            async with gateway(cfg) as gw, Client(gw.port) as client:
                client.send(b"GET http://abs.example/a/../b?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
                (response,) = await client.read_responses()
                seen = response.json()
                assert (response.status, seen["path"], seen["query"]) == (200, "/b", "q=1")

    run(main())


@pytest.mark.parametrize(
    ("reply", "status", "body"),
    [
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
        (b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", 304, b""),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", 200, b"old"),
    ],
)
def test_backend_status_variants(reply: bytes, status: int, body: bytes) -> None:
    async def main() -> None:
        async with Backend("s", protocol=lambda _: Scripted(reply)) as backend:
            svc = cluster("s", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                for _ in range(2):  # and the client connection stays usable
                    client.send(build_request("GET", "/"))
                    (response,) = await client.read_responses(timeout=3)
                    assert (response.status, response.body) == (status, body)
                    assert response.header("server") == "istio-envoy"
                await asyncio.sleep(0)
        if reply.startswith(b"HTTP/1.0"):
            assert backend.accepted == 2  # an HTTP/1.0 backend connection is not reused

    run(main())
