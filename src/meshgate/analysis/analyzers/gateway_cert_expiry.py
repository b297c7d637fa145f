"""gateway.CertificateExpiry: server certificates that expire within the warning window.

Expired certificates are already IST0161 (translation for Secrets, gateway.CertificateFiles for
files); this analyzer warns ahead of time, `--cert-warn-days` (default 30) before the date.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.certificates import server_certificates
from meshgate.diag import Diagnostic, make


class CertificateExpiry(Analyzer):
    name = "gateway.CertificateExpiry"
    description = "Warns about server certificates that expire within --cert-warn-days"
    inputs = ("Gateway", "Ingress", "Secret")
    codes = ("MG0412",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        now = context.settings.now
        window = context.settings.cert_warn_days
        for entry in server_certificates(context):
            days = entry.days_left(now)
            if entry.leaf is None or days is None or days < 0 or days > window:
                continue
            if entry.leaf.not_valid_before_utc > now:
                continue  # not valid yet: reported as IST0161
            yield make(
                "MG0412",
                origin=entry.origin,
                resource=entry.gateway.ref,
                field_path=entry.field_path,
                certificate=entry.label,
                date=f"{entry.leaf.not_valid_after_utc:%Y-%m-%d}",
                days=int(days),
                window=window,
            )
