"""Per-chain TLS parameters with real handshakes: min/max protocol version and cipher suites are
applied to the chain the SNI selects (two chains on one port with different settings), and a client
that never completes its ClientHello is closed after the hello timeout."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from meshgate.proxy.l4 import SniffingListener
from proxy.gw import backends, gateway, run

from .tlshelp import (
    LOCAL,
    client_context,
    handshake_refused,
    load,
    port_of,
    request,
    tls_connection,
    tls_secret,
)

CONFIG = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-old, protocol: HTTPS}
      hosts: ["old.example.com"]
      tls:
        mode: SIMPLE
        credentialName: old-cred
        maxProtocolVersion: TLSV1_2
        cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256]
    - port: {number: 443, name: https-new, protocol: HTTPS}
      hosts: ["new.example.com"]
      tls: {mode: SIMPLE, credentialName: new-cred, minProtocolVersion: TLSV1_3}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["old.example.com", "new.example.com"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
"""


def test_versions_and_ciphers_per_chain(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        async with backends("web") as (web,):
            text = CONFIG + tls_secret("old-cred", ca.issue_cert("old.example.com"))
            text += tls_secret("new-cred", ca.issue_cert("new.example.com")) + service("web", web.port)
            async with gateway(load(tmp_path, text)) as gw:
                port = port_of(gw, 443)
                async with tls_connection(port, client_context(ca), "old.example.com") as (r, w):
                    ssl_object = w.get_extra_info("ssl_object")
                    assert ssl_object.version() == "TLSv1.2"  # the client offered 1.3
                    assert ssl_object.cipher()[0] in (
                        "ECDHE-ECDSA-AES128-GCM-SHA256",
                        "ECDHE-RSA-AES128-GCM-SHA256",
                    )
                    assert (await request(r, w, "old.example.com"))[0] == 200
                async with tls_connection(port, client_context(ca), "new.example.com") as (r, w):
                    assert w.get_extra_info("ssl_object").version() == "TLSv1.3"
                only_12 = client_context(ca)
                only_12.maximum_version = ssl.TLSVersion.TLSv1_2
                assert await handshake_refused(port, "new.example.com", only_12)  # minProtocolVersion 1.3
                other_cipher = client_context(ca)
                other_cipher.maximum_version = ssl.TLSVersion.TLSv1_2
                other_cipher.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")
                assert await handshake_refused(port, "old.example.com", other_cipher)

    run(main())


def test_silent_and_stalled_clients_are_closed(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        async with backends("web") as (web,):
            text = CONFIG + tls_secret("old-cred", ca.issue_cert("old.example.com"))
            text += tls_secret("new-cred", ca.issue_cert("new.example.com")) + service("web", web.port)
            async with gateway(load(tmp_path, text)) as gw:
                for server in gw.server.servers:
                    if isinstance(server, SniffingListener):
                        server.hello_timeout = 0.3
                port = port_of(gw, 443)
                for data in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):  # nothing; half a hello
                    reader, writer = await asyncio.open_connection(LOCAL, port)
                    writer.write(data)
                    try:
                        async with asyncio.timeout(3):
                            assert await reader.read(100) == b""
                    except ConnectionResetError:
                        pass  # closed with the unread half hello still queued: a reset
                    writer.close()
                assert not any(s.pending for s in gw.server.servers if isinstance(s, SniffingListener))

    run(main())
