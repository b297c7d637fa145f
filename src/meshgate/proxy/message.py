"""The request as the gateway holds it: a parsed head, and the RequestView routing sees."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final, Protocol

from meshgate.proxy.errors import BodyTooLarge, DownstreamError, HeaderTooLarge, ProxyError, VersionRefused
from meshgate.proxy.headers import Header
from meshgate.proxy.limits import Limits
from meshgate.proxy.paths import split_target
from meshgate.proxy.request_wire import RequestFields, header_triples, request_line
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


class RequestHead(Mapping[str, str]):
    """A parsed request head. Filled in by the parser attribute by attribute; the class-level
    defaults stand for what most requests do not carry (no body, no upgrade, ...). The header
    list is built from `raw` only when something asks for it (header matches, header edits).

    It is also the `RequestView.headers` routing sees (lower-case str names, repeated values
    joined by ","), decoded on first use: one object per request instead of a separate mapping
    (its construction and freeing were ~0.9k instructions per request). As a Mapping, its truth
    value is whether it has headers: test `head is None`, never `if head`."""

    method = "GET"
    method_bytes = b"GET"
    is_head = False
    target = "/"
    target_bytes = b""  # the target as received when it is the path sent upstream (else b"")
    path = ""  # set once the target is read as a path: a refused request logs its target instead
    query = ""
    authority = ""
    authority_bytes = b""  # the Host value as received when it is the authority (else b"")
    version = "1.1"
    keep_alive = True
    raw = b""  # the head as received, request line to blank line
    lines = b""  # the header lines forwarded as received, "name: value\r\n" each
    user_agent = b""
    xfcc = b""  # x-forwarded-client-cert of a verified client certificate
    content_length: int | None = None
    chunked = False
    expect_continue = False
    upgrade = b""
    connection = b""
    xff = b""
    _headers: list[Header] | None = None
    _map: dict[str, str] | None = None

    @property
    def headers(self) -> list[Header]:
        headers = self._headers
        if headers is None:
            headers = self._headers = header_triples(self.raw, self.xfcc)
        return headers

    # --- the Mapping routing reads (RequestView.headers) -------------------------------------

    def _decoded(self) -> dict[str, str]:
        found = self._map
        if found is None:
            found = {}
            for lower, _, value in self.headers:
                key = lower.decode("latin-1")
                text = value.decode("latin-1")
                previous = found.get(key)
                found[key] = text if previous is None else f"{previous},{text}"
            self._map = found
        return found

    def __getitem__(self, key: str) -> str:
        return self._decoded()[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._decoded().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    # a head is one request, not a value: Mapping's by-content equality (and no hash) is not wanted
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"RequestHead({self.method} {self.target}, headers={self._decoded()!r})"


class _Parser(Protocol):
    """What read_head asks the parser that accepted the head (httptools.HttpRequestParser)."""

    def should_upgrade(self) -> bool: ...


def read_head(
    fields: RequestFields, data: bytes, start: int, xfcc: bytes, limits: Limits, parser: _Parser
) -> tuple[RequestHead, ProxyError | None]:
    """The RequestHead of `request_fields(data, start)`, and why it is refused (None: it is not).
    `xfcc`: the x-forwarded-client-cert of a verified client certificate, forwarded instead of any
    the client sent."""
    (
        end,
        method,
        url,
        version,
        lines,
        host,
        length,
        chunked,
        connection,
        expect,
        upgrade,
        xff,
        agent,
        count,
        keep_alive,
        plain,
    ) = fields
    head = RequestHead()
    head.raw = data[start:end]
    if method != b"GET":  # GET is what the class says: no str made for the most common method
        head.method_bytes = method
        head.method = method.decode("latin-1")
        head.is_head = method == b"HEAD"
    head.target = target = url.decode("latin-1")
    head.user_agent = agent
    if len(xfcc) > 0:
        head.xfcc = xfcc
        lines += b"x-forwarded-client-cert: " + xfcc + b"\r\n"
    head.lines = lines
    head.keep_alive = keep_alive  # what parser.should_keep_alive() says, without a method call
    error: ProxyError | None = None
    if len(url) > limits.max_request_line:
        error = HeaderTooLarge("request line too long")
    authority = ""
    if plain:  # what split_target would answer, without its searches (~0.6k instructions)
        head.path = target
    else:
        try:
            authority, head.path, head.query = split_target(target)
        except DownstreamError as exc:
            error = error or exc
    if head.path == target:  # no query, nothing normalized: the target goes upstream as received
        head.target_bytes = url
    if not authority:
        authority = _last_host.text_of(host)
        head.authority_bytes = host
    head.authority = authority
    if len(length) > 0:
        head.content_length = int(length)  # httptools rejected non-digits and duplicates
    head.chunked = chunked
    if len(upgrade) > 0 and parser.should_upgrade():
        head.upgrade = upgrade
    head.expect_continue = expect
    if len(connection) > 0:
        head.connection = connection  # names fields to drop: the slower head path
    head.xff = xff
    if error is None:
        text = "1.1" if version == 11 else f"{version // 10}.{version % 10}"
        error = head_problem(head, limits, count, text)
    return head, error


class _LastHost:
    """The Host value of the last request and its str: a connection, and most of a gateway's
    traffic, repeats one Host, and the same str object keeps its hash (the virtual-host lookup
    hashes the authority; a fresh str costs its decode, its hash and its free, ~0.3k)."""

    __slots__ = ("raw", "text")

    def __init__(self) -> None:
        self.raw = b""
        self.text = ""

    def text_of(self, host: bytes) -> str:
        if host != self.raw:
            self.raw = host
            self.text = host.decode("latin-1")
        return self.text


_last_host: Final = _LastHost()


def partial_head(buffered: bytes) -> RequestHead:
    """A head for the access log of a request refused before its head was read: the method and
    target of its request line when that much had arrived, else "-"."""
    request = request_line(buffered.split(b"\n", 1)[0].removesuffix(b"\r"))
    method, target = (request[0], request[1]) if request is not None else (b"-", b"-")
    head = RequestHead()
    head.method_bytes = method
    head.method = method.decode("latin-1")
    head.target = target.decode("latin-1")
    head.keep_alive = False
    return head


def head_problem(head: RequestHead, limits: Limits, count: int, version: str) -> ProxyError | None:
    """Why a parsed request head is refused (431, 400, 413), checked in this order; None if it
    is not. The size limit counts the head as received (`raw`: request line to blank line, the
    whitespace around values included), `count` its header lines; `version` is the request's HTTP
    version (recorded on the head when refused, for the access log)."""
    if len(head.raw) > limits.max_header_bytes:
        return HeaderTooLarge("request headers too large")
    if count > limits.max_header_count:
        return HeaderTooLarge("too many request headers")
    if version != "1.1":
        head.version = version
        return VersionRefused("HTTP/1.0 is not accepted")
    if not head.authority:
        return DownstreamError("missing host header", details="missing_host_header")
    if limits.max_body_bytes and (head.content_length or 0) > limits.max_body_bytes:
        return BodyTooLarge("content-length above the limit")
    return None
