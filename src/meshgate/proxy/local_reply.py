"""The one place that renders responses the gateway writes itself (404 NR, 503 UH, 400, ...).

Envoy's local replies carry `server: istio-envoy` (the HCM's server name, overwritten on every
response), a `date`, `content-length`, and `content-type: text/plain` when there is a body
(istio-semantics 5.4, 8.4).
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from meshgate.proxy.errors import ProxyError

DEFAULT_SERVER_NAME = "istio-envoy"

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode("latin-1") for s in HTTPStatus}
# Status lines by code (b"" for codes without a reason phrase): a tuple index is a native load,
# where a dict keyed by int was a module-dict lookup plus a hashed lookup, ~0.35k per response.
_STATUS_LINES: Final = tuple(
    b"HTTP/1.1 %d %s\r\n" % (code, _REASONS[code]) if code in _REASONS else b"" for code in range(600)
)

CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int, reason: bytes = b"") -> bytes:
    if 0 <= status < 600:
        line = _STATUS_LINES[status]
        if len(line) > 0:  # a field load compiled; `if line` is a generic call
            return line
    return b"HTTP/1.1 %d %s\r\n" % (status, reason or b"Unknown")


class _DateCache:
    """`date` header value, formatted at most once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


date_header = _DateCache().get


def render(
    status: int,
    body: bytes = b"",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    close: bool = False,
    head_only: bool = False,
    server: bytes = DEFAULT_SERVER_NAME.encode(),
) -> bytes:
    """A complete HTTP/1.1 response. `head_only` for HEAD requests: same headers, no body."""
    parts = [status_line(status), b"date: ", date_header(), b"\r\nserver: ", server, b"\r\n"]
    has_type = False
    for name, value in headers:
        lower = name.lower()
        if lower in ("content-length", "server", "date", "connection", "transfer-encoding"):
            continue
        has_type = has_type or lower == "content-type"
        parts.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
    if body and not has_type:
        parts.append(b"content-type: text/plain\r\n")
    if status >= 200 and status not in (204, 304):
        parts.append(b"content-length: %d\r\n" % len(body))
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if body and not head_only and status not in (204, 304):
        parts.append(body)
    return b"".join(parts)


def for_error(err: ProxyError, *, close: bool, head_only: bool = False, server: bytes) -> bytes:
    return render(err.status, err.body, close=close, head_only=head_only, server=server)
