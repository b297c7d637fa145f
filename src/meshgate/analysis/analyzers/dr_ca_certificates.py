"""destinationrule.CaCertificates: upstream TLS without a CA to verify the server (IST0128/IST0129).

With `tls.mode` SIMPLE or MUTUAL and neither `caCertificates` nor a `credentialName` (which may carry
`ca.crt`), the gateway cannot check which server it talks to, unless `insecureSkipVerify` says that
is intended. Same check as Istio's, at the top level and per port.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import ClientTLSSettings, DestinationRule


def _unverified(tls: ClientTLSSettings | None) -> bool:
    return (
        tls is not None
        and tls.mode.upper() in ("SIMPLE", "MUTUAL")
        and not tls.ca_certificates
        and not tls.credential_name
        and not tls.insecure_skip_verify
    )


class CaCertificates(Analyzer):
    name = "destinationrule.CaCertificates"
    description = "Finds DestinationRules with upstream TLS that verifies no server certificate"
    inputs = ("DestinationRule",)
    codes = ("IST0128", "IST0129")

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for rule in context.bundle.of(DestinationRule):
            policy = rule.spec.traffic_policy
            if policy is None:
                continue
            if _unverified(policy.tls):
                assert policy.tls is not None
                at = "spec.trafficPolicy.tls"
                yield make(
                    "IST0128",
                    origin=rule.origin_of(at),
                    resource=rule.ref,
                    field_path=at,
                    mode=policy.tls.mode,
                    host=rule.spec.host,
                )
            for index, port in enumerate(policy.port_level_settings):
                if _unverified(port.tls):
                    assert port.tls is not None
                    at = f"spec.trafficPolicy.portLevelSettings[{index}].tls"
                    number = port.port.number if port.port else ""
                    yield make(
                        "IST0129",
                        origin=rule.origin_of(at),
                        resource=rule.ref,
                        field_path=at,
                        mode=port.tls.mode,
                        host=rule.spec.host,
                        port=number,
                    )
