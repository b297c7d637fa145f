"""Read-only admin API (default 127.0.0.1:15000, like Envoy's admin port).

    GET /healthz/ready      200 once every listener is bound and a config is applied, else 503
    GET /config_dump        the applied IR (`ir.dump.to_plain`, private keys redacted) + diagnostics
    GET /stats/prometheus   istio_* request metrics and gateway counters, Prometheus text format
    GET /stats              the same counters as `name: value` lines (Envoy's /stats flavour)
    GET /clusters           clusters and endpoints with health (and outlier state, views.py hook)
    GET /reload_history     every reload attempt: attempt, outcome, version, digest, errors
    GET /diagnostics        problems of the served snapshot, grouped by object
    GET /stats/raw          raw counters as JSON (what a worker answers its supervisor)

Not on the hot path: one small asyncio stream handler, answers with `connection: close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from meshgate.admin.views import clusters_view, diagnostics_view, stats_text
from meshgate.ir.dump import to_plain
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.stats import Stats, format_prometheus

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
        self.history: Callable[[], list[dict[str, Any]]] = list  # set by serve: the reloader's
        self.draining = False  # SIGTERM: readiness answers 503 from the first moment
        # --workers: the supervisor's stats are the sum of its workers' (answered over a socket)
        self.collect: Callable[[], Awaitable[Stats]] | None = None
        self.worker_histories: Callable[[], Awaitable[dict[str, Any]]] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        name = self.server.sockets[0].getsockname()
        self.address = (str(name[0]), int(name[1]))
        return self.address

    async def start_unix(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._handle, path)

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
            status, content_type, body = await self.respond_async(method, target)
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

    async def respond_async(self, method: str, target: str) -> tuple[int, str, bytes]:
        path = target.partition("?")[0]
        if method in ("GET", "HEAD") and path in ("/stats/prometheus", "/metrics", "/stats"):
            stats = await self.collect() if self.collect is not None else self.ctx.stats
            if path == "/stats":
                return 200, "text/plain", stats_text(stats).encode()
            snapshot = self.ctx.store.current
            text = format_prometheus(
                stats,
                snapshot.config if snapshot else None,
                source_workload=self.source_workload,
                source_namespace=self.source_namespace,
            )
            return 200, "text/plain; version=0.0.4", text.encode()
        if method in ("GET", "HEAD") and path == "/reload_history" and self.worker_histories is not None:
            view = {"reloads": self.history(), "workers": await self.worker_histories()}
            return 200, "application/json", _json(view)
        return self.respond(method, target)

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
        snapshot = self.ctx.store.current
        if path == "/clusters":
            view = clusters_view(snapshot.config if snapshot else None, self.ctx.pools)
            return 200, "application/json", _json(view)
        if path == "/reload_history":
            return 200, "application/json", _json({"reloads": self.history()})
        if path == "/diagnostics":
            return 200, "application/json", _json(diagnostics_view(snapshot.diagnostics if snapshot else ()))
        if path == "/stats/raw":
            return 200, "application/json", _json(self.ctx.stats.export())
        if path == "/":
            names = (
                "/healthz/ready /config_dump /stats/prometheus /stats /clusters /reload_history /diagnostics"
            )
            return 200, "text/plain", ("\n".join(names.split()) + "\n").encode()
        return 404, "text/plain", b"not found\n"

    def not_ready_reason(self) -> str:
        if self.draining:
            return "draining"
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


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()
