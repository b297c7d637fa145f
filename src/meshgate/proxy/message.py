"""The request as the gateway holds it: a parsed head, and the RequestView routing sees."""

from __future__ import annotations

from collections.abc import Mapping

from meshgate.proxy.headers import Header
from meshgate.routing.request import RequestView

__all__ = ["RequestHead", "make_view"]


def make_view(
    port: int,
    authority: str,
    path: str,
    query: str,
    method: str,
    scheme: str,
    headers: Mapping[str, str],
    sni: str | None,
    bind: str,
    client_address: str,
) -> RequestView:
    """The RequestView of one request, positional (both modules are compiled with mypyc, where
    this is a direct constructor call; interpreted, a frozen dataclass costs ~2.5 µs here)."""
    return RequestView(port, authority, path, query, method, scheme, headers, sni, bind, client_address)


class RequestHead:
    """A parsed request head. Filled in by the parser attribute by attribute; the class-level
    defaults stand for what most requests do not carry (no body, no upgrade, ...)."""

    method = "GET"
    method_bytes = b"GET"
    is_head = False
    target = "/"
    path = "/"
    query = ""
    authority = ""
    version = "1.1"
    keep_alive = True
    headers: list[Header] = []
    lines: list[bytes] = []
    content_length: int | None = None
    chunked = False
    expect_continue = False
    upgrade = b""
    connection = b""
    xff = b""
