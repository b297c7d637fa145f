"""virtualservice.GatewayNotServed: VirtualServices bound only to Gateways that do not select this
gateway workload.

The Gateways exist (a missing one is IST0101, from translation), but none of them selects the
workload meshgate serves (`--workload-labels`), so none of the VirtualService's routes is served.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import Gateway
from meshgate.translate.binding import resolve_gateway_name


class GatewayNotServed(Analyzer):
    name = "virtualservice.GatewayNotServed"
    description = "Finds VirtualServices whose Gateways all select other workloads"
    inputs = ("VirtualService",)
    codes = ("MG0407",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        known = {f"{g.namespace}/{g.name}" for g in context.full_bundle.of(Gateway)}
        selected = {f"{g.namespace}/{g.name}" for g in context.selected_gateways}
        labels = ",".join(f"{k}={v}" for k, v in context.options.workload_labels)
        for vs in context.virtual_services:
            keys = {resolve_gateway_name(g, vs.namespace) for g in vs.spec.gateways} - {"mesh"}
            existing = keys & known
            if existing and not existing & selected:
                yield make(
                    "MG0407",
                    origin=vs.origin_of("spec.gateways"),
                    resource=vs.ref,
                    field_path="spec.gateways",
                    gateways=", ".join(sorted(existing)),
                    labels=labels,
                )
