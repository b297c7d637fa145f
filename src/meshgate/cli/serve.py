"""`meshgate serve`: load → translate → compile once, then serve HTTP/1.1 on every listener.

A configuration that partly fails is still served: the diagnostics say what was dropped. The exit
status is non-zero only when nothing can be served or a listen address cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
    snapshot, diagnostics = build_snapshot(args.paths, options)
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


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt; asyncio works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _serve(snapshot: Any, settings: _Settings) -> int:
    from meshgate.admin import AdminServer
    from meshgate.proxy import ListenError, ProxyContext, ProxyServer
    from meshgate.runtime import SnapshotStore

    access_log = None if settings.access_log == "off" else AccessLog(sys.stdout, settings.access_log)
    ctx = ProxyContext(SnapshotStore(snapshot), access_log=access_log, server_name=settings.server_name)
    server = ProxyServer(ctx, settings.binds)
    admin = AdminServer(
        ctx, lambda: server.ready, source_workload=settings.workload, source_namespace=settings.namespace
    )
    admin_address = settings.admin
    if admin_address is not None:
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print(f"{_PROG}: stopping", file=sys.stderr, flush=True)
    await server.stop()
    await admin.stop()
    return 0
