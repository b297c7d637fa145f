"""Where a backend's response head is read from (upstream_conn.py: no per-header callbacks, the head is
cut from the received bytes): heads split over several reads, a 1xx head and the final head in one
read, excess bytes after a response, and the size limit on a response head."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from proxy.gw import Backend, Client, Response, build_request, cluster, config, gateway, route, run

from .test_proxy_failures import Scripted


async def _gets(
    protocol: Callable[[], asyncio.Protocol], count: int, pause: float = 0.0
) -> tuple[list[Response], int]:
    """`count` GETs in turn on one client connection through a gateway to a backend whose
    connections `protocol` builds: the responses, and how many connections the backend accepted."""
    responses = []
    async with Backend("s", protocol=lambda _: protocol()) as backend:
        svc = cluster("s", backend.port)
        async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
            for _ in range(count):
                client.send(build_request("GET", "/"))
                responses += await client.read_responses(timeout=5)
                await asyncio.sleep(pause)
    return responses, backend.accepted


RESPONSE = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nServer: backend\r\nX-Split: yes\r\nContent-Length: 5\r\n"
    b"Date: Thu, 26 Nov 2026 19:00:00 GMT\r\n\r\nhello"
)


class Pieces(asyncio.Protocol):
    """Answers each request with `reply` cut at `cuts`, one piece per event-loop turn + 10 ms, so
    the gateway receives the pieces as separate reads."""

    def __init__(self, reply: bytes, cuts: tuple[int, ...]) -> None:
        self.reply, self.cuts = reply, cuts

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        for begin, end in itertools.pairwise((0, *self.cuts, len(self.reply))):
            self.transport.write(self.reply[begin:end])
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "cuts",
    [
        (),  # one read: the 1xx head and the final head in it
        (10,),  # inside the 1xx status line
        (25, 40),  # the final head alone, split in its status line
        (30,),  # the final head starts in the 1xx's read
        (len(RESPONSE) - 8, len(RESPONSE) - 6),  # CR and LF of the blank line apart
        tuple(range(1, len(RESPONSE))),  # one byte per read
    ],
)
def test_response_head_split_over_reads(cuts: tuple[int, ...]) -> None:
    async def main() -> None:
        responses, accepted = await _gets(lambda: Pieces(RESPONSE, cuts), 2)  # and the connection is reused
        for response in responses:
            assert (response.status, response.body) == (200, b"hello")
            assert response.header("x-split") == "yes"
            assert response.header("server") == "istio-envoy"
            assert response.all("date") == ["Thu, 26 Nov 2026 19:00:00 GMT"]
        assert accepted == 1

    run(main(), timeout=30)


def test_bytes_after_a_response_are_never_taken_for_the_next() -> None:
    """A backend that answers one request with two responses: the second was sent before the
    backend could see another request, so it answers nothing; the connection is dropped rather
    than its extra response handed to the client's next request (response desync)."""
    two = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-N: first\r\n\r\nok"
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-N: extra\r\n\r\nextra!"
    )

    async def main() -> None:
        responses, accepted = await _gets(lambda: Scripted(two), 3, pause=0.05)
        for response in responses:
            assert (response.status, response.body) == (200, b"ok")
            assert response.header("x-n") == "first"
        assert accepted == 3  # each connection is dropped after its excess bytes

    run(main())


def test_oversize_response_head_is_502_and_the_gateway_keeps_serving() -> None:
    huge = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%05d: %s\r\n" % (i, b"v" * 90) for i in range(700))
    answers = iter([huge + b"Content-Length: 2\r\n\r\nok", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])

    async def main() -> None:
        assert len(huge) > 60 * 1024  # Envoy's max_response_headers_kb default
        responses, accepted = await _gets(lambda: Scripted(next(answers)), 2)
        assert responses[0].status == 502
        assert (responses[1].status, responses[1].body) == (200, b"ok")
        assert accepted == 2

    run(main())


class Desync(asyncio.Protocol):
    """First request: a whole response plus the start of a second head in one write; any later
    request on the same connection: the rest of that head and a body. Were the second head taken
    for an answer, the client's second request would get `extra!`."""

    def __init__(self) -> None:
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" not in data:
            return
        self.requests += 1
        if self.requests == 1:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX-")
        else:
            self.transport.write(b"N: extra\r\nContent-Length: 6\r\n\r\nextra!")


def test_a_head_begun_after_a_response_in_the_same_read_fails_the_connection_at_once() -> None:
    async def main() -> None:
        responses, accepted = await _gets(Desync, 2, pause=0.05)
        assert [(r.status, r.body) for r in responses] == [(200, b"ok")] * 2
        assert accepted == 2

    run(main())
