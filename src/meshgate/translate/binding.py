"""Which VirtualServices a gateway server sees, in which order, and for which host names.

istio-semantics sec. 3.1–3.4: `gateways` entries resolve against the VirtualService's namespace;
omitted `gateways` means `mesh` only; visibility is `exportTo` seen from the gateway workload's
namespace; candidates are grouped (exported only to that namespace / by name / to everyone) and each
group is in creation order; vhost domains are the pairwise intersections of server hosts (namespace
rules applied) and VirtualService hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from meshgate.hostnames import intersect
from meshgate.resources.istio import VirtualService


def resolve_gateway_name(entry: str, namespace: str) -> str:
    """`name` / `./name` → `<ns>/name`; `ns/name` kept; legacy `name.ns.svc.cluster.local` → `ns/name`."""
    if entry == "mesh":
        return "mesh"
    if entry.startswith("./"):
        return f"{namespace}/{entry[2:]}"
    if "/" in entry:
        return entry
    if "." in entry:
        name, _, rest = entry.partition(".")
        return f"{rest.split('.')[0]}/{name}"
    return f"{namespace}/{entry}"


def bound_gateways(vs: VirtualService) -> frozenset[str]:
    entries = vs.spec.gateways or ["mesh"]
    return frozenset(resolve_gateway_name(entry, vs.namespace) for entry in entries)


def export_group(export_to: Sequence[str], own_namespace: str, viewer_namespace: str) -> int | None:
    """Candidate group 1/2/3 (sec. 3.3) for a viewer in `viewer_namespace`, or None if not visible."""
    targets = [own_namespace if t == "." else t for t in export_to] or ["*"]
    if "~" in targets and len(targets) == 1:
        return None
    if set(targets) == {own_namespace} and own_namespace == viewer_namespace:
        return 1
    if viewer_namespace in targets:
        return 2
    if "*" in targets:
        return 3
    return None


def candidates(
    virtual_services: Iterable[VirtualService], gateway_key: str, viewer_namespace: str
) -> list[VirtualService]:
    grouped: list[tuple[int, tuple[str, int, str, str], VirtualService]] = []
    for vs in virtual_services:
        if not vs.spec.hosts or gateway_key not in bound_gateways(vs):
            continue
        group = export_group(vs.spec.export_to, vs.namespace, viewer_namespace)
        if group is not None:
            grouped.append((group, vs.creation_key(), vs))
    grouped.sort(key=lambda item: (item[0], item[1]))
    return [vs for _, _, vs in grouped]


def vhost_domains(
    server_hosts: Iterable[tuple[str, str]], vs_hosts: Iterable[str], vs_namespace: str
) -> list[str]:
    """Domains (lower-case, de-duplicated, in first-seen order) a VS contributes to a server."""
    admitted = [host for namespace, host in server_hosts if namespace in ("*", vs_namespace)]
    domains: list[str] = []
    for server_host in admitted:
        for vs_host in vs_hosts:
            domain = intersect(server_host, vs_host.lower())
            if domain is not None and domain not in domains:
                domains.append(domain)
    return domains
