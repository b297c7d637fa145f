"""SNI filter-chain choice on one port with real handshakes (istio-semantics 1.8.7): exact name,
then the longest `*.suffix`, then the chain of the `*` server; unknown names and plain HTTP closed."""

from __future__ import annotations

from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from proxy.gw import backends, gateway, run

from .tlshelp import handshake_refused, https_get, load, plain_bytes_refused, port_of, tls_secret

SERVERS = {  # server host → credential
    "a.example.com": "exact-cert",
    "*.example.com": "wild-cert",
    "*.b.example.com": "deeper-cert",
    "*": "default-cert",
}
CERT_NAMES = {  # credential → the name its certificate is issued for
    "exact-cert": "a.example.com",
    "wild-cert": "*.example.com",
    "deeper-cert": "*.b.example.com",
    "default-cert": "default.test",
}


def _config(ca: trustme.CA, port: int, *, with_default: bool = True) -> str:
    servers = "".join(
        f"""\
    - port: {{number: 443, name: https-{i}, protocol: HTTPS}}
      hosts: ["{host}"]
      tls: {{mode: SIMPLE, credentialName: {cred}}}
"""
        for i, (host, cred) in enumerate(SERVERS.items())
        if with_default or host != "*"
    )
    text = f"""\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: edge, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: web, namespace: default}}
spec:
  hosts: ["a.example.com", "*.example.com", "*.b.example.com", "default.test"]
  gateways: [istio-system/edge]
  http: [{{route: [{{destination: {{host: web}}}}]}}]
"""
    for cred, name in CERT_NAMES.items():
        text += tls_secret(cred, ca.issue_cert(name))
    return text + service("web", port)


def test_sni_selects_exact_then_longest_wildcard_then_default(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, web.port))
            async with gateway(snap) as gw:
                port = port_of(gw, 443)
                expected = {
                    "a.example.com": "a.example.com",  # exact beats *.example.com
                    "x.example.com": "*.example.com",
                    "c.d.example.com": "*.example.com",  # a wildcard covers several labels
                    "y.b.example.com": "*.b.example.com",  # longest suffix wins
                    "example.com": "default.test",  # *.example.com does not cover example.com
                    "unknown.test": "default.test",
                    None: "default.test",  # no SNI: only the `*` chain
                }
                for sni, cert_name in expected.items():
                    host = "default.test" if cert_name == "default.test" else sni
                    result = await https_get(port, sni, ca=ca, host=host)
                    assert result.sans == [cert_name], (sni, result.sans)
                    assert result.status == 200, (sni, result.head)
                    assert result.json()["headers"]["x-forwarded-proto"] == "https"
                    assert result.alpn is None or result.alpn == "http/1.1"
                assert web.accepted >= 1

    run(main())


def test_unknown_sni_and_plain_http_are_refused(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, web.port, with_default=False))
            async with gateway(snap) as gw:
                port = port_of(gw, 443)
                assert (await https_get(port, "a.example.com", ca=ca)).status == 200
                assert await handshake_refused(port, "unknown.test")
                assert await handshake_refused(port, "example.com")
                assert await handshake_refused(port, None)  # no SNI and no `*` server
                assert await plain_bytes_refused(port)  # plain HTTP to the TLS port: closed
                assert await plain_bytes_refused(port, b"\x16\x03\x01\x00\x05hello")  # garbage hello
                # the gateway still serves after all that
                assert (await https_get(port, "z.b.example.com", ca=ca)).sans == ["*.b.example.com"]
                # Connections closed for their SNI never started a handshake: only the two served count.
                assert (gw.ctx.stats.tls_handshakes, gw.ctx.stats.tls_handshake_failures) == (2, 0)

    run(main())


def test_alpn_offers_http11_only(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        import ssl

        from .tlshelp import client_context, tls_connection

        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, web.port))
            async with gateway(snap) as gw:
                context = client_context(ca)
                context.set_alpn_protocols(["h2", "http/1.1"])
                async with tls_connection(port_of(gw, 443), context, "a.example.com") as (_, writer):
                    ssl_object = writer.get_extra_info("ssl_object")
                    assert isinstance(ssl_object, ssl.SSLObject)
                    assert ssl_object.selected_alpn_protocol() == "http/1.1"

    run(main())
