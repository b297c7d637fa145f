"""MUTUAL and OPTIONAL_MUTUAL with real handshakes: the client certificate is required (or
optional) and verified against the Secret's CA; the verified identity reaches the backend as
x-forwarded-client-cert (istio-semantics 1.4, 8.4) and the access log; a client's own
x-forwarded-client-cert is never forwarded."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import json
import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.e2e_helpers import service
from meshgate.proxy.access_log import AccessLog
from proxy.gw import backends, gateway, run

from .tlshelp import (
    client_context,
    generic_secret,
    handshake_refused,
    https_get,
    load,
    port_of,
    request,
    tls_connection,
    tls_secret,
)

SPIFFE = "spiffe://cluster.local/ns/shop/sa/checkout"


def client_cert(ca: trustme.CA, tmp_path: Path, name: str = "client") -> tuple[Path, Path, bytes]:
    """A client certificate with a URI SAN (trustme cannot make those), signed by `ca`."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "checkout"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shop"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(SPIFFE), x509.DNSName("checkout.shop.example")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


def _config(ca: trustme.CA, port: int) -> str:
    mtls = ca.issue_cert("mtls.example.com")
    text = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-mtls, protocol: HTTPS}
      hosts: ["mtls.example.com"]
      tls: {mode: MUTUAL, credentialName: mtls-cred}
    - port: {number: 443, name: https-opt, protocol: HTTPS}
      hosts: ["opt.example.com"]
      tls: {mode: OPTIONAL_MUTUAL, credentialName: opt-cred}
    - port: {number: 443, name: https-simple, protocol: HTTPS}
      hosts: ["simple.example.com"]
      tls: {mode: SIMPLE, credentialName: simple-cred}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["mtls.example.com", "opt.example.com", "simple.example.com"]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web}}]}]
"""
    # generic Secret with cert/key, the client CA in the separate "<name>-cacert" Secret
    text += generic_secret(
        "mtls-cred", cert=mtls.cert_chain_pems[0].bytes(), key=mtls.private_key_pem.bytes()
    )
    text += generic_secret("mtls-cred-cacert", cacert=ca.cert_pem.bytes())
    text += tls_secret("opt-cred", ca.issue_cert("opt.example.com"), ca=ca)  # ca.crt in the same Secret
    text += tls_secret("simple-cred", ca.issue_cert("simple.example.com"))
    return text + service("web", port)


def _with_client(ca: trustme.CA, cert: Path, key: Path) -> ssl.SSLContext:
    context = client_context(ca)
    context.load_cert_chain(str(cert), str(key))
    return context


async def _get(port: int, sni: str, context: ssl.SSLContext, **headers: str) -> dict[str, object]:
    async with tls_connection(port, context, sni) as (reader, writer):
        status, head, body = await request(reader, writer, sni, **headers)
        assert status == 200, head
        return json.loads(body)["headers"]  # type: ignore[no-any-return]


def test_mutual_requires_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    ca, other = trustme.CA(), trustme.CA()
    good_cert, good_key, good_der = client_cert(ca, tmp_path, "good")
    bad_cert, bad_key, _ = client_cert(other, tmp_path, "bad")
    log = io.StringIO()

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, web.port))
            async with gateway(snap, access_log=AccessLog(log, "json", flush_interval=0.01)) as gw:
                assert not gw.server.problems, gw.server.problems
                port = port_of(gw, 443)
                # MUTUAL: no certificate → refused; a certificate from another CA → refused
                assert await handshake_refused(port, "mtls.example.com", client_context(ca))
                assert await handshake_refused(port, "mtls.example.com", _with_client(ca, bad_cert, bad_key))
                for _ in range(50):  # the server side notices the failed handshakes asynchronously
                    if gw.ctx.stats.tls_handshake_failures >= 2:
                        break
                    await asyncio.sleep(0.02)
                assert gw.ctx.stats.tls_handshake_failures == 2
                # a valid certificate: served, identity forwarded (a client's own value is replaced)
                headers = await _get(
                    port,
                    "mtls.example.com",
                    _with_client(ca, good_cert, good_key),
                    x_forwarded_client_cert="Hash=forged;URI=spiffe://evil",
                )
                xfcc = headers["x-forwarded-client-cert"]
                assert isinstance(xfcc, str)
                assert xfcc.startswith(f"Hash={hashlib.sha256(good_der).hexdigest()};")
                assert 'Subject="O=Shop,CN=checkout"' in xfcc
                assert f"URI={SPIFFE}" in xfcc and "DNS=checkout.shop.example" in xfcc
                assert "forged" not in xfcc and "evil" not in xfcc
                gw.ctx.access_log.flush()  # type: ignore[union-attr]
                lines = [json.loads(line) for line in log.getvalue().splitlines()]
                assert lines and lines[-1]["downstream_peer_cert"] == xfcc
                assert lines[-1]["requested_server_name"] == "mtls.example.com"

    run(main())


def test_optional_mutual_and_sanitizing(tmp_path: Path) -> None:
    ca, other = trustme.CA(), trustme.CA()
    good_cert, good_key, good_der = client_cert(ca, tmp_path, "good")
    bad_cert, bad_key, _ = client_cert(other, tmp_path, "bad")

    async def main() -> None:
        async with backends("web") as (web,):
            snap = load(tmp_path, _config(ca, web.port))
            async with gateway(snap) as gw:
                port = port_of(gw, 443)
                # OPTIONAL_MUTUAL: no certificate is fine, and nothing is forwarded
                headers = await _get(port, "opt.example.com", client_context(ca), x_forwarded_client_cert="x")
                assert "x-forwarded-client-cert" not in headers
                headers = await _get(port, "opt.example.com", _with_client(ca, good_cert, good_key))
                xfcc = headers["x-forwarded-client-cert"]
                assert isinstance(xfcc, str) and hashlib.sha256(good_der).hexdigest() in xfcc
                # ... but a presented certificate is verified
                assert await handshake_refused(port, "opt.example.com", _with_client(ca, bad_cert, bad_key))
                # SIMPLE: no certificate requested, a forged header is dropped
                result = await https_get(port, "simple.example.com", ca=ca, x_forwarded_client_cert="By=x")
                assert "x-forwarded-client-cert" not in result.json()["headers"]

    run(main())
