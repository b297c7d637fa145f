"""Helpers for traffic-management tests: a scripted backend whose answers depend on the request
number (fail the first N, be slow once, ...), and an in-memory access log."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httptools

from meshgate.proxy.access_log import AccessLog
from proxy.gw import Backend


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """`answer(n, seen)` → (status, delay seconds) for the n-th request (1-based) of all
    connections of one backend."""

    name: str
    answer: Callable[[int, Seen], tuple[int, float]] = lambda n, seen: (200, 0.0)
    seen: list[Seen] = field(default_factory=list)

    def backend(self) -> Backend:
        return Backend(self.name, protocol=lambda _: _Scripted(self))


class _Scripted(asyncio.Protocol):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        seen = Seen(self.parser.get_method().decode(), self.url.decode(), self.headers, bytes(self.body))
        self.script.seen.append(seen)
        status, delay = self.script.answer(len(self.script.seen), seen)
        payload = json.dumps(
            {"name": self.script.name, "n": len(self.script.seen), "headers": seen.headers, "path": seen.path}
        ).encode()
        response = b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
            status,
            len(payload),
            payload,
        )
        if delay:
            asyncio.get_running_loop().call_later(delay, self._write, response)
        else:
            self._write(response)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def memory_log() -> tuple[AccessLog, io.StringIO]:
    stream = io.StringIO()
    return AccessLog(stream, "json", flush_interval=0.01), stream


def log_records(log: AccessLog, stream: io.StringIO) -> list[dict[str, Any]]:
    log.flush()
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
