"""A small, bounded TLS ClientHello parser (sans-IO): what Envoy's `tls_inspector` learns.

`parse(data)` looks at the first bytes a client sent on a connection and answers one of:
- `NEED_MORE`: a TLS handshake record has started but the ClientHello is not complete yet;
- `NotTls(reason)`: the bytes are not a TLS ClientHello (plain HTTP on a TLS port, garbage);
- `ClientHello(server_name, alpn, ...)`: the SNI host name (lower-case, None when absent) and the
  ALPN protocols offered.

The hello may span several handshake records (RFC 8446 §5.1); at most `MAX_HELLO` bytes are looked
at, past that the caller should give up (`too large`). Nothing is decrypted or validated beyond
what is needed to find the two extensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_HELLO: Final = 16 * 1024
_HANDSHAKE: Final = 0x16
_CLIENT_HELLO: Final = 0x01
_EXT_SERVER_NAME: Final = 0
_EXT_ALPN: Final = 16
_HOST_NAME: Final = 0


class _NeedMore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_MORE"


NEED_MORE: Final = _NeedMore()


@dataclass(frozen=True, slots=True)
class NotTls:
    reason: str


@dataclass(frozen=True, slots=True)
class ClientHello:
    server_name: str | None
    alpn: tuple[str, ...] = ()
    legacy_version: int = 0x0303
    size: int = 0  # bytes of records that carried the hello


Result = ClientHello | NotTls | _NeedMore


class _Malformed(Exception):
    pass


def parse(data: bytes, limit: int = MAX_HELLO) -> Result:
    """Classify the first bytes of a connection (see the module docstring)."""
    if not data:
        return NEED_MORE
    if data[0] != _HANDSHAKE:
        return NotTls("not a TLS handshake record")
    body = bytearray()
    offset = 0
    while True:
        if len(data) < offset + 5:
            return _more_or_too_large(len(data), limit)
        kind, major, length = data[offset], data[offset + 1], int.from_bytes(data[offset + 3 : offset + 5])
        if kind != _HANDSHAKE:
            return NotTls("ClientHello interrupted by another record type")
        if major != 3 or length == 0 or length > 2**14:
            return NotTls("bad TLS record header")
        end = offset + 5 + length
        if len(data) < end:
            return _more_or_too_large(end, limit)
        body += data[offset + 5 : end]
        offset = end
        if body[0] != _CLIENT_HELLO:
            return NotTls("first handshake message is not a ClientHello")
        if len(body) >= 4:
            need = 4 + int.from_bytes(body[1:4])
            if need > limit:
                return NotTls("ClientHello too large")
            if len(body) >= need:
                try:
                    return _hello(bytes(body[4:need]), offset)
                except (_Malformed, IndexError, UnicodeDecodeError):
                    return NotTls("malformed ClientHello")
        if offset > limit:
            return NotTls("ClientHello too large")


def _more_or_too_large(needed: int, limit: int) -> Result:
    return NotTls("ClientHello too large") if needed > limit else NEED_MORE


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise _Malformed
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size))

    def vector(self, size: int) -> bytes:
        return self.take(self.number(size))

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def _hello(message: bytes, size: int) -> ClientHello:
    reader = _Reader(message)
    version = reader.number(2)
    reader.take(32)  # random
    reader.vector(1)  # legacy session id
    suites = reader.vector(2)
    if not suites or len(suites) % 2:
        raise _Malformed
    reader.vector(1)  # compression methods
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    if not reader.done:
        extensions = _Reader(reader.vector(2))
        while not extensions.done:
            kind = extensions.number(2)
            value = extensions.vector(2)
            if kind == _EXT_SERVER_NAME:
                server_name = _server_name(value)
            elif kind == _EXT_ALPN:
                alpn = _alpn(value)
    return ClientHello(server_name, alpn, version, size)


def _server_name(value: bytes) -> str | None:
    names = _Reader(_Reader(value).vector(2))
    while not names.done:
        kind = names.number(1)
        name = names.vector(2)
        if kind == _HOST_NAME:
            if not name or b"\x00" in name:
                raise _Malformed
            return name.decode("ascii").lower().rstrip(".")
    return None


def _alpn(value: bytes) -> tuple[str, ...]:
    protocols = _Reader(_Reader(value).vector(2))
    found: list[str] = []
    while not protocols.done:
        found.append(protocols.vector(1).decode("latin-1"))
    return tuple(found)
