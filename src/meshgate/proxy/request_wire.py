"""A client's request head read in one call once httptools has accepted it, and where each request
of a connection starts: the Python reference for _request_wire.c.

httptools (llhttp) checks the syntax, but its per-header callbacks cost two Python calls per line
(bench/results/README.md); http1.py gives the parser no on_url/on_header and reads the complete head
here instead, from the received bytes. That needs the offset where each head starts, which httptools
does not report. A request starts at the first byte after the previous one: at the start of a read,
or where the previous request ended in the same read (pipelining). That end is the head's end plus
the body: the Content-Length bytes the parser handed over, or, for a chunked body, the end of its
framing, which `ChunkWalker` follows read by read (only for chunked requests).

`request_fields` is the C form when `meshgate.proxy._request_wire` is built, else the Python one;
tests/proxy/test_request_wire.py holds the two to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from meshgate.proxy.headers import PLAIN_CONNECTION, Header

# (end of the head, method, target, version as major*10+minor, forwarded lines "name: value\r\n" as
#  one block, host, content-length as sent, chunked, Connection values naming fields to drop, Expect is
#  100-continue, upgrade, x-forwarded-for, user-agent, header count, keep-alive as llhttp's
#  should_keep_alive() answers it, the target is a plain path); repeated fields joined with "," (the
#  host: the last one), absent ones b""
RequestFields = tuple[
    int, bytes, bytes, int, bytes, bytes, bytes, bool, bytes, bool, bytes, bytes, bytes, int, bool, bool
]

XFCC: Final = b"x-forwarded-client-cert"
# What each header the gateway reads or owns is to it (_request_wire.c `classify`); names not here are
# forwarded as received, except x-envoy-* (external requests may not steer the gateway, 8.4).
_HOST, _LENGTH, _CODING, _CONNECTION, _EXPECT, _UPGRADE, _XFF, _AGENT, _DROPPED, _PROXY_CONNECTION = range(10)
_KIND: Final = {
    b"host": _HOST,
    b"content-length": _LENGTH,
    b"transfer-encoding": _CODING,
    b"connection": _CONNECTION,
    b"expect": _EXPECT,
    b"upgrade": _UPGRADE,
    b"x-forwarded-for": _XFF,
    b"user-agent": _AGENT,
    b"proxy-connection": _PROXY_CONNECTION,  # dropped, but llhttp reads its tokens as Connection's
    **dict.fromkeys((b"te", b"keep-alive", b"x-request-id", b"x-forwarded-proto", XFCC), _DROPPED),
}
_JOINED: Final = (_LENGTH, _CONNECTION, _EXPECT, _UPGRADE, _XFF, _AGENT)


def request_fields_py(head: bytes, start: int) -> RequestFields | None:
    """Read the request head that begins at `start` of `head` (complete, accepted by httptools);
    None when it does not have the shape llhttp guarantees."""
    if not 0 <= start <= len(head):
        return None
    while head[start : start + 1] in (b"\r", b"\n") and start < len(head):
        start += 1  # empty lines before the request line (RFC 9112 §2.2)
    nl = head.find(b"\n", start)
    if nl < 0:
        return None
    request = request_line(head[start:nl].removesuffix(b"\r"))
    if request is None:
        return None
    method, target, number = request
    lines: list[bytes] = []
    joined: dict[int, bytes] = {}
    host = b""
    chunked = close = keep_alive = False
    count = 0
    at = nl + 1
    while True:
        if head.startswith(b"\n", at) or head.startswith(b"\r\n", at):
            end = at + (1 if head.startswith(b"\n", at) else 2)
            expect = joined.get(_EXPECT)
            return (
                end,
                method,
                target,
                number,
                b"".join(lines),
                host,
                joined.get(_LENGTH, b""),
                chunked,
                joined.get(_CONNECTION, b""),
                expect is not None and expect.lower() == b"100-continue",
                joined.get(_UPGRADE, b""),
                joined.get(_XFF, b""),
                joined.get(_AGENT, b""),
                count,
                # llhttp_should_keep_alive: HTTP/1.1 and later minors unless "close"; else only
                # with "keep-alive" (requests never need the connection's end to delimit them)
                not close if number // 10 > 0 and number % 10 > 0 else keep_alive,
                plain_path(target),
            )
        nl = head.find(b"\n", at)
        if nl <= at:
            return None
        name, colon, value = head[at:nl].removesuffix(b"\r").partition(b":")
        if not colon or not name:
            return None
        value = value.strip(b" \t")
        count += 1
        lower = name.lower()
        kind = _KIND.get(lower, -1)
        if kind in (_CONNECTION, _PROXY_CONNECTION):
            tokens = connection_flags(value)
            close = close or tokens[0]
            keep_alive = keep_alive or tokens[1]
        if kind == _HOST:
            host = value
        elif kind == _CODING:
            chunked = True
        elif kind in _JOINED and not (kind == _CONNECTION and value.lower() in PLAIN_CONNECTION):
            previous = joined.get(kind)
            joined[kind] = value if previous is None else previous + b"," + value
        if kind in (-1, _AGENT) and not lower.startswith(b"x-envoy-"):
            lines.append(b"%s: %s\r\n" % (name, value))
        at = nl + 1


def request_line(line: bytes) -> tuple[bytes, bytes, int] | None:
    """(method, target, version as major*10+minor) of a request line without its line end; None if
    it is not one. No version is HTTP/0.9 (llhttp reads the headers after it; the gateway refuses it)."""
    method, space, rest = line.partition(b" ")
    if not space or not method:
        return None
    number = 9
    tail = rest[-9:]  # " HTTP/d.d"
    if len(rest) >= 9 and tail.startswith(b" HTTP/"):
        if tail[7:8] != b"." or not (tail[6:7] + tail[8:9]).isdigit():
            return None
        number = int(tail[6:7]) * 10 + int(tail[8:9])
        rest = rest[:-9]
    # llhttp accepts several spaces around the target and reports it without them: so must this,
    # or routing would see "/admin " where the backend reads "/admin"
    target = rest.strip(b" ")
    if not target or (number == 9 and b" " in target):
        return None
    return method, target, number


def plain_path(target: bytes) -> bool:
    """The target is a path that paths.split_target leaves as it is (origin-form, no query, no
    fragment, nothing that could be a dot-segment): routing can take it without splitting it."""
    return (
        target.startswith(b"/")
        and b"?" not in target
        and b"#" not in target
        and b"/." not in target
        and b"%2" not in target
    )


def connection_flags(value: bytes) -> tuple[bool, bool]:
    """(close, keep-alive): whether a Connection value lists these tokens as llhttp reads them
    (comma-separated, spaces and tabs around each ignored, any case)."""
    tokens = {token.strip(b" \t").lower() for token in value.split(b",")}
    return b"close" in tokens, b"keep-alive" in tokens


def header_triples(raw: bytes, xfcc: bytes) -> list[Header]:
    """The header list of a request head as received (`raw` from its request line to its blank
    line), built only when something asks (RequestHead.headers): the client's
    x-forwarded-client-cert is never taken as sent; `xfcc`, from a verified certificate, replaces it."""
    out: list[Header] = []
    for line in raw.lstrip(b"\r\n").split(b"\n")[1:]:  # after the request line
        name, colon, value = line.partition(b":")
        if colon:
            lower = name.lower()
            if lower != XFCC:
                out.append((lower, name, value.strip(b" \t\r")))
    if xfcc:
        out.append((XFCC, XFCC, xfcc))
    return out


# ChunkWalker states
_SIZE, _SIZE_LINE, _DATA, _TRAILER, _TRAILER_LINE, _LAST_LF = range(6)


class ChunkWalker:
    """Follows the framing of one chunked request body across reads (llhttp has checked it) to find
    the offset in a read where the body, hence the request, ends."""

    __slots__ = ("left", "size", "start", "state")

    def __init__(self, start: int) -> None:
        self.start = start  # where the body begins in the next read walked (0 after the first)
        self.state = _SIZE
        self.size = 0
        self.left = 0

    def walk(self, data: bytes) -> int:
        """Walk data[self.start:]: the offset just past the body's end, or -1 if it goes on."""
        at, n = self.start, len(data)
        self.start = 0
        state, size, left = self.state, self.size, self.left
        while at < n:
            if state == _DATA:  # chunk data and its CRLF
                step = min(left, n - at)
                at += step
                left -= step
                if not left:
                    state, size = _SIZE, 0
            elif state == _SIZE:
                c = data[at]
                digit = c - 48 if 48 <= c <= 57 else (c | 0x20) - 87 if 97 <= (c | 0x20) <= 102 else -1
                if digit >= 0:
                    size = size * 16 + digit
                    at += 1
                else:
                    state = _SIZE_LINE  # an extension, or the line end
            elif state in (_SIZE_LINE, _TRAILER_LINE):
                nl = data.find(b"\n", at)
                if nl < 0:
                    at = n
                else:
                    at = nl + 1
                    if state == _TRAILER_LINE:
                        state = _TRAILER
                    elif size:
                        state, left = _DATA, size + 2
                    else:
                        state = _TRAILER  # the last chunk: trailer lines up to an empty one
            elif state == _TRAILER:
                c = data[at]
                at += 1
                if c == 10:
                    return at
                state = _LAST_LF if c == 13 else _TRAILER_LINE
            else:  # _LAST_LF: a CR began the line
                if data[at] == 10:
                    return at + 1
                state = _TRAILER_LINE
        self.state, self.size, self.left = state, size, left
        return -1


def no_lone_request(data: bytes) -> RequestFields | None:
    """Without the C form every request goes through llhttp (`_request_wire.lone_request` says when
    one need not)."""
    return None


try:
    from meshgate.proxy import _request_wire

    _HAVE_C = True
except ImportError:  # MESHGATE_PURE builds: the Python forms above
    _HAVE_C = False

request_fields: Final[Callable[[bytes, int], RequestFields | None]] = (
    _request_wire.request_fields if _HAVE_C else request_fields_py
)
lone_request: Final[Callable[[bytes], RequestFields | None]] = (
    _request_wire.lone_request if _HAVE_C else no_lone_request
)
