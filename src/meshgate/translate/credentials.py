"""Server certificates for Gateway TLS servers: Secrets named by `credentialName`, or file paths.

Istio rules (istio-semantics sec. 2): a bare name means a Secret in the *gateway workload's*
namespace; `ns/name` is only honoured when `ns` is that namespace; keys are tried as `cert`+`key`
then `tls.crt`+`tls.key`; the client CA comes from Secret `<name>-cacert` if it exists, else from the
Secret itself (`cacert`, then `ca.crt`). Secret contents are checked here (PEM, key matches
certificate, validity window) so a broken Secret disables only the servers that use it, with a
message naming the Secret and key. File paths are only recorded: the proxy reads them (they may
rotate on disk).
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from meshgate.diag import Diagnostic, make
from meshgate.ir import TlsCertificate
from meshgate.resources.base import Resource
from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.core import Secret

CERT_KEY_PAIRS = (("cert", "key"), ("tls.crt", "tls.key"))
CA_KEYS = ("cacert", "ca.crt")


@dataclass(frozen=True, slots=True)
class CredentialProblem:
    reason: str
    fix: str
    missing: bool = False  # the Secret itself does not exist (IST0101) vs. exists but unusable (IST0161)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Credential:
    certificate: TlsCertificate | None
    ca_pem: bytes = b""
    ca_source: str = ""
    problem: CredentialProblem | None = None


def secret_value(secret: Secret, key: str) -> bytes | None:
    """Decoded value of `key` (stringData wins, as the API server merges it over data)."""
    if key in secret.string_data:
        return secret.string_data[key].encode("utf-8")
    if key in secret.data:
        try:
            return base64.b64decode(secret.data[key], validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def parse_credential_name(name: str, gateway_namespace: str) -> tuple[str, str] | CredentialProblem:
    """(namespace, secret name) to look up, or why the reference cannot be served."""
    if name.startswith("kubernetes://"):
        name = name[len("kubernetes://") :]
    if "://" in name:
        return CredentialProblem(
            f"credential reference scheme of {name!r} is not supported",
            "Use a bare Secret name in the gateway namespace.",
        )
    if "/" in name:
        namespace, _, bare = name.partition("/")
        if namespace != gateway_namespace:
            return CredentialProblem(
                f"Secret {name} is in namespace {namespace}, but Istio Gateways may only use Secrets in"
                f" the gateway workload's namespace {gateway_namespace}",
                f"Move the Secret to namespace {gateway_namespace} and reference it as {bare}.",
            )
        return namespace, bare
    return gateway_namespace, name


def load_server_credential(
    bundle: ResourceBundle, credential_name: str, gateway_namespace: str, want_ca: bool
) -> Credential:
    parsed = parse_credential_name(credential_name, gateway_namespace)
    if isinstance(parsed, CredentialProblem):
        return Credential(None, problem=parsed)
    namespace, name = parsed
    secret = bundle.get(Secret, namespace, name)
    if secret is None:
        elsewhere = [s for s in bundle.of(Secret) if s.name == name]
        hint = (
            f"; a Secret of that name exists in namespace {elsewhere[0].namespace}"
            f" ({elsewhere[0].origin}), but Istio only reads the gateway namespace"
            if elsewhere
            else ""
        )
        return Credential(
            None,
            problem=CredentialProblem(
                f"Secret {namespace}/{name} not found{hint}",
                f"Create Secret {name} in namespace {namespace} with keys tls.crt and tls.key.",
                missing=True,
                detail=f" in namespace {namespace}{hint}",
            ),
        )
    certificate = _certificate_from_secret(secret)
    if isinstance(certificate, CredentialProblem):
        return Credential(None, problem=certificate)
    ca_pem, ca_source = b"", ""
    if want_ca:
        ca_secret = bundle.get(Secret, namespace, f"{name}-cacert") or secret
        for key in CA_KEYS:
            value = secret_value(ca_secret, key)
            if value:
                ca_pem, ca_source = value, f"secret {ca_secret.namespace}/{ca_secret.name} key {key}"
                break
        if not ca_pem:
            return Credential(
                certificate,
                problem=CredentialProblem(
                    f"no client CA: neither Secret {name}-cacert nor {name} has key cacert or ca.crt",
                    f"Add ca.crt to Secret {name} or create Secret {name}-cacert with key cacert.",
                ),
            )
        problem = check_ca_pem(ca_pem, ca_source)
        if problem:
            return Credential(certificate, problem=problem)
    return Credential(certificate, ca_pem, ca_source)


def _certificate_from_secret(secret: Secret) -> TlsCertificate | CredentialProblem:
    present = sorted(set(secret.data) | set(secret.string_data))
    for cert_key, key_key in CERT_KEY_PAIRS:
        if cert_key in present or key_key in present:
            cert, key = secret_value(secret, cert_key), secret_value(secret, key_key)
            if not cert or not key:
                return CredentialProblem(
                    f"found keys {cert_key} and {key_key} but they are empty or not valid base64",
                    "Store the PEM certificate and private key, base64-encoded, under data.",
                )
            where = f"secret {secret.namespace}/{secret.name}"
            problem = check_pair(cert, key, f"{where} key {cert_key}", f"{where} key {key_key}")
            if problem:
                return problem
            return TlsCertificate(source=where, cert_pem=cert, key_pem=key)
    return CredentialProblem(
        f"Secret {secret.namespace}/{secret.name} has no certificate keys"
        f" (found: {', '.join(present) or 'none'})",
        "Use keys tls.crt and tls.key (kubernetes.io/tls) or cert and key.",
    )


def check_pair(cert_pem: bytes, key_pem: bytes, cert_where: str, key_where: str) -> CredentialProblem | None:
    """Parse a certificate chain and key; check they match and the leaf is within its validity."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        return CredentialProblem(
            f"{cert_where} is not a PEM certificate ({_describe(cert_pem)})",
            "Put the full PEM text (-----BEGIN CERTIFICATE----- ...) in this key.",
        )
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return CredentialProblem(
            f"{key_where} is not an unencrypted PEM private key ({_describe(key_pem)})",
            "Put the PEM private key (-----BEGIN PRIVATE KEY----- ...) in this key, without a passphrase.",
        )
    leaf = chain[0]
    public = key.public_key()
    if public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return CredentialProblem(
            f"{key_where} does not match the certificate in {cert_where}",
            "Store the private key that belongs to this certificate.",
        )
    now = datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc < now:
        return CredentialProblem(
            f"certificate in {cert_where} expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
            "Renew the certificate.",
        )
    if leaf.not_valid_before_utc > now:
        return CredentialProblem(
            f"certificate in {cert_where} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}",
            "Check the certificate dates and the clock.",
        )
    return None


def check_ca_pem(ca_pem: bytes, where: str) -> CredentialProblem | None:
    try:
        x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return CredentialProblem(
            f"{where} is not a PEM CA bundle ({_describe(ca_pem)})",
            "Put the PEM CA certificate(s) in this key.",
        )
    return None


def _describe(value: bytes) -> str:
    # Say what is wrong without printing secret material: only its size and whether it looks like PEM.
    looks = "has a PEM header" if b"-----BEGIN" in value else "no PEM header"
    return f"{len(value)} bytes, {looks}"


def credential_diagnostic(
    resource: Resource, field_path: str, name: str, problem: CredentialProblem
) -> Diagnostic:
    origin = resource.origin_of(field_path)
    if problem.missing:
        return make(
            "IST0101",
            origin=origin,
            resource=resource.ref,
            field_path=field_path,
            what="Secret",
            name=name,
            detail=problem.detail,
            fix=problem.fix,
        )
    return make(
        "IST0161",
        origin=origin,
        resource=resource.ref,
        field_path=field_path,
        name=name,
        reason=problem.reason,
        fix=problem.fix,
    )
