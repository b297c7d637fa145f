"""The response-head reader, the request-id source, the text access-log line and the concatenation
of the heads the gateway writes, in Python: the reference for _wire.c.

`upstream_conn`, `forward`, `request_head` and `access_log` import `response_fields`, `request_id`,
`concat` and `text_line` from here. When the C module
`meshgate.proxy._wire` is built (setup.py; not in MESHGATE_PURE builds) the names below are its
functions instead, which do the same work without the per-header Python calls: parsing nginx's
five response headers through httptools callbacks was ~13k of ~69k instructions per request
(bench/results/README.md). tests/proxy/test_wire.py holds the two implementations to each other.
"""

from __future__ import annotations

import binascii
import random
import time
from collections.abc import Callable
from typing import Final

from meshgate.proxy.headers import PLAIN_CONNECTION, RESPONSE_OWNED

# (end of the head, status code, HTTP/1.1, kept lines "name: value\r\n" as one block,
#  content-length as sent or b"", chunked, Connection value naming fields to drop or b"",
#  date present, Upgrade value or b"")
ResponseFields = tuple[int, int, bool, bytes, bytes, bool, bytes, bool, bytes]
# ResponseFields and the Content-Length as a number (lone_response)
LoneResponse = tuple[int, int, bool, bytes, bytes, bool, bytes, bool, bytes, int]

# The fields the gateway owns that are neither read for framing nor kept (date is kept)
_DROPPED = RESPONSE_OWNED - {b"content-length", b"transfer-encoding", b"upgrade", b"connection", b"date"}


def response_fields_py(head: bytes, start: int) -> ResponseFields | None:
    """Read the response head that begins at `start` of `head` (complete, already accepted by
    httptools): None if it does not have the shape llhttp guarantees (CRLF lines, "name:" on each)."""
    if not 0 <= start <= len(head):
        return None
    status_line = head[start : start + 12]
    if len(status_line) < 12 or not status_line.startswith(b"HTTP/") or status_line[6:7] != b".":
        return None
    digits = status_line[9:12]
    if status_line[8:9] != b" " or not (digits.isdigit() and digits.isascii()):
        return None
    status, http11 = int(digits), status_line[5:8] == b"1.1"
    at = head.find(b"\n", start)
    if at < 0:
        return None
    at += 1
    lines: list[bytes] = []
    length = connection = upgrade = b""
    chunked = has_date = False
    while True:
        if head.startswith(b"\r\n", at):
            return at + 2, status, http11, b"".join(lines), length, chunked, connection, has_date, upgrade
        nl = head.find(b"\n", at)
        if nl <= at or head[nl - 1] != 0x0D:
            return None
        line = head[at : nl - 1]
        name, colon, value = line.partition(b":")
        if not colon or not name:
            return None
        value = value.strip(b" \t")
        lower = name.lower()
        if lower == b"content-length":
            length = value
        elif lower == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif lower == b"upgrade":
            upgrade = value
        elif lower == b"connection":
            if value.lower() not in PLAIN_CONNECTION:
                connection = value if not connection else connection + b"," + value
        elif lower not in _DROPPED:
            has_date = has_date or lower == b"date"
            lines.append(b"%s: %s\r\n" % (name, value))
        at = nl + 1


_bits = random.getrandbits  # the module's generator: reseeded in forked children (a Random() is not)
_VERSION = 0x4 << 76  # the version digit of a version-4 UUID
_VARIANT = 0x2 << 62  # the variant bits 10
_KEEP = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)


def request_id_py() -> bytes:
    """A random (version 4) UUID as 36 bytes of hex."""
    h = binascii.b2a_hex(((_bits(128) & _KEEP) | _VERSION | _VARIANT).to_bytes(16, "big"))
    return b"-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


class _SecondStamp:
    """`format_start_time` renders the date and time once per second; only milliseconds change."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""


_stamp: Final = _SecondStamp()
_MILLIS: Final = tuple(f".{millis:03d}Z" for millis in range(1000))


def format_start_time(epoch: float) -> str:
    """Envoy's %START_TIME% (UTC, milliseconds): 2026-11-26T15:00:00.123Z."""
    second = int(epoch)
    if second != _stamp.second:
        _stamp.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp.second = second
    return _stamp.text + _MILLIS[int(epoch * 1000) % 1000]


# Istio's default text format (istio-semantics 8.1.2): what precedes each field. Field 0 is
# %START_TIME%; then method, path, protocol, response code, flags, code details, connection
# termination details, upstream transport failure reason, bytes received, bytes sent, duration,
# upstream service time, x-forwarded-for, user-agent, request id, authority, upstream host,
# upstream cluster, upstream local address, downstream local address, downstream remote address,
# requested server name, route name; a newline ends the line.
TEXT_BEFORE: Final = (
    "[", '] "', " ", " ", '" ', " ", " ", " ", ' "', '" ', " ", " ",
    " ", ' "', '" "', '" "', '" "', '" "', '" ', " ", " ", " ", " ", " ",
)  # fmt: skip


def text_line_py(start_time: float, *fields: str | bytes | int) -> bytes:
    """One text access-log line in UTF-8; empty str or bytes fields print as "-", bytes are read as
    Latin-1 (the request's header values), ints print as numbers. A lone surrogate (no source of the
    gateway's makes one) is kept with surrogatepass rather than losing the line."""
    parts = [TEXT_BEFORE[0], format_start_time(start_time)]
    for before, value in zip(TEXT_BEFORE[1:], fields, strict=True):
        parts.append(before)
        if isinstance(value, int):
            parts.append(str(value))
        else:
            parts.append((value.decode("latin-1") if isinstance(value, bytes) else value) or "-")
    parts.append("\n")
    return "".join(parts).encode("utf-8", "surrogatepass")


def fall_back(fallback: Callable[..., bytes], start_time: float, *fields: str | bytes | int) -> bytes:
    """`text_line` without the C form: always its fallback (wire.text_line_py)."""
    return fallback(start_time, *fields)


def no_lone_response(data: bytes) -> LoneResponse | None:
    """Without the C form every response goes through llhttp (`_wire.lone_response` says when one
    need not)."""
    return None


def concat_py(*parts: bytes) -> bytes:
    return b"".join(parts)


try:
    from meshgate.proxy import _wire

    _HAVE_C = True
except ImportError:  # MESHGATE_PURE build: the Python forms above
    _HAVE_C = False

# Final: compiled importers read them as C statics instead of a globals-dict lookup per call
response_fields: Final[Callable[[bytes, int], ResponseFields | None]] = (
    _wire.response_fields if _HAVE_C else response_fields_py
)
lone_response: Final[Callable[[bytes], LoneResponse | None]] = (
    _wire.lone_response if _HAVE_C else no_lone_response
)
request_id: Final[Callable[[], bytes]] = _wire.request_id if _HAVE_C else request_id_py
text_line: Final[Callable[..., bytes]] = _wire.text_line if _HAVE_C else fall_back
concat: Final[Callable[..., bytes]] = _wire.concat if _HAVE_C else concat_py
