"""request_wire.py and its C form _request_wire.c: the request head read in one call, the header list
built on demand, and ChunkWalker, which finds where a chunked request ends so that the request
pipelined behind it can be placed.

The oracle for `request_fields` is httptools itself: the on_url/on_header callbacks http1 used to
take, folded the way the gateway treats request fields. Both implementations are held to it on
generated heads that llhttp accepts, and to each other on arbitrary bytes. ChunkWalker is held to
llhttp's own end of message on generated chunked bodies cut into reads at random places; the socket
tests send pipelined bursts through a real gateway in pieces.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgate import ir
from meshgate.proxy import request_wire
from meshgate.proxy.headers import HOP_BY_HOP, PLAIN_CONNECTION
from meshgate.proxy.paths import split_target
from meshgate.proxy.request_wire import XFCC, ChunkWalker, RequestFields, header_triples, plain_path
from proxy.gw import Backend, Client, cluster, config, gateway, route, run

try:
    from meshgate.proxy import _request_wire
except ImportError:  # MESHGATE_PURE: only the Python form exists
    _request_wire = None  # type: ignore[assignment]

READERS = [request_wire.request_fields_py] + ([_request_wire.request_fields] if _request_wire else [])
_OWNED = {
    b"host",
    b"content-length",
    b"expect",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-request-id",
    XFCC,
}
_JOINED = (b"content-length", b"connection", b"expect", b"upgrade", b"x-forwarded-for", b"user-agent")


def test_the_c_module_is_built_where_the_test_command_requires_it() -> None:
    if os.environ.get("MESHGATE_REQUIRE_NATIVE"):
        assert _request_wire is not None and request_wire.request_fields is _request_wire.request_fields


class _Oracle:
    """What http1 made of a request head through httptools' per-header callbacks (before this reader)."""

    def __init__(self) -> None:
        self.url = b""
        self.lines: list[bytes] = []
        self.joined: dict[bytes, bytes] = {}
        self.host = b""
        self.chunked = self.complete = self.keep_alive = False
        self.count = 0
        self.parser: httptools.HttpRequestParser | None = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        self.count += 1
        if lower == b"host":
            self.host = value
        elif lower == b"transfer-encoding":
            self.chunked = True
        elif lower in _JOINED and not (lower == b"connection" and value.lower() in PLAIN_CONNECTION):
            previous = self.joined.get(lower)
            self.joined[lower] = value if previous is None else previous + b"," + value
        if lower not in _OWNED | HOP_BY_HOP and not lower.startswith(b"x-envoy-"):
            self.lines.append(name + b": " + value + b"\r\n")

    def on_headers_complete(self) -> None:
        self.complete = True
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()  # what http1 asked llhttp at this point

    def fields(self, end: int, method: bytes, version: int) -> RequestFields:
        j = self.joined.get
        expect = j(b"expect")
        return (
            end,
            method,
            self.url,
            version,
            b"".join(self.lines),
            self.host,
            j(b"content-length", b""),
            self.chunked,
            j(b"connection", b""),
            expect is not None and expect.lower() == b"100-continue",
            j(b"upgrade", b""),
            j(b"x-forwarded-for", b""),
            j(b"user-agent", b""),
            self.count,
            self.keep_alive,
            plain_path(self.url),
        )


def _accepted(head: bytes) -> tuple[_Oracle, bytes, int] | None:
    oracle = _Oracle()
    parser = oracle.parser = httptools.HttpRequestParser(oracle)
    try:
        parser.feed_data(head)
    except httptools.HttpParserUpgrade:
        pass  # the head was read; what follows is the tunnel's
    except httptools.HttpParserError:
        return None
    if not oracle.complete:
        return None
    major, minor = parser.get_http_version().split(".")
    return oracle, parser.get_method(), int(major) * 10 + int(minor)


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~", min_size=1)
_KNOWN = st.sampled_from(
    sorted(n.decode() for n in _OWNED | HOP_BY_HOP | {b"user-agent", b"x-envoy-retry-on", b"x-envoy-"})
)
_NAME = st.one_of(_TOKEN, _KNOWN, _KNOWN.map(str.upper), _KNOWN.map(str.title))
_VALUE_CHARS = st.sampled_from([*map(chr, range(0x21, 0x7F)), " ", "\t", "\x80", "\xff"])
_VALUE = st.one_of(
    st.text(_VALUE_CHARS, max_size=20).map(lambda v: v.strip(" \t")),
    st.sampled_from(
        [
            *("chunked", "100-continue", "Keep-Alive", "close", "upgrade", "x-a, x-b", "42", "websocket"),
            # Connection lists as llhttp reads them for keep-alive: tokens, OWS around them, near-misses
            *("keep-alive, close", "x ,\tCLOSE", "close x", "closed", "x,keep-alive", "close,", "cl ose"),
        ]
    ),
)
_OWS = st.sampled_from(["", " ", "  ", "\t", " \t"])


@st.composite
def heads(draw: st.DrawFn) -> tuple[bytes, int]:
    prefix = draw(st.sampled_from([b"", b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n", b"x" * 7]))
    empty_lines = draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]))
    method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"OPTIONS", b"PUT"]))
    target = draw(
        st.sampled_from(
            [
                *(b"/", b"/a/b?c=d&e", b"http://h.example:8080/p?q", b"*", b"/%20x"),
                *(b"/a/./b", b"/x/%2e%2E/y", b"/a#f", b"/.well-known/x", b"/a%2Fb", b"/a.b/c."),
            ]
        )
    )
    # several spaces around the target are accepted by llhttp; no version at all is HTTP/0.9
    version = draw(st.sampled_from([b" HTTP/1.1", b"  HTTP/1.1", b" HTTP/1.0", b" HTTP/2.0", b""]))
    gap = draw(st.sampled_from([b" ", b"  "]))
    headers = draw(st.lists(st.tuples(_NAME, _OWS, _VALUE), max_size=8))
    block = b"".join(f"{n}:{ows}{v}\r\n".encode("latin-1") for n, ows, v in headers)
    line = method + gap + target + version + b"\r\n"
    return prefix + empty_lines + line + block + b"\r\n", len(prefix)


@settings(max_examples=400, deadline=None)
@given(heads())
def test_request_fields_agree_with_httptools(case: tuple[bytes, int]) -> None:
    head, start = case
    accepted = _accepted(head[start:])
    if accepted is None:
        return  # llhttp refuses it (a bad Transfer-Encoding, say): never read by request_fields
    oracle, method, version = accepted
    want = oracle.fields(len(head), method, version)
    for read in READERS:
        assert read(head + b"body bytes", start) == want, read
    if want[15]:  # a plain path is one routing may take without splitting it
        target = want[2].decode("latin-1")
        assert split_target(target) == ("", target, "")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=-2, max_value=210))
def test_request_fields_implementations_agree_on_any_bytes(data: bytes, start: int) -> None:
    answers = {read(data, start) for read in READERS}
    assert len(answers) == 1


BROWSER = (
    b"GET /app/page?id=42 HTTP/1.1\r\nHost: shop.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11)\r\nAccept: text/html\r\nConnection: keep-alive\r\n"
    b"X-Forwarded-For: 203.0.113.7\r\nx-forwarded-for: 10.0.0.1\r\nX-Envoy-Retry-On: 5xx\r\n"
    b"X-Forwarded-Client-Cert: By=forged\r\nX-Request-Id: mine\r\nCookie: a=b\r\n\r\n"
)


@pytest.mark.parametrize("read", READERS)
def test_request_fields_examples(read: Callable[[bytes, int], RequestFields | None]) -> None:
    end, method, target, version, lines, host, *rest = read(BROWSER, 0) or (0,) * 16
    assert (end, method, target, version, host) == (
        len(BROWSER),
        b"GET",
        b"/app/page?id=42",
        11,
        b"shop.example.com",
    )
    # forwarded as received: not the gateway's own fields, x-envoy-*, or a client's x-forwarded-client-cert
    assert lines == b"User-Agent: Mozilla/5.0 (X11)\r\nAccept: text/html\r\nCookie: a=b\r\n"
    length, chunked, connection, expect_continue, upgrade, xff, agent, count, keep_alive, plain = rest
    assert plain is False  # it has a query: routing splits it
    assert (length, chunked, connection, expect_continue, upgrade) == (b"", False, b"", False, b"")
    assert (xff, agent, count, keep_alive) == (b"203.0.113.7,10.0.0.1", b"Mozilla/5.0 (X11)", 10, True)
    post = b"\r\nPOST /u HTTP/1.0\r\nHost: a\r\nHost: b\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n"
    post += b"Connection: x-a\r\nconnection: close\r\nConnection: X-B\r\nUpgrade: h2c\r\n\r\nhello"
    fields = read(post, 0)
    assert fields is not None and fields[0] == len(post) - 5
    assert fields[1:4] == (b"POST", b"/u", 10) and fields[5:12] == (
        b"b",
        b"5",
        False,
        b"x-a,X-B",
        True,
        b"h2c",
        b"",
    )
    assert fields[14] is False  # HTTP/1.0 without "keep-alive" (its "close" changes nothing)
    for connection_lines, keeps in (
        (b"Connection: keep-alive, close\r\n", False),
        (b"Proxy-Connection: close\r\n", False),  # llhttp reads its tokens too
        (b"Connection: x\r\nConnection: x ,\tClose \r\n", False),
        (b"Connection: closed, close x\r\n", True),
    ):
        keep = read(b"GET / HTTP/1.1\r\nHost: a\r\n" + connection_lines + b"\r\n", 0)
        assert keep is not None and keep[14] is keeps, connection_lines
    for shape in (
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n",  # incomplete
        b"GET / HTTP/1.1",
        b"GET / HTTX/1.1\r\n\r\n",  # not a version, so HTTP/0.9 with a space in the target
        b" / HTTP/1.1\r\n\r\n",
    ):
        assert read(shape, 0) is None, shape
    assert read(BROWSER, -1) is None and read(BROWSER, len(BROWSER) + 1) is None
    # the target without the spaces llhttp allows around it; no version is HTTP/0.9
    assert (read(b"GET  /admin  HTTP/1.1\r\n\r\n", 0) or (0,) * 4)[1:4] == (b"GET", b"/admin", 11)
    assert (read(b"GET /HTTP/1.1\r\nHost: a\r\n\r\n", 0) or (0,) * 6)[1:6:4] == (b"GET", b"a")
    assert (read(b"GET /HTTP/1.1\r\n\r\n", 0) or (0,) * 4)[2:4] == (b"/HTTP/1.1", 9)
    big = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d:%s\r\n" % (i, b"v" * 100) for i in range(300)) + b"\r\n"
    fields = read(big, 0)  # past the 8 KiB stack buffer of the C form
    assert fields is not None and fields[4].count(b"\r\n") == 300 and fields[13] == 300


def test_header_list_is_built_on_demand_with_the_verified_client_certificate() -> None:
    triples = header_triples(BROWSER, b'Hash=ab;Subject="CN=c"')
    assert (b"host", b"Host", b"shop.example.com") in triples
    assert (b"x-envoy-retry-on", b"X-Envoy-Retry-On", b"5xx") in triples  # routing may still see it
    assert [t for t in triples if t[0] == XFCC] == [(XFCC, XFCC, b'Hash=ab;Subject="CN=c"')]
    assert header_triples(b"\r\nGET http://h:1/ HTTP/1.1\r\nA:  b \r\n\r\n", b"") == [(b"a", b"A", b"b")]


def _chunked_body(rng: random.Random) -> bytes:
    body = b""
    for _ in range(rng.randrange(0, 5)):
        size = rng.choice([1, 2, 15, 16, 255, 4096, rng.randrange(1, 3000)])
        digits = (b"%x" % size).upper() if rng.random() < 0.3 else b"%x" % size
        extension = rng.choice([b"", b";a=b", b';name="v;x"', b";q"]) if rng.random() < 0.3 else b""
        body += b"0" * rng.randrange(0, 3) + digits + extension + b"\r\n" + os.urandom(size) + b"\r\n"
    body += b"0" + rng.choice([b"", b";end"]) + b"\r\n"
    body += rng.choice([b"", b"Trailer-A: 1\r\n", b"X-T: a\r\nX-U: b\r\n"]) + b"\r\n"
    return body


class _Ends:
    def __init__(self) -> None:
        self.ended = 0

    def on_message_complete(self) -> None:
        self.ended += 1


@pytest.mark.parametrize("seed", range(40))
def test_chunk_walker_ends_where_llhttp_ends_the_message(seed: int) -> None:
    rng = random.Random(seed)
    head = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = _chunked_body(rng)
    stream = head + body + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    ends = _Ends()
    httptools.HttpRequestParser(ends).feed_data(head + body)
    assert ends.ended == 1  # llhttp agrees the body ends exactly there
    cuts = sorted(rng.sample(range(len(head) + 1, len(stream)), min(6, len(stream) - len(head) - 1)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    walker = ChunkWalker(len(head))
    offset = 0
    for read in reads:
        end = walker.walk(read)
        if end >= 0:
            assert offset + end == len(head) + len(body)
            return
        offset += len(read)
    pytest.fail("the walker never found the end")


def _echo_paths(burst: bytes, cuts: list[int]) -> list[tuple[str, int]]:
    async def main() -> list[tuple[str, int]]:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw, Client(gw.port) as client:
                for a, b in zip([0, *cuts], [*cuts, len(burst)], strict=True):
                    client.send(burst[a:b])
                    await asyncio.sleep(0.01)  # separate reads at the gateway
                responses = await client.read_responses(4, timeout=5)
                return [(r.json()["path"], r.json()["body_bytes"]) for r in responses]

    return run(main())


_BURST = (
    b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n"
    b"\r\nGET /after-chunked HTTP/1.1\r\nHost: a\r\nUser-Agent: ua\r\n\r\n"
    b"PUT /length HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\nsevenb!"
    b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n"
)
_WANT = [("/chunked", 21), ("/after-chunked", 0), ("/length", 7), ("/last", 0)]


def test_pipelined_requests_after_chunked_and_length_bodies_in_one_read() -> None:
    assert _echo_paths(_BURST, []) == _WANT


@pytest.mark.parametrize("seed", range(3))
def test_pipelined_requests_cut_into_reads_anywhere(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(_BURST)), 12))
    assert _echo_paths(_BURST, cuts) == _WANT


def test_the_target_routed_is_the_target_forwarded_whatever_the_spaces_around_it() -> None:
    """llhttp reads "GET /admin  HTTP/1.1" as /admin; routing must too, or an exact-path route (an
    admin block, say) would be skipped while the backend still serves /admin."""

    async def main() -> None:
        async with Backend("admin") as admin, Backend("other") as other:
            c_admin, c_other = cluster("admin", admin.port), cluster("other", other.port)
            exact = ir.RouteMatch(path=ir.PathMatch(ir.PathMatchKind.EXACT, "/admin"))
            routes = [route("admin", c_admin, match=exact), route("rest", c_other)]
            async with gateway(config(routes, [c_admin, c_other])) as gw, Client(gw.port) as client:
                burst = b"GET  /admin  HTTP/1.1\r\nHost: a\r\n\r\n"
                burst += b"GET /admin?x=1  HTTP/1.1\r\nHost: a\r\n\r\n"
                client.send(burst)
                responses = await client.read_responses(2, timeout=5)
                seen = [(r.json()["name"], r.json()["path"]) for r in responses]
                assert seen == [("admin", "/admin")] * 2

    run(main())
