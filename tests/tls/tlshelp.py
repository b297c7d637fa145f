"""Helpers for TLS tests: YAML configs with trustme certificates, real handshakes on 127.0.0.1,
every wait bounded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from meshgate.runtime import Snapshot
from meshgate.runtime.pipeline import build_snapshot
from proxy.gw import Gateway

LOCAL = "127.0.0.1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tls_secret(name: str, cert: trustme.LeafCert, ca: trustme.CA | None = None) -> str:
    """A kubernetes.io/tls Secret (with ca.crt when `ca` is given)."""
    ca_line = f", ca.crt: {b64(ca.cert_pem.bytes())}" if ca is not None else ""
    crt, key = b64(cert.cert_chain_pems[0].bytes()), b64(cert.private_key_pem.bytes())
    return f"""\
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {{name: {name}, namespace: istio-system}}
data: {{tls.crt: {crt}, tls.key: {key}{ca_line}}}
"""


def generic_secret(name: str, **keys: bytes) -> str:
    data = ", ".join(f"{key}: {b64(value)}" for key, value in keys.items())
    return f"""\
---
apiVersion: v1
kind: Secret
type: Opaque
metadata: {{name: {name}, namespace: istio-system}}
data: {{{data}}}
"""


def load(tmp_path: Path, text: str, name: str = "config.yaml") -> Snapshot:
    path = tmp_path / name
    path.write_text(text)
    snapshot, diagnostics = build_snapshot([str(path)])
    assert snapshot is not None, [d.render() for d in diagnostics]
    return snapshot


def port_of(gw: Gateway, server_port: int) -> int:
    return next(b.listen_port for b in gw.server.bound if b.port == server_port)


def client_context(
    ca: trustme.CA | None = None, client_cert: trustme.LeafCert | None = None, *, check_hostname: bool = False
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = check_hostname
    if ca is not None:
        ca.configure_trust(context)
    else:
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        client_cert.configure_cert(context)
    return context


@dataclass
class TlsResult:
    peer: dict[str, Any]
    status: int = 0
    head: bytes = b""
    body: bytes = b""
    version: str = ""
    alpn: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sans(self) -> list[str]:
        return [value for kind, value in self.peer.get("subjectAltName", ()) if kind == "DNS"]

    def json(self) -> Any:
        return json.loads(self.body)


@contextlib.asynccontextmanager
async def tls_connection(
    port: int, context: ssl.SSLContext, server_name: str | None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection(
            LOCAL, port, ssl=context, server_hostname=server_name or None
        )
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await writer.wait_closed()


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str = "/", **headers: str
) -> tuple[int, bytes, bytes]:
    """One keep-alive request; the demo backend answers with a Content-Length body."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"] + [
        f"{k.replace('_', '-')}: {v}" for k, v in headers.items()
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), head, body


async def https_get(
    port: int,
    server_name: str | None,
    *,
    ca: trustme.CA | None = None,
    client_cert: trustme.LeafCert | None = None,
    host: str | None = None,
    path: str = "/",
    **headers: str,
) -> TlsResult:
    context = client_context(ca, client_cert)
    async with tls_connection(port, context, server_name) as (reader, writer):
        ssl_object = writer.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if ca is not None else {}
        if ca is None:
            der = ssl_object.getpeercert(binary_form=True)
            peer = {"subjectAltName": _sans_of(der)}
        status, head, body = await request(
            reader, writer, host or server_name or "example.com", path, **headers
        )
        return TlsResult(peer, status, head, body, ssl_object.version(), ssl_object.selected_alpn_protocol())


def _sans_of(der: bytes) -> tuple[tuple[str, str], ...]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(("DNS", name) for name in names.get_values_for_type(x509.DNSName))


async def handshake_refused(
    port: int, server_name: str | None, context: ssl.SSLContext | None = None
) -> bool:
    """True when the gateway closes the connection instead of completing a handshake (and, when
    it completes, a request gets no answer)."""
    try:
        async with tls_connection(port, context or client_context(), server_name) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            async with asyncio.timeout(5):
                data = await reader.read(100)
            return data == b""
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return True


async def plain_bytes_refused(port: int, data: bytes = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") -> bool:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    try:
        writer.write(data)
        async with asyncio.timeout(5):
            answer = await reader.read(1000)
        return answer == b""
    except ConnectionError:
        return True
    finally:
        writer.close()
