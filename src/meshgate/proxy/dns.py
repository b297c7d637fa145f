"""Endpoints named by DNS (ServiceEntry `resolution: DNS` / `DNS_ROUND_ROBIN`, ExternalName).

Names are resolved with `loop.getaddrinfo` when a connection is opened, cached for `ttl` seconds
(the system resolver gives no TTLs; Istio's `dnsRefreshRate` default is 60 s, shorter here so a
changed record is picked up quickly), and new connections rotate over the returned addresses.
A failed lookup raises OSError, which the pool reports as a connect failure (503).
"""

from __future__ import annotations

import asyncio
import socket
from time import monotonic

DEFAULT_TTL = 30.0


class Resolver:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._next: dict[tuple[str, int], int] = {}

    async def resolve(self, name: str, port: int, *, rotate: bool = True) -> str:
        """One address for `name`: round-robin over the latest answer (strict DNS), or its first
        address (`rotate=False`, logical DNS: `DNS_ROUND_ROBIN`)."""
        key = (name, port)
        cached = self._cache.get(key)
        now = monotonic()
        if cached is None or now - cached[0] >= self.ttl:
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
            if not addresses:
                raise OSError(f"{name}: no addresses")
            cached = self._cache[key] = (now, addresses)
        addresses = cached[1]
        if not rotate:
            return addresses[0]
        index = self._next.get(key, 0)
        self._next[key] = index + 1
        return addresses[index % len(addresses)]

    def forget(self) -> None:
        self._cache.clear()
