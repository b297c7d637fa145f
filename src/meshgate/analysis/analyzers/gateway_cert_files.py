"""gateway.CertificateFiles: `serverCertificate`/`privateKey` files that cannot be read or used.

Translation only records file paths (the proxy reads them when serving, so they can rotate). Here
they are read from this machine: a file that is missing is a warning (it may exist where meshgate
runs), a file that exists but is not a matching, valid PEM pair is IST0161, as for Secrets.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.certificates import server_certificates
from meshgate.diag import Diagnostic, make


class CertificateFiles(Analyzer):
    name = "gateway.CertificateFiles"
    description = "Checks certificate and key files named by Gateway servers: readable, PEM, matching, valid"
    inputs = ("Gateway",)
    codes = ("IST0161", "MG0414")

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for entry in server_certificates(context):
            problem = entry.problem
            if problem is None:
                continue
            if problem.unreadable:
                yield make(
                    "MG0414",
                    origin=entry.origin,
                    resource=entry.gateway.ref,
                    field_path=entry.field_path,
                    file=problem.file,
                    reason=problem.reason,
                )
            else:
                yield make(
                    "IST0161",
                    origin=entry.origin,
                    resource=entry.gateway.ref,
                    field_path=entry.field_path,
                    name=problem.file,
                    reason=problem.reason,
                    fix="Put a PEM certificate chain and its unencrypted private key in these files.",
                )
