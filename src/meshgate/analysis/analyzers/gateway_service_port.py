"""gateway.ServicePort: Gateway server ports the gateway's own Service does not expose (IST0162).

Clients reach the gateway pods through a Service selecting them (type LoadBalancer in the seed). A
server on a port that is neither a `port` nor a `targetPort` of that Service is unreachable from
outside. Only checked when such a Service is in the input (in the workload's namespace).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.core import Service
from meshgate.resources.istio import Gateway


class ServicePort(Analyzer):
    name = "gateway.ServicePort"
    description = "Checks that each Gateway server port is exposed by the gateway workload's Service"
    inputs = ("Gateway",)
    codes = ("IST0162",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        services = [
            s
            for s in context.bundle.of(Service)
            if s.namespace == context.options.namespace
            and s.spec.selector
            and context.options.selects(s.spec.selector)
        ]
        if not services:
            return
        exposed: set[int] = set()
        for service in services:
            for port in service.spec.ports:
                exposed.add(port.port)
                if isinstance(port.target_port, int):
                    exposed.add(port.target_port)
        first = services[0]
        ports = ", ".join(f"{p.port}->{p.target_port or p.port}" for p in first.spec.ports)
        for gateway in context.bundle.of(Gateway):
            if not context.options.selects(gateway.spec.selector):
                continue
            for index, server in enumerate(gateway.spec.servers):
                number = server.port.number
                if number is None or number in exposed:
                    continue
                at = f"spec.servers[{index}].port.number"
                yield make(
                    "IST0162",
                    origin=gateway.origin_of(at),
                    resource=gateway.ref,
                    field_path=at,
                    port=number,
                    service=f"{first.namespace}/{first.name}",
                    ports=ports,
                )
