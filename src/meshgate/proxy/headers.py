"""Request/response heads: what the gateway removes, adds and rewrites (istio-semantics 8.3, 8.4).

Headers travel as `(lower_name, name, value)` triples: the lower-case name is computed once, when
parsed, and the original spelling is what goes on the wire. Everything here works on `str`
(latin-1 decoded, so any byte round-trips) and encodes once at the end.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from meshgate import ir
from meshgate.proxy.local_reply import date_header, status_line

Header = tuple[str, str, str]  # (lower-case name, name as sent, value)

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward, plus every name listed in
# `Connection`. `proxy-connection` is the pre-standard spelling still sent by some clients.
HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade"})

# Request fields the gateway replaces or re-frames itself.
_REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",  # `100-continue` is answered by the gateway (Envoy's default, proxy_100_continue off)
    "x-forwarded-for",  # re-emitted with the client appended
    "x-forwarded-proto",  # overwritten: numTrustedProxies = 0
    "x-request-id",  # overwritten on edge requests (8.3.1)
}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length", "server"}

_rand = random.Random()


def new_request_id() -> str:
    """A random (version 4) UUID, without the os.urandom syscall `uuid.uuid4()` makes."""
    value = _rand.getrandbits(128)
    value = (value & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def connection_tokens(value: str) -> frozenset[str]:
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())


def apply_edits(headers: list[Header], edits: ir.HeaderEdits) -> list[Header]:
    """Envoy's order (HeaderParser::evaluateHeaders): remove first, then set (replace), then add."""
    if edits.remove:
        removed = {name.lower() for name in edits.remove}
        headers = [h for h in headers if h[0] not in removed]
    for name, value in edits.set:
        lower = name.lower()
        if lower in ("host", ":authority"):
            continue  # authority rewrites are decided by routing (upstream_authority)
        headers = [h for h in headers if h[0] != lower]
        headers.append((lower, name, value))
    for name, value in edits.add:
        lower = name.lower()
        if lower not in ("host", ":authority"):
            headers.append((lower, name, value))
    return headers


def _serialize(first_line: bytes, headers: Iterable[Header], tail: str) -> bytes:
    text = "".join([f"{name}: {value}\r\n" for _, name, value in headers]) + tail + "\r\n"
    return first_line + text.encode("latin-1")


def upstream_request_head(
    *,
    method: str,
    target: str,
    authority: str,
    headers: Sequence[Header],
    connection: str,
    client_address: str,
    scheme: str,
    request_id: str,
    edits: Sequence[ir.HeaderEdits],
    body: str,
    upgrade: str = "",
    original_path: str = "",
    timeout_ms: int = 0,
) -> bytes:
    """The head sent upstream. `body` is the framing line ("content-length: N\\r\\n",
    "transfer-encoding: chunked\\r\\n" or ""); `connection` the client's Connection value."""
    drop_extra = connection_tokens(connection) if connection else frozenset()
    xff = ""
    kept: list[Header] = [("host", "host", authority)]
    for header in headers:
        lower = header[0]
        if lower in _REQUEST_DROP or lower in drop_extra:
            if lower == "x-forwarded-for":
                xff = f"{xff},{header[2]}" if xff else header[2]
            continue
        if lower.startswith("x-envoy-"):
            continue  # external requests may not steer the gateway (8.4)
        kept.append(header)
    kept.append(("x-forwarded-for", "x-forwarded-for", f"{xff},{client_address}" if xff else client_address))
    kept.append(("x-forwarded-proto", "x-forwarded-proto", scheme))
    kept.append(("x-request-id", "x-request-id", request_id))
    kept.append(("x-envoy-external-address", "x-envoy-external-address", client_address))
    if original_path:
        kept.append(("x-envoy-original-path", "x-envoy-original-path", original_path))
    if timeout_ms:
        kept.append(("x-envoy-expected-rq-timeout-ms", "x-envoy-expected-rq-timeout-ms", str(timeout_ms)))
    for edit in edits:
        if edit:
            kept = apply_edits(kept, edit)
    kept.append(("x-envoy-attempt-count", "x-envoy-attempt-count", "1"))
    tail = body
    if upgrade:
        tail += f"connection: upgrade\r\nupgrade: {upgrade}\r\n"
    return _serialize(f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), kept, tail)


def downstream_response_head(
    *,
    status: int,
    reason: bytes,
    headers: Sequence[Header],
    connection: str,
    server: str,
    framing: str,
    service_time_ms: int,
    edits: Sequence[ir.HeaderEdits],
    close: bool,
    upgrade: str = "",
) -> bytes:
    """The head sent to the client for a proxied response. `framing` as in upstream_request_head."""
    drop_extra = connection_tokens(connection) if connection else frozenset()
    kept: list[Header] = []
    has_date = False
    for header in headers:
        lower = header[0]
        if lower in _RESPONSE_DROP or lower in drop_extra:
            continue
        if lower == "date":
            has_date = True
        kept.append(header)
    if not has_date:
        kept.append(("date", "date", date_header().decode("ascii")))
    kept.append(("server", "server", server))
    if service_time_ms >= 0:
        kept.append(("x-envoy-upstream-service-time", "x-envoy-upstream-service-time", str(service_time_ms)))
    for edit in edits:
        if edit:
            kept = apply_edits(kept, edit)
    tail = framing
    if upgrade:
        tail += f"connection: upgrade\r\nupgrade: {upgrade}\r\n"
    elif close:
        tail += "connection: close\r\n"
    return _serialize(status_line(status, reason), kept, tail)
