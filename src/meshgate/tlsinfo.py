"""Readable facts about certificates (subject, SANs, expiry) for `routes`, `explain` and the admin API.

Never prints key material. File certificates are read when shown (the proxy reads the same files).
"""

from __future__ import annotations

from cryptography import x509

from meshgate.ir import TlsCertificate


def describe_pem(cert_pem: bytes) -> str:
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        return "not a PEM certificate"
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return (
        f"subject {leaf.subject.rfc4514_string() or '(empty)'}; SANs {', '.join(names) or '(none)'}; "
        f"expires {leaf.not_valid_after_utc:%Y-%m-%d}"
    )


def certificate_summary(cert: TlsCertificate) -> str:
    if cert.cert_pem:
        return f"{cert.source}: {describe_pem(cert.cert_pem)}"
    if not cert.cert_file:
        return f"{cert.source}: no certificate"
    try:
        with open(cert.cert_file, "rb") as handle:
            data = handle.read(1024 * 1024)
    except OSError as exc:
        return f"{cert.source}: missing ({exc.strerror or exc}); the chain closes its connections"
    return f"{cert.source}: {describe_pem(data)}"
