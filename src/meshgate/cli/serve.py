"""`meshgate serve`: load → translate → compile, serve HTTP/1.1 on every listener, and keep serving.

A configuration that partly fails is still served: the diagnostics say what was dropped. The exit
status is non-zero only when nothing can be served or a listen address cannot be bound.

Live operations: the `-f` paths are watched (a debounced poll) and reloaded without dropping a
connection (`SIGHUP` forces a reload); `SIGTERM` drains like Istio's gateway (readiness 503, keep
accepting for --drain-delay, finish in-flight requests, hard stop after --drain-timeout, exit 0);
`SIGINT` does the same without the delay. `--workers N` runs N processes on the same addresses
(SO_REUSEPORT) under a supervisor that restarts them and answers the admin API for all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from meshgate.cli.common import add_config_arguments, options_from, print_diagnostics
from meshgate.proxy.access_log import FORMATS, AccessLog
from meshgate.proxy.local_reply import DEFAULT_SERVER_NAME
from meshgate.proxy.server import parse_address, parse_bind

_PROG = "meshgate serve"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve traffic (HTTP/1.1) for the Gateway/VirtualService/Ingress configuration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="PORT=HOST:PORT",
        help="listen for server port PORT on HOST:PORT (default 0.0.0.0 and the listener's port); repeatable",
    )
    parser.add_argument(
        "--admin",
        default="127.0.0.1:15000",
        metavar="HOST:PORT",
        help="admin API address (/healthz/ready, /config_dump, /stats/prometheus); 'off' disables it",
    )
    parser.add_argument(
        "--access-log", choices=FORMATS, default="off", help="access log on stdout: Istio text or JSON format"
    )
    parser.add_argument(
        "--server-name", default=DEFAULT_SERVER_NAME, help="`server` header on every response"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes sharing the listen addresses (SO_REUSEPORT); default: number of cores",
    )
    parser.add_argument(
        "--drain-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="SIGTERM: keep accepting (readiness already 503) this long before closing listeners",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="SIGTERM: hard stop this long after the signal, in-flight requests or not",
    )
    parser.add_argument(
        "--watch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reload when a -f file changes (SIGHUP always reloads)",
    )
    parser.add_argument(
        "--debounce", type=float, default=0.2, metavar="SECONDS", help="quiet time before a reload"
    )
    parser.add_argument(
        "--stats", choices=("on", "off"), default="on", help="count requests for /stats/prometheus"
    )
    parser.add_argument("--worker-control", default="", help=argparse.SUPPRESS)  # set by the supervisor
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshgate.runtime.pipeline import build_snapshot

    try:
        binds = dict(parse_bind(text) for text in args.bind)
        admin = None if args.admin == "off" else parse_address(args.admin)
        options = options_from(args)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    workers = args.workers or os.cpu_count() or 1
    if "-" in args.paths:
        workers = 1  # stdin can be read once: one process
    if workers > 1 and not args.worker_control:
        from meshgate.runtime.workers import supervise

        return supervise(args, workers)
    snapshot, diagnostics = build_snapshot(args.paths, options)
    if not args.worker_control:
        print_diagnostics(diagnostics)
    if snapshot is None:
        print(f"{_PROG}: no configuration could be read: nothing to serve", file=sys.stderr)
        return 1
    if not snapshot.config.listeners:
        print(f"{_PROG}: no listener for this gateway in the configuration", file=sys.stderr)
        return 1
    _install_uvloop()
    # Everything loaded so far (input models, IR, table) lives as long as the process: keep it
    # out of the cyclic collector's way, and collect the young generation less often (the data
    # plane frees its per-request objects by reference counting).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    labels = dict(options.workload_labels)
    settings = _Settings(
        binds=binds,
        admin=admin,
        workload=labels.get("app") or labels.get("istio") or "istio-ingressgateway",
        namespace=options.namespace,
        access_log=args.access_log,
        server_name=args.server_name,
        paths=tuple(args.paths),
        options=options,
        diagnostics=diagnostics,
        drain_delay=args.drain_delay,
        drain_timeout=args.drain_timeout,
        watch=args.watch and "-" not in args.paths,
        debounce=args.debounce,
        stats=args.stats == "on",
        control=args.worker_control,
    )
    return asyncio.run(_serve(snapshot, settings))


@dataclass(frozen=True, slots=True)
class _Settings:
    binds: dict[int, tuple[str, int]]
    admin: tuple[str, int] | None
    workload: str
    namespace: str
    access_log: str
    server_name: str
    paths: tuple[str, ...] = ()
    options: Any = None
    diagnostics: tuple[Any, ...] = ()
    drain_delay: float = 5.0
    drain_timeout: float = 30.0
    watch: bool = True
    debounce: float = 0.2
    stats: bool = True
    control: str = ""  # worker of a supervisor: admin API on this unix socket


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt; asyncio works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _serve(snapshot: Any, settings: _Settings) -> int:
    access_log = None if settings.access_log == "off" else AccessLog(sys.stdout, settings.access_log)
    try:
        return await _serve_with_log(snapshot, settings, access_log)
    finally:
        if access_log is not None:
            # server.stop closed it already; this is for the ways out that skip it (an error): the
            # lines handed to the writer thread are written before the process ends
            access_log.close()


async def _serve_with_log(snapshot: Any, settings: _Settings, access_log: AccessLog | None) -> int:
    from meshgate.admin import AdminServer
    from meshgate.proxy import ListenError, ProxyContext, ProxyServer
    from meshgate.proxy.drain import drain_and_stop, reconcile
    from meshgate.proxy.limits import DEFAULT_LIMITS
    from meshgate.runtime import SnapshotStore
    from meshgate.runtime.reloader import Reloader
    from meshgate.runtime.watch import FileWatcher

    limits = dataclasses.replace(DEFAULT_LIMITS, drain_timeout=settings.drain_timeout)
    store = SnapshotStore(snapshot)
    ctx = ProxyContext(store, limits=limits, access_log=access_log, server_name=settings.server_name)
    ctx.stats.enabled = settings.stats
    server = ProxyServer(ctx, settings.binds)
    server.reuse_port = bool(settings.control)
    admin = AdminServer(
        ctx, lambda: server.ready, source_workload=settings.workload, source_namespace=settings.namespace
    )

    async def on_swap(new: Any, old: Any) -> dict[str, Any]:
        return await reconcile(server, new, old)

    reloader = Reloader(
        settings.paths, settings.options, store, on_swap=on_swap, on_outcome=ctx.stats.reload, prog=_PROG
    )
    admin.history = lambda: list(reloader.history)
    admin_address = settings.admin
    if settings.control:
        await admin.start_unix(settings.control)
    elif admin_address is not None:
        try:
            host, port = await admin.start(*admin_address)
        except OSError as exc:
            print(
                f"{_PROG}: cannot listen on {admin_address[0]}:{admin_address[1]} (admin): "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        print(f"{_PROG}: admin on {host}:{port}", file=sys.stderr)
    try:
        bound = await server.start()
    except ListenError as exc:
        print(f"{_PROG}: cannot listen on {exc.strerror}", file=sys.stderr)
        await admin.stop()
        return 1
    configured = {listener.port for listener in snapshot.config.listeners}
    for port in sorted(set(settings.binds) - configured):
        print(f"{_PROG}: --bind {port}=...: no listener on port {port} in the configuration", file=sys.stderr)
    for problem in server.problems:
        print(f"{_PROG}: {problem}", file=sys.stderr)
    for listener, reason in server.skipped:
        name = f"{listener.name} (port {listener.port})"
        print(f"{_PROG}: listener {name} not served: {reason}", file=sys.stderr)
    if not bound:
        print(f"{_PROG}: no listener can be served", file=sys.stderr)
        await server.stop()
        await admin.stop()
        return 1
    for item in bound:
        print(
            f"{_PROG}: listener {item.name} (port {item.port}) on {item.host}:{item.listen_port}",
            file=sys.stderr,
            flush=True,
        )
    reloader.initial(snapshot, settings.diagnostics)
    watcher = None
    if settings.watch:
        watcher = FileWatcher(settings.paths, lambda: reloader.reload("file"), debounce=settings.debounce)
        watcher.start()
    stop = asyncio.Event()
    how: list[int] = []
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def on_stop(signum: int) -> None:
        how.append(signum)
        admin.draining = True  # readiness fails from the first moment
        stop.set()

    def on_hup() -> None:
        task = loop.create_task(reloader.reload("sighup"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_stop, signum)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    if settings.control:
        _die_with_parent()
    await stop.wait()
    delay = settings.drain_delay if how and how[0] == signal.SIGTERM else 0.0
    print(f"{_PROG}: draining (delay {delay:g} s, timeout {settings.drain_timeout:g} s)", file=sys.stderr)
    if watcher is not None:
        await watcher.stop()
    await drain_and_stop(server, delay, settings.drain_timeout)
    print(f"{_PROG}: stopped", file=sys.stderr, flush=True)
    await admin.stop()
    return 0


def _die_with_parent() -> None:
    """A worker gets SIGTERM when its supervisor dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
