"""Streaming through a `meshgate serve` process: 1 GB each way in bounded memory, and no leaked
file descriptors when clients vanish mid-upload."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from proxy.gw import run

from .e2e_helpers import GATEWAY, demo_backend, open_fds, rss_kib, serve, service, wait_until

GIB = 1 << 30
VS = """\
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: bulk, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/edge]
  http:
    - route: [{destination: {host: bulk}}]
"""


async def _upload(port: int, size: int, *, abort_after: int | None = None) -> dict[str, object] | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /upload HTTP/1.1\r\nHost: bulk\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"u" * (1 << 20)
        sent = 0
        while sent < size:
            piece = block if size - sent >= len(block) else block[: size - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            if abort_after is not None and sent >= abort_after:
                writer.transport.abort()
                return None
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return dict(json.loads(await reader.readexactly(length)))
    finally:
        writer.close()


async def _download(port: int, size: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        writer.write(b"GET /?size=%d HTTP/1.1\r\nHost: bulk\r\n\r\n" % size)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        received = 0
        while received < size:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        return received
    finally:
        writer.close()


@pytest.mark.slow
def test_one_gigabyte_each_way_in_bounded_memory(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "bulk") as backend_port:
        config = tmp_path / "bulk.yaml"
        config.write_text(GATEWAY + VS + service("bulk", backend_port))
        with serve(config, tmp_path) as (proc, port, _):
            assert run(_upload(port, 1 << 20)) is not None  # warm up: code paths, pools, buffers
            baseline = rss_kib(proc.pid)
            started = time.monotonic()
            up = run(_upload(port, GIB), timeout=60)
            assert up is not None and up["body_bytes"] == GIB
            assert run(_download(port, GIB), timeout=60) == GIB
            elapsed = time.monotonic() - started
            peak = rss_kib(proc.pid, "VmHWM")
        growth_mib = (peak - baseline) / 1024
        print(
            f"\n1 GiB up + 1 GiB down in {elapsed:.1f} s; gateway RSS {baseline // 1024} MiB, "
            f"peak {peak // 1024} MiB (+{growth_mib:.1f} MiB)"
        )
        assert growth_mib < 64, f"gateway RSS grew by {growth_mib:.1f} MiB"


def test_clients_vanishing_mid_upload_leak_nothing(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "bulk") as backend_port:
        config = tmp_path / "bulk.yaml"
        config.write_text(GATEWAY + VS + service("bulk", backend_port))
        with serve(config, tmp_path) as (proc, port, _):
            assert run(_upload(port, 1000)) is not None  # one pooled upstream connection
            baseline = open_fds(proc.pid)

            async def vanish() -> None:
                await asyncio.gather(*(_upload(port, 64 << 20, abort_after=4 << 20) for _ in range(5)))

            run(vanish(), timeout=30)
            assert wait_until(lambda: open_fds(proc.pid) <= baseline, timeout=5), (
                f"{open_fds(proc.pid)} fds open, {baseline} before"
            )
            up = run(_upload(port, 1000))  # and the gateway still serves
            assert up is not None and up["body_bytes"] == 1000
