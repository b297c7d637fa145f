"""TLS termination: one SSLContext per terminating filter chain, built from the snapshot.

The chain is chosen *before* the handshake (l4.py peeks at the ClientHello and asks
`routing.select_chain`), and the handshake then runs with that chain's own context, so every
per-chain setting applies: certificate, client-certificate requirement and CA (MUTUAL,
OPTIONAL_MUTUAL), min/max protocol version, cipher suites. (Switching contexts from an SNI
callback would not do: OpenSSL keeps the first context's verify mode and protocol limits.)

`TlsContexts` caches contexts by the chain's `ir.TlsSettings` (frozen, compared by value): a new
snapshot whose Secret changed yields new settings, hence a new context for new handshakes, while
open connections keep theirs. Certificates given as files are read here with the same checks as
Secrets (`check_file_pair`); their files are re-checked at most once per `recheck` seconds when a
handshake selects the chain, and a changed file rebuilds the context (a broken new file keeps the
old context and is reported). A chain that cannot get a context closes its connections.

Key material is never written to disk: PEM bytes are loaded through anonymous memory files
(`memfd_create`), or a 0600 temporary file removed at once where that does not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from meshgate import ir
from meshgate.translate.credentials import check_ca_pem
from meshgate.translate.servers import check_file_pair

_VERSIONS = {
    "TLSV1_0": ssl.TLSVersion.TLSv1,
    "TLSV1_1": ssl.TLSVersion.TLSv1_1,
    "TLSV1_2": ssl.TLSVersion.TLSv1_2,
    "TLSV1_3": ssl.TLSVersion.TLSv1_3,
}
TERMINATING = frozenset({ir.TlsMode.SIMPLE, ir.TlsMode.MUTUAL, ir.TlsMode.OPTIONAL_MUTUAL})
MAX_FILE = 1024 * 1024  # certificate, key and CA files are small; refuse anything larger
Stamp = tuple[int, int, int] | None  # (mtime_ns, size, inode) of a file, None when missing


class TlsSetupError(ValueError):
    """A chain's TLS settings cannot be turned into an SSLContext."""


def _stderr(message: str) -> None:
    print(f"meshgate: {message}", file=sys.stderr, flush=True)


# --- building contexts ----------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise TlsSetupError(f"{what} file {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE:
        raise TlsSetupError(f"{what} file {path}: larger than {MAX_FILE} bytes")
    return data


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def files_of(settings: ir.TlsSettings) -> tuple[str, ...]:
    """The files a chain's context is built from (watched for rotation)."""
    paths = [p for c in settings.certificates if not c.cert_pem for p in (c.cert_file, c.key_file) if p]
    if settings.ca_file and not settings.ca_pem and settings.mode is not ir.TlsMode.SIMPLE:
        paths.append(settings.ca_file)
    return tuple(paths)


def _load_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """`load_cert_chain` from memory: anonymous memory files where the OS has them."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fds: list[int] = []
        try:
            for data in (cert_pem, key_pem):
                fd = memfd("meshgate-pem", os.MFD_CLOEXEC)
                fds.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            context.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
        finally:
            for fd in fds:
                os.close(fd)
        return
    paths: list[str] = []
    try:
        for data in (cert_pem, key_pem):
            fd, path = tempfile.mkstemp(prefix="meshgate-", suffix=".pem")  # mode 0600
            paths.append(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(paths[0], paths[1])
    finally:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)


def chain_context(settings: ir.TlsSettings, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    """The server-side context for one terminating chain. Raises TlsSetupError naming the
    Secret or file and the problem (never the key material)."""
    if settings.mode not in TERMINATING:
        raise TlsSetupError(f"TLS mode {settings.mode.value} does not terminate TLS")
    if not settings.certificates:
        raise TlsSetupError("no server certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        for cert in settings.certificates:
            cert_pem, key_pem = cert.cert_pem, cert.key_pem
            if not cert_pem:
                if not cert.cert_file or not cert.key_file:
                    raise TlsSetupError("serverCertificate and privateKey are both required")
                cert_pem = _read(cert.cert_file, "certificate")
                key_pem = _read(cert.key_file, "private key")
                problem = check_file_pair(cert_pem, key_pem, cert.cert_file, cert.key_file)
                if problem:
                    raise TlsSetupError(problem)
            _load_pair(context, cert_pem, key_pem)
        # TLS 1.2 is Envoy's server-side default minimum
        context.minimum_version = _VERSIONS.get(settings.min_version, ssl.TLSVersion.TLSv1_2)
        if settings.max_version in _VERSIONS:
            context.maximum_version = _VERSIONS[settings.max_version]
        if settings.cipher_suites:  # OpenSSL names, TLS <= 1.2 only (1.3 suites are not configurable)
            context.set_ciphers(":".join(settings.cipher_suites))
        if settings.mode is not ir.TlsMode.SIMPLE:
            ca_pem, where = settings.ca_pem, settings.ca_source or "client CA"
            if not ca_pem and settings.ca_file:
                ca_pem, where = _read(settings.ca_file, "CA"), f"file {settings.ca_file}"
            if not ca_pem:
                raise TlsSetupError("client certificate validation needs a CA (caCertificates)")
            ca_problem = check_ca_pem(ca_pem, where)
            if ca_problem:
                raise TlsSetupError(ca_problem.reason)
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
            required = settings.mode is ir.TlsMode.MUTUAL
            context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
        if alpn:
            context.set_alpn_protocols(list(alpn))
    except (ssl.SSLError, OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, TlsSetupError):
            raise
        raise TlsSetupError(str(exc)) from exc
    return context


# --- the cache --------------------------------------------------------------------------------


@dataclass(slots=True)
class ChainTls:
    """One chain's context, the files it came from and when they were last looked at."""

    settings: ir.TlsSettings
    alpn: tuple[str, ...]
    context: ssl.SSLContext | None = None
    problem: str = ""
    files: tuple[str, ...] = ()
    stamps: tuple[Stamp, ...] = ()
    checked: float = 0.0
    builds: int = 0
    labels: set[str] = field(default_factory=set)  # chain names, for messages


def _origin(chain: ir.FilterChain) -> str:
    source = chain.source
    if source is None:
        return ""
    where = f" at {source.file}:{source.line}" if source.file else ""
    return f" ({source.kind} {source.namespace}/{source.name} {source.detail}{where})".replace(" )", ")")


def _alpn_for(chain: ir.FilterChain) -> tuple[str, ...]:
    # HTTPS chains speak HTTP/1.1 only (h2 not yet); TLS-terminated TCP chains offer no ALPN.
    return ("http/1.1",) if isinstance(chain.handler, ir.HttpHandler) else ()


class TlsContexts:
    """SSLContexts for terminating chains, derived from whatever snapshot selected the chain."""

    def __init__(
        self,
        *,
        recheck: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[str], None] = _stderr,
    ) -> None:
        self.recheck = recheck
        self.clock = clock
        self.report = report
        self.entries: dict[tuple[ir.TlsSettings, tuple[str, ...]], ChainTls] = {}

    def prepare(self, config: ir.Config) -> list[str]:
        """Build the contexts of every terminating chain of `config` now (instead of at the first
        handshake), forget those of chains no longer configured, and return the problems, one line
        per chain that will close its connections. Call after a new snapshot is stored."""
        problems: list[str] = []
        keep: set[tuple[ir.TlsSettings, tuple[str, ...]]] = set()
        for listener in config.listeners:
            for chain in listener.chains:
                if chain.tls is None or chain.tls.mode not in TERMINATING:
                    continue
                keep.add((chain.tls, _alpn_for(chain)))
                if chain.disabled:
                    problems.append(
                        f"listener {listener.name} chain {chain.name}{_origin(chain)}:"
                        f" closes its connections: {chain.disabled}"
                    )
                    continue
                entry = self._entry(chain)
                entry.labels.add(chain.name)
                if entry.context is None:
                    problems.append(f"listener {listener.name} chain {chain.name}: {entry.problem}")
        for key in list(self.entries):
            if key not in keep:
                del self.entries[key]
        return problems

    def serves_something(self, listener: ir.Listener) -> bool:
        """False when every chain terminates TLS and none has a certificate it can serve (such a
        listener would only close connections; it is not opened)."""
        for chain in listener.chains:
            if chain.tls is None or chain.tls.mode not in TERMINATING:
                return True
            if not chain.disabled and self._entry(chain).context is not None:
                return True
        return False

    def context_for(self, chain: ir.FilterChain) -> ssl.SSLContext | None:
        """The context a new handshake on `chain` uses; None = close the connection."""
        if chain.tls is None or chain.disabled:
            return None
        entry = self._entry(chain)
        if entry.files and self.clock() - entry.checked >= self.recheck:
            self._maybe_rotate(entry, chain.name)
        return entry.context

    def problem_of(self, chain: ir.FilterChain) -> str:
        if chain.disabled:
            return chain.disabled
        if chain.tls is None:
            return "chain does not terminate TLS"
        entry = self.entries.get((chain.tls, _alpn_for(chain)))
        return entry.problem if entry is not None else ""

    def _entry(self, chain: ir.FilterChain) -> ChainTls:
        assert chain.tls is not None
        key = (chain.tls, _alpn_for(chain))
        entry = self.entries.get(key)
        if entry is None:
            entry = ChainTls(chain.tls, key[1], files=files_of(chain.tls))
            self._build(entry)
            self.entries[key] = entry
        return entry

    def _build(self, entry: ChainTls) -> bool:
        entry.checked = self.clock()
        entry.stamps = tuple(_stamp(path) for path in entry.files)
        try:
            context = chain_context(entry.settings, entry.alpn)
        except TlsSetupError as exc:
            entry.problem = str(exc)
            return False
        entry.context, entry.problem = context, ""
        entry.builds += 1
        return True

    def _maybe_rotate(self, entry: ChainTls, name: str) -> None:
        entry.checked = self.clock()
        stamps = tuple(_stamp(path) for path in entry.files)
        if stamps == entry.stamps:
            return
        previous = entry.context
        if self._build(entry):
            self.report(f"chain {name}: certificate files changed, new handshakes use them")
            return
        entry.context = previous  # keep serving the last good certificate
        kept = "; keeping the previous certificate" if previous is not None else ""
        self.report(f"chain {name}: {entry.problem}{kept}")


# --- per connection ---------------------------------------------------------------------------


class DownstreamTls:
    """What a terminated connection knows about its TLS session: the SNI the chain was selected
    with, and the verified client certificate (as an `x-forwarded-client-cert` value)."""

    __slots__ = ("chain", "sni")

    def __init__(self, sni: str | None, chain: ir.FilterChain | None = None) -> None:
        self.sni = sni
        self.chain = chain

    def server_name(self, ssl_object: object) -> str | None:
        return self.sni

    def client_cert(self, ssl_object: object) -> bytes:
        """`Hash=…;Subject="…";URI=…;DNS=…` of a verified client certificate, b"" without one.
        (With CERT_OPTIONAL/REQUIRED, a presented certificate that fails verification fails the
        handshake, so any certificate seen here was verified.)"""
        getpeercert = getattr(ssl_object, "getpeercert", None)
        if getpeercert is None:
            return b""
        der = getpeercert(binary_form=True)
        return forwarded_client_cert(der) if der else b""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def forwarded_client_cert(der: bytes) -> bytes:
    """Envoy's x-forwarded-client-cert element for a client certificate (Istio gateways set
    Hash, Subject, URI and DNS), printable ASCII only."""
    parts = [f"Hash={hashlib.sha256(der).hexdigest()}"]
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return parts[0].encode("ascii")
    parts.append(f"Subject={_quote(cert.subject.rfc4514_string())}")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    if sans is not None:
        parts += [f"URI={uri}" for uri in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        parts += [f"DNS={name}" for name in sans.get_values_for_type(x509.DNSName)]
    text = ";".join(parts)
    return bytes(c for c in text.encode("ascii", "backslashreplace") if 0x20 <= c < 0x7F)
