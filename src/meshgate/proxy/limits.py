"""Every data-plane limit in one frozen object, with the default and the reason for it.

Sizes are bytes, times are seconds. `0` disables a size limit; `None` disables a timeout.
Defaults follow Envoy as configured by istiod for gateways where Envoy has one, otherwise common
proxy practice (nginx, uvicorn).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

KIB = 1024

# The clock of per-request times (when a head began, when an exchange ended, the upstream service
# time) and of the timeouts checked against them (watchdog.py): a plain C call, ~0.15k instructions,
# where loop.time() is a method call on a loop mypyc cannot type (~0.3k), twice per request.
# Timers (call_later) keep the loop's own clock: nothing compares the two.
clock: Final = time.monotonic


@dataclass(frozen=True, slots=True)
class Limits:
    # Request line + header block. Envoy `max_request_headers_kb` = 60 → 431 when exceeded.
    max_header_bytes: int = 60 * KIB
    # Request target length; counted in the header block by Envoy too, so it also answers 431.
    max_request_line: int = 16 * KIB
    # Envoy `max_headers_count` default; more headers → 431.
    max_header_count: int = 100
    # A backend's response head (Envoy `max_response_headers_kb` = 60): larger → 502 UPE.
    max_response_head: int = 60 * KIB
    # Request body; 0 = unlimited (Envoy's HCM has no body limit without a buffer filter) → 413.
    max_body_bytes: int = 0
    # Time allowed to receive a complete request head once its first byte arrived → 408 + close.
    header_read_timeout: float = 30.0
    # Keep-alive: close a downstream connection that stays idle between requests this long.
    idle_timeout: float = 60.0
    # Upstream TCP connect; None = the cluster's `connection_pool.connect_timeout` (Istio 10 s).
    upstream_connect_timeout: float | None = None
    # Idle upstream connections are closed after min(cluster idle_timeout, this). Most backends
    # close idle keep-alive connections after 60-75 s; closing ours first avoids reusing a socket
    # the backend is about to close.
    upstream_idle_timeout: float = 55.0
    # Flow control (uvicorn/aiohttp style): a transport whose write buffer passes `high_water`
    # pauses reading on the opposite side until it drains below `low_water`.
    high_water: int = 256 * KIB
    low_water: int = 64 * KIB
    # WebSocket / Upgrade tunnels: closed after this long without bytes in either direction
    # (Envoy tcp_proxy idle_timeout default: 1 h).
    tunnel_idle_timeout: float = 3600.0
    # Graceful stop: wait this long for in-flight requests before closing connections.
    drain_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.low_water > self.high_water:
            raise ValueError("low_water must not exceed high_water")


DEFAULT_LIMITS = Limits()
