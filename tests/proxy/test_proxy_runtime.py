"""Listener planning, the snapshot store and the build pipeline (no sockets but one test)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from meshgate import ir
from meshgate.proxy import ProxyContext, ProxyServer
from meshgate.proxy.server import parse_address, parse_bind
from meshgate.runtime import SnapshotStore
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Backend, backends, cluster, config, fetch, gateway, route, run, snapshot


def _listener(port: int, listen_port: int = 0, bind: str = "0.0.0.0") -> ir.Listener:
    chain = ir.FilterChain(f"http.{port}", (), ir.HttpHandler(f"http.{port}", ()))
    return ir.Listener(f"{bind}_{port}", port, bind=bind, listen_port=listen_port, chains=(chain,))


def test_listen_addresses_follow_bind_flags_then_listen_port() -> None:
    tls_chain = ir.FilterChain("https.443", (), ir.HttpHandler("https.443", ()), transport="tls")
    tcp_chain = ir.FilterChain("tcp.9000", (), ir.TcpProxy(()))
    cfg = ir.Config(
        listeners=(
            _listener(80, listen_port=8080),
            _listener(81),
            _listener(82, bind="127.0.0.1"),
            ir.Listener("0.0.0.0_443", 443, chains=(tls_chain,)),
            ir.Listener("0.0.0.0_9000", 9000, chains=(tcp_chain,)),
        )
    )
    server = ProxyServer(ProxyContext(SnapshotStore(None)), {81: ("127.0.0.1", 18081)})
    plan = [(listener.port, host, port) for listener, host, port in server.plan(cfg)]
    assert plan == [
        (80, "0.0.0.0", 8080),
        (81, "127.0.0.1", 18081),
        (82, "127.0.0.1", 82),
        (9000, "0.0.0.0", 9000),
    ]
    assert [listener.port for listener, _ in server.skipped] == [443]  # HTTP over TLS without settings


def test_bind_flag_parsing() -> None:
    assert parse_bind("80=127.0.0.1:18080") == (80, ("127.0.0.1", 18080))
    assert parse_bind("443=[::1]:8443") == (443, ("::1", 8443))
    assert parse_address(":15000") == ("0.0.0.0", 15000)
    for bad in ("80", "80=host", "x=1.2.3.4:5"):
        try:
            parse_bind(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_store_swaps_atomically_and_skips_unchanged_versions() -> None:
    cfg = config([], [])
    first, same, other = snapshot(cfg, "a"), snapshot(cfg, "a"), snapshot(cfg, "b")
    store = SnapshotStore()
    seen: list[str] = []
    store.subscribe(lambda s: seen.append(s.version))
    assert store.current is None
    assert store.swap(first) and store.current is first
    assert not store.swap(same) and store.current is first
    assert store.swap(other) and store.current is other
    assert seen == ["a", "b"]


def test_a_request_keeps_the_snapshot_it_started_with() -> None:
    async def main() -> None:
        async with backends("old", "new") as (old, new):
            c_old, c_new = cluster("old", old.port), cluster("new", new.port)
            async with gateway(config([route("r", c_old)], [c_old])) as gw:
                task = asyncio.ensure_future(fetch(gw.port, "/?delay=0.3"))
                await asyncio.sleep(0.1)
                gw.ctx.store.swap(snapshot(config([route("r", c_new)], [c_new]), "v2"))
                assert (await fetch(gw.port, "/")).json()["name"] == "new"
                assert (await task).json()["name"] == "old"

    run(main())


def test_build_snapshot_from_files(tmp_path: Path) -> None:
    snap, diagnostics = build_snapshot([str(tmp_path / "missing.yaml")])
    assert snap is None and diagnostics and diagnostics[0].code == "MG0006"
    path = tmp_path / "gw.yaml"
    path.write_text(
        "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\n"
        "metadata: {name: g, namespace: istio-system}\n"
        "spec:\n  selector: {istio: ingressgateway}\n"
        "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n"
    )
    first, _ = build_snapshot([str(path)])
    again, _ = build_snapshot([str(path)])
    assert first is not None and again is not None
    assert [listener.port for listener in first.config.listeners] == [80]
    assert first.version == again.version and first.table is not again.table


def test_backend_helper_counts_connections() -> None:
    async def main() -> None:
        async with Backend("b") as backend:
            svc = cluster("b", backend.port)
            async with gateway(config([route("r", svc)], [svc])) as gw:
                assert (await fetch(gw.port, "/")).status == 200
        assert backend.accepted == 1

    run(main())
