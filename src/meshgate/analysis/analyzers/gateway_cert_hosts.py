"""gateway.CertificateHosts: server hosts the server's certificate does not name.

Clients check the certificate's subjectAltName DNS entries (RFC 6125; the subject CN is ignored by
browsers), where `*.example.com` covers one extra label only. Server hosts `*` are skipped: no
certificate can name every host, and such servers usually rely on SNI-less clients.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.certificates import covers, dns_names, server_certificates
from meshgate.diag import Diagnostic, make


class CertificateHosts(Analyzer):
    name = "gateway.CertificateHosts"
    description = "Checks that each TLS server's certificate covers the server's hosts"
    inputs = ("Gateway", "Ingress", "Secret")
    codes = ("MG0413",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for entry in server_certificates(context):
            if entry.leaf is None:
                continue
            names = dns_names(entry.leaf)
            missing = [h for h in entry.hosts if h != "*" and not any(covers(n, h) for n in names)]
            if missing:
                yield make(
                    "MG0413",
                    origin=entry.origin,
                    resource=entry.gateway.ref,
                    field_path=entry.field_path,
                    certificate=entry.label,
                    hosts=", ".join(missing),
                    server=entry.server_label,
                    names=", ".join(names) or "no DNS subjectAltName",
                )
