"""The common request and response taken without llhttp (http1.py `_lone`, upstream_conn.py `_lone`,
`_lone_body`), through real sockets: lone and llhttp-read requests alternating on one connection, no
request served after one that closes the connection, a lone response's body over several reads, and
bytes after that body failing the backend connection as llhttp's reading would. Which bytes are lone
is held to httptools in test_lone_heads.py; here, that the paths around it keep the connection's
state right."""

from __future__ import annotations

import asyncio

import pytest

from meshgate import ir
from meshgate.proxy.request_wire import lone_request
from meshgate.proxy.wire import lone_response
from proxy.gw import Backend, Client, build_request, cluster, config, gateway, route, run

from .test_upstream_heads import Pieces, _gets

NATIVE = lone_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is not None


def test_lone_and_llhttp_requests_alternate_on_one_connection() -> None:
    """Each kind of request leaves the connection where the next one, of either kind, is read
    right: llhttp is skipped only between messages it would also see as ended."""
    lone = build_request("GET", "/lone-1")
    with_body = build_request("POST", "/body", body=b"abc")  # Content-Length: llhttp
    kept = build_request("GET", "/lone-2", headers={"Connection": "keep-alive"})
    chunked = (
        b"POST /chunked HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nwxyz\r\n0\r\n\r\n"
    )
    split = build_request("GET", "/split")
    if NATIVE:
        assert lone_request(lone) is not None and lone_request(kept) is not None
        assert lone_request(with_body) is None and lone_request(chunked) is None

    async def main() -> None:
        async with Backend("s") as backend:
            svc = cluster("s", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                seen = []
                for request in (lone, with_body, kept, chunked, lone):
                    client.send(request)
                    (response,) = await client.read_responses(timeout=5)
                    seen.append(
                        (response.json()["method"], response.json()["path"], response.json()["body_bytes"])
                    )
                client.send(split[:9])  # a head over two reads: llhttp, then lone again
                await asyncio.sleep(0.05)
                client.send(split[9:])
                (response,) = await client.read_responses(timeout=5)
                seen.append(
                    (response.json()["method"], response.json()["path"], response.json()["body_bytes"])
                )
                client.send(lone)
                (response,) = await client.read_responses(timeout=5)
                seen.append(
                    (response.json()["method"], response.json()["path"], response.json()["body_bytes"])
                )
        assert seen == [
            ("GET", "/lone-1", 0),
            ("POST", "/body", 3),
            ("GET", "/lone-2", 0),
            ("POST", "/chunked", 4),
            ("GET", "/lone-1", 0),
            ("GET", "/split", 0),
            ("GET", "/lone-1", 0),
        ]
        assert backend.accepted == 1

    run(main())


def test_a_body_that_looks_like_a_request_is_body() -> None:
    """A Content-Length body read by llhttp, arriving in a read of its own that is exactly a lone
    request head: it is the POST's body, not a request (smuggling if it were)."""
    smuggled = build_request("GET", "/smuggled")
    post = build_request("POST", "/upload", body=smuggled)
    head = post[: -len(smuggled)]
    if NATIVE:
        assert lone_request(smuggled) is not None

    async def main() -> list[tuple[str, str, int]]:
        async with Backend("s") as backend:
            svc = cluster("s", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(head)
                await asyncio.sleep(0.05)
                client.send(smuggled)
                await asyncio.sleep(0.05)
                client.send(build_request("GET", "/next"))
                responses = await client.read_responses(2, timeout=5)
        return [(r.json()["method"], r.json()["path"], r.json()["body_bytes"]) for r in responses]

    assert run(main()) == [("POST", "/upload", len(smuggled)), ("GET", "/next", 0)]


class Recorder(asyncio.Protocol):
    """Answers every request head with "ok", keeping what it received."""

    def __init__(self) -> None:
        self.received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data
        for _ in range(data.count(b"\r\n\r\n")):
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_no_request_is_read_after_one_that_closes_the_connection() -> None:
    """After a request that does not keep the connection, llhttp refuses whatever follows; a lone
    head sent next must not be served around it."""
    recorders: list[Recorder] = []

    def recorder() -> Recorder:
        recorders.append(Recorder())
        return recorders[-1]

    async def main() -> bytes:
        async with Backend("s", protocol=lambda _: recorder()) as backend:
            svc = cluster("s", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                client.send(build_request("GET", "/closing", headers={"Connection": "close"}))
                await asyncio.sleep(0.001)
                client.send(build_request("GET", "/after"))
                return await client.read_until_eof(timeout=5)

    answered = run(main())
    assert answered.count(b"HTTP/1.1 ") == 1 and answered.startswith(b"HTTP/1.1 200 ")
    received = b"".join(r.received for r in recorders)
    assert received.count(b"GET /closing ") == 1 and b"/after" not in received


BODY = bytes(range(256)) * 64  # 16 KiB, every byte value
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Lone: yes\r\n\r\n%s" % (len(BODY), BODY)
HEAD = RESPONSE.index(b"\r\n\r\n") + 4


@pytest.mark.parametrize(
    "cuts",
    [
        (HEAD + 1,),  # the head and one body byte, then the rest
        (HEAD,),  # the head alone (no body byte in its read)
        (HEAD + 100, HEAD + 5000, len(RESPONSE) - 1),  # four reads, the last one byte
    ],
)
def test_a_lone_response_body_over_several_reads(cuts: tuple[int, ...]) -> None:
    if NATIVE:
        assert lone_response(RESPONSE[: cuts[0]]) is not None  # the path under test
    responses, accepted = run(_gets(lambda: Pieces(RESPONSE, cuts), 3))
    assert [(r.status, r.body, r.header("x-lone")) for r in responses] == [(200, BODY, "yes")] * 3
    assert accepted == 1  # the connection is reused: each body ended exactly where it was due


def test_bytes_after_a_lone_body_in_a_later_read_fail_the_backend_connection() -> None:
    """The response ends where its Content-Length says; what follows in the same read was sent
    before the backend saw another request: the connection is dropped, the extra never answers."""
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nextra!"
    reply = RESPONSE + extra
    responses, accepted = run(_gets(lambda: Pieces(reply, (HEAD + 10,)), 3, pause=0.05))
    assert [(r.status, r.body) for r in responses] == [(200, BODY)] * 3
    assert accepted == 3


def test_a_body_that_looks_like_a_response_is_body() -> None:
    """A response head read by llhttp (split over two reads) whose body, in a read of its own, is
    exactly a lone response: it is body, and the connection stays in step for the next request."""
    inner = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(inner), inner)
    if NATIVE:
        assert lone_response(inner) is not None
    responses, accepted = run(_gets(lambda: Pieces(reply, (5, len(reply) - len(inner))), 2))
    assert [(r.status, r.body) for r in responses] == [(200, inner)] * 2
    assert accepted == 1


def test_a_retried_lone_response_is_not_taken_for_the_retry() -> None:
    """A 503 whose body comes in a later read is retried: the rest of that body belongs to the
    abandoned attempt, not to the next one's response."""
    failing = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\n\r\n"
    replies = iter([failing + b"12345", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])

    async def main() -> None:
        async with Backend("s", protocol=lambda _: Pieces(next(replies), (len(failing) + 2,))) as backend:
            svc = cluster("s", backend.port)
            retry = ir.RetryPolicy(attempts=2, retry_on=("5xx",), backoff_base=0.005)
            async with (
                gateway(config([route("r", svc, retries=retry)], [svc])) as gw,
                Client(gw.port) as client,
            ):
                client.send(build_request("GET", "/"))
                (response,) = await client.read_responses(timeout=5)
        assert (response.status, response.body) == (200, b"ok")
        assert backend.accepted == 2

    run(main())


@pytest.mark.parametrize("extra", [b"\r\n", b"\n", b"\r\n\r\n"])
def test_empty_lines_after_a_lone_body_in_a_later_read_keep_the_connection(extra: bytes) -> None:
    """llhttp skips empty lines between responses: a backend that ends its body with a stray CRLF
    keeps its connection when llhttp reads the response (the head split in its status line), and
    must keep it when the head was lone and the CRLF comes with the rest of the body (it was
    failed as "bytes after a complete response": a new connection per request, and a request
    already handed the connection by then lost it)."""
    reply = RESPONSE + extra
    for cuts in ((5, HEAD + 10), (HEAD + 10,)):  # llhttp reads the head; the head is lone
        if NATIVE:
            assert (lone_response(reply[: cuts[0]]) is not None) == (cuts[0] > 5)
        responses, accepted = run(_gets(lambda cuts=cuts: Pieces(reply, cuts), 3, pause=0.05))
        assert [(r.status, r.body) for r in responses] == [(200, BODY)] * 3
        assert accepted == 1, cuts
