"""Upgrade tunnels (WebSocket): after the backend's `101 Switching Protocols`, bytes flow both ways
unchanged until either side closes or nothing moves for `Limits.tunnel_idle_timeout`.

Flow control is symmetric: a side whose write buffer passes the high-water mark pauses reading on
the other side until it drains. The idle check is lazy: one timer per tunnel that re-arms itself
for the remaining time instead of being reset on every chunk.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange
    from meshgate.proxy.upstream import UpstreamConnection


class Tunnel:
    __slots__ = ("_closed", "_timer", "conn", "exchange", "last_activity", "proto")

    def __init__(self, exchange: Exchange, conn: UpstreamConnection, from_upstream: bytes) -> None:
        self.exchange = exchange
        self.proto = proto = exchange.proto
        self.conn = conn
        self._closed = False
        conn.sink = None
        conn.tunnel = self
        proto.tunnel = self
        loop = proto.loop
        self.last_activity = loop.time()
        if from_upstream:
            exchange.bytes_sent += len(from_upstream)
            proto.out.append(from_upstream)
        pending = proto.take_tunnel_buffer()
        if pending:
            exchange.bytes_received += len(pending)
            conn.out.append(pending)
            conn.flush()
        proto.resume_reading(proto.PAUSE_TUNNEL)
        self._timer: asyncio.TimerHandle | None = loop.call_later(
            proto.limits.tunnel_idle_timeout, self._check_idle
        )

    def from_downstream(self, data: bytes) -> None:
        self.exchange.bytes_received += len(data)
        self.last_activity = self.proto.loop.time()
        if not self.conn.closed:
            self.conn.transport.write(data)

    def from_upstream(self, data: bytes) -> None:
        self.exchange.bytes_sent += len(data)
        self.last_activity = self.proto.loop.time()
        self.proto.write_now(data)

    def upstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.proto.pause_reading(self.proto.PAUSE_UPSTREAM)
        else:
            self.proto.resume_reading(self.proto.PAUSE_UPSTREAM)

    def downstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.conn.pause_reading()
        else:
            self.conn.resume_reading()

    def downstream_lost(self) -> None:
        self.conn.abort()
        self._end()

    def upstream_lost(self) -> None:
        self.proto.close()
        self._end()

    def _check_idle(self) -> None:
        self._timer = None
        if self._closed:
            return
        timeout = self.proto.limits.tunnel_idle_timeout
        remaining = self.last_activity + timeout - self.proto.loop.time()
        if remaining > 0:
            self._timer = self.proto.loop.call_later(remaining, self._check_idle)
            return
        self.exchange.details = "tunnel_idle_timeout"
        self.conn.abort()
        self.proto.close()
        self._end()

    def _end(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.exchange.tunnel_closed()
