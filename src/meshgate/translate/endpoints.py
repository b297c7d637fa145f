"""Endpoints of registry services (pure): Kubernetes Endpoints/EndpointSlices, ServiceEntry endpoints,
and the WorkloadEntries or Pods a ServiceEntry `workloadSelector` picks.

Every function returns `ir.Endpoint`s for one service port. Labels on an endpoint are what DestinationRule
subsets select on: Pod labels (through `targetRef`), ServiceEntry endpoint labels, WorkloadEntry labels.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from meshgate import ir
from meshgate.resources import core, istio
from meshgate.resources.bundle import ResourceBundle

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Labels = Mapping[str, str]


def selects(selector: Labels, labels: Labels) -> bool:
    """Kubernetes equality selector: every pair of `selector` is among `labels` (empty selects all)."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_tuple(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def subset_endpoints(endpoints: Iterable[ir.Endpoint], selector: Labels) -> tuple[ir.Endpoint, ...]:
    """The endpoints a DestinationRule subset with these labels keeps."""
    return tuple(ep for ep in endpoints if selects(selector, dict(ep.labels)))


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class WorkloadIndex:
    """The bundle's workload objects, indexed once per build."""

    pods: Mapping[tuple[str, str], core.Pod]
    endpoints: Mapping[tuple[str, str], core.Endpoints]
    slices: Mapping[tuple[str, str], tuple[core.EndpointSlice, ...]]
    workload_entries: Mapping[str, tuple[istio.WorkloadEntry, ...]]

    @classmethod
    def build(cls, bundle: ResourceBundle) -> WorkloadIndex:
        slices: dict[tuple[str, str], list[core.EndpointSlice]] = {}
        for item in bundle.of(core.EndpointSlice):
            if item.service_name:
                slices.setdefault((item.namespace, item.service_name), []).append(item)
        entries: dict[str, list[istio.WorkloadEntry]] = {}
        for entry in bundle.of(istio.WorkloadEntry):
            entries.setdefault(entry.namespace, []).append(entry)
        return cls(
            pods={(pod.namespace, pod.name): pod for pod in bundle.of(core.Pod)},
            endpoints={(ep.namespace, ep.name): ep for ep in bundle.of(core.Endpoints)},
            slices={key: tuple(group) for key, group in slices.items()},
            workload_entries={ns: tuple(group) for ns, group in entries.items()},
        )

    def pod_labels(self, ref: core.ObjectReference | None, namespace: str) -> Labels:
        if ref is None or ref.kind not in ("Pod", ""):
            return {}
        pod = self.pods.get((ref.namespace or namespace, ref.name))
        return pod.metadata.labels if pod is not None else {}


# --- Kubernetes Services ---------------------------------------------------------------------------


def kubernetes_endpoints(
    index: WorkloadIndex, service: core.Service, port: core.ServicePort
) -> tuple[ir.Endpoint, ...]:
    """Endpoints of one port of a Kubernetes Service, sorted by (address, port), de-duplicated.

    When both EndpointSlices and an Endpoints object exist, only the slices are read: since Kubernetes
    1.21 the EndpointSlice controller is the source of truth (Istio reads slices too), the Endpoints
    object is a mirror truncated at 1000 addresses, and reading both would count every address twice.
    """
    key = (service.namespace, service.name)
    single = len(service.spec.ports) == 1
    found: list[ir.Endpoint]
    if key in index.slices:
        found = _from_slices(index, index.slices[key], port, single)
    elif key in index.endpoints:
        found = _from_endpoints(index, index.endpoints[key], port, single)
    else:
        found = []
    unique: dict[tuple[str, int], ir.Endpoint] = {}
    for endpoint in found:
        previous = unique.get((endpoint.address, endpoint.port))
        # The same address in two slices (e.g. while a slice is being replaced): ready wins.
        if previous is None or (endpoint.ready and not previous.ready):
            unique[(endpoint.address, endpoint.port)] = endpoint
    return tuple(unique[k] for k in sorted(unique))


def _port_matches(wanted: core.ServicePort, name: str, count: int, single: bool) -> bool:
    """Endpoint ports carry the service port's name; the lone port of a subset serves a one-port Service
    whatever its name (hand-written Endpoints of selector-less Services often leave names out)."""
    return name == wanted.name or (count == 1 and single)


def _from_endpoints(
    index: WorkloadIndex, item: core.Endpoints, port: core.ServicePort, single: bool
) -> list[ir.Endpoint]:
    out: list[ir.Endpoint] = []
    for subset in item.subsets:
        numbers = [p.port for p in subset.ports if _port_matches(port, p.name, len(subset.ports), single)]
        if not numbers:
            continue
        for addresses, ready in ((subset.addresses, True), (subset.not_ready_addresses, False)):
            for address in addresses:
                labels = index.pod_labels(address.target_ref, item.namespace)
                out.append(ir.Endpoint(address.ip, numbers[0], label_tuple(labels), ready=ready))
    return out


def _from_slices(
    index: WorkloadIndex, slices: Iterable[core.EndpointSlice], port: core.ServicePort, single: bool
) -> list[ir.Endpoint]:
    out: list[ir.Endpoint] = []
    for item in slices:
        numbers = [
            p.port
            for p in item.ports
            if p.port is not None and _port_matches(port, p.name, len(item.ports), single)
        ]
        if not numbers:
            continue
        for endpoint in item.endpoints:
            # Kubernetes: an unset `ready` condition means ready.
            ready = endpoint.conditions.ready is not False
            labels = index.pod_labels(endpoint.target_ref, item.namespace)
            for address in endpoint.addresses:
                out.append(ir.Endpoint(address, numbers[0], label_tuple(labels), ready=ready))
    return out


def external_name_endpoints(service: core.Service, port: core.ServicePort) -> tuple[ir.Endpoint, ...]:
    """`type: ExternalName`: the external name itself on the service port (resolved by DNS)."""
    return (ir.Endpoint(service.spec.external_name, port.port),)


# --- ServiceEntry ----------------------------------------------------------------------------------


def _entry_port(ports: Mapping[str, int], port: istio.ServicePort) -> int:
    """Endpoint port: the endpoint's own mapping for the port name, else targetPort, else number."""
    if port.name and port.name in ports:
        return ports[port.name]
    return port.target_port or port.number


def _weight(value: int | None) -> int:
    return value if value and value > 0 else 1


def _workload_endpoint(spec: istio.WorkloadEntrySpec, labels: Labels, port: istio.ServicePort) -> ir.Endpoint:
    return ir.Endpoint(
        spec.address,
        _entry_port(spec.ports, port),
        label_tuple(labels),
        weight=_weight(spec.weight),
        locality=spec.locality,
    )


def _pod_ready(pod: core.Pod) -> bool:
    status = pod.status
    if status is None:
        return True
    for condition in status.conditions:
        if condition.get("type") == "Ready":
            return str(condition.get("status", "True")) == "True"
    return True


def selected_workloads(
    index: WorkloadIndex, entry: istio.ServiceEntry, port: istio.ServicePort
) -> list[ir.Endpoint]:
    """WorkloadEntries (then Pods with an IP) in the ServiceEntry's namespace its workloadSelector picks."""
    selector = _selector_labels(entry.spec.workload_selector)
    out: list[ir.Endpoint] = []
    for workload in index.workload_entries.get(entry.namespace, ()):
        labels = {**workload.metadata.labels, **workload.spec.labels}
        if workload.spec.address and selects(selector, labels):
            out.append(_workload_endpoint(workload.spec, labels, port))
    for (namespace, _), pod in sorted(index.pods.items()):
        ip = pod.status.pod_ip if pod.status is not None else ""
        if namespace == entry.namespace and ip and selects(selector, pod.metadata.labels):
            number = port.target_port or port.number
            out.append(ir.Endpoint(ip, number, label_tuple(pod.metadata.labels), ready=_pod_ready(pod)))
    return out


def _selector_labels(selector: Mapping[str, object] | None) -> dict[str, str]:
    raw = (selector or {}).get("labels")
    if not isinstance(raw, Mapping):
        return {}
    return {str(key): str(value) for key, value in raw.items()}


def service_entry_endpoints(
    index: WorkloadIndex, entry: istio.ServiceEntry, host: str, port: istio.ServicePort
) -> tuple[ir.Endpoint, ...]:
    """Endpoints of one host and port of a (validated) ServiceEntry, per its resolution (sec 6.8.4)."""
    spec = entry.spec
    if spec.workload_selector is not None:
        found = selected_workloads(index, entry, port)
    else:
        found = [
            _workload_endpoint(item, item.labels, port)
            for item in spec.endpoints
            if item.address and not item.address.startswith("unix://")
        ]
    resolution = spec.resolution
    if resolution == "STATIC":
        found = [ep for ep in found if is_ip(ep.address)]
    elif resolution == "DNS" and not found and spec.workload_selector is None and not host.startswith("*"):
        # No endpoints: the host itself is resolved.
        found = [ir.Endpoint(host, port.target_port or port.number)]
    elif resolution == "DNS_ROUND_ROBIN":
        if not found and spec.workload_selector is None and not host.startswith("*"):
            found = [ir.Endpoint(host, port.target_port or port.number)]
        found = found[:1]
    return tuple(found)
