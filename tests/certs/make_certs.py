"""Regenerate the committed test-only certificates (never used outside tests).

    .venv/bin/python tests/certs/make_certs.py

Writes a CA, a leaf for example.com/*.example.com, an expired leaf and a second unrelated key, valid for
20 years so golden files stay stable. Goldens show only digests of these files.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
START = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(name: str, key: ec.EllipticCurvePrivateKey) -> None:
    (HERE / name).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    sans: list[str],
    days: int,
    ca: bool,
    start: datetime.datetime = START,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def main() -> None:
    ca_key, leaf_key, other_key = _key(), _key(), _key()
    ca = _cert("meshgate test CA", ca_key, None, ca_key, [], 365 * 20, True)
    leaf = _cert(
        "example.com", leaf_key, ca.subject, ca_key, ["example.com", "*.example.com"], 365 * 20, False
    )
    expired = _cert("old.example.com", leaf_key, ca.subject, ca_key, ["old.example.com"], 30, False)
    (HERE / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (HERE / "example.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (HERE / "expired.crt").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    _write_key("ca.key", ca_key)
    _write_key("example.key", leaf_key)
    _write_key("other.key", other_key)


if __name__ == "__main__":
    main()
