"""Listener changes on reload, and the graceful drain on SIGTERM (the way Istio's gateway drains).

Reload (`reconcile`): listeners whose address stays are never closed (their sockets and
connections live on; every new request reads the new snapshot). Added addresses start listening.
Removed ones stop accepting at once; their open connections are drained: each gets
`connection: close` on its next response and whatever is still open after the drain timeout is
closed.

Shutdown (`drain_and_stop`): readiness turns 503 first, existing and new connections are marked
to close after their current response, the listeners keep accepting for `drain_delay` (load
balancers notice the failing readiness probe meanwhile), then stop accepting; in-flight requests
complete until `drain_timeout` (counted from the signal); the rest is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

from meshgate.proxy.server import ListenError, ProxyServer
from meshgate.runtime.snapshot import Snapshot
from meshgate.runtime.store import SnapshotStore


def _listen_port(proto: Any) -> int:
    address = str(getattr(proto, "local_address", ""))
    tail = address.rpartition(":")[2]
    return int(tail) if tail.isdigit() else -1


def mark_closing(server: ProxyServer, ports: set[int] | None = None) -> int:
    """Every open connection (on `ports`, or all) closes after its current response (it gets
    `connection: close`); returns how many were newly marked."""
    marked = 0
    for proto in list(server.ctx.connections):
        if ports is not None and _listen_port(proto) not in ports:
            continue
        if getattr(proto, "closing", True) is False:  # HTTP connections; L4 tunnels have no "next response"
            proto.closing = True
            marked += 1
    return marked


def _busy(proto: Any) -> bool:
    """A request is in flight (or being received) on this connection. Connections that are not
    HTTP/1 protocols (L4 tunnels) count as busy until they end or the drain times out."""
    if not hasattr(proto, "queue"):
        return True
    return proto.current is not None or bool(proto.queue) or proto.receiving is not None or proto.in_head


async def _close_later(server: ProxyServer, ports: set[int], timeout: float) -> None:
    """Envoy's listener drain: for `timeout`, every connection of the removed listener gets
    `connection: close` on its next response (and closes after it); what is left then is closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        mark_closing(server, ports)
        if not any(_listen_port(p) in ports for p in server.ctx.connections):
            return
        await asyncio.sleep(0.1)
    for proto in list(server.ctx.connections):
        if _listen_port(proto) in ports:
            proto.close()


def _pin(server: ProxyServer, ports: set[int], previous: Snapshot | None) -> None:
    """Connections of a removed listener keep routing with the snapshot they were accepted
    under while they drain (as Envoy keeps a draining listener's filter chains): their protocol
    gets a copy of the context whose store holds the previous snapshot (pools and stats shared)."""
    if previous is None:
        return
    pinned = copy.copy(server.ctx)
    pinned.store = SnapshotStore(previous)
    for proto in list(server.ctx.connections):
        if _listen_port(proto) in ports:
            proto.ctx = pinned


async def reconcile(
    server: ProxyServer, snapshot: Snapshot, previous: Snapshot | None = None
) -> dict[str, Any]:
    """Open added listen addresses, drain removed ones; unchanged ones are left alone."""
    server.skipped.clear()
    wanted = {(host, port) for _, host, port in server.plan(snapshot.config)}
    have = set(server.listening)
    removed = sorted(have - wanted)
    added = sorted(wanted - have)
    problems: list[str] = []
    drained: set[int] = set()
    for address in removed:
        listener = server.listening.pop(address)
        for sock in listener.sockets:
            drained.add(int(sock.getsockname()[1]))
        listener.close()  # stop accepting; accepted connections are not closed by this
        with contextlib.suppress(ValueError):
            server.servers.remove(listener)
        server.bound = [b for b in server.bound if (b.host, b.listen_port) != address]
    if drained:
        _pin(server, drained, previous)
        task = asyncio.get_running_loop().create_task(
            _close_later(server, drained, server.ctx.limits.drain_timeout)
        )
        _background.add(task)
        task.add_done_callback(_background.discard)
    for address in added:
        try:
            await server.start(only={address})
        except ListenError as exc:
            problems.append(f"cannot listen on {exc.strerror}")
    problems += [f"listener {listener.name} not served: {reason}" for listener, reason in server.skipped]
    result: dict[str, Any] = {
        "added": [f"{h}:{p}" for h, p in added if (h, p) in server.listening],
        "removed": [f"{h}:{p}" for h, p in removed],
    }
    if problems:
        result["problems"] = problems
    return result


_background: set[asyncio.Task[None]] = set()


async def drain_and_stop(server: ProxyServer, drain_delay: float, drain_timeout: float) -> None:
    """SIGTERM: not ready → keep accepting for `drain_delay` → stop accepting → finish in-flight
    requests until `drain_timeout` after the start → close everything."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    server.ready = False
    deadline_accept = start + max(drain_delay, 0.0)
    while True:
        mark_closing(server)  # also the connections accepted during the delay
        if loop.time() >= deadline_accept:
            break
        await asyncio.sleep(min(0.05, deadline_accept - loop.time()))
    for listener in server.servers:
        listener.close()
    deadline = start + max(drain_timeout, drain_delay)
    while loop.time() < deadline:
        mark_closing(server)
        busy = False
        for proto in list(server.ctx.connections):
            if _busy(proto):
                busy = True
            else:
                proto.close()
        if not busy:
            break
        await asyncio.sleep(0.05)
    for proto in list(server.ctx.connections):
        proto.close()  # hard stop: whatever is still open after the drain timeout
    await server.stop()  # closes what is left (hard stop), pools, access log
