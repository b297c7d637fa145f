"""SIGTERM drains like Istio's gateway (Done-when 3)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

from e2e.e2e_helpers import demo_backend, http_get

from .live_helpers import backends_config, config, gateway, get, request, write_atomically


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_drains_in_flight_requests_and_exits_zero(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        delay, timeout = 0.6, 4.0
        extra = ("--drain-delay", str(delay), "--drain-timeout", str(timeout))
        with gateway(cfg, tmp_path, (80,), *extra) as gw:
            port = gw.ports[80]

            async def main() -> None:
                # an idle keep-alive connection, and three slow requests in flight
                k_reader, k_writer = await asyncio.open_connection("127.0.0.1", port)
                assert (await request(k_writer, k_reader, "/")).status == 200
                slow = [asyncio.create_task(get(port, "/?delay=1.5")) for _ in range(3)]
                await asyncio.sleep(0.3)
                sent = time.monotonic()
                gw.proc.popen.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.15)
                # readiness fails first; the listener still accepts during the drain delay
                status, _ = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.admin}/healthz/ready")
                assert status == 503
                assert _accepts(port)
                # the keep-alive connection is told to close on its next response
                response = await request(k_writer, k_reader, "/")
                assert response.status == 200 and response.headers.get("connection") == "close"
                k_writer.close()
                await asyncio.sleep(max(0.0, delay + 0.3 - (time.monotonic() - sent)))
                assert not _accepts(port)  # no new connections after the drain delay
                results = await asyncio.gather(*slow)
                assert [r.status for r in results] == [200, 200, 200]  # in-flight requests completed
                code = await asyncio.to_thread(gw.proc.popen.wait, timeout + 2)
                elapsed = time.monotonic() - sent
                assert code == 0
                assert elapsed < timeout + 1.0, elapsed

            asyncio.run(main())
            assert "draining (delay 0.6 s" in gw.proc.stderr()


def test_sigterm_hard_stops_after_the_drain_timeout(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path, (80,), "--drain-delay", "0.1", "--drain-timeout", "1") as gw:
            port = gw.ports[80]

            async def main() -> None:
                stuck = asyncio.create_task(get(port, "/?delay=10"))
                await asyncio.sleep(0.3)
                sent = time.monotonic()
                gw.proc.popen.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(gw.proc.popen.wait, 5)
                assert code == 0 and time.monotonic() - sent < 2.5
                stuck.cancel()

            asyncio.run(main())
