"""`meshgate routes` and `meshgate explain --sni` show the certificate each chain serves: Secrets
and files (read now; a missing file is said to be missing), and why a disabled chain closes."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from meshgate.cli.main import main

from .tlshelp import tls_secret


def _config(tmp_path: Path, ca: trustme.CA) -> Path:
    cert = ca.issue_cert("files.example.com")
    crt, key = tmp_path / "files.crt", tmp_path / "files.key"
    crt.write_bytes(cert.cert_chain_pems[0].bytes())
    key.write_bytes(cert.private_key_pem.bytes())
    text = f"""\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: edge, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
    - port: {{number: 443, name: https-files, protocol: HTTPS}}
      hosts: ["files.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
    - port: {{number: 443, name: https-gone, protocol: HTTPS}}
      hosts: ["gone.example.com"]
      tls: {{mode: SIMPLE, serverCertificate: {tmp_path}/gone.crt, privateKey: {tmp_path}/gone.key}}
    - port: {{number: 443, name: https-secret, protocol: HTTPS}}
      hosts: ["secret.example.com"]
      tls: {{mode: SIMPLE, credentialName: secret-cred}}
"""
    path = tmp_path / "gw.yaml"
    path.write_text(text + tls_secret("secret-cred", ca.issue_cert("secret.example.com")))
    return path


def test_routes_and_explain_show_certificates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(_config(tmp_path, trustme.CA()))
    main(["routes", "-f", path])
    out = capsys.readouterr().out
    assert f"certificate: file {tmp_path}/files.crt: subject" in out and "SANs files.example.com" in out
    assert f"certificate: file {tmp_path}/gone.crt: missing (No such file or directory)" in out
    assert "certificate: secret istio-system/secret-cred: subject" in out
    main(["explain", "-f", path, "--sni", "files.example.com", "https://files.example.com/"])
    out = capsys.readouterr().out
    assert "tls       SIMPLE" in out and "SANs files.example.com" in out
    main(["explain", "-f", path, "https://gone.example.com/"])
    assert "gone.crt: missing" in capsys.readouterr().out
