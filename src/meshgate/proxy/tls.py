"""TLS termination for HTTPS listeners: one SSLContext per filter chain, chosen by SNI.

The listener's socket gets a default context whose `sni_callback` asks routing which chain the
server name selects (`routing.select_chain`: exact name, longest `*.suffix`, then the chain without
names, as Envoy) and switches the handshake to that chain's context. A name that selects no chain,
or a chain whose certificate could not be loaded (`FilterChain.disabled`), fails the handshake,
which closes the connection (istio-semantics 1.8, 5.1). The SNI is remembered for the protocol,
which passes it to every RequestView.

Only terminating modes (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) are served here; PASSTHROUGH and TCP
chains need an L4 proxy (not part of the HTTP/1.1 data plane yet).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any

from meshgate import ir, routing

_VERSIONS = {
    "TLSV1_0": ssl.TLSVersion.TLSv1,
    "TLSV1_1": ssl.TLSVersion.TLSv1_1,
    "TLSV1_2": ssl.TLSVersion.TLSv1_2,
    "TLSV1_3": ssl.TLSVersion.TLSv1_3,
}
TERMINATING = frozenset({ir.TlsMode.SIMPLE, ir.TlsMode.MUTUAL, ir.TlsMode.OPTIONAL_MUTUAL})


class TlsSetupError(ValueError):
    """A chain's TLS settings cannot be turned into an SSLContext."""


@contextlib.contextmanager
def _pem_files(cert: ir.TlsCertificate) -> Iterator[tuple[str, str]]:
    """Certificate and key as file paths (ssl loads chains from files only); PEM bytes from
    Secrets go to private temporary files that are removed right after loading."""
    if not cert.cert_pem:
        yield cert.cert_file, cert.key_file
        return
    paths: list[str] = []
    try:
        for data in (cert.cert_pem, cert.key_pem):
            fd, path = tempfile.mkstemp(prefix="meshgate-", suffix=".pem")
            paths.append(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        yield paths[0], paths[1]
    finally:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)


def chain_context(settings: ir.TlsSettings) -> ssl.SSLContext:
    """The server-side context for one terminating chain. Raises TlsSetupError."""
    if settings.mode not in TERMINATING:
        raise TlsSetupError(f"TLS mode {settings.mode.value} does not terminate TLS")
    if not settings.certificates:
        raise TlsSetupError("no server certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        for cert in settings.certificates:
            with _pem_files(cert) as (cert_path, key_path):
                context.load_cert_chain(cert_path, key_path or None)
        # TLS 1.2 is Envoy's server-side default minimum
        context.minimum_version = _VERSIONS.get(settings.min_version, ssl.TLSVersion.TLSv1_2)
        if settings.max_version in _VERSIONS:
            context.maximum_version = _VERSIONS[settings.max_version]
        if settings.cipher_suites:
            context.set_ciphers(":".join(settings.cipher_suites))
        if settings.mode is not ir.TlsMode.SIMPLE:
            if settings.ca_pem:
                context.load_verify_locations(cadata=settings.ca_pem.decode("ascii"))
            elif settings.ca_file:
                context.load_verify_locations(cafile=settings.ca_file)
            else:
                raise TlsSetupError("client certificate validation needs a CA")
            required = settings.mode is ir.TlsMode.MUTUAL
            context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
        context.set_alpn_protocols(["http/1.1"])  # this data plane speaks HTTP/1.1 only
    except (ssl.SSLError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise TlsSetupError(str(exc)) from exc
    return context


class ListenerTls:
    """Contexts of one listener's chains and the SNI each connection selected."""

    def __init__(self, listener: ir.Listener, table: Any) -> None:
        self.listener = listener
        self.table = table
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.problems: list[str] = []
        for chain in listener.chains:
            if chain.tls is None or chain.disabled:
                continue
            try:
                self.contexts[chain.name] = chain_context(chain.tls)
            except TlsSetupError as exc:
                self.problems.append(f"chain {chain.name}: {exc}")
        self.server_names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        self.default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        first = next(iter(self.contexts.values()), None)
        if first is not None:
            self.default = first
        self.default.sni_callback = self._select
        for context in self.contexts.values():
            context.sni_callback = self._select

    @property
    def usable(self) -> bool:
        return bool(self.contexts)

    def _select(self, ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        compiled = routing.select_listener(self.table, self.listener.port, self.listener.bind)
        match = routing.select_chain(self.table, compiled, server_name) if compiled is not None else None
        context = self.contexts.get(match.chain.name) if match is not None else None
        if context is None:  # no chain for this name, or its certificate failed to load
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if server_name:
            self.server_names[ssl_object] = server_name
        ssl_object.context = context
        return None

    def server_name(self, ssl_object: object) -> str | None:
        if isinstance(ssl_object, ssl.SSLObject):
            return self.server_names.get(ssl_object)
        return None
