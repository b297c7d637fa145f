"""`serve --workers N`: a supervisor process and N worker processes on the same addresses.

Every worker is a full `meshgate serve` (listeners with SO_REUSEPORT, so the kernel spreads new
connections over them; its own file watcher and reloads) whose admin API listens on a unix socket
in a private directory. The supervisor

* validates the configuration once (same exit statuses as one process), starts the workers and
  waits until each is ready (a worker that fails at start stops everything with its status);
* restarts a worker that dies (after a short back-off), the others keep serving;
* forwards SIGHUP (reload) and SIGTERM/SIGINT (drain) to every worker and exits 0 once they have;
* answers the admin API for all of them: /stats and /stats/prometheus sum the workers' raw
  counters (asked over their sockets on each scrape), the rest comes from its own copy of the
  configuration (it watches the same files).

Counters stay monotonic across a worker's death: the supervisor keeps each worker's last answer
(refreshed on every scrape and every second) and adds the last one of a dead worker to the sum;
only what a worker counted in its last second is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from meshgate.proxy.stats import Stats

_PROG = "meshgate serve"


@dataclass(slots=True)
class _Worker:
    index: int
    control: str
    proc: asyncio.subprocess.Process | None = None
    ready: bool = False
    restarts: int = 0


def supervise(args: argparse.Namespace, workers: int) -> int:
    from meshgate.cli.common import options_from, print_diagnostics
    from meshgate.runtime.pipeline import build_snapshot

    options = options_from(args)
    snapshot, diagnostics = build_snapshot(args.paths, options)
    print_diagnostics(diagnostics)
    if snapshot is None:
        print(f"{_PROG}: no configuration could be read: nothing to serve", file=sys.stderr)
        return 1
    if not snapshot.config.listeners:
        print(f"{_PROG}: no listener for this gateway in the configuration", file=sys.stderr)
        return 1
    supervisor = Supervisor(args, workers, snapshot, diagnostics, options)
    return asyncio.run(supervisor.run())


async def _ask(path: str, target: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `target` from a worker's admin socket: (status, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nhost: worker\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


class Supervisor:
    def __init__(
        self, args: argparse.Namespace, count: int, snapshot: Any, diagnostics: Any, options: Any
    ) -> None:
        self.args = args
        self.snapshot = snapshot
        self.diagnostics = diagnostics
        self.options = options
        self.directory = tempfile.mkdtemp(prefix="meshgate-workers-")
        self.workers = [_Worker(i, os.path.join(self.directory, f"w{i}.sock")) for i in range(count)]
        self.stopping = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.last_raw: dict[int, dict[str, Any]] = {}  # worker pid → its latest raw counters
        self.retired: list[dict[str, Any]] = []  # last counters of workers that died

    def command(self, worker: _Worker) -> list[str]:
        argv = sys.argv[1:]
        if "serve" in argv:
            argv = argv[argv.index("serve") + 1 :]
        return [
            sys.executable,
            "-m",
            "meshgate",
            "serve",
            *argv,
            "--workers",
            "1",
            "--admin",
            "off",
            "--worker-control",
            worker.control,
        ]

    async def spawn(self, worker: _Worker) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(worker.control)
        worker.ready = False
        worker.proc = await asyncio.create_subprocess_exec(*self.command(worker))

    async def wait_ready(self, worker: _Worker, timeout: float = 30.0) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            proc = worker.proc
            if proc is None or proc.returncode is not None:
                return False
            with contextlib.suppress(OSError, ValueError, TimeoutError, IndexError):
                if (await _ask(worker.control, "/healthz/ready", 1.0))[0] == 200:
                    worker.ready = True
                    return True
            await asyncio.sleep(0.05)
        return False

    async def collect(self) -> Stats:
        total = Stats()
        total.workers = sum(1 for w in self.workers if w.ready)

        async def one(worker: _Worker) -> dict[str, Any] | None:
            try:
                status, body = await _ask(worker.control, "/stats/raw")
            except (OSError, ValueError, TimeoutError):
                return None
            return json.loads(body) if status == 200 else None

        live = [w for w in self.workers if w.ready]
        for worker, raw in zip(live, await asyncio.gather(*(one(w) for w in live)), strict=True):
            if raw is not None:
                if worker.proc is not None:
                    self.last_raw[worker.proc.pid] = raw
                total.merge(raw)
        for raw in self.retired:
            total.merge(raw)
        return total

    def retire(self, worker: _Worker) -> None:
        raw = self.last_raw.pop(worker.proc.pid, None) if worker.proc is not None else None
        if raw is not None:
            counters = dict(raw.get("counters", {}))
            for gauge in ("downstream_cx_active", "upstream_cx_active"):
                counters[gauge] = 0  # a dead process has no open connection
            self.retired.append({"requests": raw.get("requests", []), "counters": counters})

    async def refresh(self) -> None:
        while not self.stopping:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.collect()

    async def histories(self) -> dict[str, Any]:
        """Each worker's own reload history (they watch and reload independently)."""
        out: dict[str, Any] = {}
        for worker in self.workers:
            try:
                status, body = await _ask(worker.control, "/reload_history")
                out[str(worker.index)] = json.loads(body)["reloads"] if status == 200 else None
            except (OSError, ValueError, TimeoutError, KeyError):
                out[str(worker.index)] = None
        return out

    async def monitor(self, worker: _Worker) -> None:
        while not self.stopping:
            proc = worker.proc
            assert proc is not None
            code = await proc.wait()
            worker.ready = False
            self.retire(worker)
            if self.stopping:
                return
            worker.restarts += 1
            print(
                f"{_PROG}: worker {worker.index} (pid {proc.pid}) exited with status {code}: restarting",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(min(0.2 * worker.restarts, 2.0))
            if self.stopping:
                return
            await self.spawn(worker)
            await self.wait_ready(worker)

    def signal_workers(self, signum: int) -> None:
        for worker in self.workers:
            proc = worker.proc
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    async def run(self) -> int:
        try:
            return await self._run()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    async def _run(self) -> int:
        from meshgate.admin import AdminServer
        from meshgate.proxy import ProxyContext
        from meshgate.proxy.server import parse_address
        from meshgate.runtime import SnapshotStore
        from meshgate.runtime.reloader import Reloader
        from meshgate.runtime.watch import FileWatcher

        args = self.args
        store = SnapshotStore(self.snapshot)
        ctx = ProxyContext(store)
        labels = dict(self.options.workload_labels)
        admin = AdminServer(
            ctx,
            lambda: any(w.ready for w in self.workers),
            source_workload=labels.get("app") or labels.get("istio") or "istio-ingressgateway",
            source_namespace=self.options.namespace,
        )
        admin.collect = self.collect
        admin.worker_histories = self.histories
        reloader = Reloader(args.paths, self.options, store, log=open(os.devnull, "w"))  # noqa: SIM115
        reloader.initial(self.snapshot, self.diagnostics)
        admin.history = lambda: list(reloader.history)
        for worker in self.workers:
            await self.spawn(worker)
        results = await asyncio.gather(*(self.wait_ready(w) for w in self.workers))
        if not all(results):
            failed = next(w for w, ok in zip(self.workers, results, strict=True) if not ok)
            self.stopping = True
            self.signal_workers(signal.SIGINT)
            codes = [await w.proc.wait() for w in self.workers if w.proc is not None]
            code = failed.proc.returncode if failed.proc is not None else None
            return code or max(codes, default=1) or 1
        if args.admin != "off":
            host, port = parse_address(args.admin)
            try:
                bound = await admin.start(host, port)
            except OSError as exc:
                print(f"{_PROG}: cannot listen on {host}:{port} (admin): {exc.strerror}", file=sys.stderr)
                self.stopping = True
                self.signal_workers(signal.SIGINT)
                for w in self.workers:
                    if w.proc is not None:
                        await w.proc.wait()
                return 1
            print(f"{_PROG}: admin on {bound[0]}:{bound[1]}", file=sys.stderr)
        pids = ", ".join(str(w.proc.pid) for w in self.workers if w.proc is not None)
        print(f"{_PROG}: {len(self.workers)} workers ({pids})", file=sys.stderr, flush=True)
        for worker in self.workers:
            task = asyncio.get_running_loop().create_task(self.monitor(worker))
            self.tasks.add(task)
        self.tasks.add(asyncio.get_running_loop().create_task(self.refresh()))
        watcher = None
        if args.watch and "-" not in args.paths:
            watcher = FileWatcher(args.paths, lambda: reloader.reload("file"), debounce=args.debounce)
            watcher.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        how: list[int] = []

        def on_stop(signum: int) -> None:
            how.append(signum)
            admin.draining = True
            self.stopping = True
            self.signal_workers(signum)
            stop.set()

        def on_hup() -> None:
            self.signal_workers(signal.SIGHUP)
            task = loop.create_task(reloader.reload("sighup"))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        await stop.wait()
        if watcher is not None:
            await watcher.stop()
        limit = max(args.drain_timeout, args.drain_delay) + 5.0
        for worker in self.workers:
            proc = worker.proc
            if proc is None:
                continue
            try:
                await asyncio.wait_for(proc.wait(), limit)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self.tasks:
            task.cancel()
        await admin.stop()
        print(f"{_PROG}: stopped", file=sys.stderr, flush=True)
        return 0
