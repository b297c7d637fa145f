"""`meshgate demo-backend`: a tiny upstream for demos and tests.

Every request is answered with JSON naming the backend and echoing what it received (method, path,
query, host, headers, number of body bytes). Query parameters shape the answer:

    status=N    response status (default 200)
    size=N      instead of JSON, N bytes of body (streamed with flow control)
    chunked=1   chunked transfer-encoding instead of content-length
    delay=S     wait S seconds before answering
    close=1     close-delimited body (no content-length, connection closed after)

`GET /ws` with a WebSocket handshake echoes every text/binary frame back (RFC 6455).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sys
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import httptools

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
_BLOCK = b"x" * 65536


class BackendProtocol(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body_bytes = 0
        self.queue: list[dict[str, Any]] = []
        self.busy = False
        self.ws = False
        self.ws_buffer = b""
        self.drained = asyncio.Event()
        self.drained.set()

    # --- asyncio ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.ws:
            self._ws_data(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._ws_accept(data[exc.args[0] :])
        except httptools.HttpParserError:
            self._send(400, b"bad request\n", close=True)

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.drained.set()

    # --- httptools -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)

    def on_message_complete(self) -> None:
        url = urlsplit(self.url.decode("latin-1"))
        lower: dict[str, str] = {}
        for name, value in self.headers:
            key = name.lower()
            lower[key] = f"{lower[key]},{value}" if key in lower else value
        request = {
            "name": self.name,
            "method": self.parser.get_method().decode(),
            "path": url.path,
            "query": url.query,
            "host": lower.get("host", ""),
            "headers": lower,
            "body_bytes": self.body_bytes,
            "keep_alive": self.parser.should_keep_alive(),
        }
        if self.parser.should_upgrade():
            self.queue.append(request)
            return
        self.queue.append(request)
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self._drain_queue())

    # --- responses -------------------------------------------------------------------------

    async def _drain_queue(self) -> None:
        while self.queue:
            request = self.queue.pop(0)
            await self._respond(request)
        self.busy = False

    async def _respond(self, request: dict[str, Any]) -> None:
        params = dict(parse_qsl(request["query"]))
        if "delay" in params:
            await asyncio.sleep(float(params["delay"]))
        status = int(params.get("status", "200"))
        close = params.get("close") == "1" or not request["keep_alive"]
        if "size" in params:
            await self._stream(status, int(params["size"]), chunked=params.get("chunked") == "1", close=close)
            return
        body = json.dumps(request, sort_keys=True).encode() + b"\n"
        head_only = request["method"] == "HEAD"
        if params.get("chunked") == "1":
            self._write(_head(status, "transfer-encoding: chunked\r\ncontent-type: application/json\r\n"))
            if not head_only:
                self._write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        elif params.get("close") == "1":
            self._write(_head(status, "connection: close\r\ncontent-type: application/json\r\n") + body)
        else:
            extra = "connection: close\r\n" if close else ""
            head = _head(status, f"content-length: {len(body)}\r\ncontent-type: application/json\r\n{extra}")
            self._write(head if head_only else head + body)
        if close and self.transport is not None:
            self.transport.close()

    async def _stream(self, status: int, size: int, *, chunked: bool, close: bool) -> None:
        if chunked:
            self._write(_head(status, "transfer-encoding: chunked\r\n"))
        elif close:
            self._write(_head(status, "connection: close\r\n"))
        else:
            self._write(_head(status, f"content-length: {size}\r\n"))
        left = size
        while left > 0 and self.transport is not None and not self.transport.is_closing():
            block = _BLOCK if left >= len(_BLOCK) else _BLOCK[:left]
            left -= len(block)
            self._write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            await self.drained.wait()
        if chunked:
            self._write(b"0\r\n\r\n")
        if close and self.transport is not None:
            self.transport.close()

    def _send(self, status: int, body: bytes, *, close: bool) -> None:
        self._write(_head(status, f"content-length: {len(body)}\r\n") + body)
        if close and self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # --- WebSocket echo --------------------------------------------------------------------

    def _ws_accept(self, rest: bytes) -> None:
        empty: dict[str, Any] = {"headers": {}, "path": "", "keep_alive": False}
        request = self.queue.pop() if self.queue else empty
        if request["path"] != "/ws":  # an upgrade elsewhere is refused: answer normally, then close
            request["keep_alive"] = False
            self.queue.append(request)
            if not self.busy:
                self.busy = True
                asyncio.get_running_loop().create_task(self._drain_queue())
            return
        key = request["headers"].get("sec-websocket-key", "")
        if not key:
            self._send(400, b"not a websocket handshake\n", close=True)
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()
        self._write(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            + f"sec-websocket-accept: {accept}\r\nx-backend: {self.name}\r\n\r\n".encode()
        )
        self.ws = True
        if rest:
            self._ws_data(rest)

    def _ws_data(self, data: bytes) -> None:
        self.ws_buffer += data
        while True:
            frame = parse_frame(self.ws_buffer)
            if frame is None:
                return
            opcode, payload, used = frame
            self.ws_buffer = self.ws_buffer[used:]
            if opcode == 0x8:  # close: answer and hang up
                self._write(encode_frame(0x8, payload[:2]))
                if self.transport is not None:
                    self.transport.close()
                return
            if opcode == 0x9:  # ping
                self._write(encode_frame(0xA, payload))
            elif opcode in (0x1, 0x2):
                self._write(encode_frame(opcode, payload))


def _head(status: int, extra: str) -> bytes:
    return f"HTTP/1.1 {status} X\r\nserver: demo-backend\r\n{extra}\r\n".encode("latin-1")


def parse_frame(buffer: bytes) -> tuple[int, bytes, int] | None:
    """(opcode, unmasked payload, bytes used) of the first complete frame, or None."""
    if len(buffer) < 2:
        return None
    opcode = buffer[0] & 0x0F
    masked = buffer[1] & 0x80
    length = buffer[1] & 0x7F
    at = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length = int.from_bytes(buffer[2:4], "big")
        at = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length = int.from_bytes(buffer[2:10], "big")
        at = 10
    mask = b""
    if masked:
        if len(buffer) < at + 4:
            return None
        mask = buffer[at : at + 4]
        at += 4
    if len(buffer) < at + length:
        return None
    payload = buffer[at : at + length]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload, at + length


def encode_frame(opcode: int, payload: bytes, mask: bytes = b"") -> bytes:
    """One FIN frame; clients must pass a 4-byte `mask`, servers must not."""
    length = len(payload)
    head = bytes([0x80 | opcode])
    flag = 0x80 if mask else 0
    if length < 126:
        head += bytes([flag | length])
    elif length < 65536:
        head += bytes([flag | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([flag | 127]) + length.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + payload
    return head + payload


async def start_backend(host: str, port: int, name: str) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: BackendProtocol(name), host, port, reuse_address=True)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo-backend",
        help="run a tiny echo backend (for demos and tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to listen on")
    parser.add_argument("--name", default="demo-backend", help="name reported in every answer")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshgate.proxy.server import parse_address

    host, port = parse_address(args.listen)

    async def main() -> None:
        server = await start_backend(host, port, args.name)
        bound = server.sockets[0].getsockname()
        print(f"demo-backend {args.name} listening on {bound[0]}:{bound[1]}", file=sys.stderr, flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"meshgate demo-backend: cannot listen on {args.listen}: {reason}", file=sys.stderr)
        return 1
    return 0
