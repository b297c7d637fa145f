"""Malformed or refused requests get 400/413/426/431 and close; the upstream sees nothing."""

from __future__ import annotations

import asyncio

import pytest

from meshgate.proxy import Limits
from proxy.gw import Backend, Client, cluster, config, gateway, route, run

from .test_proxy_failures import Scripted

H = b"Host: x\r\n"

CASES: dict[str, tuple[bytes, int]] = {
    "invalid chunk size": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        400,
    ),
    "content-length and transfer-encoding": (
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "conflicting content-lengths": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "NUL in header value": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    "NUL in header name": (b"GET / HTTP/1.1\r\n" + H + b"X-\x00A: a\r\n\r\n", 400),
    "space in header name": (b"GET / HTTP/1.1\r\n" + H + b"X A: a\r\n\r\n", 400),
    "obsolete line folding": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400),
    "not HTTP": (b"HELLO WORLD\r\n\r\n", 400),
    "target is not a path": (b"GET abc HTTP/1.1\r\n" + H + b"\r\n", 400),
    "missing host": (b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
    "HTTP/1.0": (b"GET / HTTP/1.0\r\n" + H + b"\r\n", 426),
    "oversize header block": (b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    # whitespace around a value is not part of it, but it is part of the head the client sent
    "oversize by whitespace": (b"GET / HTTP/1.1\r\n" + H + b"X-Big: a" + b" " * 70000 + b"\r\n\r\n", 431),
    "oversize request line": (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + b"\r\n", 431),
    "too many headers": (
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
        431,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_request_is_refused_and_never_forwarded(name: str) -> None:
    request, status = CASES[name]

    async def main() -> None:
        upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        async with Backend("b", protocol=lambda _: upstream) as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                async with Client(gw.port) as warm:  # a pooled upstream connection exists
                    assert (await warm.get("/warm")).status == 200
                upstream.received = b""
                async with Client(gw.port) as client:
                    client.send(request)
                    data = await client.read_until_eof(timeout=3)  # answered, then closed
                assert data.startswith(b"HTTP/1.1 %d " % status), data[:80]
                assert b"connection: close" in data.lower()
                await asyncio.sleep(0.05)
                assert upstream.received == b"", upstream.received[:200]
                assert gw.ctx.stats.downstream_protocol_errors >= 1 or status == 426

    run(main())


def test_oversize_head_sent_slowly_is_431() -> None:
    async def main() -> None:
        svc = cluster("b", 1)
        limits = Limits(max_header_bytes=4096)
        async with gateway(config([route("r", svc)], [svc]), limits=limits) as gw, Client(gw.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            for _ in range(10):
                if client.closed_by_peer:
                    break
                client.send(b"a" * 1000)
                await asyncio.sleep(0.02)
            data = await client.read_until_eof(timeout=3)
            assert data.startswith(b"HTTP/1.1 431 ")

    run(main())


def test_header_read_timeout_is_408_and_idle_connections_close() -> None:
    async def main() -> None:
        svc = cluster("b", 1)
        limits = Limits(header_read_timeout=0.2, idle_timeout=0.3)
        async with gateway(config([route("r", svc, prefix="/x")], [svc]), limits=limits) as gw:
            async with Client(gw.port) as client:
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
                data = await client.read_until_eof(timeout=3)
                assert data.startswith(b"HTTP/1.1 408 ")
            async with Client(gw.port) as client:
                assert (await client.get("/")).status == 404
                assert await client.read_until_eof(timeout=3) == b""  # closed after 0.3 s idle
            assert not gw.ctx.connections

    run(main())


OK_11 = b"GET /a HTTP/1.1\r\n" + H + b"\r\n"


@pytest.mark.parametrize(
    ("pieces", "statuses"),
    [
        ([OK_11 + b"GET /b HTTP/1.0\r\n" + H + b"\r\n"], [200, 426]),  # pipelined: begins mid-read
        ([b"GET /b HTTP/1", b".0\r\n" + H + b"\r\n"], [426]),  # the version split over two reads
        ([b"GET /b HT", b"TP/1.1\r\n" + H + b"\r\n"], [200]),
        ([b"\r\nGET /b HTTP/1.0\r\n" + H + b"\r\n"], [426]),  # an empty line before it (RFC 9112 2.2)
        ([b"\r\nGET /b HTTP/1.1\r\n" + H + b"\r\n"], [200]),
        ([b"GET /HTTP/1.1\r\n HTTP/1.0\r\n" + H + b"\r\n"], [400]),  # not a request line at all
        ([b"GET /x/HTTP/1.1\r\n?HTTP/1.1 HTTP/1.0\r\n" + H + b"\r\n"], [400]),
        ([b"GET /HTTP/1.1%20HTTP/1.1 HTTP/1.0\r\n" + H + b"\r\n"], [426]),  # the token in the target
        ([b"GET /b\r\n" + H + b"\r\n"], [426]),  # no version at all: HTTP/0.9, refused as a version too
    ],
)
def test_the_http_version_is_read_wherever_the_request_line_lies(
    pieces: list[bytes], statuses: list[int]
) -> None:
    """http1 reads the version from the received bytes wherever the request line starts (the start
    of a read, after a pipelined request, after empty lines): an HTTP/1.0 request is refused with 426."""

    async def main() -> None:
        upstream = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        async with Backend("b", protocol=lambda _: upstream) as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                for piece in pieces:
                    client.send(piece)
                    await asyncio.sleep(0.05)
                responses = await client.read_responses(len(statuses), timeout=3)
                assert [r.status for r in responses] == statuses

    run(main())
