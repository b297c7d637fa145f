"""`--workers 2`: a killed worker is replaced, the other keeps serving, metrics add up across
workers, SIGTERM stops everything with status 0 (Done-when 4)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

from e2e.e2e_helpers import demo_backend, wait_until

from .live_helpers import backends_config, config, gateway, get, write_atomically
from .test_live_metrics import requests_by, scrape


def _worker_pids(stderr: str) -> list[int]:
    found = re.findall(r"2 workers \((\d+), (\d+)\)", stderr)
    assert found, stderr
    return [int(p) for p in found[-1]]


def test_two_workers_restart_and_aggregate(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path, (80,), workers=2) as gw:
            port = gw.ports[80]
            assert wait_until(lambda: "2 workers (" in gw.proc.stderr(), 10)
            pids = _worker_pids(gw.proc.stderr())
            # new connections are spread over both workers and all are counted, in one scrape
            asyncio.run(_many(port, 40))
            assert requests_by(scrape(gw.admin)) == {("200", "-", "a"): 40}
            assert {lbl_value for _, lbl_value in scrape(gw.admin)["meshgate_workers"]} == {2}

            os.kill(pids[0], signal.SIGKILL)
            # Once the dead worker is reaped (its socket closed; connections the kernel had already
            # queued on it are lost, the SO_REUSEPORT caveat), the other keeps serving while the
            # supervisor starts a replacement.
            assert wait_until(lambda: "restarting" in gw.proc.stderr(), 10), gw.proc.stderr()
            statuses = asyncio.run(_many(port, 20))
            assert statuses == [200] * 20, statuses
            assert wait_until(lambda: scrape(gw.admin)["meshgate_workers"][0][1] == 2, 15)
            before = requests_by(scrape(gw.admin)).get(("200", "-", "a"), 0)
            asyncio.run(_many(port, 30))
            after = requests_by(scrape(gw.admin))[("200", "-", "a")]
            assert after - before == 30  # both workers (old and new) counted
            assert after == 40 + 20 + 30  # the dead worker's counts are still in the sum

            # a reload reaches every worker (each watches the files)
            write_atomically(cfg, config({"/": "a"}, header="v7") + backends_config({"a": port_a}))
            assert wait_until(lambda: _all_v7(port), 10)
            view = gw.get_json("/reload_history")
            assert view["reloads"][-1]["outcome"] == "applied"  # the supervisor's own view
            assert sorted(view["workers"]) == ["0", "1"]
            for history in view["workers"].values():
                assert history[-1]["outcome"] == "applied"

            start = time.monotonic()
            gw.proc.popen.send_signal(signal.SIGTERM)
            assert gw.proc.popen.wait(10) == 0
            assert time.monotonic() - start < 6
            for pid in pids[1:]:
                assert (
                    not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
                )


def _all_v7(port: int) -> bool:
    responses = asyncio.run(_headers(port, 12))
    return all(h == "v7" for h in responses)


async def _headers(port: int, n: int) -> list[str]:
    return [(await get(port, "/")).headers.get("x-config", "") for _ in range(n)]


async def _many(port: int, n: int) -> list[int]:
    return [(await get(port, "/")).status for _ in range(n)]


def test_supervisor_forwards_sighup_to_every_worker(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path, (80,), "--no-watch", workers=2) as gw:
            write_atomically(cfg, config({"/": "a"}, header="v7") + backends_config({"a": port_a}))
            time.sleep(0.3)
            assert not _all_v7(gw.ports[80])  # no watching: nothing changed yet
            gw.proc.popen.send_signal(signal.SIGHUP)
            assert wait_until(lambda: _all_v7(gw.ports[80]), 10), gw.proc.stderr()
            workers = gw.get_json("/reload_history")["workers"]
            assert all(h[-1]["trigger"] == "sighup" for h in workers.values()), workers
