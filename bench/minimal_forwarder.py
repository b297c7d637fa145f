"""The reference point of the data-plane benchmark: the least an HTTP/1.1 forwarder in Python can do.

    .venv/bin/python bench/minimal_forwarder.py --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081

asyncio + uvloop + httptools, Protocol callbacks only (no Task per request). Each client connection
takes an upstream keep-alive connection from a shared idle list (or opens one) and gives it back when
it closes with no response outstanding. Requests and responses are parsed to find where each message
ends and are forwarded as they came (bytes unchanged, Content-Length or chunked), one write per
complete message (head and body together; a response is flushed early past 64 KiB). No routing,
header rewriting, logging or metrics. A bench tool, not product code: HEAD requests, upgrades and
1xx responses are not handled. `--reuse-port` lets several copies share the address.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque

import httptools
import uvloop

FLUSH = 65536


class Side(asyncio.Protocol):
    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Upstream(Side):
    def __init__(self, pool: list[Upstream]) -> None:
        self.pool = pool
        self.client: Client | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.buffer: list[bytes] = []
        self.size = 0
        self.outstanding = 0
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        self.buffer.append(data)
        self.size += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.reusable = False
            self.close()
            return
        if self.size >= FLUSH:
            self.flush()

    def on_message_complete(self) -> None:
        self.outstanding -= 1
        self.reusable = self.reusable and self.parser.should_keep_alive()
        self.flush()
        if self.client is not None:
            self.client.response_done()

    def flush(self) -> None:
        if self.buffer and self.client is not None and self.client.transport is not None:
            self.client.transport.write(b"".join(self.buffer))
        self.buffer.clear()
        self.size = 0

    def release(self) -> None:
        """The client has gone: back to the idle list if nothing is outstanding."""
        self.client = None
        if self.outstanding == 0 and self.reusable and self.transport is not None:
            self.pool.append(self)
        else:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self in self.pool:
            self.pool.remove(self)
        if self.client is not None:
            self.client.close()


class Client(Side):
    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.upstream: Upstream | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: list[bytes] = []  # complete requests not yet written (no upstream yet)
        self.partial: list[bytes] = []  # bytes of a request still being received
        self.keep_alive: deque[bool] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.forwarder.attach(self)

    def data_received(self, data: bytes) -> None:
        self.partial.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def on_message_complete(self) -> None:
        self.keep_alive.append(self.parser.should_keep_alive())
        self.pending.append(b"".join(self.partial))  # may hold the start of a pipelined request
        self.partial.clear()
        self.send()

    def upstream_ready(self, upstream: Upstream) -> None:
        self.upstream, upstream.client = upstream, self
        self.send()

    def send(self) -> None:
        upstream = self.upstream
        if self.pending and upstream is not None and upstream.transport is not None:
            upstream.outstanding += len(self.pending)
            upstream.transport.write(b"".join(self.pending))
            self.pending.clear()

    def response_done(self) -> None:
        if self.keep_alive and not self.keep_alive.popleft():
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.upstream is not None:
            self.upstream.release()
            self.upstream = None


class Forwarder:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Upstream] = []

    def attach(self, client: Client) -> None:
        if self.idle:
            client.upstream_ready(self.idle.pop())
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: Upstream(self.idle), self.host, self.port))

        def connected(done: asyncio.Task[tuple[asyncio.BaseTransport, Upstream]]) -> None:
            if done.cancelled() or done.exception() is not None:
                client.close()
            elif client.transport is None:
                done.result()[1].release()
            else:
                client.upstream_ready(done.result()[1])

        task.add_done_callback(connected)


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(listen: tuple[str, int], upstream: tuple[str, int], reuse_port: bool) -> None:
    forwarder = Forwarder(*upstream)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(forwarder), *listen, reuse_port=reuse_port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", type=address, required=True, help="HOST:PORT to serve")
    parser.add_argument("--upstream", type=address, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT on the listener")
    args = parser.parse_args()
    uvloop.run(serve(args.listen, args.upstream, args.reuse_port))


if __name__ == "__main__":
    main()
