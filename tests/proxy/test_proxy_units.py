"""Sans-socket pieces of the data plane: path normalization, header edits, local replies, the
access-log formats, request ids, limits."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgate import ir
from meshgate.proxy import local_reply
from meshgate.proxy.access_log import (
    FLUSH_LINES,
    FORMATS,
    AccessLog,
    LogRecord,
    format_json,
    format_start_time,
)
from meshgate.proxy.errors import (
    ConnectFailure,
    NoHealthyUpstream,
    Overflow,
    UpstreamTimeout,
    connect_error,
)
from meshgate.proxy.headers import apply_edits, connection_tokens
from meshgate.proxy.limits import Limits
from meshgate.proxy.message import RequestHead, make_view
from meshgate.proxy.paths import BadPath, split_target
from meshgate.proxy.wire import TEXT_BEFORE, text_line, text_line_py
from meshgate.routing.request import RequestView


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", ("", "/", "")),
        ("/a/b?x=1&y", ("", "/a/b", "x=1&y")),
        ("/a/../b", ("", "/b", "")),
        ("/a/./b/.", ("", "/a/b/", "")),
        ("/../../x", ("", "/x", "")),
        ("/a/b/..", ("", "/a/", "")),
        ("/a/%2e%2E/c", ("", "/c", "")),
        ("/a/.%2e/c", ("", "/c", "")),
        ("/keep%2Fslash/../x", ("", "/x", "")),
        ("/keep%2Fslash", ("", "/keep%2Fslash", "")),
        ("/a//b", ("", "/a//b", "")),  # merge_slashes is off by default
        ("/.well-known/x", ("", "/.well-known/x", "")),
        ("/p#frag", ("", "/p", "")),
        ("/p?q#frag", ("", "/p", "q")),
        ("http://Host.example:8080/a/../b?q", ("Host.example:8080", "/b", "q")),
        ("https://h", ("h", "/", "")),
    ],
)
def test_split_target_normalizes(target: str, expected: tuple[str, str, str]) -> None:
    assert split_target(target) == expected


@pytest.mark.parametrize("target", ["abc", "", "http:///x", "?q"])
def test_unnormalizable_targets_are_400(target: str) -> None:
    with pytest.raises(BadPath) as info:
        split_target(target)
    assert info.value.status == 400


def test_header_edits_follow_envoy_order() -> None:
    headers = [(b"x-a", b"X-A", b"1"), (b"x-b", b"X-B", b"2"), (b"x-b", b"X-B", b"3")]
    edits = ir.HeaderEdits(
        set=(("X-B", "set"), ("host", "ignored")), add=(("X-A", "added"),), remove=("x-a",)
    )
    out = apply_edits(headers, edits)
    assert [(h[0], h[2]) for h in out] == [(b"x-b", b"set"), (b"x-a", b"added")]


def test_connection_tokens() -> None:
    assert connection_tokens(b"Keep-Alive, X-Foo ,,x-bar") == {b"keep-alive", b"x-foo", b"x-bar"}


def test_request_head_headers_decode_on_use() -> None:
    head = RequestHead()
    head.raw = b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a:2 \r\nHost: h\r\n\r\n"
    lazy: Mapping[str, str] = head  # what RequestView.headers holds
    assert head._headers is None and head._map is None  # nothing is built until a route asks
    assert lazy.get("x-a") == "1,2" and lazy["host"] == "h" and lazy.get("nope") is None
    assert dict(lazy) == {"x-a": "1,2", "host": "h"} and len(lazy) == 2


def test_fast_view_equals_the_constructor() -> None:
    args = (80, "a.example", "/p", "q=1", "GET", "http", {"x": "1"}, None, "", "127.0.0.1")
    fields = (
        "port",
        "authority",
        "path",
        "query",
        "method",
        "scheme",
        "headers",
        "sni",
        "bind",
        "client_address",
    )
    view = make_view(*args)
    assert view == RequestView(**dict(zip(fields, args, strict=True)))  # type: ignore[arg-type]
    assert [getattr(view, name) for name in fields] == list(args)
    assert view != RequestView(80, "b.example") and "authority='a.example'" in repr(view)


def test_local_reply_rendering() -> None:
    reply = local_reply.render(503, b"no healthy upstream", server=b"istio-envoy")
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 503 Service Unavailable"
    assert b"server: istio-envoy" in lines and b"content-type: text/plain" in lines
    assert b"content-length: 19" in lines and body == b"no healthy upstream"
    empty = local_reply.render(404, close=True, server=b"gw")
    assert b"content-type" not in empty and b"content-length: 0" in empty and b"connection: close" in empty
    head_only = local_reply.render(503, b"body", head_only=True, server=b"gw")
    assert head_only.endswith(b"content-length: 4\r\n\r\n")
    redirect = local_reply.render(301, headers=(("location", "https://x/"), ("server", "no")), server=b"gw")
    assert b"location: https://x/" in redirect and redirect.count(b"server:") == 1


def test_error_catalogue_matches_envoy() -> None:
    prefix = b"upstream connect error or disconnect/reset before headers. reset reason: "
    assert (NoHealthyUpstream.status, NoHealthyUpstream.flags, NoHealthyUpstream.body) == (
        503,
        "UH",
        b"no healthy upstream",
    )
    assert (ConnectFailure.status, ConnectFailure.flags, ConnectFailure.body) == (
        503,
        "UF",
        prefix + b"connection failure",
    )
    assert (Overflow.flags, Overflow.body) == ("UO", prefix + b"overflow")
    assert (UpstreamTimeout.status, UpstreamTimeout.flags, UpstreamTimeout.body) == (
        504,
        "UT",
        b"upstream request timeout",
    )
    err = connect_error(ConnectionRefusedError(111, "Connection refused"))
    assert isinstance(err, ConnectFailure) and isinstance(err.__cause__, ConnectionRefusedError)


def _record(**changes: object) -> LogRecord:
    base = dict(
        start_time=1700000000.123,
        method="GET",
        path="/p?q",
        protocol="HTTP/1.1",
        response_code=200,
        response_flags="",
        response_code_details="via_upstream",
        connection_termination_details="",
        upstream_transport_failure_reason="",
        bytes_received=0,
        bytes_sent=12,
        duration=3,
        upstream_service_time="2",
        x_forwarded_for="10.0.0.1",
        user_agent="curl",
        request_id="id-1",
        authority="a.example",
        upstream_host="127.0.0.1:9000",
        upstream_cluster="outbound|80||a",
        upstream_local_address="127.0.0.1:5000",
        downstream_local_address="127.0.0.1:80",
        downstream_remote_address="10.0.0.1:4000",
        requested_server_name="",
        route_name="r1",
    )
    return LogRecord(**{**base, **changes})  # type: ignore[arg-type]


def test_start_time_is_cached_per_second_only() -> None:
    assert format_start_time(1700000000.999) == "2023-11-14T22:13:20.999Z"
    assert format_start_time(1700000001.001) == "2023-11-14T22:13:21.001Z"  # next second re-rendered
    assert format_start_time(1700000000.5) == "2023-11-14T22:13:20.500Z"  # and back


def _text(r: LogRecord) -> str:
    """The text line of a record's fields, as access_log.text_of hands an exchange's to text_line."""
    line = text_line(text_line_py, *(getattr(r, name) for name in _TEXT_ORDER))
    return line.decode("utf-8", "surrogatepass")


def test_access_log_text_format() -> None:
    assert len(_TEXT_ORDER) == len(TEXT_BEFORE)
    line = _text(_record())
    assert line == (
        '[2023-11-14T22:13:20.123Z] "GET /p?q HTTP/1.1" 200 - via_upstream - "-" 0 12 3 2 '
        '"10.0.0.1" "curl" "id-1" "a.example" "127.0.0.1:9000" outbound|80||a 127.0.0.1:5000 '
        "127.0.0.1:80 10.0.0.1:4000 - r1\n"
    )
    tokens = _text(_record(response_code=503, response_flags="UF", upstream_service_time="")).split()
    assert (tokens[4], tokens[5], tokens[12]) == ("503", "UF", "-")
    # values the C writer leaves to Python (wire.text_line_py) come out the same way
    odd = _text(_record(path="/caf\u00e9/\udcff", bytes_sent=2**70))
    assert odd.startswith('[2023-11-14T22:13:20.123Z] "GET /caf\u00e9/\udcff HTTP/1.1" 200 ')
    assert f" 0 {2**70} 3 2 " in odd


# the key order of Istio's JSON access log, written out here so the test can fail
_ISTIO_JSON_KEYS = [
    "start_time",
    "route_name",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "upstream_transport_failure_reason",
]


# LogRecord's fields in the order of wire.TEXT_BEFORE (the arguments of text_line)
_TEXT_ORDER = [
    "start_time",
    *_ISTIO_JSON_KEYS[2:9],
    "upstream_transport_failure_reason",
    *_ISTIO_JSON_KEYS[9:23],
    "route_name",
]


def test_access_log_json_keys() -> None:
    data = json.loads(format_json(_record(response_flags="NR", upstream_service_time="")))
    assert list(data) == _ISTIO_JSON_KEYS
    assert data["response_flags"] == "NR" and data["upstream_service_time"] is None
    assert data["response_code"] == 200 and data["requested_server_name"] is None
    assert FORMATS == ("off", "text", "json")


def _json_by_dumps(r: LogRecord) -> str:
    """The JSON line as json.dumps writes it: the reference format_json is held to."""
    out: dict[str, object] = {}
    for key in _ISTIO_JSON_KEYS:
        value = getattr(r, key)
        if key == "start_time":
            value = format_start_time(value)
        elif key == "upstream_service_time":
            value = int(value) if value else None
        elif key not in {"response_code", "bytes_received", "bytes_sent", "duration"} and value == "":
            value = None
        out[key] = value
    if r.downstream_peer_cert:
        out["downstream_peer_cert"] = r.downstream_peer_cert
    return json.dumps(out, separators=(",", ":")) + "\n"


_FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(_FIELD_TEXT, min_size=6, max_size=6),
    numbers=st.lists(st.integers(min_value=0, max_value=2**40), min_size=3, max_size=3),
    service_time=st.sampled_from(["", "0", "17"]),
    cert=st.sampled_from(["", 'Hash=ab;Subject="CN=x"']),
)
def test_access_log_json_is_what_json_dumps_writes(
    texts: list[str], numbers: list[int], service_time: str, cert: str
) -> None:
    path, agent, authority, xff, flags, route_name = texts
    record = _record(
        path=path,
        user_agent=agent,
        authority=authority,
        x_forwarded_for=xff,
        response_flags=flags,
        route_name=route_name,
        bytes_received=numbers[0],
        bytes_sent=numbers[1],
        duration=numbers[2],
        upstream_service_time=service_time,
        downstream_peer_cert=cert,
    )
    assert format_json(record) == _json_by_dumps(record)


def test_limits_are_validated_and_documented() -> None:
    limits = Limits()
    assert limits.max_header_bytes == 60 * 1024 and limits.max_body_bytes == 0
    with pytest.raises(ValueError):
        Limits(high_water=10, low_water=20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.idle_timeout = 1  # type: ignore[misc]


def test_access_log_writes_every_flush_lines_without_waiting_for_its_timer() -> None:
    async def main() -> None:
        stream = io.StringIO()
        log = AccessLog(stream, "text", flush_interval=60.0)
        line = _text(_record()).encode()
        for _ in range(FLUSH_LINES - 1):
            log.write(line)
        assert stream.getvalue() == ""  # held for the timer
        log.write(line)
        log.writer.wait_written()  # handed to the writer thread at the line limit, not by the timer
        assert stream.getvalue().count("\n") == FLUSH_LINES
        log.write(line)
        log.close()
        assert stream.getvalue().count("\n") == FLUSH_LINES + 1

    asyncio.run(main())


def test_access_log_writes_bytes_under_the_text_layer_in_order() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
    log = AccessLog(stream, "text", flush_interval=60.0)
    stream.write("printed first\n")  # still in the text layer when the log writes
    line = "caf\u00e9 \u2603\n".encode()
    log.write(line)  # no running loop: written at once
    stream.write("printed after\n")
    stream.flush()
    assert raw.getvalue() == b"printed first\n" + line + b"printed after\n"
    log.close()


def test_access_log_decodes_for_a_text_stream_without_bytes_under_it() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, "text")
    log.write("caf\u00e9\n".encode())
    log.write("/\udcff\n".encode("utf-8", "surrogatepass"))  # what text_line_py makes of a lone surrogate
    assert stream.getvalue() == "caf\u00e9\n/\udcff\n"
    log.close()
