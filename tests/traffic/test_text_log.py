"""The text access log of real exchanges, as written to a file: Istio's default text format in
UTF-8, each field where `record_of` (the JSON log) reads it from, written from the exchange by
access_log.text_of without a LogRecord."""

from __future__ import annotations

import re
from pathlib import Path

from meshgate.proxy.access_log import AccessLog
from proxy.gw import Client, cluster, config, fetch, gateway, route, run

from .traffic_helpers import Script

# [start] "method path protocol" code flags details conn-term "transport-failure" received sent
# duration service-time "xff" "user-agent" "request-id" "authority" "upstream-host" cluster
# upstream-local downstream-local downstream-remote sni route
_LINE = re.compile(
    rb'\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "(GET) (\S+) (HTTP/1\.1)" (\d+) (\S+) (\S+) - "-" '
    rb'(\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([0-9a-f-]{36})" "([^"]*)" "([^"]*)" (\S+) '
    rb"(\S+) (\S+) (\S+) - (\S+)\n"
)


def test_text_lines_of_real_exchanges_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    ports: list[int] = []

    async def main() -> None:
        script = Script("shop")
        async with script.backend() as backend:
            svc = cluster("shop", backend.port)
            ports.append(backend.port)
            with path.open("w", encoding="utf-8") as stream:
                print("before the log", file=stream)  # pending in the text layer: must stay first
                log = AccessLog(stream, "text", flush_interval=0.01)
                async with gateway(config([route("r1", svc, prefix="/shop")], [svc]), access_log=log) as gw:
                    await fetch(gw.port, "/shop/caf%C3%A9?q=1", host="a.example", user_agent="caf\u00e9/1")
                    await fetch(gw.port, "/other", host="a.example")
                log.close()

    run(main())
    first, *lines = path.read_bytes().split(b"\n", 1)
    assert first == b"before the log"
    found = [_LINE.fullmatch(line + b"\n") for line in lines[0].splitlines()]
    assert all(found), lines
    ok, missing = (m.groups() for m in found if m is not None)
    assert ok[:6] == (b"GET", b"/shop/caf%C3%A9?q=1", b"HTTP/1.1", b"200", b"-", b"via_upstream")
    assert ok[10] == b"127.0.0.1" and ok[11] == "caf\u00e9/1".encode()  # a Latin-1 byte, as UTF-8
    assert ok[13:16] == (
        b"a.example",
        b"127.0.0.1:%d" % ports[0],
        b"outbound|80||shop.default.svc.cluster.local",
    )
    assert ok[19] == b"r1" and int(ok[7]) > 0  # bytes sent
    assert missing[3:6] == (b"404", b"NR", b"route_not_found")
    assert missing[9] == b"-" and missing[14] == b"-" and missing[15] == b"-"  # no upstream


def test_refused_requests_log_the_target_they_sent(tmp_path: Path) -> None:
    """A target that is not a path (400) and a head too large to read (431): the line shows the
    target as sent, not a path the gateway never read."""
    path = tmp_path / "access.log"

    async def main() -> None:
        svc = cluster("shop", 1)
        with path.open("w", encoding="utf-8") as stream:
            log = AccessLog(stream, "text", flush_interval=0.01)
            async with gateway(config([route("r1", svc)], [svc]), access_log=log) as gw:
                for request in (
                    b"GET not-a-path HTTP/1.1\r\nHost: a.example\r\n\r\n",
                    b"GET /big HTTP/1.1\r\nHost: a.example\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n",
                ):
                    async with Client(gw.port) as client:
                        client.send(request)
                        await client.read_until(b"\r\n\r\n")
            log.close()

    run(main())
    lines = path.read_bytes().splitlines()
    assert [line.split(b'"')[1] for line in lines] == [b"GET not-a-path HTTP/1.1", b"GET /big HTTP/1.1"]
    assert [line.split(b'" ')[1].split()[0] for line in lines] == [b"400", b"431"]
