"""Helpers for data-plane tests: real sockets on 127.0.0.1, every wait bounded.

- `run(coro)`: run a test coroutine on uvloop with an overall timeout.
- `config(...)`, `cluster(...)`, `route(...)`: small IR configs built in code.
- `gateway(config)`: an in-process ProxyServer on an ephemeral port.
- `Backend`: an in-process upstream (the demo backend, or a custom protocol) that counts
  accepted connections and requests.
- `Client`: a raw HTTP/1.1 client that writes bytes and parses responses with httptools.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httptools
import uvloop

from meshgate import ir
from meshgate.cli.demo_backend import BackendProtocol
from meshgate.proxy import Limits, ProxyContext, ProxyServer
from meshgate.routing import compile_config
from meshgate.runtime import Snapshot, SnapshotStore

T = TypeVar("T")
LOCAL = "127.0.0.1"


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


# --- IR builders ------------------------------------------------------------------------------


def cluster(name: str, *ports: int, ready: bool = True, **kwargs: Any) -> ir.Cluster:
    host = f"{name}.default.svc.cluster.local"
    return ir.Cluster(
        name=f"outbound|80||{host}",
        service_host=host,
        port=80,
        service_name=name,
        service_namespace="default",
        endpoints=tuple(ir.Endpoint(LOCAL, port, ready=ready) for port in ports),
        **kwargs,
    )


def route(
    name: str,
    *destinations: ir.Cluster | tuple[ir.Cluster, int],
    prefix: str = "/",
    match: ir.RouteMatch | None = None,
    rewrite: ir.Rewrite | None = None,
    **kwargs: Any,
) -> ir.Route:
    clusters = []
    for item in destinations:
        target, weight = item if isinstance(item, tuple) else (item, 100)
        clusters.append(ir.WeightedCluster(target.name, weight=weight, service_host=target.service_host))
    return ir.Route(
        name=name,
        match=match or ir.RouteMatch(path=ir.PathMatch(ir.PathMatchKind.PREFIX, prefix)),
        action=ir.Forward(tuple(clusters), rewrite=rewrite),
        **kwargs,
    )


def config(
    routes: Sequence[ir.Route],
    clusters: Sequence[ir.Cluster],
    *,
    domains: tuple[str, ...] = ("*",),
    extra_hosts: Sequence[ir.VirtualHost] = (),
    port: int = 80,
) -> ir.Config:
    hosts = (*extra_hosts, ir.VirtualHost(name="main", domains=domains, routes=tuple(routes)))
    chain = ir.FilterChain(
        name=f"http.{port}", server_names=(), handler=ir.HttpHandler(f"http.{port}", hosts)
    )
    listener = ir.Listener(name=f"0.0.0.0_{port}", port=port, chains=(chain,))
    return ir.Config(listeners=(listener,), clusters=tuple(sorted(clusters, key=lambda c: c.name)))


def snapshot(cfg: ir.Config, version: str = "test") -> Snapshot:
    return Snapshot(version, compile_config(cfg), cfg)


# --- the gateway ------------------------------------------------------------------------------


@dataclass
class Gateway:
    ctx: ProxyContext
    server: ProxyServer
    port: int

    def client(self) -> Client:
        return Client(self.port)


@contextlib.asynccontextmanager
async def gateway(
    cfg: ir.Config | Snapshot, *, limits: Limits | None = None, seed: int | None = 1, **kwargs: Any
) -> AsyncIterator[Gateway]:
    snap = cfg if isinstance(cfg, Snapshot) else snapshot(cfg)
    rng = random.Random(seed).random if seed is not None else random.random
    ctx = ProxyContext(SnapshotStore(snap), limits=limits or Limits(), rng=rng, **kwargs)
    binds = {listener.port: (LOCAL, 0) for listener in snap.config.listeners}
    server = ProxyServer(ctx, binds)
    bound = await server.start()
    try:
        yield Gateway(ctx, server, bound[0].listen_port)
    finally:
        await server.stop()


# --- backends ---------------------------------------------------------------------------------


@dataclass
class Backend:
    """An upstream on an ephemeral port. `protocol` builds the per-connection protocol; by
    default the demo backend (echoes the request as JSON)."""

    name: str = "backend"
    protocol: Callable[[Backend], asyncio.Protocol] | None = None
    port: int = 0
    accepted: int = 0
    server: asyncio.Server | None = None
    connections: list[asyncio.Protocol] = field(default_factory=list)

    async def start(self) -> Backend:
        loop = asyncio.get_running_loop()

        def factory() -> asyncio.Protocol:
            self.accepted += 1
            proto = self.protocol(self) if self.protocol else BackendProtocol(self.name)
            self.connections.append(proto)
            return proto

        self.server = await loop.create_server(factory, LOCAL, self.port or 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for proto in self.connections:
                transport = getattr(proto, "transport", None)
                if transport is not None:
                    transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 2)
            self.server = None

    async def __aenter__(self) -> Backend:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def backends(*names: str) -> AsyncIterator[list[Backend]]:
    started = [await Backend(name).start() for name in names]
    try:
        yield started
    finally:
        for backend in started:
            await backend.stop()


def free_port() -> int:
    """A port nobody listens on (bound then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


# --- client -----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


class _ResponseReader:
    def __init__(self, head_request: bool = False) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[Response] = []
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.head_request = head_request
        self.upgraded = False

    def on_message_begin(self) -> None:
        self.headers = []
        self.body = bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.head_request:
            self.done.append(Response(self.parser.get_status_code(), self.headers, b""))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        if not self.head_request:
            self.done.append(Response(self.parser.get_status_code(), self.headers, bytes(self.body)))


class _ClientProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.changed = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.changed.set()

    def eof_received(self) -> bool:
        self.eof = True
        self.changed.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.changed.set()


class Client:
    """One client connection. Writes raw bytes, reads and parses responses; every read has a
    deadline, and bytes that arrived before a reset are still returned."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proto = _ClientProtocol()

    async def __aenter__(self) -> Client:
        await asyncio.get_running_loop().create_connection(lambda: self.proto, LOCAL, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed_by_peer(self) -> bool:
        return self.proto.eof

    async def close(self) -> None:
        transport = self.proto.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        await asyncio.sleep(0)

    def abort(self) -> None:
        if self.proto.transport is not None:
            self.proto.transport.abort()

    def send(self, data: bytes) -> None:
        transport = self.proto.transport
        if transport is not None and not transport.is_closing() and not self.proto.eof:
            transport.write(data)

    async def _more(self) -> bool:
        """Wait for more bytes or EOF; False at EOF with nothing new."""
        if self.proto.eof:
            return False
        self.proto.changed.clear()
        await self.proto.changed.wait()
        return True

    def take(self) -> bytes:
        data = bytes(self.proto.buffer)
        self.proto.buffer.clear()
        return data

    async def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while marker not in self.proto.buffer:
                if not await self._more():
                    break
        data = self.take()
        head, sep, rest = data.partition(marker)
        self.proto.buffer += rest
        return head + sep

    async def read_some(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while not self.proto.buffer:
                if not await self._more():
                    break
        return self.take()

    async def read_responses(
        self, count: int = 1, *, head: bool = False, timeout: float = 5.0
    ) -> list[Response]:
        reader = _ResponseReader(head_request=head)
        async with asyncio.timeout(timeout):
            while len(reader.done) < count:
                data = self.take()
                if data:
                    try:
                        reader.parser.feed_data(data)
                    except httptools.HttpParserUpgrade as exc:
                        self.proto.buffer += data[exc.args[0] :]
                        break
                    continue
                if not await self._more():
                    break
        return reader.done

    async def read_until_eof(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while await self._more():
                pass
        return self.take()

    async def get(self, path: str = "/", host: str = "example.com", **headers: str) -> Response:
        self.send(build_request("GET", path, host=host, headers=headers))
        responses = await self.read_responses(1)
        assert responses, "connection closed without a response"
        return responses[0]


def build_request(
    method: str = "GET",
    path: str = "/",
    *,
    host: str = "example.com",
    headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or ())
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in items]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def fetch(port: int, path: str = "/", host: str = "example.com", **headers: str) -> Response:
    """One request on a fresh connection."""
    async with Client(port) as client:
        return await client.get(path, host=host, **headers)
