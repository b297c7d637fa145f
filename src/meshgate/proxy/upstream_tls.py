"""TLS origination toward upstreams (DestinationRule `trafficPolicy.tls`, istio-semantics 6.6).

- DISABLE (or no `tls`): plaintext.
- SIMPLE: verify the server with `caCertificates` (file or PEM), else the system trust store. SNI is
  `sni`, else the request's (possibly rewritten) Host. The server name is checked against
  `subjectAltNames` when given, else against the SNI.
- MUTUAL: SIMPLE plus a client certificate (`clientCertificate` + `privateKey`).
- `insecureSkipVerify: true`: no CA and no name check.
- ISTIO_MUTUAL needs mesh certificates this gateway does not have: treated as plaintext.

Contexts are built once per `ir.UpstreamTls` object (i.e. per snapshot) and cached.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile

from meshgate import ir

ORIGINATING = frozenset({"SIMPLE", "MUTUAL"})

_contexts: dict[int, tuple[ir.UpstreamTls, ssl.SSLContext]] = {}


def server_name(tls: ir.UpstreamTls | None, authority: str) -> str:
    """The SNI for a request: explicit `sni`, else the Host sent upstream (port removed)."""
    if tls is None or tls.mode not in ORIGINATING:
        return ""
    if tls.sni:
        return tls.sni
    host = authority
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def context_for(tls: ir.UpstreamTls) -> ssl.SSLContext:
    cached = _contexts.get(id(tls))
    if cached is not None and cached[0] is tls:
        return cached[1]
    context = build_context(tls)
    if len(_contexts) > 256:
        _contexts.clear()
    _contexts[id(tls)] = (tls, context)
    return context


def build_context(tls: ir.UpstreamTls) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_alpn_protocols(["http/1.1"])
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if tls.ca_pem:
            context.load_verify_locations(cadata=tls.ca_pem.decode("ascii"))
        elif tls.ca_file:
            context.load_verify_locations(cafile=tls.ca_file)
        else:
            context.load_default_certs()
        # With explicit subjectAltNames the name check is ours (peer_problem), not the SNI's.
        context.check_hostname = not tls.subject_alt_names
    if tls.mode == "MUTUAL":
        if tls.cert_pem and tls.key_pem:
            _load_pem_chain(context, tls.cert_pem, tls.key_pem)
        elif tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def _load_pem_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """`ssl` loads keys only from files: write them to a private temporary directory briefly."""
    with tempfile.TemporaryDirectory(prefix="meshgate-tls-") as folder:
        cert_path, key_path = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path)


def peer_problem(tls: ir.UpstreamTls, transport: asyncio.BaseTransport) -> str:
    """ "" when the server certificate carries one of `subject_alt_names` (or no check applies)."""
    if tls.mode not in ORIGINATING or tls.insecure_skip_verify or not tls.subject_alt_names:
        return ""
    cert = transport.get_extra_info("peercert") or {}
    names = {value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "URI", "IP Address")}
    if any(name in names for name in tls.subject_alt_names):
        return ""
    return "TLS error: certificate subject alt names do not match"
