"""Rotation of a file certificate without restart: new handshakes get the new certificate (files
re-checked at most once per `recheck` seconds), connections opened before keep working; a broken
replacement keeps the last good certificate and is reported. A new snapshot's Secret applies to new
handshakes the same way (contexts derive from the snapshot)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import backends, gateway, run

from .tlshelp import client_context, load, port_of, request, tls_connection, tls_secret


def _fingerprint(writer: object) -> str:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)  # type: ignore[attr-defined]
    return hashlib.sha256(der).hexdigest()


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic, as Kubernetes' projected volumes do it


def test_file_certificate_rotation(tmp_path: Path) -> None:
    ca = trustme.CA()
    first, second = ca.issue_cert("rot.example.com"), ca.issue_cert("rot.example.com")
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    crt.write_bytes(first.cert_chain_pems[0].bytes())
    key.write_bytes(first.private_key_pem.bytes())

    async def main() -> None:
        async with backends("web") as (web,):
            text = f"""\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: edge, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
    - port: {{number: 443, name: https, protocol: HTTPS}}
      hosts: ["rot.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: web, namespace: default}}
spec:
  hosts: ["rot.example.com"]
  gateways: [istio-system/edge]
  http: [{{route: [{{destination: {{host: web}}}}]}}]
"""
            snap = load(tmp_path, text + service("web", web.port))
            async with gateway(snap) as gw:
                reports: list[str] = []
                gw.server.tls.recheck = 0.0  # look at the files on every handshake (default: 1 s)
                gw.server.tls.report = reports.append
                port = port_of(gw, 443)
                context = client_context(ca)
                async with tls_connection(port, context, "rot.example.com") as (old_r, old_w):
                    before = _fingerprint(old_w)
                    assert (await request(old_r, old_w, "rot.example.com"))[0] == 200
                    _replace(crt, second.cert_chain_pems[0].bytes())
                    _replace(key, second.private_key_pem.bytes())
                    async with tls_connection(port, context, "rot.example.com") as (r, w):
                        after = _fingerprint(w)
                        assert after != before  # the new handshake sees the new certificate
                        assert (await request(r, w, "rot.example.com"))[0] == 200
                    assert any("certificate files changed" in line for line in reports), reports
                    # the connection opened before the rotation keeps working
                    assert (await request(old_r, old_w, "rot.example.com"))[0] == 200
                    # a broken replacement: reported, the last good certificate stays
                    _replace(key, b"not a key")
                    async with tls_connection(port, context, "rot.example.com") as (r, w):
                        assert _fingerprint(w) == after
                        assert (await request(r, w, "rot.example.com"))[0] == 200
                    assert any(f"file {key}" in line and "keeping the previous" in line for line in reports)

    run(main())


def test_new_snapshot_secret_applies_to_new_handshakes(tmp_path: Path) -> None:
    ca = trustme.CA()
    first, second = ca.issue_cert("sec.example.com"), ca.issue_cert("sec.example.com")

    def config(cert: trustme.LeafCert, port: int) -> str:
        return (
            """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: ["sec.example.com"]
      tls: {mode: SIMPLE, credentialName: sec}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["sec.example.com"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
"""
            + tls_secret("sec", cert)
            + service("web", port)
        )

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, config(first, web.port))
            async with gateway(snap) as gw:
                port = port_of(gw, 443)
                context = client_context(ca)
                async with tls_connection(port, context, "sec.example.com") as (old_r, old_w):
                    before = _fingerprint(old_w)
                    path = tmp_path / "v2.yaml"
                    path.write_text(config(second, web.port))
                    new, _ = build_snapshot([str(path)])
                    assert new is not None
                    gw.ctx.store.swap(new)
                    assert gw.server.tls.prepare(new.config) == []  # the reload hook (optional)
                    async with tls_connection(port, context, "sec.example.com") as (r, w):
                        assert _fingerprint(w) != before
                        assert (await request(r, w, "sec.example.com"))[0] == 200
                    assert (await request(old_r, old_w, "sec.example.com"))[0] == 200

    run(main())
