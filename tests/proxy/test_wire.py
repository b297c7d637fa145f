"""wire.py and its C form _wire.c: the response-head reader, the request-id source and the text
access-log line.

The oracle for `response_fields` is httptools itself: the header callbacks it would make, folded the
way the gateway treats response fields (headers.RESPONSE_OWNED). Both implementations are held to it
on generated heads that llhttp accepts, and to each other on arbitrary bytes (no crash, same answer).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgate.proxy import wire
from meshgate.proxy.headers import PLAIN_CONNECTION, RESPONSE_OWNED

try:
    from meshgate.proxy import _wire
except ImportError:  # MESHGATE_PURE: only the Python form exists
    _wire = None  # type: ignore[assignment]

FIELDS = [wire.response_fields_py] + ([_wire.response_fields] if _wire is not None else [])
IDS = [wire.request_id_py] + ([_wire.request_id] if _wire is not None else [])


def test_the_c_module_is_built_where_the_test_command_requires_it() -> None:
    if os.environ.get("MESHGATE_REQUIRE_NATIVE"):
        assert _wire is not None and wire.response_fields is _wire.response_fields
        assert wire.request_id is _wire.request_id
        assert wire.text_line is _wire.text_line


class _Oracle:
    """What the gateway made of a response head through httptools' per-header callbacks."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.length = self.connection = self.upgrade = b""
        self.chunked = self.has_date = self.complete = self.http11 = False
        self.status = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower not in RESPONSE_OWNED:
            self.lines.append(name + b": " + value + b"\r\n")
        elif lower == b"content-length":
            self.length = value
        elif lower == b"transfer-encoding":
            self.chunked = value.lower().endswith(b"chunked")
        elif lower == b"connection" and value.lower() not in PLAIN_CONNECTION:
            self.connection = value if not self.connection else self.connection + b"," + value
        elif lower == b"date":
            self.has_date = True
            self.lines.append(name + b": " + value + b"\r\n")
        elif lower == b"upgrade":
            self.upgrade = value

    def on_headers_complete(self) -> None:
        self.complete = True

    def fields(self, end: int) -> wire.ResponseFields:
        lines = b"".join(self.lines)
        framing = (self.length, self.chunked, self.connection, self.has_date, self.upgrade)
        return (end, self.status, self.http11, lines, *framing)


def _accepted(head: bytes) -> _Oracle | None:
    oracle = _Oracle()
    parser = httptools.HttpResponseParser(oracle)
    try:
        parser.feed_data(head)
    except httptools.HttpParserError:
        return None
    oracle.status, oracle.http11 = parser.get_status_code(), parser.get_http_version() == "1.1"
    return oracle if oracle.complete else None


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~", min_size=1)
_OWNED = st.sampled_from(sorted(RESPONSE_OWNED)).map(lambda n: n.decode())
_NAME = st.one_of(_TOKEN, _OWNED, _OWNED.map(str.upper), _OWNED.map(str.title))
_VALUE_CHARS = st.sampled_from([*map(chr, range(0x21, 0x7F)), " ", "\t", "\x80", "\xff"])
_VALUE = st.one_of(
    st.text(_VALUE_CHARS, max_size=20).map(lambda v: v.strip(" \t")),
    st.sampled_from(["chunked", "gzip, chunked", "Keep-Alive", "close", "upgrade", "x-a, x-b", "42"]),
)
_OWS = st.sampled_from(["", " ", "  ", "\t", " \t"])


@st.composite
def heads(draw: st.DrawFn) -> tuple[bytes, int]:
    prefix = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    status = draw(
        st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 404 Not Found", b"HTTP/1.1 204 ", b"HTTP/1.1 599 X"])
    )
    headers = draw(st.lists(st.tuples(_NAME, _OWS, _VALUE), max_size=8))
    block = b"".join(f"{n}:{ows}{v}\r\n".encode("latin-1") for n, ows, v in headers)
    return prefix + status + b"\r\n" + block + b"\r\n", len(prefix)


@settings(max_examples=400, deadline=None)
@given(heads())
def test_response_fields_agree_with_httptools(case: tuple[bytes, int]) -> None:
    head, start = case
    oracle = _accepted(head[start:])
    if oracle is None:
        return  # llhttp refuses it (a duplicate content-length, say): never read by response_fields
    want = oracle.fields(len(head))
    for read in FIELDS:
        assert read(head + b"body bytes", start) == want, read


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=-2, max_value=210))
def test_response_fields_implementations_agree_on_any_bytes(data: bytes, start: int) -> None:
    answers = {read(data, start) for read in FIELDS}
    assert len(answers) == 1


@pytest.mark.parametrize("read", FIELDS)
def test_response_fields_examples(read: Callable[[bytes, int], wire.ResponseFields | None]) -> None:
    nginx = (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 19:00:00 GMT\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
    )
    date_and_type = b"Date: Thu, 26 Nov 2026 19:00:00 GMT\r\nContent-Type: text/plain\r\n"
    assert read(nginx, 0) == (len(nginx) - 3, 200, True, date_and_type, b"3", False, b"", True, b"")
    joined = b"HTTP/1.0 502 Bad\r\nConnection: x-a\r\nConnection: close\r\nconnection: X-B\r\n\r\n"
    assert read(joined, 0) == (len(joined), 502, False, b"", b"", False, b"x-a,X-B", False, b"")
    # a 1xx head first: the final head starts where it ends
    two = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    assert read(two, 0) == (25, 100, True, b"", b"", False, b"", False, b"")
    assert read(two, 25) == (len(two), 101, True, b"", b"", False, b"", False, b"websocket")
    for shape in (
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\nA: b\n\n",  # bare LF
        b"HTTP/1.1 200 OK\r\nA: b\r\n",  # incomplete
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
    ):
        assert read(shape, 0) is None, shape
    assert read(nginx, -1) is None and read(nginx, len(nginx) + 1) is None
    big = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d:%s\r\n" % (i, b"v" * 100) for i in range(300)) + b"\r\n"
    end, _, _, lines, *_ = read(big, 0) or (0, 0, False, b"")
    assert end == len(big) and lines.count(b"\r\n") == 300 and lines.startswith(b"X-0: vvv")


_UUID4 = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize("new_id", IDS)
def test_request_ids_are_uuid4(new_id: Callable[[], bytes]) -> None:
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(_UUID4.match(i) for i in ids)
    assert {i[19:20] for i in ids} == {b"8", b"9", b"a", b"b"}  # every variant digit occurs
    assert {i[0:1] for i in ids} == set(b"0123456789abcdef"[i : i + 1] for i in range(16))
    # every random digit of the 8-4-4-4-12 layout takes every value: none is stuck or misplaced
    for at in set(range(36)) - {8, 13, 14, 18, 19, 23}:
        assert len({i[at] for i in ids}) == 16, at


@pytest.mark.parametrize("new_id", IDS)
def test_a_forked_worker_does_not_repeat_its_parents_ids(new_id: Callable[[], bytes]) -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without running pytest's exit handlers
        os.write(write_end, new_id())
        os._exit(0)
    os.close(write_end)
    mine = new_id()
    with os.fdopen(read_end, "rb") as pipe:
        theirs = pipe.read()
    os.waitpid(pid, 0)
    assert _UUID4.match(theirs) and theirs != mine


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_FIELD = st.one_of(
    _TEXT,
    st.just(""),
    st.binary(max_size=40),  # header values, read as Latin-1: bytes above 0x7F become two in UTF-8
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
_EPOCH = st.floats(min_value=0, max_value=253402300799.999, allow_nan=False)


def _no_fallback(*args: object) -> bytes:
    raise AssertionError(f"the C form refused {args!r}")


@pytest.mark.skipif(_wire is None, reason="pure build: only the Python form")
@settings(max_examples=400, deadline=None)
@given(_EPOCH, st.lists(_FIELD, min_size=23, max_size=23))
def test_text_line_implementations_agree(start_time: float, fields: list[str | bytes | int]) -> None:
    line = _wire.text_line(_no_fallback, start_time, *fields)
    assert line == wire.text_line_py(start_time, *fields)
    assert line.decode("utf-8").endswith("\n")  # UTF-8 whatever bytes the bytes fields hold


def test_text_line_reads_bytes_as_latin1_and_prints_empty_fields_as_dashes() -> None:
    fields: list[str | bytes | int] = ["GET", "/caf\u00e9", "HTTP/1.1", 200, "", b"", -3]
    fields += [b"\xe9t\xe9", *[""] * 15]
    expected = '[2023-11-14T22:13:20.250Z] "GET /caf\u00e9 HTTP/1.1" 200 - - -3 "\u00e9t\u00e9" '
    assert wire.text_line_py(1700000000.25, *fields).startswith(expected.encode())
    if _wire is not None:
        assert _wire.text_line(_no_fallback, 1700000000.25, *fields).startswith(expected.encode())


@pytest.mark.skipif(_wire is None, reason="pure build: only the Python form")
def test_text_line_leaves_what_it_cannot_render_to_its_fallback() -> None:
    plain: list[str | bytes | int] = ["GET", "/", "HTTP/1.1", 200, *[""] * 19]
    refused: list[tuple[float, list[str | bytes | int]]] = [
        (1700000000.0, ["GET", "/\udcff", *plain[2:]]),  # a lone surrogate (not UTF-8 text)
        (1700000000.0, ["GET", "/", "HTTP/1.1", 2**64, *plain[4:]]),  # beyond 64 bits
        (-1.0, plain),
        (float("nan"), plain),
        (1e12, plain),  # after year 9999
    ]
    calls: list[tuple[object, ...]] = []

    def fallback(*args: object) -> bytes:
        calls.append(args)
        return b"from the fallback"

    for start_time, fields in refused:
        calls.clear()
        assert _wire.text_line(fallback, start_time, *fields) == b"from the fallback"
        assert len(calls) == 1 and calls[0][1:] == tuple(fields)
        assert calls[0][0] == start_time or math.isnan(start_time)
    assert wire.text_line_py(1700000000.0, "GET", "/\udcff", *plain[2:]).startswith(
        b'[2023-11-14T22:13:20.000Z] "GET /\xed\xb3\xbf'  # surrogatepass: the line is not lost
    )
    assert wire.text_line(
        wire.text_line_py, 1700000000.0, "GET", "/", "HTTP/1.1", 2**64, *plain[4:]
    ).startswith(b'[2023-11-14T22:13:20.000Z] "GET / HTTP/1.1" 18446744073709551616 - ')
    with pytest.raises(TypeError):
        _wire.text_line(_no_fallback, 1700000000.0, *plain[:-1])  # one field short
    with pytest.raises(TypeError):
        _wire.text_line(_no_fallback, 1700000000.0, 2.5, *plain[1:])  # a float is not a field


def test_text_line_without_the_c_form_is_its_fallback() -> None:
    fields: list[str | bytes | int] = ["GET", "/", "HTTP/1.1", 200, *[""] * 19]
    assert wire.fall_back(wire.text_line_py, 1700000000.5, *fields) == wire.text_line_py(
        1700000000.5, *fields
    )


CONCATS = [wire.concat_py] + ([_wire.concat] if _wire is not None else [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_concat_is_a_join(parts: list[bytes]) -> None:
    for concat in CONCATS:
        assert concat(*parts) == b"".join(parts)


@pytest.mark.parametrize("concat", CONCATS)
def test_concat_takes_bytes_only(concat: Callable[..., bytes]) -> None:
    assert concat() == b""
    for wrong in ("text", 3, None):
        with pytest.raises(TypeError):
            concat(b"a", wrong)
