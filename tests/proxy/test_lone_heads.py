"""lone_request (_request_wire.c) and lone_response (_wire.c): the heads the gateway serves without
feeding llhttp.

A lone head skips llhttp entirely, so the one thing that must never happen is a head the C calls
lone that llhttp would refuse, or read differently: a body llhttp would expect, a connection it
would close or upgrade, a different target, method or status, a message that ends elsewhere. The
oracle is httptools itself, configured as http1.py and upstream_conn.py configure it (no leniencies).
It is asked about every input the C accepts: every single-byte substitution, deletion and insertion
of seed heads built to sit one byte away from what must be refused, and structured heads from
hypothesis whose alphabets lean on the edge bytes. The other direction is held loosely: the heads
real clients and servers send are lone, so a C that stopped saying "lone" would fail here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from meshgate.proxy import _request_wire, _wire
except ImportError:  # MESHGATE_PURE: no C form, nothing is ever lone
    if os.environ.get("MESHGATE_REQUIRE_NATIVE"):
        raise
    pytest.skip("pure build: every head goes through llhttp", allow_module_level=True)

RequestFields = tuple[
    int, bytes, bytes, int, bytes, bytes, bytes, bool, bytes, bool, bytes, bytes, bytes, int, bool, bool
]
LoneResponse = tuple[int, int, bool, bytes, bytes, bool, bytes, bool, bytes, int]
_OWS = b" \t"
_FEED_LIMIT = 1 << 16  # a 15-digit Content-Length is lone too; its body is not fed in full


def _kept_in_order(lines: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """Each line the C keeps is a header llhttp reported, in llhttp's order (llhttp leaves the OWS
    after a value in it; the gateway's readers drop it, with or without llhttp)."""
    reported = iter(name + b": " + value.strip(_OWS) + b"\r\n" for name, value in headers)
    return all(line in reported for line in lines.splitlines(keepends=True))


def _last(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    values = [v.strip(_OWS) for n, v in headers if n.lower() == name]
    return values[-1] if values else b""


class _Reading:
    """Every callback llhttp makes for one request or response (`parser_type`), and its keep-alive
    and upgrade verdicts where http1 and upstream_conn ask for them."""

    def __init__(self, parser_type: type[httptools.HttpRequestParser | httptools.HttpResponseParser]) -> None:
        self.parser = parser_type(self)
        self.begun = self.completed = self.bodies = 0
        self.url = self.body = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive: bool | None = None
        self.upgrade: bool | None = None

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_status(self, status: bytes) -> None:
        pass  # the reason phrase: nobody reads it

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.upgrade = self.parser.should_upgrade()

    def on_body(self, body: bytes) -> None:
        self.bodies += 1
        self.body += body

    def on_message_complete(self) -> None:
        self.completed += 1


def _feed(parser: httptools.HttpRequestParser | httptools.HttpResponseParser, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
        pytest.fail(f"llhttp refuses what the C read as a lone head: {data!r}: {error!r}")


def assert_request_read_alike(data: bytes, fields: RequestFields) -> None:
    """llhttp accepts `data` as exactly one bodyless, keep-alive request with the C's meaning."""
    assert fields == _request_wire.request_fields(data, 0), data
    assert fields[0] == len(data), data
    reading = _Reading(httptools.HttpRequestParser)
    _feed(reading.parser, data)
    assert (reading.begun, reading.completed, reading.bodies) == (1, 1, 0), data
    assert reading.url == fields[2] and reading.parser.get_method() == fields[1], data
    assert reading.parser.get_http_version() == "1.1" and fields[3] == 11, data
    assert reading.keep_alive is True and fields[14] is True, data
    assert reading.upgrade is False, data
    # nothing that frames a body or changes the connection, as llhttp saw it too
    assert (fields[6], fields[7], fields[8], fields[9], fields[10]) == (b"", False, b"", False, b""), data
    assert fields[13] == len(reading.headers) and fields[5] == _last(reading.headers, b"host"), data
    assert _kept_in_order(fields[4], reading.headers), data


def assert_response_read_alike(data: bytes, fields: LoneResponse) -> None:
    """llhttp accepts `data` as the start of one keep-alive response with the C's status and body
    length, holding no byte past that body; what it still misses completes it."""
    end, status, http11, lines, length, chunked, connection, has_date, upgrade, number = fields
    assert fields[:9] == _wire.response_fields(data, 0), data
    assert number == int(length) and 200 <= status <= 599 and status not in (204, 304), data
    assert (http11, chunked, connection, upgrade) == (True, False, b"", b""), data
    reading = _Reading(httptools.HttpResponseParser)
    _feed(reading.parser, data)
    assert reading.parser.get_status_code() == status and reading.parser.get_http_version() == "1.1", data
    assert reading.keep_alive is True and reading.upgrade is False, data
    assert _last(reading.headers, b"content-length") == length, data
    assert has_date == any(n.lower() == b"date" for n, _ in reading.headers), data
    assert _kept_in_order(lines, reading.headers), data
    assert reading.begun == 1 and reading.body == data[end:], data
    missing = number - (len(data) - end)
    assert missing >= 0 and reading.completed == (missing == 0), data
    if 0 < missing <= _FEED_LIMIT:
        _feed(reading.parser, b"x" * missing)
        assert reading.completed == 1 and reading.body == data[end:] + b"x" * missing, data


def check_request(data: bytes) -> bool:
    fields = _request_wire.lone_request(data)
    if fields is not None:
        assert_request_read_alike(data, fields)
    return fields is not None


def check_response(data: bytes) -> bool:
    fields = _wire.lone_response(data)
    if fields is not None:
        assert_response_read_alike(data, fields)
    return fields is not None


# ---- the heads real clients and servers send are lone ---------------------------------------

WRK = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
BROWSER = (
    b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Not-A.Brand";v="99"\r\nsec-ch-ua-mobile: ?0\r\n'
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    b'sec-ch-ua-platform: "Linux"\r\nAccept: */*\r\nSec-Fetch-Site: same-origin\r\n'
    b"Sec-Fetch-Mode: no-cors\r\nReferer: https://shop.example.com/\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=abc123; theme=dark\r\n\r\n"
)
NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 19:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
)
NGINX_16K = NGINX.replace(b"Length: 3", b"Length: 16384").removesuffix(b"ok\n") + bytes(range(256)) * 64


@pytest.mark.parametrize("head", [WRK, BROWSER], ids=["wrk", "browser"])
def test_common_requests_are_lone(head: bytes) -> None:
    assert check_request(head)
    fields = _request_wire.lone_request(head)
    assert fields is not None and fields[1] == b"GET" and fields[13] >= 1


@pytest.mark.parametrize(
    ("full", "cut"),
    [(NGINX, cut) for cut in (0, 1, 3)] + [(NGINX_16K, cut) for cut in (0, 1, 4096, 16383, 16384)],
    ids=lambda case: f"short-{case}" if isinstance(case, int) else f"{len(case)}-bytes",
)
def test_common_responses_are_lone_in_full_and_cut_short_in_the_body(full: bytes, cut: int) -> None:
    body = len(full) - full.index(b"\r\n\r\n") - 4
    assert check_response(full[: len(full) - cut])
    fields = _wire.lone_response(full[: len(full) - cut])
    assert fields is not None and fields[9] == body and fields[1] == 200 and fields[7] is True


def test_heads_past_the_c_stack_buffer_are_lone_and_read_alike() -> None:
    """The C keeps up to 8 KiB of lines on its stack, then moves them to the heap: same reading."""
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(300))
    assert check_request(b"GET /big HTTP/1.1\r\nHost: a\r\n" + lines + b"\r\n")
    assert check_response(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")


# ---- what must not be lone --------------------------------------------------------------------

_GET = b"GET / HTTP/1.1\r\nHost: a\r\n"
REQUEST_REFUSALS = {
    "pipelined": WRK + WRK,
    "pipelined-partial": WRK + b"GET",
    "content-length": _GET + b"Content-Length: 0\r\n\r\n",
    "chunked": _GET + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "connection-close": _GET + b"Connection: close\r\n\r\n",
    "connection-list": _GET + b"Connection: keep-alive, Upgrade\r\n\r\n",
    "upgrade": _GET + b"Connection: keep-alive\r\nUpgrade: websocket\r\n\r\n",
    "expect": b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
    "proxy-connection": _GET + b"Proxy-Connection: keep-alive\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
    "http09": b"GET /\r\n\r\n",
    "obs-fold": _GET + b"X-A: b\r\n c\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bare-lf-end": _GET + b"\n",
    "nul-in-value": _GET + b"X-A: b\x00c\r\n\r\n",
    "nul-in-target": b"GET /\x00 HTTP/1.1\r\n\r\n",
    "space-before-colon": _GET + b"X-A : b\r\n\r\n",
    "lowercase-method": b"get / HTTP/1.1\r\n\r\n",
    "connect": b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    "absolute-form": b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "two-spaces": b"GET  / HTTP/1.1\r\n\r\n",
    "leading-empty-line": b"\r\n" + WRK,
    "cut-in-head": WRK[:-2],
    "cut-in-line": WRK[:-1],
}
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
RESPONSE_REFUSALS = {
    "bytes-after-body": NGINX + b"H",
    "next-response": NGINX + NGINX,
    "duplicate-length": _OK + b"Content-Length: 2\r\n\r\nok",
    "no-length": b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nok",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "chunked-and-length": _OK + b"Transfer-Encoding: chunked\r\n\r\n",
    "connection-close": _OK + b"Connection: close\r\n\r\nok",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "100": b"HTTP/1.1 100 Continue\r\n\r\n" + _OK + b"\r\nok",
    "101": b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
    "204": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n",
    "600": b"HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n",
    "16-digit-length": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\n",
    "signed-length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    "obs-fold": _OK + b"X-A: b\r\n c\r\n\r\nok",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "nul-in-reason": b"HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "cut-in-head": _OK + b"\r",
}


@pytest.mark.parametrize("head", REQUEST_REFUSALS.values(), ids=REQUEST_REFUSALS.keys())
def test_requests_outside_the_strict_reading_are_not_lone(head: bytes) -> None:
    assert _request_wire.lone_request(head) is None


@pytest.mark.parametrize("data", RESPONSE_REFUSALS.values(), ids=RESPONSE_REFUSALS.keys())
def test_responses_outside_the_strict_reading_are_not_lone(data: bytes) -> None:
    assert _wire.lone_response(data) is None


def test_lone_takes_bytes_only() -> None:
    with pytest.raises(TypeError):
        _request_wire.lone_request(bytearray(WRK))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _wire.lone_response(memoryview(NGINX))  # type: ignore[arg-type]


# ---- every input one byte away from seeds that sit next to the edges ---------------------------

# Near-misses one substitution from a framing field (Content-Lengti, Upgradd...), a Connection value
# one byte from "keep-alive" and from "close", status codes one digit from 1xx, 204 and 304, the
# edge bytes of each class: a C that let any of them through would be caught by the oracle.
REQUEST_SEEDS = {
    "wrk": WRK,
    "near-misses": (
        b"DELETE /a/b%2Fc?x=1#f HTTP/1.1\r\nHost: h\r\nConnection:\tkeep-alive \r\n"
        b"Content-Lengti: 1\r\nTransfer-Encodinh: chunked\r\nUpgradd: h2c\r\nExpecu: 100-continue\r\n"
        b'Proxy-Connectiom: x\r\nConnectiom: close\r\nX-V: a\t\xe9~ "q"\r\nEmpty:\r\n\r\n'
    ),
    "put": b"PUT /~!$&'()*+,;=:@ HTTP/1.1\r\nConnection: keep-alive\r\nContent-Lengtx:\r\n\r\n",
    "options": b"OPTIONS /?a HTTP/1.1\r\nHost: [::1]:80\r\nTE: trailers\r\nUpgradf: websocket\r\n\r\n",
    "browser": BROWSER,
}
RESPONSE_SEEDS = {
    "nginx": NGINX,
    "near-misses": (
        b"HTTP/1.1 201 Cr\xe9ated\t\r\nContent-Length:  12 \r\nContent-Lengti: 1\r\nDatf: x\r\n"
        b"Transfer-Encodinh: chunked\r\nUpgradd: h2c\r\nConnectiom: close\r\n\r\nhello"
    ),
    "404": b"HTTP/1.1 404 \r\nContent-Length:9\r\nConnection:keep-alive\r\nConnectiom: close\r\n\r\n",
    "15-digits": b"HTTP/1.1 599 \xff\r\nContent-Length: 000000000000000\t\r\nExpecu: 100-continue\r\n\r\n",
}
_INSERTED = b'\r\n\t :\x00\x7f\x80,"'


def mutants(seed: bytes) -> Iterator[bytes]:
    """Every substitution, deletion, insertion of an interesting byte, and every cut short."""
    for at in range(len(seed)):
        before, after = seed[:at], seed[at + 1 :]
        for byte in range(256):
            if byte != seed[at]:
                yield before + bytes((byte,)) + after
        yield before + after
    for at in range(len(seed) + 1):
        for byte in _INSERTED:
            yield seed[:at] + bytes((byte,)) + seed[at:]
        yield seed[:at]


def _mutate(seed: bytes, check: Callable[[bytes], bool]) -> tuple[int, int]:
    assert check(seed)
    outcomes = [check(mutant) for mutant in mutants(seed)]
    return sum(outcomes), len(outcomes)


@pytest.mark.parametrize("seed", REQUEST_SEEDS.values(), ids=REQUEST_SEEDS.keys())
def test_every_request_one_byte_off_is_refused_or_read_alike(seed: bytes) -> None:
    lone, total = _mutate(seed, check_request)
    assert 0.1 * total < lone < 0.9 * total  # both sides of the edge were exercised


@pytest.mark.parametrize("seed", RESPONSE_SEEDS.values(), ids=RESPONSE_SEEDS.keys())
def test_every_response_one_byte_off_is_refused_or_read_alike(seed: bytes) -> None:
    lone, total = _mutate(seed, check_response)
    assert 0.1 * total < lone < 0.9 * total


# ---- structured heads from hypothesis ----------------------------------------------------------

# Each head is drawn in one of three ways: strict (only what the strict reading allows, framing
# fields aside), strict then edited (a byte or two replaced or inserted anywhere) or ragged (edge
# bytes in every alphabet, other separators and line ends, then edited); the edited and ragged ones
# are also cut short or followed by more. They reach what the single-byte loop above cannot: two
# edges at once, other lengths, other names.
_TCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"
_VCHARS = "".join(map(chr, range(0x21, 0x7F)))
_EDGES = '\x00\x7f\x80\xff\r\n\x0b\x0c"(),/:;<=>?@[\\]{} \t'
_Pick = dict[bool, st.SearchStrategy[str]]


def _chars(*groups: tuple[int, str]) -> st.SearchStrategy[str]:
    """One character, each group as likely as its weight says."""
    return st.sampled_from([c for weight, chars in groups for c in chars * weight])


def _pick(usual: str, *ragged: str) -> _Pick:
    """Strict heads take the usual; ragged ones mostly too, so that one edge is not always hidden
    behind a refusal another one causes."""
    return {True: st.just(usual), False: st.sampled_from([usual] * 3 + list(ragged))}


_NAME_CHAR = {True: _chars((1, _TCHARS)), False: _chars((8, _TCHARS), (1, _EDGES))}
_VALUE_CHAR = {
    True: _chars((10, _VCHARS), (4, " \t\x80\xe9\xff")),
    False: _chars((10, _VCHARS), (4, " \t\x80\xe9\xff"), (1, _EDGES)),
}
_TARGET_CHAR = {True: _chars((1, _VCHARS)), False: _chars((10, _VCHARS), (1, _EDGES + "#?%"))}
_NAMES = {strict: st.text(chars, min_size=1, max_size=8) for strict, chars in _NAME_CHAR.items()}
_VALUES = {strict: st.text(chars, max_size=12) for strict, chars in _VALUE_CHAR.items()}
_TARGETS = {strict: st.text(chars, max_size=16) for strict, chars in _TARGET_CHAR.items()}
_FRAMING = st.sampled_from(
    [
        *("Content-Length", "content-length", "Transfer-Encoding", "Connection", "CONNECTION", "Upgrade"),
        *("Expect", "Proxy-Connection", "Host", "Keep-Alive", "Date", "TE", "Trailer"),
    ]
)
_FRAMING_VALUE = st.sampled_from(
    [
        *("keep-alive", "Keep-Alive", "close", "keep-alive, close", "chunked", "0", "3", "007"),
        *("100-continue", "h2c", "", "1 2", "+1", "-1", "0x1", "999999999999999", "9999999999999999"),
    ]
)
_SPACES = st.sampled_from(["", "", "", " ", "\t", "  ", " \t"])
_COLON = _pick(":", " :", "", "::")
_CRLF = _pick("\r\n", "\n", "\r")
_END = _pick("\r\n", "\n", "\r\r\n")
_FOLD = _pick("", " ", "\t")
_GAP = _pick(" ", "  ", "\t")
_TARGET_START = _pick("/", "", "*", "http://a/", "a")
_REQUEST_VERSION = _pick("HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "http/1.1", "")
_RESPONSE_VERSION = _pick("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.1 ")
_PLAIN_METHODS = ["GET"] * 4 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
_METHOD = {
    True: st.sampled_from(_PLAIN_METHODS),
    False: st.sampled_from([*_PLAIN_METHODS, "get", "CONNECT", "TRACE", "PRI", "GETS", "G", "", "M-SEARCH"]),
}
_CODES = ["200"] * 12 + ["201", "404", "500", "599", "204", "304", "101", "100", "199", "600", "099", "2000"]
_EDIT_BYTE = st.sampled_from(b'\r\n\t :\x00\x7f\x80\xff,"0Hx/')
_MORE = st.sampled_from([b"G", b"\r\n", b"\n", b"x" * 5, WRK, NGINX])
_MODE = st.sampled_from(["strict", "strict", "edited", "ragged"])


@st.composite
def header_block(draw: st.DrawFn, strict: bool) -> list[bytes]:
    """Header lines, then the empty line ending them."""
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 4)) == 0:
            name, value = draw(_FRAMING), draw(_FRAMING_VALUE)
        else:
            name, value = draw(_NAMES[strict]), draw(_VALUES[strict])
        line = name + draw(_COLON[strict]) + draw(_SPACES) + value + draw(_SPACES) + draw(_CRLF[strict])
        lines.append(draw(_FOLD[strict]) + line)  # a leading space or tab: obs-fold
    return [line.encode("latin-1") for line in lines] + [draw(_END[strict]).encode()]


def edited(draw: st.DrawFn, data: bytes) -> bytes:
    """A byte or two replaced or inserted, then the read cut short or followed by more."""
    for _ in range(draw(st.integers(1, 2))):
        at, byte = draw(st.integers(0, len(data))), bytes((draw(_EDIT_BYTE),))
        data = data[:at] + byte + data[at + (0 if draw(st.booleans()) else 1) :]
    end = draw(st.sampled_from(["whole", "whole", "cut", "more"]))
    if end == "cut":
        return data[: draw(st.integers(0, len(data)))]
    return data + draw(_MORE) if end == "more" else data


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    mode = draw(_MODE)
    strict = mode != "ragged"
    target = draw(_TARGET_START[strict]) + draw(_TARGETS[strict])
    version = draw(_REQUEST_VERSION[strict])
    line = f"{draw(_METHOD[strict])}{draw(_GAP[strict])}{target}{draw(_GAP[strict])}{version}"
    head = (line + draw(_CRLF[strict])).encode("latin-1") + b"".join(draw(header_block(strict)))
    return head if mode == "strict" else edited(draw, head)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    mode = draw(_MODE)
    strict = mode != "ragged"
    reason = draw(st.sampled_from(["", " OK", " ", " Not Found"]))
    reason += draw(st.text(_VALUE_CHAR[strict], max_size=4)) if reason else ""
    status = f"{draw(_RESPONSE_VERSION[strict])} {draw(st.sampled_from(_CODES))}{reason}{draw(_CRLF[strict])}"
    length = draw(st.integers(0, 40))
    framing = f"Content-Length:{draw(_SPACES)}{length}{draw(_SPACES)}\r\n" if draw(st.integers(0, 7)) else ""
    block = draw(header_block(strict))
    block.insert(draw(st.integers(0, len(block) - 1)), framing.encode())  # before the empty line
    body = b"b" * draw(st.sampled_from([length, length, max(length - 1, 0), length // 2, 0, length + 1]))
    data = status.encode("latin-1") + b"".join(block) + body
    return data if mode == "strict" else edited(draw, data)


@settings(max_examples=800, deadline=None, derandomize=True)
@given(requests())
def test_generated_requests_are_refused_or_read_alike(data: bytes) -> None:
    check_request(data)


@settings(max_examples=800, deadline=None, derandomize=True)
@given(responses())
def test_generated_responses_are_refused_or_read_alike(data: bytes) -> None:
    check_response(data)


def test_generated_heads_are_lone_often_enough_to_test_something() -> None:
    """The two tests above pass trivially if their strategies never produce a lone head."""
    lone_requests: list[bool] = []
    lone_responses: list[bool] = []

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(requests(), responses())
    def sample(request: bytes, response: bytes) -> None:
        lone_requests.append(_request_wire.lone_request(request) is not None)
        lone_responses.append(_wire.lone_response(response) is not None)

    sample()
    for lone in (lone_requests, lone_responses):
        assert 0.1 * len(lone) < sum(lone) < 0.9 * len(lone), sum(lone)
