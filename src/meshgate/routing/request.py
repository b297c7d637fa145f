"""RequestView: what routing may look at in a request. Built once per request by the proxy (or by
`explain` / simulation tests); immutable."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_EMPTY: Mapping[str, str] = MappingProxyType({})


class RequestView:
    """Read-only by contract (mypy's Final). A plain class, not a frozen dataclass: this module is
    compiled with mypyc, where a frozen dataclass's generated __init__ runs interpreted through
    object.__setattr__ (~14k instructions per request); this constructor is native code."""

    __slots__ = (
        "authority",
        "bind",
        "client_address",
        "headers",
        "method",
        "path",
        "port",
        "query",
        "scheme",
        "sni",
    )

    def __init__(
        self,
        port: int,
        authority: str,
        path: str = "/",
        query: str = "",
        method: str = "GET",
        scheme: str = "http",
        headers: Mapping[str, str] = _EMPTY,
        sni: str | None = None,
        bind: str = "",
        client_address: str = "",
    ) -> None:
        self.port: Final = port  # the server port (Gateway `port.number`), not the listen port
        self.authority: Final = authority  # Host / :authority exactly as sent, port included
        self.path: Final = path  # normalized path, no query, no fragment
        self.query: Final = query  # raw query string without the leading '?'
        self.method: Final = method
        self.scheme: Final = scheme  # of the downstream connection ("https" after TLS termination)
        self.headers: Final = headers  # lower-case names; repeated values joined by ","
        self.sni: Final = sni  # TLS server name; None for plaintext or no SNI
        self.bind: Final = bind  # listener bind address when several share a port; "" = any
        self.client_address: Final = client_address

    def _fields(self) -> tuple[object, ...]:
        return (
            *(self.port, self.authority, self.path, self.query, self.method),
            *(self.scheme, dict(self.headers), self.sni, self.bind, self.client_address),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequestView) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields()[:6])

    def __repr__(self) -> str:
        names = ("port", "authority", "path", "query", "method", "scheme", "headers", "sni", "bind")
        values = ", ".join(f"{name}={value!r}" for name, value in zip(names, self._fields(), strict=False))
        return f"RequestView({values}, client_address={self.client_address!r})"

    @property
    def target(self) -> str:
        """Path plus query as it was requested (after normalization)."""
        return f"{self.path}?{self.query}" if self.query else self.path
