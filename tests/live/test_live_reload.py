"""Hot reload under load (Done-when 1) and the reload outcomes (Done-when 2)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from e2e.e2e_helpers import demo_backend

from .live_helpers import (
    Load,
    backends_config,
    config,
    gateway,
    get,
    read_response,
    request,
    write_atomically,
)


def test_twenty_reloads_under_load_drop_nothing(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a, demo_backend(tmp_path, "b") as port_b:
        services = backends_config({"a": port_a, "b": port_b})
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}, header="v0") + services)
        with gateway(cfg, tmp_path) as gw:
            port = gw.ports[80]

            async def main() -> None:
                load = Load(port, max_seconds=30.0)
                load_task = asyncio.create_task(load.run())
                # a long-lived streaming response, read slowly while the reloads happen
                s_reader, s_writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
                size = 16 << 20
                s_writer.write(b"GET /?size=%d HTTP/1.1\r\nHost: app.example\r\n\r\n" % size)
                stream_head = await s_reader.readuntil(b"\r\n\r\n")
                assert stream_head.startswith(b"HTTP/1.1 200"), stream_head
                reloads_done = asyncio.Event()

                async def drain_stream() -> int:
                    got = 0
                    while got < size:
                        chunk = await s_reader.read(1 << 16)
                        if not chunk:
                            break
                        got += len(chunk)
                        if not reloads_done.is_set():
                            await asyncio.sleep(0.02)
                    return got

                stream_task = asyncio.create_task(drain_stream())
                # an idle keep-alive connection
                i_reader, i_writer = await asyncio.open_connection("127.0.0.1", port)
                first = await request(i_writer, i_reader, "/")
                assert first.status == 200 and first.headers["x-config"] == "v0"

                for i in range(1, 21):
                    backend = "b" if i % 2 else "a"
                    write_atomically(cfg, config({"/": backend}, header=f"v{i}") + services)
                    await asyncio.to_thread(gw.wait_attempts, i + 1)
                    await asyncio.sleep(0.05)
                reloads_done.set()
                await asyncio.sleep(0.3)
                load.stop.set()
                await load_task
                assert await asyncio.wait_for(stream_task, 20) == size  # the stream survived
                s_writer.close()
                last = await request(i_writer, i_reader, "/")  # idle connection, new table
                assert last.status == 200 and last.headers["x-config"] == "v20"
                i_writer.close()
                assert load.failures == [], load.failures[:5]
                assert load.ok > 200, load.ok
                assert len(load.seen) >= 10, load.seen  # traffic saw many of the snapshots

            asyncio.run(main())
            history = gw.history()
            assert [h["outcome"] for h in history] == ["applied"] * 21
            assert [h["version"] for h in history] == list(range(1, 22))
            assert "reload #21 (file) applied: version 21" in gw.proc.stderr()


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_ports_broken_files_and_outcomes(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        services = backends_config({"a": port_a})
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}, ports=(80, 81), header="v0") + services)
        with gateway(cfg, tmp_path, (80, 81, 82)) as gw:
            p80, p81, p82 = gw.ports[80], gw.ports[81], gw.ports[82]

            async def main() -> None:
                assert (await get(p81, "/")).status == 200
                assert _refused(p82)
                reader, writer = await asyncio.open_connection("127.0.0.1", p81)
                assert (await request(writer, reader, "/")).status == 200  # keep-alive on 81
                # 1. remove port 81, add port 82
                write_atomically(cfg, config({"/": "a"}, ports=(80, 82), header="v1") + services)
                entry = (await asyncio.to_thread(gw.wait_attempts, 2))[-1]
                assert entry["outcome"] == "applied"
                assert entry["removed"] == [f"0.0.0.0:{p81}"] or entry["removed"] == [f"127.0.0.1:{p81}"]
                assert entry["added"] == [f"127.0.0.1:{p82}"]
                assert _refused(p81)  # stopped accepting
                assert (await get(p82, "/")).status == 200  # the new port serves
                drained = await request(writer, reader, "/")  # drains: last response, then close
                assert drained.status == 200 and drained.headers.get("connection") == "close"
                assert await asyncio.wait_for(reader.read(), 2) == b""
                writer.close()
                # 2. the same bytes again: unchanged, no new snapshot
                write_atomically(cfg, config({"/": "a"}, ports=(80, 82), header="v1") + services)
                entry = (await asyncio.to_thread(gw.wait_attempts, 3))[-1]
                assert entry["outcome"] == "unchanged" and entry["version"] == 2
                # 3. a file that cannot be parsed at all: rejected, previous snapshot kept
                write_atomically(cfg, "kind: [unclosed\n  : - {\n")
                entry = (await asyncio.to_thread(gw.wait_attempts, 4))[-1]
                assert entry["outcome"] == "rejected" and entry["version"] == 2
                assert entry["errors"], entry
                response = await get(p80, "/")
                assert response.status == 200 and response.headers["x-config"] == "v1"
                # 4. partly broken: the good part applies, the bad VirtualService is reported
                bad = """\
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: broken, namespace: default}
spec:
  hosts: ["broken.example"]
  gateways: [istio-system/edge]
  http: [{match: [{uri: {regex: "(unclosed"}}], route: [{destination: {host: a}}]}]
"""
                write_atomically(cfg, config({"/": "a"}, ports=(80, 82), header="v2") + services + bad)
                entry = (await asyncio.to_thread(gw.wait_attempts, 5))[-1]
                assert entry["outcome"] == "partial" and entry["version"] == 3, entry
                assert any("broken" in str(e) or "regex" in str(e).lower() for e in entry["errors"])
                assert (await get(p80, "/")).headers["x-config"] == "v2"
                diagnostics = gw.get_json("/diagnostics")["objects"]
                assert any("broken" in key for key in diagnostics), diagnostics

            asyncio.run(main())
            outcomes = [h["outcome"] for h in gw.history()]
            assert outcomes == ["applied", "applied", "unchanged", "rejected", "partial"]
            text = gw.proc.stderr()
            assert "reload #4 (file) rejected: version 2" in text
            assert "reload #3 (file) unchanged" in text


def test_sighup_forces_a_reload(tmp_path: Path) -> None:
    import signal

    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path, (80,), "--no-watch") as gw:
            write_atomically(cfg, config({"/": "a"}, header="v9") + backends_config({"a": port_a}))
            gw.proc.popen.send_signal(signal.SIGHUP)
            entry = gw.wait_attempts(2)[-1]
            assert entry["trigger"] == "sighup" and entry["outcome"] == "applied"
            response = asyncio.run(get(gw.ports[80], "/"))
            assert response.headers["x-config"] == "v9"
            _ = read_response  # re-exported helper (used by other live tests)


def test_bursts_are_debounced_and_equivalent_input_is_unchanged(tmp_path: Path) -> None:
    import time

    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        base = config({"/": "a"}) + backends_config({"a": port_a})
        write_atomically(cfg, base)
        with gateway(cfg, tmp_path, (80,), "--debounce", "0.4") as gw:
            for i in range(5):  # a burst: one reload, of the last content
                write_atomically(cfg, config({"/": "a"}, header=f"b{i}") + backends_config({"a": port_a}))
                time.sleep(0.05)
            entry = gw.wait_attempts(2)[-1]
            time.sleep(0.6)
            assert len(gw.history()) == 2
            assert entry["outcome"] == "applied"
            assert asyncio.run(get(gw.ports[80], "/")).headers["x-config"] == "b4"
            # different bytes, same configuration (a trailing comment): no new snapshot
            write_atomically(
                cfg, config({"/": "a"}, header="b4") + backends_config({"a": port_a}) + "# a comment\n"
            )
            entry = gw.wait_attempts(3)[-1]
            assert entry["outcome"] == "unchanged" and entry["version"] == 2
