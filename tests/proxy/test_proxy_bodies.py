"""Body framing both ways: Content-Length, chunked, close-delimited, HEAD, 100-continue, limits,
and WebSocket upgrades."""

from __future__ import annotations

import asyncio
import base64
import os

from meshgate.cli.demo_backend import encode_frame, parse_frame
from meshgate.proxy import Limits
from proxy.gw import Backend, Client, build_request, cluster, config, gateway, route, run


def _gateway_for(backend: Backend, **kwargs: object):  # type: ignore[no-untyped-def]
    svc = cluster(backend.name, backend.port)
    return gateway(config([route("r", svc, **kwargs)], [svc]))  # type: ignore[arg-type]


def test_chunked_request_body_is_streamed_upstream() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            chunks = [b"a" * 10, b"b" * 70000, b"c"]
            body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
            head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            client.send(head + body)
            (response,) = await client.read_responses()
            seen = response.json()
            assert seen["body_bytes"] == 70011
            assert seen["headers"]["transfer-encoding"] == "chunked"
            assert "content-length" not in seen["headers"]
            assert (await client.get("/again")).status == 200

    run(main())


def test_chunked_response_body_is_streamed_down() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            response = await client.get("/?size=300000&chunked=1")
            assert response.body == b"x" * 300000
            assert response.header("transfer-encoding") == "chunked"
            small = await client.get("/?chunked=1")
            assert small.json()["name"] == "b"

    run(main())


def test_content_length_bodies_both_ways() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            payload = os.urandom(500000)
            client.send(build_request("PUT", "/p", body=payload))
            (response,) = await client.read_responses()
            assert response.json()["body_bytes"] == len(payload)
            response = await client.get("/?size=123457")
            assert response.header("content-length") == "123457" and len(response.body) == 123457

    run(main())


def test_head_has_no_body_and_keeps_the_connection() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            for _ in range(2):
                client.send(build_request("HEAD", "/"))
                (response,) = await client.read_responses(head=True)
                assert response.status == 200
                assert int(response.header("content-length") or 0) > 0
                client.send(build_request("GET", "/after-head"))
                (after,) = await client.read_responses()
                assert after.json()["path"] == "/after-head"
            assert backend.accepted == 1

    run(main())


def test_expect_100_continue() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            client.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            interim = await client.read_until(b"\r\n\r\n", timeout=3)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            client.send(b"hello")
            (response,) = await client.read_responses()
            seen = response.json()
            assert seen["body_bytes"] == 5 and "expect" not in seen["headers"]

    run(main())


def test_body_limit_is_413() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc]), limits=Limits(max_body_bytes=1000)) as gw:
                async with Client(gw.port) as client:
                    client.send(build_request("POST", "/", body=b"x" * 1001))
                    (response,) = await client.read_responses()
                    assert response.status == 413
                async with Client(gw.port) as client:
                    chunk = b"x" * 600
                    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                    client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2 + b"0\r\n\r\n")
                    data = await client.read_until_eof()
                    assert data.startswith(b"HTTP/1.1 413")
                async with Client(gw.port) as client:
                    client.send(build_request("POST", "/", body=b"x" * 1000))
                    (response,) = await client.read_responses()
                    assert response.status == 200

    run(main())


def test_websocket_echo_through_the_gateway() -> None:
    async def main() -> None:
        async with Backend("ws") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            key = base64.b64encode(os.urandom(16)).decode()
            client.send(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            head = await client.read_until(b"\r\n\r\n", timeout=3)
            assert head.startswith(b"HTTP/1.1 101")
            assert b"upgrade: websocket" in head.lower() and b"server: istio-envoy" in head
            buffer = b""
            for message in (b"hello", b"x" * 70000, "héllo".encode()):
                client.send(encode_frame(0x1, message, mask=os.urandom(4)))
                frame = None
                while frame is None:
                    buffer += await client.read_some(timeout=3)
                    frame = parse_frame(buffer)
                opcode, payload, used = frame
                buffer = buffer[used:]
                assert (opcode, payload) == (0x1, message)
            client.send(encode_frame(0x8, b"\x03\xe8", mask=os.urandom(4)))
            rest = await client.read_until_eof(timeout=3)
            assert parse_frame(buffer + rest) is not None
            await asyncio.sleep(0.05)
            assert not gw.ctx.connections

    run(main())


def test_upgrade_refused_by_backend_is_an_ordinary_response() -> None:
    async def main() -> None:
        async with Backend("b") as backend, _gateway_for(backend) as gw, Client(gw.port) as client:
            client.send(
                b"GET /not-ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            data = await client.read_until_eof(timeout=3)
            assert data.startswith(b"HTTP/1.1 200") and b'"/not-ws"' in data

    run(main())
