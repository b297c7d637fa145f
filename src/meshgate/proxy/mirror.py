"""Request mirroring (istio-semantics 3.14): fire-and-forget copies to other clusters.

The copy carries the same upstream head as the primary request (Host unchanged: Istio >= 1.28 no
longer appends `-shadow`) and its body, which is collected only up to `MAX_BODY` bytes (a larger
request is not mirrored). Each copy opens its own short-lived connection, reads and discards the
response and closes. At most `MAX_IN_FLIGHT` copies run at once per process (more are dropped),
each bounded by `TIMEOUT` (or the route timeout when shorter), so a slow or dead mirror can neither
slow down nor fail the primary request: nothing of the mirror is awaited by the exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, cast

import httptools

from meshgate import ir
from meshgate.proxy import upstream_tls

if TYPE_CHECKING:
    from meshgate.proxy.upstream import UpstreamPools

MAX_BODY = 64 * 1024
MAX_IN_FLIGHT = 64
TIMEOUT = 10.0

_tasks: set[asyncio.Task[None]] = set()
stats = {"sent": 0, "dropped": 0, "failed": 0}


class _Discard(asyncio.Protocol):
    """Reads one response, throws it away, and closes the connection."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._end()

    def on_message_complete(self) -> None:
        self._end()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _end(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)


def in_flight() -> int:
    return len(_tasks)


def launch(
    pools: UpstreamPools, cluster: ir.Cluster, head: bytes, body: list[bytes], timeout: float | None
) -> None:
    """Start one mirrored copy unless too many are already running."""
    if len(_tasks) >= MAX_IN_FLIGHT:
        stats["dropped"] += 1
        return
    pool = pools.pick(cluster)
    if pool is None:
        stats["dropped"] += 1
        return
    limit = min(timeout, TIMEOUT) if timeout else TIMEOUT
    task = asyncio.get_running_loop().create_task(
        _send(cluster, pool.address, pool.port, [head, *body], limit)
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    stats["sent"] += 1


async def _send(cluster: ir.Cluster, address: str, port: int, data: list[bytes], limit: float) -> None:
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(limit):
            tls = cluster.tls
            if tls is not None and tls.mode in upstream_tls.ORIGINATING:
                name = upstream_tls.server_name(tls, _host_of(data[0])) or None
                transport, proto = await loop.create_connection(
                    _Discard, address, port, ssl=upstream_tls.context_for(tls), server_hostname=name
                )
            else:
                transport, proto = await loop.create_connection(_Discard, address, port)
            transport.writelines(data)
            await proto.done
    except (OSError, TimeoutError, ValueError):
        stats["failed"] += 1
    finally:
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()


def _host_of(head: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        if line[:5].lower() == b"host:":
            return line[5:].strip().decode("latin-1")
    return ""


async def drain() -> None:
    """Cancel copies still running (tests, shutdown)."""
    for task in list(_tasks):
        task.cancel()
    if _tasks:
        await asyncio.gather(*_tasks, return_exceptions=True)
