"""Listeners: one socket per IR listener, accept into `HttpProtocol`, graceful stop.

Where a listener listens: `--bind PORT=HOST:PORT` for its server port if given, else
`Listener.bind` and `Listener.effective_listen_port` (the Service targetPort when translation set
one). HTTPS listeners terminate TLS with the certificate of the chain the SNI selects (tls.py).
Listeners whose chains this data plane cannot serve yet (TLS passthrough, TCP) are skipped and
reported in `ProxyServer.skipped`, the rest is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from meshgate import ir
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.http1 import HttpProtocol
from meshgate.proxy.tls import TERMINATING, ListenerTls


class ListenError(OSError):
    """A listen address could not be bound (taken, not local, no permission)."""


@dataclass(frozen=True, slots=True)
class BoundListener:
    name: str
    port: int  # the Gateway server port
    host: str  # where it actually listens
    listen_port: int  # actual port (resolved when 0 was asked for)


def parse_bind(text: str) -> tuple[int, tuple[str, int]]:
    """`80=127.0.0.1:18080` → (80, ("127.0.0.1", 18080)); IPv6 as `[::1]:18080`."""
    port_text, sep, address = text.partition("=")
    if not sep:
        raise ValueError(f"--bind {text!r}: expected PORT=HOST:PORT")
    return int(port_text), parse_address(address)


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{text!r}: expected HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def unsupported_reason(listener: ir.Listener) -> str:
    """Why this data plane cannot serve the listener, or "" when it can."""
    chains = listener.chains
    if not chains:
        return "no filter chain"
    if any(not isinstance(chain.handler, ir.HttpHandler) for chain in chains):
        return "TLS passthrough and TCP chains need an L4 proxy, not in the HTTP/1.1 data plane yet"
    tls = [chain for chain in chains if chain.tls is not None or chain.transport == "tls"]
    if tls and len(tls) != len(chains):
        return "plaintext and TLS chains on one port are not supported"
    for chain in tls:
        if chain.tls is None or chain.tls.mode not in TERMINATING:
            return f"chain {chain.name}: TLS mode is not terminated by the data plane"
    return ""


class ProxyServer:
    def __init__(self, ctx: ProxyContext, binds: Mapping[int, tuple[str, int]] | None = None) -> None:
        self.ctx = ctx
        self.binds = dict(binds or {})
        self.servers: list[asyncio.Server] = []
        self.bound: list[BoundListener] = []
        self.skipped: list[tuple[ir.Listener, str]] = []
        self.problems: list[str] = []  # served, but not everything: e.g. a chain without its certificate
        self.ready = False

    def plan(self, config: ir.Config) -> list[tuple[ir.Listener, str, int]]:
        plan: list[tuple[ir.Listener, str, int]] = []
        seen: set[tuple[str, int]] = set()
        for listener in config.listeners:
            reason = unsupported_reason(listener)
            if reason:
                self.skipped.append((listener, reason))
                continue
            host, port = self.binds.get(listener.port, (listener.bind, listener.effective_listen_port))
            if (host, port) in seen and port != 0:
                continue  # several listeners on one address: one socket, routing tells them apart
            seen.add((host, port))
            plan.append((listener, host, port))
        return plan

    async def start(self) -> list[BoundListener]:
        snapshot = self.ctx.store.current
        if snapshot is None:
            raise RuntimeError("no configuration to serve")
        loop = asyncio.get_running_loop()
        for listener, host, port in self.plan(snapshot.config):
            tls: ListenerTls | None = None
            if any(chain.tls is not None for chain in listener.chains):
                tls = ListenerTls(listener, snapshot.table)
                self.problems += [f"listener {listener.name}: {p}" for p in tls.problems]
                if not tls.usable:
                    self.skipped.append((listener, "no chain has a usable certificate"))
                    continue

            def factory(listener: ir.Listener = listener, tls: ListenerTls | None = tls) -> HttpProtocol:
                scheme = "https" if tls is not None else "http"
                return HttpProtocol(self.ctx, listener.port, listener.bind, scheme, tls)

            try:
                server = await loop.create_server(
                    factory,
                    host,
                    port,
                    reuse_address=True,
                    backlog=1024,
                    family=_family(host),
                    ssl=tls.default if tls is not None else None,
                )
            except OSError as exc:
                await self.stop()
                reason = exc.strerror or str(exc)
                raise ListenError(exc.errno, f"{host}:{port} ({listener.name}): {reason}") from exc
            self.servers.append(server)
            for sock in server.sockets:
                name = sock.getsockname()
                self.bound.append(BoundListener(listener.name, listener.port, str(name[0]), int(name[1])))
        self.ready = True
        return self.bound

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish for `drain_timeout`, then close."""
        self.ready = False
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ctx.limits.drain_timeout
        while loop.time() < deadline and any(p.current is not None for p in self.ctx.connections):
            await asyncio.sleep(0.05)
        for proto in list(self.ctx.connections):
            proto.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self.servers.clear()
        await self.ctx.pools.close()
        if self.ctx.access_log is not None:
            self.ctx.access_log.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
