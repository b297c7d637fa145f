"""Live-operation helpers: configs that change at test time, a tiny async HTTP/1.1 client, a
bounded loopback load generator, and admin API helpers. Everything on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.e2e_helpers import Proc, free_port, http_get, process, ready, service, wait_until


def config(
    routes: dict[str, str], ports: Sequence[int] = (80,), *, header: str = "v0", extra: str = ""
) -> str:
    """A Gateway with one HTTP server per port, one VS: prefix → backend service, and a response
    header `x-config: <header>` so a test sees which snapshot served a request."""
    servers = "".join(
        f"    - port: {{number: {p}, name: http-{p}, protocol: HTTP}}\n      hosts: ['*']\n" for p in ports
    )
    http = "".join(
        f"    - match: [{{uri: {{prefix: {prefix}}}}}]\n"
        f"      headers: {{response: {{set: {{x-config: {header}}}}}}}\n"
        f"      route: [{{destination: {{host: {backend}}}}}]\n"
        for prefix, backend in routes.items()
    )
    return f"""\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: edge, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: app, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [istio-system/edge]
  http:
{http}{extra}"""


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Gateway:
    proc: Proc
    ports: dict[int, int]  # server port → loopback port
    admin: int

    def get_json(self, path: str) -> dict[str, Any]:
        status, body = http_get(f"http://127.0.0.1:{self.admin}{path}")
        assert status == 200, (status, body)
        return dict(json.loads(body))

    def history(self) -> list[dict[str, Any]]:
        return list(self.get_json("/reload_history")["reloads"])

    def wait_attempts(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        assert wait_until(lambda: len(self.history()) >= n, timeout), (self.history(), self.proc.stderr())
        return self.history()


@contextlib.contextmanager
def gateway(
    cfg: Path, tmp: Path, ports: Sequence[int] = (80,), *extra: str, workers: int = 1
) -> Iterator[Gateway]:
    mapping = {p: free_port() for p in ports}
    admin = free_port()
    args = ["serve", "-f", str(cfg), "--admin", f"127.0.0.1:{admin}", "--workers", str(workers)]
    for p, q in mapping.items():
        args += ["--bind", f"{p}=127.0.0.1:{q}"]
    args += ["--debounce", "0.05", "--drain-delay", "0", "--drain-timeout", "3", *extra]
    with process(args, tmp, "gateway") as proc:
        if not wait_until(lambda: ready(admin) or proc.popen.poll() is not None):
            raise AssertionError(f"gateway not ready: {proc.stderr()}")
        assert proc.popen.poll() is None, proc.stderr()
        yield Gateway(proc, mapping, admin)


def backends_config(names: dict[str, int]) -> str:
    return "".join(service(name, port) for name, port in names.items())


# --- client -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = await reader.read()
    return Response(status, headers, body)


async def request(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, path: str, headers: str = ""
) -> Response:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: app.example\r\n{headers}\r\n".encode())
    return await asyncio.wait_for(read_response(reader), 5.0)


async def get(port: int, path: str, headers: str = "") -> Response:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await request(writer, reader, path, headers + "Connection: close\r\n")
    finally:
        writer.close()


@dataclass
class Load:
    """Bounded load: `connections` keep-alive clients plus one new-connection-per-request client,
    until `stop` is set or `max_seconds` pass."""

    port: int
    connections: int = 6
    max_seconds: float = 30.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # x-config values seen
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _keepalive(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while not self.stop.is_set():
                try:
                    response = await request(writer, reader, "/")
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self.failures.append(f"keep-alive: {exc!r}")
                    return
                self._check(response)
                if response.headers.get("connection") == "close":
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        finally:
            writer.close()

    async def _fresh(self) -> None:
        while not self.stop.is_set():
            try:
                self._check(await get(self.port, "/"))
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                self.failures.append(f"fresh: {exc!r}")

    def _check(self, response: Response) -> None:
        if response.status == 200:
            self.ok += 1
            self.seen.add(response.headers.get("x-config", "?"))
        else:
            self.failures.append(f"status {response.status}: {response.body[:200]!r}")

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._keepalive()) for _ in range(self.connections)]
        tasks.append(asyncio.create_task(self._fresh()))
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.stop.set()
        await asyncio.gather(*tasks)


__all__ = ["free_port", "http_get", "wait_until"]
