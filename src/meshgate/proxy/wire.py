"""The response-head reader and the request-id source, in Python: the reference for _wire.c.

`upstream_conn` and `forward` import `response_fields` and `request_id` from here. When the C module
`meshgate.proxy._wire` is built (setup.py; not in MESHGATE_PURE builds) the names below are its
functions instead, which do the same work without the per-header Python calls: parsing nginx's
five response headers through httptools callbacks was ~13k of ~69k instructions per request
(bench/results/README.md). tests/proxy/test_wire.py holds the two implementations to each other.
"""

from __future__ import annotations

import binascii
import random
from collections.abc import Callable

from meshgate.proxy.headers import PLAIN_CONNECTION, RESPONSE_OWNED

# (end of the head, status code, HTTP/1.1, kept lines "name: value\r\n" as one block,
#  content-length as sent or b"", chunked, Connection value naming fields to drop or b"",
#  date present, Upgrade value or b"")
ResponseFields = tuple[int, int, bool, bytes, bytes, bool, bytes, bool, bytes]

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


response_fields: Callable[[bytes, int], ResponseFields | None]
request_id: Callable[[], bytes]
try:
    from meshgate.proxy import _wire
except ImportError:  # MESHGATE_PURE build: the Python forms above
    response_fields, request_id = response_fields_py, request_id_py
else:
    response_fields, request_id = _wire.response_fields, _wire.request_id
