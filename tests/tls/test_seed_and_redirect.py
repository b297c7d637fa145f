"""The seed topology's truncated Secret (istio-ingressgateway-certs, used by the `*` HTTPS server
of abtest-gateway): that chain refuses its connections with a diagnostic, while cafe.example.com on
the same port is served. And httpsRedirect through real sockets (istio-semantics 1.5)."""

from __future__ import annotations

from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Client, backends, gateway, run

from .tlshelp import handshake_refused, https_get, load, port_of, tls_secret

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"


def test_seed_broken_secret_refuses_only_its_chain(tmp_path: Path) -> None:
    ca = trustme.CA()
    extra = tmp_path / "cafe-secret.yaml"
    extra.write_text(tls_secret("cafe-secret", ca.issue_cert("cafe.example.com")).lstrip("-\n"))
    snap, diagnostics = build_snapshot([str(SEED), str(extra)])
    assert snap is not None
    rendered = "\n".join(d.render() for d in diagnostics)
    assert "IST0161" in rendered and "istio-ingressgateway-certs" in rendered

    async def main() -> None:
        async with gateway(snap) as gw:
            port = port_of(gw, 443)
            problems = "\n".join(gw.server.problems)  # `meshgate serve` prints these on stderr
            assert "closes its connections: found keys tls.crt and tls.key but they are empty" in problems
            assert "abtest-gateway" in problems and "20-abtest-gateway.yaml" in problems
            # cafe.example.com: its own chain, its own certificate, answered (the backend is not
            # running here, so the answer is 503; the point is the TLS + HTTP exchange)
            result = await https_get(port, "cafe.example.com", ca=ca, path="/tea")
            assert result.sans == ["cafe.example.com"] and result.status in (200, 503)
            # every other name lands on the `*` chain of abtest-gateway, whose Secret is broken
            assert await handshake_refused(port, "rest.xiaohoucode.com")
            assert await handshake_refused(port, None)
            # ... and the gateway keeps serving cafe afterwards
            assert (await https_get(port, "cafe.example.com", ca=ca, path="/tea")).sans == [
                "cafe.example.com"
            ]

    run(main())


def test_https_redirect_over_real_sockets(tmp_path: Path) -> None:
    ca = trustme.CA()

    async def main() -> None:
        async with backends("shop") as (shop,):
            text = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["shop.example.com", "noroute.example.com"]
      tls: {httpsRedirect: true}
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: ["shop.example.com"]
      tls: {mode: SIMPLE, credentialName: shop-cred}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: ["shop.example.com"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: shop}}]}]
"""
            text += tls_secret("shop-cred", ca.issue_cert("shop.example.com")) + service("shop", shop.port)
            snap = load(tmp_path, text)
            async with gateway(snap) as gw:
                async with Client(port_of(gw, 80)) as client:
                    response = await client.get("/a?b=1", host="shop.example.com:8080")
                    assert response.status == 301
                    assert response.header("location") == "https://shop.example.com:8080/a?b=1"
                    # a server host without a VirtualService redirects too (1.5.2)
                    response = await client.get("/x", host="noroute.example.com")
                    assert response.status == 301
                    assert response.header("location") == "https://noroute.example.com/x"
                    response = await client.get("/x", host="other.example.com")
                    assert response.status == 404  # not a server host (1.5.4)
                assert shop.accepted == 0  # nothing went upstream in plaintext
                result = await https_get(port_of(gw, 443), "shop.example.com", ca=ca, path="/a?b=1")
                assert result.status == 200 and result.json()["query"] == "b=1"

    run(main())
