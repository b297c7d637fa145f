"""Route destinations → cluster names (sec. 3.7): short names, port choice, subsets.

Problems here never drop a route: like istiod, a destination that names nothing routes to a cluster
that does not exist, and the request gets 503 `NC`. The diagnostic says why, with file:line.
"""

from __future__ import annotations

from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import Destination, VirtualService
from meshgate.translate.actions import ResolvedDestination
from meshgate.translate.naming import cluster_name, resolve_short_name
from meshgate.translate.services import ServiceRegistry


class DestinationResolverImpl:
    """Callable resolver bound to one VirtualService, one server port and one diagnostics list."""

    def __init__(
        self,
        registry: ServiceRegistry,
        vs: VirtualService,
        server_port: int,
        domain_suffix: str,
        diagnostics: list[Diagnostic],
        rule_path: str = "",
    ) -> None:
        self._registry = registry
        self._vs = vs
        self._server_port = server_port
        self._suffix = domain_suffix
        self._diagnostics = diagnostics
        self.rule_path = rule_path

    def __call__(self, destination: Destination, field: str) -> ResolvedDestination:
        vs = self._vs
        path = f"{self.rule_path}.{field}" if self.rule_path else field
        fqdn = resolve_short_name(destination.host, vs.namespace, self._suffix)
        service = self._registry.lookup(fqdn, vs.namespace)
        port = destination.port.number if destination.port and destination.port.number else None
        if service is None:
            self._report(
                "IST0101",
                f"{path}.host",
                what="host",
                name=fqdn,
                detail=": no Service or ServiceEntry has this name",
                fix="Create the Service, or correct the host (short names are resolved in"
                f" the VirtualService's namespace {vs.namespace}).",
            )
            return ResolvedDestination(
                cluster_name(port or self._server_port, destination.subset, fqdn),
                fqdn,
                port or self._server_port,
            )
        numbers = [p.number for p in service.ports]
        if port is None:
            if len(numbers) == 1:
                port = numbers[0]
            else:
                # Istio falls back to the gateway server's port, which usually names no cluster.
                port = self._server_port
                if len(numbers) > 1:
                    self._report("IST0112", f"{path}", host=fqdn, ports=", ".join(map(str, numbers)))
        elif port not in numbers:
            self._report(
                "IST0101",
                f"{path}.port.number",
                what="host:port",
                name=f"{fqdn}:{port}",
                detail=f" (ports: {', '.join(map(str, numbers)) or 'none'})",
                fix="Use a port the Service declares.",
            )
        name = cluster_name(port, destination.subset, fqdn)
        if destination.subset and not self._registry.has_cluster(name):
            self._report(
                "IST0101",
                f"{path}.subset",
                what="subset",
                name=f"{fqdn}/{destination.subset}",
                detail=": no DestinationRule for this host defines it",
                fix="Define the subset in a DestinationRule for this host.",
            )
        return ResolvedDestination(name, fqdn, port)

    def _report(self, code: str, path: str, **args: object) -> None:
        self._diagnostics.append(
            make(code, origin=self._vs.origin_of(path), resource=self._vs.ref, field_path=path, **args)
        )
