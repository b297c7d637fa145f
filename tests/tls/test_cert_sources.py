"""Every certificate source with real handshakes: files read by the proxy, kubernetes.io/tls and
generic Secrets, `<name>-cacert` (test_mutual.py), Ingress TLS; a bad file disables only its chain
with a message naming the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import trustme

from e2e.e2e_helpers import service
from proxy.gw import backends, gateway, run

from .test_mutual import _with_client, client_cert
from .tlshelp import (
    generic_secret,
    handshake_refused,
    https_get,
    load,
    port_of,
    request,
    tls_connection,
    tls_secret,
)


def write_pair(tmp_path: Path, cert: trustme.LeafCert, name: str) -> tuple[Path, Path]:
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.cert_chain_pems[0].bytes())
    key_path.write_bytes(cert.private_key_pem.bytes())
    key_path.chmod(0o600)
    return cert_path, key_path


def _config(ca: trustme.CA, tmp_path: Path, port: int) -> str:
    files_crt, files_key = write_pair(tmp_path, ca.issue_cert("files.example.com"), "files")
    mutual_crt, mutual_key = write_pair(tmp_path, ca.issue_cert("mtlsfile.example.com"), "mutual")
    ca_file = tmp_path / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    bad_crt, _ = write_pair(tmp_path, ca.issue_cert("badfile.example.com"), "bad")
    _, other_key = write_pair(tmp_path, ca.issue_cert("other.example.com"), "other")
    generic = ca.issue_cert("generic.example.com")
    hosts = ["files", "mtlsfile", "badfile", "tls", "generic", "missing"]
    text = f"""\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: edge, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
    - port: {{number: 443, name: https-files, protocol: HTTPS}}
      hosts: ["files.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {files_crt}, privateKey: {files_key}}}
    - port: {{number: 443, name: https-mtlsfile, protocol: HTTPS}}
      hosts: ["mtlsfile.example.com"]
      tls:
        {{mode: MUTUAL, serverCertificate: {mutual_crt}, privateKey: {mutual_key}, caCertificates: {ca_file}}}
    - port: {{number: 443, name: https-badfile, protocol: HTTPS}}
      hosts: ["badfile.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {bad_crt}, privateKey: {other_key}}}
    - port: {{number: 443, name: https-missing, protocol: HTTPS}}
      hosts: ["missing.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {tmp_path}/nope.crt, privateKey: {tmp_path}/nope.key}}
    - port: {{number: 443, name: https-tls, protocol: HTTPS}}
      hosts: ["tls.example.com"]
      tls: {{mode: SIMPLE, credentialName: tls-cred}}
    - port: {{number: 443, name: https-generic, protocol: HTTPS}}
      hosts: ["generic.example.com"]
      tls: {{mode: SIMPLE, credentialName: generic-cred}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: web, namespace: default}}
spec:
  hosts: {json.dumps([f"{h}.example.com" for h in hosts])}
  gateways: [istio-system/edge]
  http: [{{route: [{{destination: {{host: web}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: shop, namespace: default}}
spec:
  tls: [{{hosts: [ing.example.com], secretName: ing-secret}}]
  rules:
    - host: ing.example.com
      http:
        paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]
"""
    text += tls_secret("tls-cred", ca.issue_cert("tls.example.com"))
    text += generic_secret(
        "generic-cred", cert=generic.cert_chain_pems[0].bytes(), key=generic.private_key_pem.bytes()
    )
    text += tls_secret("ing-secret", ca.issue_cert("ing.example.com"))
    return text + service("web", port)


def test_files_secrets_and_ingress(tmp_path: Path) -> None:
    ca = trustme.CA()
    good_cert, good_key, _ = client_cert(ca, tmp_path, "client")

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, tmp_path, web.port))
            async with gateway(snap) as gw:
                port = port_of(gw, 443)
                for name in ("files", "tls", "generic", "ing"):
                    sni = f"{name}.example.com"
                    result = await https_get(port, sni, ca=ca)  # verifies the chain against the CA
                    assert result.sans == [sni] and result.status == 200, (sni, result.head)
                # file MUTUAL: the CA file is used to verify clients
                assert await handshake_refused(
                    port, "mtlsfile.example.com", _with_client(trustme.CA(), good_cert, good_key)
                )
                async with tls_connection(
                    port, _with_client(ca, good_cert, good_key), "mtlsfile.example.com"
                ) as (r, w):
                    status, _, body = await request(r, w, "mtlsfile.example.com")
                    assert status == 200 and "x-forwarded-client-cert" in json.loads(body)["headers"]
                # bad files: only those chains refuse, with a message naming the file and the problem
                assert await handshake_refused(port, "badfile.example.com")
                assert await handshake_refused(port, "missing.example.com")
                problems = "\n".join(gw.server.problems)
                assert (
                    f"file {tmp_path}/other.key does not match the certificate in file {tmp_path}/bad.crt"
                    in problems
                )
                assert f"certificate file {tmp_path}/nope.crt: No such file or directory" in problems
                assert "files.example.com" not in problems

    run(main())
