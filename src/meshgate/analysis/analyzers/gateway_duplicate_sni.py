"""gateway.DuplicateSni: two served TLS servers on one port claiming the same SNI name.

Translation drops a server whose host repeats one of an earlier server on the port (IST0145), but it
compares hosts with their namespace prefix, as Istio does: `team-a/shop.example.com` and
`shop.example.com` are different hosts there, yet the same SNI name on the wire, and only one filter
chain can take the connections.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.translate.servers import ServerPlan


class DuplicateSni(Analyzer):
    name = "gateway.DuplicateSni"
    description = "Finds served TLS servers on the same port whose hosts give the same SNI name"
    inputs = ("Gateway", "Ingress")
    codes = ("MG0415",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        claimed: dict[tuple[int, str, str], ServerPlan] = {}
        for plan in context.plans:
            if plan.tls is None or plan.protocol not in ("HTTPS", "TLS"):
                continue
            reported: set[str] = set()
            for host in plan.hosts:
                key = (plan.port, plan.bind, host.host)
                other = claimed.get(key)
                if other is None:
                    claimed[key] = plan
                elif other is not plan and host.host not in reported:
                    reported.add(host.host)
                    yield make(
                        "MG0415",
                        origin=plan.gateway.origin_of(f"{plan.field}.hosts"),
                        resource=plan.gateway.ref,
                        field_path=f"{plan.field}.hosts",
                        host=host.host,
                        port=plan.port,
                        other=f"{other.label} ({other.source.file}:{other.source.line})",
                    )
