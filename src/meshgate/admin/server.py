"""Read-only admin API (default 127.0.0.1:15000, like Envoy's admin port).

    GET /healthz/ready      200 once every listener is bound and a config is applied, else 503
    GET /config_dump        the applied IR (`ir.dump.to_plain`, private keys redacted) + diagnostics
    GET /stats/prometheus   istio_requests_total and connection counters, Prometheus text format

Not on the hot path: one small asyncio stream handler, answers with `connection: close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from meshgate.ir.dump import to_plain
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.stats import format_prometheus

_MAX_HEAD = 16 * 1024


class AdminServer:
    def __init__(
        self,
        ctx: ProxyContext,
        is_ready: Callable[[], bool],
        *,
        source_workload: str = "istio-ingressgateway",
        source_namespace: str = "istio-system",
    ) -> None:
        self.ctx = ctx
        self.is_ready = is_ready
        self.source_workload = source_workload
        self.source_namespace = source_namespace
        self.server: asyncio.Server | None = None
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        name = self.server.sockets[0].getsockname()
        self.address = (str(name[0]), int(name[1]))
        return self.address

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            self.server = None

    # --- request handling ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            if len(head) > _MAX_HEAD:
                raise ValueError("head too large")
            method, _, rest = head.decode("latin-1").partition(" ")
            target = rest.partition(" ")[0]
            status, content_type, body = self.respond(method, target)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        except ConnectionError:
            writer.close()
            return
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
            status, "Service Unavailable"
        )
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + (b"" if method == "HEAD" else body)
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def respond(self, method: str, target: str) -> tuple[int, str, bytes]:
        """(status, content-type, body) for one admin request."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        path = target.partition("?")[0]
        if path in ("/healthz/ready", "/ready"):
            reason = self.not_ready_reason()
            if reason:
                return 503, "text/plain", f"not ready: {reason}\n".encode()
            return 200, "text/plain", b"LIVE\n"
        if path == "/config_dump":
            return 200, "application/json", json.dumps(self.config_dump(), indent=2, sort_keys=True).encode()
        if path in ("/stats/prometheus", "/metrics"):
            snapshot = self.ctx.store.current
            text = format_prometheus(
                self.ctx.stats,
                snapshot.config if snapshot else None,
                source_workload=self.source_workload,
                source_namespace=self.source_namespace,
            )
            return 200, "text/plain; version=0.0.4", text.encode()
        if path == "/":
            return 200, "text/plain", b"/healthz/ready\n/config_dump\n/stats/prometheus\n"
        return 404, "text/plain", b"not found\n"

    def not_ready_reason(self) -> str:
        if self.ctx.store.current is None:
            return "no configuration applied"
        if not self.is_ready():
            return "listeners not bound"
        return ""

    def config_dump(self) -> dict[str, Any]:
        snapshot = self.ctx.store.current
        if snapshot is None:
            return {"version": None, "config": None, "diagnostics": []}
        return {
            "version": snapshot.version,
            "config": to_plain(snapshot.config),
            "diagnostics": [d.as_dict() for d in snapshot.diagnostics],
        }
