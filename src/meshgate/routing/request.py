"""RequestView: what routing may look at in a request. Built once per request by the proxy (or by
`explain` / simulation tests); immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestView:
    port: int  # the server port (Gateway `port.number`), not the process's listen port
    authority: str  # Host / :authority exactly as sent, port included
    path: str = "/"  # normalized path, no query, no fragment
    query: str = ""  # raw query string without the leading '?'
    method: str = "GET"
    scheme: str = "http"  # of the downstream connection ("https" after TLS termination)
    # lower-case names; repeated values joined by ",". A factory, not `default=`: Python 3.11's
    # dataclasses reject unhashable defaults, and the shared read-only mapping is never copied.
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    sni: str | None = None  # TLS server name; None for plaintext or no SNI
    bind: str = ""  # listener bind address when several listeners share a port; "" = any
    client_address: str = ""

    @property
    def target(self) -> str:
        """Path plus query as it was requested (after normalization)."""
        return f"{self.path}?{self.query}" if self.query else self.path
