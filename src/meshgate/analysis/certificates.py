"""The certificates of every TLS-terminating Gateway server, read once per analysis run.

Servers are taken from the Gateway objects that select this workload (Ingress-generated ones
included), not from the served plans: a server dropped by a port conflict still has a certificate
worth checking. Secrets are read with `translate.credentials` (translation already reported any
problem with them); certificate files are read from this machine when they exist.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from meshgate.analysis.analyzer import Context
from meshgate.diag import Origin
from meshgate.resources.istio import Gateway, Server
from meshgate.translate.credentials import (
    CredentialProblem,
    check_pair,
    load_server_credential,
    parse_credential_name,
)
from meshgate.translate.servers import TLS_FAMILY

__all__ = ["FileProblem", "ServerCertificate", "server_certificates"]

_TERMINATING = ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")


@dataclass(frozen=True, slots=True)
class FileProblem:
    file: str
    reason: str
    unreadable: bool  # True: could not read it here; False: read it, and it is not usable


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    gateway: Gateway
    index: int
    server: Server
    hosts: tuple[str, ...]  # server hosts without namespace prefix, lower-case
    field_path: str  # where the certificate is named
    identity: tuple[str, str, str]  # ("secret", namespace, name) or ("file", cert, key)
    label: str  # "Secret istio-system/name" or "file /etc/..."
    leaf: x509.Certificate | None  # parsed leaf certificate, when it could be read
    problem: FileProblem | None = None

    @property
    def server_label(self) -> str:
        port = self.server.port
        return f"{self.gateway.namespace}/{self.gateway.name} {port.name or port.number}"

    @property
    def origin(self) -> Origin:
        return self.gateway.origin_of(self.field_path)

    def days_left(self, now: datetime.datetime) -> float | None:
        if self.leaf is None:
            return None
        return (self.leaf.not_valid_after_utc - now).total_seconds() / 86400


def server_certificates(context: Context) -> tuple[ServerCertificate, ...]:
    return context.shared("certificates", _build)


def _build(context: Context) -> tuple[ServerCertificate, ...]:
    out: list[ServerCertificate] = []
    for gateway in context.selected_gateways:
        for index, server in enumerate(gateway.spec.servers):
            tls = server.tls
            if tls is None or server.port.protocol.upper() not in TLS_FAMILY:
                continue
            if (tls.mode or "PASSTHROUGH").upper() not in _TERMINATING:
                continue
            hosts = tuple(h.rpartition("/")[2].lower() for h in server.hosts)
            at = f"spec.servers[{index}].tls"
            entry = _secret(context, gateway, index, server, hosts, at) if tls.credential_name else None
            if entry is None and tls.server_certificate and tls.private_key:
                entry = _file(gateway, index, server, hosts, at)
            if entry is not None:
                out.append(entry)
    return tuple(out)


def _secret(
    context: Context, gateway: Gateway, index: int, server: Server, hosts: tuple[str, ...], at: str
) -> ServerCertificate:
    assert server.tls is not None
    name = server.tls.credential_name
    parsed = parse_credential_name(name, context.options.namespace)
    namespace, bare = (context.options.namespace, name) if isinstance(parsed, CredentialProblem) else parsed
    credential = load_server_credential(context.full_bundle, name, context.options.namespace, want_ca=False)
    leaf = None
    if credential.problem is None and credential.certificate is not None:
        leaf = _leaf(credential.certificate.cert_pem)
    return ServerCertificate(
        gateway,
        index,
        server,
        hosts,
        f"{at}.credentialName",
        ("secret", namespace, bare),
        f"Secret {namespace}/{bare}",
        leaf,
    )


def _file(gateway: Gateway, index: int, server: Server, hosts: tuple[str, ...], at: str) -> ServerCertificate:
    assert server.tls is not None
    cert_file, key_file = server.tls.server_certificate, server.tls.private_key

    def entry(leaf: x509.Certificate | None, problem: FileProblem | None) -> ServerCertificate:
        return ServerCertificate(
            gateway,
            index,
            server,
            hosts,
            f"{at}.serverCertificate",
            ("file", cert_file, key_file),
            f"file {cert_file}",
            leaf,
            problem,
        )

    contents: list[bytes] = []
    for file in (cert_file, key_file):
        try:
            contents.append(Path(file).read_bytes())
        except OSError as exc:
            return entry(None, FileProblem(file, exc.strerror or str(exc), unreadable=True))
    cert_pem, key_pem = contents
    found = check_pair(cert_pem, key_pem, f"file {cert_file}", f"file {key_file}")
    return entry(_leaf(cert_pem), FileProblem(cert_file, found.reason, unreadable=False) if found else None)


def _leaf(cert_pem: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        return None


def dns_names(leaf: x509.Certificate) -> list[str]:
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in sans.get_values_for_type(x509.DNSName)]


def covers(name: str, host: str) -> bool:
    """RFC 6125 6.4.3: a certificate name `*.example.com` covers exactly one extra left-most label."""
    if name == host:
        return True
    if name.startswith("*.") and not host.startswith("*"):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return False
