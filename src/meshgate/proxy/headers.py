"""Request/response heads: what the gateway removes, adds and rewrites (istio-semantics 8.3, 8.4).

Headers travel as `(lower_name, name, value)` byte triples: the lower-case name is computed once,
when parsed, and the original spelling is what goes on the wire. Nothing is decoded on the hot
path: routing sees headers through the RequestHead (message.py), which decodes them only if a route
matches on headers.
Header edits from VirtualServices (`HeaderEdits`, str) take a slower path that works on copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Protocol

from meshgate import ir
from meshgate.proxy.local_reply import date_header, status_line

Header = tuple[bytes, bytes, bytes]  # (lower-case name, name as sent, value)

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward, plus every name listed in
# `Connection`. `proxy-connection` is the pre-standard spelling still sent by some clients.
HOP_BY_HOP = frozenset(
    {b"connection", b"proxy-connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"}
)

# Request fields the gateway replaces or re-frames itself.
_REQUEST_DROP = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",  # `100-continue` is answered by the gateway (Envoy's default, proxy_100_continue off)
    b"x-forwarded-for",  # re-emitted with the client appended
    b"x-forwarded-proto",  # overwritten: numTrustedProxies = 0
    b"x-request-id",  # overwritten on edge requests (8.3.1)
}
# Response fields the gateway re-frames or overwrites (`server: istio-envoy`, 8.4); `date` is
# special only in that its absence is noticed.
RESPONSE_OWNED = HOP_BY_HOP | {b"content-length", b"server", b"date"}
_ENVOY_PREFIX = b"x-envoy-"  # external requests may not steer the gateway (8.4)
_PLAIN_TOKENS = frozenset({b"keep-alive", b"close", b"upgrade"})  # Connection values naming no field
PLAIN_CONNECTION: Final = _PLAIN_TOKENS
# the first attempt's line; every upstream head ends with it, its framing lines and the blank line
# (request_head.build_request_head records where, for a retry to count up there)
ATTEMPT_LINE: Final = b"x-envoy-attempt-count: 1\r\n"


class _Head(Protocol):
    connection: bytes

    @property
    def headers(self) -> list[Header]: ...


class _Response(Protocol):
    connection: bytes
    lines: bytes  # "name: value\r\n" lines as received, minus what the gateway owns
    has_date: bool


@lru_cache(maxsize=256)
def connection_tokens(value: bytes) -> frozenset[bytes]:
    """Names listed in a `Connection` header (lower-case); cached, the values repeat."""
    return frozenset(token.strip().lower() for token in value.split(b",") if token.strip())


def apply_edits(headers: list[Header], edits: ir.HeaderEdits) -> list[Header]:
    """Envoy's order (HeaderParser::evaluateHeaders): remove first, then set (replace), then add.
    `host`/`:authority` are left to routing (upstream_authority)."""
    if edits.remove:
        removed = {name.lower().encode("latin-1") for name in edits.remove}
        headers = [h for h in headers if h[0] not in removed]
    for name, value in edits.set:
        lower = name.lower().encode("latin-1")
        if lower in (b"host", b":authority"):
            continue
        headers = [h for h in headers if h[0] != lower]
        headers.append((lower, name.encode("latin-1"), value.encode("latin-1")))
    for name, value in edits.add:
        lower = name.lower().encode("latin-1")
        if lower not in (b"host", b":authority"):
            headers.append((lower, name.encode("latin-1"), value.encode("latin-1")))
    return headers


def _emit(parts: list[bytes], headers: Sequence[Header]) -> None:
    for _, name, value in headers:
        parts += (name, b": ", value, b"\r\n")


def upstream_request_head(
    request_line: bytes,
    head: _Head,
    gateway: bytes,
    edits: Sequence[ir.HeaderEdits],
    framing: bytes,
) -> bytes:
    """The head sent upstream when the fast path in forward.py does not apply: the client's
    `Connection` lists header names to drop, or the route/destination edits request headers.

    `request_line` includes the host line, `gateway` the lines the gateway sets (x-forwarded-for,
    x-request-id, ...), `framing` the body framing lines.
    """
    connection = head.connection
    drop_extra = connection_tokens(connection) - _PLAIN_TOKENS if connection else frozenset()
    dropped = _REQUEST_DROP | drop_extra
    kept = [h for h in head.headers if h[0] not in dropped and not h[0].startswith(_ENVOY_PREFIX)]
    kept += _parse_lines(gateway)
    for edit in edits:
        if edit:
            kept = apply_edits(kept, edit)
    parts = [request_line]
    _emit(parts, kept)
    parts += (ATTEMPT_LINE, framing, b"\r\n")
    return b"".join(parts)


def downstream_response_head(
    status: int,
    response: _Response,
    gateway: bytes,
    edits: Sequence[ir.HeaderEdits],
    framing: bytes,
) -> bytes:
    """The head sent to the client when the fast path in forward.py does not apply: the backend's
    `Connection` lists header names, or the route/destination edits response headers."""
    connection = response.connection
    drop_extra = connection_tokens(connection) - _PLAIN_TOKENS if connection else frozenset()
    kept = [h for h in _parse_lines(response.lines) if h[0] not in drop_extra]
    parts = [status_line(status)]
    if not response.has_date:
        parts += (b"date: ", date_header(), b"\r\n")
    kept += _parse_lines(gateway)
    for edit in edits:
        if edit:
            kept = apply_edits(kept, edit)
    _emit(parts, kept)
    parts += (framing, b"\r\n")
    return b"".join(parts)


def _parse_lines(block: bytes) -> list[Header]:
    out: list[Header] = []
    for line in block.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            out.append((name.lower(), name, value))
    return out
