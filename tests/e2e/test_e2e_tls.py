"""HTTPS servers: TLS terminated with the certificate of the Secret the Gateway names, chain
chosen by SNI, x-forwarded-proto https."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path

import trustme

from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import backends, gateway, run

from .e2e_helpers import service


def _secret(name: str, cert: trustme.LeafCert) -> str:
    crt = base64.b64encode(cert.cert_chain_pems[0].bytes()).decode()
    key = base64.b64encode(cert.private_key_pem.bytes()).decode()
    return f"""\
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {{name: {name}, namespace: istio-system}}
data: {{tls.crt: {crt}, tls.key: {key}}}
"""


CONFIG = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge-tls, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-secure, protocol: HTTPS}
      hosts: ["secure.example"]
      tls: {mode: SIMPLE, credentialName: secure-cert}
    - port: {number: 443, name: https-shop, protocol: HTTPS}
      hosts: ["shop.example"]
      tls: {mode: SIMPLE, credentialName: shop-cert}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: secure, namespace: default}
spec:
  hosts: ["secure.example"]
  gateways: [istio-system/edge-tls]
  http: [{route: [{destination: {host: secure}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: ["shop.example"]
  gateways: [istio-system/edge-tls]
  http: [{route: [{destination: {host: shop}}]}]
"""


async def _get_over_tls(
    port: int, ca: trustme.CA, server_name: str, *, verify: bool = True
) -> tuple[bytes, dict[str, object]]:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    if not verify:
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=server_name)
    try:
        peer = writer.get_extra_info("peercert")
        writer.write(f"GET /x HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 5)
        head, _, body = data.partition(b"\r\n\r\n")
        return head, {"body": json.loads(body), "peer": peer}
    finally:
        writer.close()


def test_https_terminates_with_the_chain_the_sni_selects(tmp_path: Path) -> None:
    ca = trustme.CA()
    secure_cert = ca.issue_cert("secure.example")
    shop_cert = ca.issue_cert("shop.example")

    async def main() -> None:
        async with backends("secure", "shop") as (secure, shop):
            text = CONFIG + _secret("secure-cert", secure_cert) + _secret("shop-cert", shop_cert)
            text += service("secure", secure.port) + service("shop", shop.port)
            path = tmp_path / "tls.yaml"
            path.write_text(text)
            snapshot, diagnostics = build_snapshot([str(path)])
            assert snapshot is not None, [d.render() for d in diagnostics]
            async with gateway(snapshot) as gw:
                assert not gw.server.skipped and not gw.server.problems
                for name in ("secure.example", "shop.example"):
                    head, seen = await _get_over_tls(gw.port, ca, name)
                    body = seen["body"]
                    assert head.startswith(b"HTTP/1.1 200"), head
                    assert isinstance(body, dict) and body["name"] == name.split(".")[0]
                    assert body["headers"]["x-forwarded-proto"] == "https"
                    peer = seen["peer"]
                    assert isinstance(peer, dict)
                    assert ("DNS", name) in peer["subjectAltName"]
                try:  # no chain for the name: the handshake fails even for a client that trusts anything
                    await _get_over_tls(gw.port, ca, "unknown.example", verify=False)
                except (ssl.SSLError, ConnectionResetError):
                    pass  # the alert (uvloop reports it as a reset)
                else:
                    raise AssertionError("a name without a chain must fail the handshake")

    run(main())
