"""gateway.DuplicateCertificate: TLS servers with separate route tables that share one certificate.

Every terminating HTTPS server has its own route table. A browser that holds an HTTP/2 connection
for one host reuses it for any other host the certificate covers (RFC 7540 9.1.1), so a request for
a host of server B can arrive on server A's connection and get 404 (istio/istio#20425). Istio's
IST0138 covers two Gateways with the same credential; the same trap inside one Gateway is MG0416.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.certificates import ServerCertificate, server_certificates
from meshgate.diag import Diagnostic, make


class DuplicateCertificate(Analyzer):
    name = "gateway.DuplicateCertificate"
    description = "Finds TLS servers that share a certificate (HTTP/2 connection coalescing 404s)"
    inputs = ("Gateway", "Ingress")
    codes = ("IST0138", "MG0416")

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        groups: dict[tuple[str, str, str], list[ServerCertificate]] = {}
        for entry in server_certificates(context):
            if entry.server.port.protocol.upper() == "HTTPS":
                groups.setdefault(entry.identity, []).append(entry)
        for entries in groups.values():
            for position, later in enumerate(entries):
                earlier = entries[:position]
                same = next((e for e in earlier if e.gateway is later.gateway), None)
                other = next((e for e in earlier if e.gateway is not later.gateway), None)
                if same is not None:
                    yield make(
                        "MG0416",
                        origin=later.origin,
                        resource=later.gateway.ref,
                        field_path=later.field_path,
                        server=later.server_label,
                        other=same.server_label,
                        certificate=later.label,
                    )
                if other is not None:
                    yield make(
                        "IST0138",
                        origin=later.origin,
                        resource=later.gateway.ref,
                        field_path=later.field_path,
                        server=later.server_label,
                        certificate=later.label,
                        other=f"{other.server_label} ({other.origin})",
                        hosts=", ".join(later.hosts),
                    )
