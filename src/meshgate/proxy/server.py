"""Listeners: one socket per IR listener, accept into `HttpProtocol`, graceful stop.

Where a listener listens: `--bind PORT=HOST:PORT` for its server port if given, else
`Listener.bind` and `Listener.effective_listen_port` (the Service targetPort when translation set
one). Plain HTTP listeners accept straight into `HttpProtocol`; listeners with TLS chains
(terminating or passthrough) and TCP listeners go through l4.py, which peeks at the ClientHello,
selects the chain by SNI and terminates TLS with that chain's context (tls.py) or proxies bytes.
Listeners this data plane cannot serve (ISTIO_MUTUAL, AUTO_PASSTHROUGH) are skipped and reported
in `ProxyServer.skipped`, the rest is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import cast

from meshgate import ir
from meshgate.proxy import mirror
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.http1 import HttpProtocol
from meshgate.proxy.l4 import SniffingListener, served_here
from meshgate.proxy.tls import TERMINATING, TlsContexts

_SERVED_MODES = TERMINATING | {ir.TlsMode.PASSTHROUGH}


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
    for chain in chains:
        if chain.tls is None and chain.transport == "tls" and isinstance(chain.handler, ir.HttpHandler):
            return f"chain {chain.name}: HTTP over TLS without TLS settings"
        if chain.tls is not None and chain.tls.mode not in _SERVED_MODES:
            return f"chain {chain.name}: TLS mode {chain.tls.mode.value} is not served by the data plane"
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
        self.tls = TlsContexts()  # chain SSLContexts, derived from whichever snapshot is current
        self.reuse_port = False  # --workers: every worker binds the same addresses (SO_REUSEPORT)
        self.listening: dict[tuple[str, int], asyncio.Server] = {}  # requested address → server

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

    async def start(self, only: Collection[tuple[str, int]] | None = None) -> list[BoundListener]:
        """Listen on every planned address, or (reload) only on those in `only`."""
        snapshot = self.ctx.store.current
        if snapshot is None:
            raise RuntimeError("no configuration to serve")
        loop = asyncio.get_running_loop()
        tls_problems = self.tls.prepare(snapshot.config)
        if only is None:
            self.problems += tls_problems
        for listener, host, port in self.plan(snapshot.config):
            if only is not None and (host, port) not in only:
                continue
            if not self.tls.serves_something(listener):
                self.skipped.append((listener, "no chain has a usable certificate"))
                continue

            def factory(listener: ir.Listener = listener) -> HttpProtocol:
                return HttpProtocol(self.ctx, listener.port, listener.bind, "http", None)

            try:
                if served_here(listener):  # TLS (SNI, passthrough) and TCP: l4.py
                    lsock = socket.create_server(
                        (host, port), family=_family(host), backlog=1024, reuse_port=self.reuse_port
                    )
                    sniffing = SniffingListener(self.ctx, listener, lsock, self.tls)
                    server = cast(asyncio.Server, sniffing)  # close/wait_closed/sockets
                else:
                    server = await loop.create_server(
                        factory,
                        host,
                        port,
                        reuse_address=True,
                        reuse_port=self.reuse_port or None,
                        backlog=1024,
                        family=_family(host),
                    )
            except OSError as exc:
                if only is None:
                    await self.stop()
                reason = exc.strerror or str(exc)
                raise ListenError(exc.errno, f"{host}:{port} ({listener.name}): {reason}") from exc
            self.servers.append(server)
            self.listening[(host, port)] = server
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
        await mirror.drain()  # copies are fire-and-forget: none may outlive the server
        await self.ctx.pools.close()
        if self.ctx.access_log is not None:
            self.ctx.access_log.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
