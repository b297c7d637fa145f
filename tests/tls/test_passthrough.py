"""PASSTHROUGH and TCP servers: the gateway peeks at the ClientHello, picks the chain by SNI and
proxies raw bytes, so the client completes its handshake with the *backend's* certificate; a
terminating server shares the port; TCP servers proxy plain bytes; round robin over endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from proxy.gw import gateway, run

from .tlshelp import (
    LOCAL,
    client_context,
    handshake_refused,
    https_get,
    load,
    port_of,
    tls_connection,
    tls_secret,
)


class Echo(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name.encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(self.name + b":" + data)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def echo_server(name: str, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.get_running_loop().create_server(lambda: Echo(name), LOCAL, 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def endpoints(name: str, *ports: int) -> str:
    subsets = "".join(
        f"\n  - addresses: [{{ip: 127.0.0.1}}]\n    ports: [{{name: tcp, port: {p}}}]" for p in ports
    )
    return f"""\
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports: [{{name: tcp, port: 80}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: {name}, namespace: default}}
subsets:{subsets}
"""


def _config(ca: trustme.CA, pass_ports: tuple[int, int], echo_port: int, web_port: int) -> str:
    text = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: tls-pass, protocol: TLS}
      hosts: ["pass.example.com"]
      tls: {mode: PASSTHROUGH}
    - port: {number: 443, name: https-term, protocol: HTTPS}
      hosts: ["term.example.com"]
      tls: {mode: SIMPLE, credentialName: term-cred}
    - port: {number: 9000, name: tcp-echo, protocol: TCP}
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: pass, namespace: default}
spec:
  hosts: ["pass.example.com"]
  gateways: [istio-system/edge]
  tls:
    - match: [{port: 443, sniHosts: ["pass.example.com"]}]
      route: [{destination: {host: passsvc, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: term, namespace: default}
spec:
  hosts: ["term.example.com"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: ["echo.example.com"]
  gateways: [istio-system/edge]
  tcp: [{route: [{destination: {host: echo, port: {number: 80}}}]}]
"""
    text += tls_secret("term-cred", ca.issue_cert("term.example.com"))
    text += endpoints("passsvc", *pass_ports) + endpoints("echo", echo_port) + service("web", web_port)
    return text


def test_passthrough_tcp_and_termination_on_one_gateway(tmp_path: Path) -> None:
    gateway_ca, backend_ca = trustme.CA(), trustme.CA()
    backend_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ca.issue_cert("pass.example.com").configure_cert(backend_context)

    async def main() -> None:
        from proxy.gw import backends

        async with (
            echo_server("b1", backend_context) as p1,
            echo_server("b2", backend_context) as p2,
            echo_server("plain") as echo_port,
            backends("web") as (web,),
        ):
            snap = load(tmp_path, _config(gateway_ca, (p1, p2), echo_port, web.port))
            async with gateway(snap) as gw:
                assert not gw.server.skipped, gw.server.skipped
                port = port_of(gw, 443)
                seen: list[bytes] = []
                for i in range(4):
                    # the client trusts only the backend's CA and checks the name: the handshake
                    # is with the backend, end to end
                    context = client_context(backend_ca, check_hostname=True)
                    async with tls_connection(port, context, "pass.example.com") as (reader, writer):
                        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                        assert der is not None
                        writer.write(b"hello %d" % i)
                        async with asyncio.timeout(5):
                            answer = await reader.read(100)
                        seen.append(answer.split(b":")[0])
                        assert answer.endswith(b"hello %d" % i)
                assert sorted(seen) == [b"b1", b"b1", b"b2", b"b2"]  # round robin over ready endpoints
                # the terminating server on the same port still terminates
                result = await https_get(port, "term.example.com", ca=gateway_ca)
                assert result.status == 200 and result.sans == ["term.example.com"]
                # no chain for other names; plain TCP server relays bytes
                assert await handshake_refused(port, "other.example.com")
                reader, writer = await asyncio.open_connection(LOCAL, port_of(gw, 9000))
                writer.write(b"ping")
                async with asyncio.timeout(5):
                    assert await reader.read(100) == b"plain:ping"
                writer.write_eof()
                async with asyncio.timeout(5):
                    assert await reader.read(100) == b""  # half-close passed on, then closed
                writer.close()

    run(main())


def test_passthrough_streams_large_payloads(tmp_path: Path) -> None:
    """Flow control: a few MiB both ways through the relay."""
    gateway_ca, backend_ca = trustme.CA(), trustme.CA()
    backend_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ca.issue_cert("pass.example.com").configure_cert(backend_context)

    async def main() -> None:
        from proxy.gw import backends

        async with (
            echo_server("b", backend_context) as p1,
            echo_server("plain") as echo_port,
            backends("web") as (web,),
        ):
            snap = load(tmp_path, _config(gateway_ca, (p1, p1), echo_port, web.port))
            async with gateway(snap) as gw:
                context = client_context(backend_ca, check_hostname=True)
                async with tls_connection(port_of(gw, 443), context, "pass.example.com") as (reader, writer):
                    payload = b"x" * (4 * 1024 * 1024)
                    writer.write(payload)
                    received = 0
                    async with asyncio.timeout(15):
                        while received < len(payload):
                            chunk = await reader.read(1 << 16)
                            assert chunk
                            received += len(chunk.replace(b"b:", b""))
                    assert received == len(payload)

    run(main())


def test_tcp_proxy_idle_timeout_and_dead_upstream(tmp_path: Path) -> None:
    from meshgate.proxy import Limits
    from proxy.gw import backends, free_port

    async def main() -> None:
        async with echo_server("plain") as echo_port, backends("web") as (web,):
            snap = load(tmp_path, _config(trustme.CA(), (echo_port, echo_port), echo_port, web.port))
            async with gateway(snap, limits=Limits(tunnel_idle_timeout=0.3)) as gw:
                reader, writer = await asyncio.open_connection(LOCAL, port_of(gw, 9000))
                writer.write(b"a")
                async with asyncio.timeout(5):
                    assert await reader.read(100) == b"plain:a"
                    assert await reader.read(100) == b""  # idle for 0.3 s: closed
                writer.close()
        dead = free_port()
        snap = load(tmp_path, _config(trustme.CA(), (dead, dead), dead, dead), "dead.yaml")
        async with gateway(snap) as gw:
            reader, writer = await asyncio.open_connection(LOCAL, port_of(gw, 9000))
            async with asyncio.timeout(5):
                assert await reader.read(100) == b""  # upstream refused: downstream closed
            writer.close()

    run(main())
