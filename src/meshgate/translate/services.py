"""The service registry (pure): Kubernetes Services and ServiceEntries → services, endpoints, clusters.

`ServiceRegistry.build` reads a bundle once; VirtualService translation then asks `lookup` for route
destinations and `has_cluster` for cluster names; `clusters()` is every cluster the gateway gets
(`outbound|PORT|SUBSET|FQDN`), DestinationRule policy applied.

Services are keyed by (FQDN, namespace): ServiceEntries may repeat a host in several namespaces. In
one namespace the first definition of a host wins, a Kubernetes Service over any ServiceEntry (istiod
does the same against "domain squatting"). Only services exported to the gateway namespace are
visible. Cluster names carry no namespace, so each FQDN gets one set of clusters, built from the
service in the gateway namespace if there is one, else from the first visible one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from meshgate import ir
from meshgate.diag import Diagnostic, make
from meshgate.resources import core, istio
from meshgate.resources.base import Resource
from meshgate.resources.bundle import ResourceBundle
from meshgate.translate import endpoints as eps
from meshgate.translate import traffic_policy as tp
from meshgate.translate.destination_rules import DestinationRuleIndex, MergedRule, effective_policy
from meshgate.translate.naming import cluster_name, resolve_short_name
from meshgate.translate.options import TranslateOptions

EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
PROTOCOLS = {
    name.lower(): name
    for name in ("HTTP", "HTTP2", "HTTPS", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "MYSQL", "REDIS", "UDP")
}
PROTOCOLS["kubernetes.io/h2c"] = "HTTP2"
PROTOCOLS["kubernetes.io/ws"] = "HTTP"
PROTOCOLS["kubernetes.io/wss"] = "HTTPS"
RESOLUTIONS = ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN")
# Cluster kinds without EDS: nothing to resolve means no cluster at all (503 NC, not UH).
_DNS_LIKE = ("DNS", "DNS_ROUND_ROBIN", "EXTERNAL_NAME")


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    number: int
    name: str
    # Upper case: HTTP, HTTP2, HTTPS, GRPC, GRPC-WEB, TCP, TLS, MONGO, MYSQL, REDIS, UDP;
    # "" when the port declares none (Istio sniffs; the gateway speaks HTTP/1.1 to it).
    protocol: str
    target_port: int | str | None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    fqdn: str
    name: str  # Service name; for a ServiceEntry the host (as Istio's metrics do)
    namespace: str
    ports: tuple[ServicePortInfo, ...]
    origin_kind: str  # "Service" | "ServiceEntry"
    resolution: str  # STATIC | DNS | DNS_ROUND_ROBIN | NONE | EXTERNAL_NAME
    export_to: tuple[str, ...]
    source: ir.Source

    def port(self, number: int) -> ServicePortInfo | None:
        return next((port for port in self.ports if port.number == number), None)


@dataclass(frozen=True, slots=True)
class _Entry:
    info: ServiceInfo
    endpoints: Mapping[int, tuple[ir.Endpoint, ...]]  # by service port number
    subject_alt_names: tuple[str, ...] = ()


def visible(export_to: Iterable[str], owner_namespace: str, namespace: str) -> bool:
    """exportTo semantics: empty or `*` = everyone, `.` = own namespace, `~` = nobody, else names."""
    export = set(export_to)
    if not export or "*" in export:
        return True
    if "~" in export:
        return False
    return namespace in export or ("." in export and owner_namespace == namespace)


def parse_protocol(text: str) -> str:
    return PROTOCOLS.get(text.strip().lower(), "")


def kubernetes_protocol(port: core.ServicePort) -> str:
    """appProtocol first, then the port name up to the first '-' (Istio's ConvertProtocol)."""
    if port.protocol.upper() == "UDP":
        return "UDP"
    return parse_protocol(port.app_protocol) or parse_protocol(port.name.split("-", 1)[0])


def source_of(resource: Resource) -> ir.Source:
    return ir.Source(
        resource.kind, resource.namespace, resource.name, resource.origin.file, resource.origin.line
    )


class ServiceRegistry:
    """Visible services by FQDN and the gateway's clusters. Immutable once built."""

    __slots__ = ("_by_host", "_clusters", "_namespace")

    def __init__(
        self, namespace: str, by_host: Mapping[str, tuple[ServiceInfo, ...]], clusters: Iterable[ir.Cluster]
    ) -> None:
        self._namespace = namespace
        self._by_host = dict(by_host)
        self._clusters = {cluster.name: cluster for cluster in sorted(clusters, key=lambda c: c.name)}

    @classmethod
    def build(
        cls, bundle: ResourceBundle, options: TranslateOptions
    ) -> tuple[ServiceRegistry, tuple[Diagnostic, ...]]:
        index = eps.WorkloadIndex.build(bundle)
        diagnostics: list[Diagnostic] = []
        entries: dict[tuple[str, str], _Entry] = {}
        candidates = [*_kubernetes_entries(bundle, options, index, diagnostics)]
        candidates += _service_entry_entries(bundle, options, index, diagnostics)
        for entry, resource in candidates:
            key = (entry.info.fqdn, entry.info.namespace)
            if key in entries:
                other = entries[key].info.source
                diagnostics.append(
                    make(
                        "MG0110",
                        origin=resource.origin,
                        resource=resource.ref,
                        host=entry.info.fqdn,
                        namespace=entry.info.namespace,
                        other=f"{other.kind} {other.namespace}/{other.name}",
                    )
                )
                continue
            entries[key] = entry

        gateway_ns = options.namespace
        by_host: dict[str, list[_Entry]] = {}
        for entry in entries.values():
            if visible(entry.info.export_to, entry.info.namespace, gateway_ns):
                by_host.setdefault(entry.info.fqdn, []).append(entry)

        credentials = tp.Credentials(bundle, gateway_ns)
        rules, problems = DestinationRuleIndex.build(bundle, options, credentials)
        diagnostics += problems
        diagnostics += rules.unknown_host_diagnostics({fqdn for fqdn, _ in entries})
        clusters: list[ir.Cluster] = []
        for fqdn, group in by_host.items():
            chosen = next((e for e in group if e.info.namespace == gateway_ns), group[0])
            rule = rules.lookup(fqdn, chosen.info.namespace)
            clusters += _clusters_for(chosen, rule, credentials)
            diagnostics += _subset_diagnostics(chosen, rule)
        diagnostics += rules.notes()
        by_info = {host: tuple(e.info for e in group) for host, group in by_host.items()}
        return cls(gateway_ns, by_info, clusters), tuple(diagnostics)

    def lookup(self, fqdn: str, from_namespace: str) -> ServiceInfo | None:
        """Sec 3.7.2: the service in `from_namespace` (the VirtualService's), else the one in the gateway
        namespace, else the first visible one. Only services exported to the gateway are seen."""
        group = self._by_host.get(fqdn, ())
        for namespace in (from_namespace, self._namespace):
            for info in group:
                if info.namespace == namespace:
                    return info
        return group[0] if group else None

    def services(self) -> tuple[ServiceInfo, ...]:
        return tuple(info for fqdn in sorted(self._by_host) for info in self._by_host[fqdn])

    def clusters(self) -> tuple[ir.Cluster, ...]:
        return tuple(self._clusters.values())

    def cluster(self, name: str) -> ir.Cluster | None:
        return self._clusters.get(name)

    def has_cluster(self, name: str) -> bool:
        return name in self._clusters


# --- Kubernetes Services ---------------------------------------------------------------------------


def _kubernetes_entries(
    bundle: ResourceBundle, options: TranslateOptions, index: eps.WorkloadIndex, out: list[Diagnostic]
) -> list[tuple[_Entry, Resource]]:
    entries: list[tuple[_Entry, Resource]] = []
    for service in bundle.of(core.Service):
        external = service.spec.type == "ExternalName"
        if external and not service.spec.external_name:
            path = "spec.externalName"
            out.append(
                make(
                    "IST0106",
                    origin=service.origin_of("spec.type"),
                    resource=service.ref,
                    field_path=path,
                    field=path,
                    reason="type ExternalName needs spec.externalName",
                )
            )
            continue
        service_ports = _unique_ports(service.spec.ports)
        ports = tuple(
            ServicePortInfo(p.port, p.name, kubernetes_protocol(p), p.target_port) for p in service_ports
        )
        found = {
            p.port: eps.external_name_endpoints(service, p)
            if external
            else eps.kubernetes_endpoints(index, service, p)
            for p in service_ports
        }
        annotation = service.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
        export_to = tuple(part.strip() for part in annotation.split(",") if part.strip()) or ("*",)
        info = ServiceInfo(
            fqdn=f"{service.name}.{service.namespace}.svc.{options.domain_suffix}",
            name=service.name,
            namespace=service.namespace,
            ports=ports,
            origin_kind="Service",
            resolution="EXTERNAL_NAME" if external else "STATIC",
            export_to=export_to,
            source=source_of(service),
        )
        entries.append((_Entry(info, found), service))
    return entries


def _unique_ports(ports: list[core.ServicePort]) -> list[core.ServicePort]:
    """One port per number (cluster names carry only the number): a TCP port beats a UDP twin (DNS on
    53/TCP and 53/UDP), otherwise the first one wins."""
    tcp_numbers = {p.port for p in ports if p.protocol.upper() != "UDP"}
    out: dict[int, core.ServicePort] = {}
    for port in ports:
        if port.protocol.upper() == "UDP" and port.port in tcp_numbers:
            continue
        out.setdefault(port.port, port)
    return list(out.values())


# --- ServiceEntries --------------------------------------------------------------------------------


def _service_entry_entries(
    bundle: ResourceBundle, options: TranslateOptions, index: eps.WorkloadIndex, out: list[Diagnostic]
) -> list[tuple[_Entry, Resource]]:
    entries: list[tuple[_Entry, Resource]] = []
    for entry in bundle.of(istio.ServiceEntry):
        if entry.spec.resolution == "DYNAMIC_DNS":
            origin = entry.origin_of("spec.resolution")
            out.append(make("MG0111", origin=origin, resource=entry.ref, resolution="DYNAMIC_DNS"))
            continue
        problems = validate_service_entry(entry)
        for problem in problems:
            out.append(_problem(entry, problem))
        if any(problem.error for problem in problems):
            continue
        spec = entry.spec
        for path, item in _skipped_endpoints(entry):
            out.append(
                make(
                    "MG0112", origin=entry.origin_of(path), resource=entry.ref, field_path=path, address=item
                )
            )
        ports = tuple(
            ServicePortInfo(p.number, p.name, parse_protocol(p.protocol), p.target_port) for p in spec.ports
        )
        export_to = tuple(spec.export_to) or ("*",)
        for raw_host in spec.hosts:
            host = resolve_short_name(raw_host, entry.namespace, options.domain_suffix)
            found = {p.number: eps.service_entry_endpoints(index, entry, host, p) for p in spec.ports}
            info = ServiceInfo(
                fqdn=host,
                name=host,
                namespace=entry.namespace,
                ports=ports,
                origin_kind="ServiceEntry",
                resolution=spec.resolution,
                export_to=export_to,
                source=source_of(entry),
            )
            entries.append((_Entry(info, found, tuple(spec.subject_alt_names)), entry))
    return entries


def validate_service_entry(entry: istio.ServiceEntry) -> list[tp.Problem]:
    """Istio's ServiceEntry validation (the parts routing depends on); errors reject the object."""
    spec = entry.spec
    problems: list[tp.Problem] = []
    if not spec.hosts:
        problems.append(tp.Problem("spec.hosts", "at least one host is required"))
    for i, host in enumerate(spec.hosts):
        if host == "*" or not host:
            problems.append(tp.Problem(f"spec.hosts[{i}]", "a host must be a FQDN or *.suffix, never '*'"))
        elif spec.resolution in ("DNS", "DNS_ROUND_ROBIN") and host.startswith("*") and not spec.endpoints:
            reason = f"resolution {spec.resolution} without endpoints resolves the host: no wildcard"
            problems.append(tp.Problem(f"spec.hosts[{i}]", reason))
    if not spec.ports:
        problems.append(tp.Problem("spec.ports", "at least one port is required"))
    numbers: set[int] = set()
    names: set[str] = set()
    for i, port in enumerate(spec.ports):
        if not 0 < port.number < 65536:
            problems.append(tp.Problem(f"spec.ports[{i}].number", "must be between 1 and 65535"))
        if port.number in numbers or (port.name and port.name in names):
            problems.append(tp.Problem(f"spec.ports[{i}]", "port numbers and names must be unique"))
        if port.protocol and not parse_protocol(port.protocol):
            problems.append(tp.Problem(f"spec.ports[{i}].protocol", f"unknown protocol {port.protocol!r}"))
        if port.target_port is not None and not 0 < port.target_port < 65536:
            problems.append(tp.Problem(f"spec.ports[{i}].targetPort", "must be between 1 and 65535"))
        numbers.add(port.number)
        names.add(port.name)
    if spec.resolution not in RESOLUTIONS:
        reason = f"resolution {spec.resolution} is not supported (use {', '.join(RESOLUTIONS)})"
        problems.append(tp.Problem("spec.resolution", reason))
    if spec.resolution == "NONE" and spec.endpoints:
        problems.append(tp.Problem("spec.endpoints", "resolution NONE takes no endpoints"))
    if spec.resolution == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
        problems.append(tp.Problem("spec.endpoints", "resolution DNS_ROUND_ROBIN takes at most one endpoint"))
    if spec.workload_selector is not None and spec.endpoints:
        problems.append(tp.Problem("spec.workloadSelector", "set either workloadSelector or endpoints"))
    for i, item in enumerate(spec.endpoints):
        address = item.address
        if spec.resolution == "STATIC" and not (eps.is_ip(address) or address.startswith("unix://")):
            problems.append(tp.Problem(f"spec.endpoints[{i}].address", "STATIC endpoints need an IP address"))
        if item.weight is not None and item.weight < 0:
            problems.append(tp.Problem(f"spec.endpoints[{i}].weight", "must be >= 0"))
    return problems


def _skipped_endpoints(entry: istio.ServiceEntry) -> list[tuple[str, str]]:
    return [
        (f"spec.endpoints[{i}].address", item.address)
        for i, item in enumerate(entry.spec.endpoints)
        if item.address.startswith("unix://")
    ]


def _problem(resource: Resource, problem: tp.Problem) -> Diagnostic:
    code = "IST0106" if problem.error else "IST0133"
    extra = {} if problem.error else {"fix": "Correct the field."}
    return make(
        code,
        origin=resource.origin_of(problem.path),
        resource=resource.ref,
        field_path=problem.path,
        field=problem.path,
        reason=problem.reason,
        **extra,
    )


# --- clusters --------------------------------------------------------------------------------------


def _clusters_for(entry: _Entry, rule: MergedRule | None, credentials: tp.Credentials) -> list[ir.Cluster]:
    info = entry.info
    subsets: list[tuple[str, Mapping[str, str]]] = [("", {})]
    subsets += [(ref.subset.name, ref.subset.labels) for ref in (rule.subsets if rule else ())]
    discovery = "STATIC" if info.resolution == "NONE" else info.resolution
    out: list[ir.Cluster] = []
    for port in info.ports:
        all_endpoints = entry.endpoints.get(port.number, ())
        for subset, labels in subsets:
            found = eps.subset_endpoints(all_endpoints, labels) if subset else all_endpoints
            if discovery in _DNS_LIKE and not found:
                continue
            policy = effective_policy(rule, port.number, subset)
            tls = tp.upstream_tls(
                policy.tls,
                host=info.fqdn,
                port=port.number,
                subset=subset,
                entry_sans=entry.subject_alt_names,
                credentials=credentials,
            )
            out.append(
                ir.Cluster(
                    name=cluster_name(port.number, subset, info.fqdn),
                    service_host=info.fqdn,
                    port=port.number,
                    subset=subset,
                    service_name=info.name,
                    service_namespace=info.namespace,
                    discovery=discovery,
                    endpoints=found,
                    protocol=tp.upstream_protocol(port.protocol, policy.connection_pool),
                    load_balancer=tp.load_balancer(policy.load_balancer),
                    connection_pool=tp.connection_pool(policy.connection_pool),
                    outlier_detection=tp.outlier_detection(policy.outlier_detection),
                    tls=tls,
                    source=info.source,
                )
            )
    return out


def _subset_diagnostics(entry: _Entry, rule: MergedRule | None) -> list[Diagnostic]:
    """IST0173 when a subset of an exact-host DR selects none of the service's known endpoints. A service
    without any endpoint in the input (no Endpoints/EndpointSlice given) is not judged."""
    if rule is None or rule.host != entry.info.fqdn:
        return []
    known = [ep for group in entry.endpoints.values() for ep in group]
    if not known:
        return []
    out: list[Diagnostic] = []
    for ref in rule.subsets:
        if not eps.subset_endpoints(known, ref.subset.labels):
            labels = ",".join(f"{k}={v}" for k, v in sorted(ref.subset.labels.items()))
            out.append(
                make(
                    "IST0173",
                    origin=ref.owner.origin_of(ref.path),
                    resource=ref.owner.ref,
                    field_path=ref.path,
                    subset=ref.subset.name,
                    host=rule.host,
                    labels=labels,
                )
            )
    return out
