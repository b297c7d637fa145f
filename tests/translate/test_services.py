"""Service registry: Kubernetes Services/Endpoints/EndpointSlices, ServiceEntries, visibility, clusters."""

from __future__ import annotations

import pytest

from meshgate import ir
from meshgate.diag import Diagnostic
from meshgate.sources import load_text
from meshgate.translate.options import TranslateOptions
from meshgate.translate.services import ServiceRegistry

FILE = "x.yaml"
SHOP = "shop.shop.svc.cluster.local"


def build(
    text: str, namespace: str = "istio-system", domain_suffix: str = "cluster.local"
) -> tuple[ServiceRegistry, tuple[Diagnostic, ...]]:
    loaded = load_text(text, FILE)
    assert not loaded.diagnostics, [d.render() for d in loaded.diagnostics]
    return ServiceRegistry.build(
        loaded.bundle, TranslateOptions(namespace=namespace, domain_suffix=domain_suffix)
    )


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def cluster(registry: ServiceRegistry, name: str) -> ir.Cluster:
    found = registry.cluster(name)
    assert found is not None, f"{name} not in {[c.name for c in registry.clusters()]}"
    return found


def addresses(c: ir.Cluster) -> list[tuple[str, int, bool]]:
    return [(ep.address, ep.port, ep.ready) for ep in c.endpoints]


def codes(diagnostics: tuple[Diagnostic, ...]) -> list[str]:
    return [d.code for d in diagnostics]


SERVICE_WITH_ENDPOINTS = """\
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  ports:
  - {name: http, port: 8080, targetPort: web}
  - {name: grpc-api, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: Endpoints
metadata: {name: shop, namespace: shop}
subsets:
- addresses:
  - {ip: 10.0.0.2, targetRef: {kind: Pod, name: shop-b}}
  - {ip: 10.0.0.1, targetRef: {kind: Pod, name: shop-a}}
  notReadyAddresses:
  - {ip: 10.0.0.3, targetRef: {kind: Pod, name: shop-c}}
  ports:
  - {name: http, port: 80}
  - {name: grpc-api, port: 9090}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-a, namespace: shop, labels: {app: shop, version: v1}}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-b, namespace: shop, labels: {app: shop, version: v2}}
"""


def test_service_with_endpoints_gives_one_cluster_per_port() -> None:
    registry, diagnostics = build(SERVICE_WITH_ENDPOINTS)
    assert diagnostics == ()
    assert [c.name for c in registry.clusters()] == [
        f"outbound|8080||{SHOP}",
        f"outbound|9090||{SHOP}",
    ]
    http = cluster(registry, f"outbound|8080||{SHOP}")
    # The named targetPort resolves through the Endpoints port named like the service port.
    assert addresses(http) == [("10.0.0.1", 80, True), ("10.0.0.2", 80, True), ("10.0.0.3", 80, False)]
    assert http.endpoints[0].labels == (("app", "shop"), ("version", "v1"))
    assert http.endpoints[2].labels == ()  # pod shop-c is not in the bundle
    assert (http.service_host, http.port, http.subset) == (SHOP, 8080, "")
    assert (http.service_name, http.service_namespace, http.discovery) == ("shop", "shop", "STATIC")
    assert http.protocol == "HTTP"
    assert http.source == ir.Source("Service", "shop", "shop", FILE, 1)
    grpc = cluster(registry, f"outbound|9090||{SHOP}")
    assert grpc.protocol == "HTTP2"
    assert addresses(grpc)[0] == ("10.0.0.1", 9090, True)
    assert registry.has_cluster(f"outbound|9090||{SHOP}")
    assert not registry.has_cluster(f"outbound|80||{SHOP}")


def test_service_info_fields() -> None:
    registry, _ = build(SERVICE_WITH_ENDPOINTS)
    info = registry.lookup(SHOP, "anywhere")
    assert info is not None
    assert (info.fqdn, info.name, info.namespace, info.origin_kind) == (SHOP, "shop", "shop", "Service")
    assert (info.resolution, info.export_to) == ("STATIC", ("*",))
    assert [(p.number, p.name, p.protocol, p.target_port) for p in info.ports] == [
        (8080, "http", "HTTP", "web"),
        (9090, "grpc-api", "GRPC", 9090),
    ]
    assert registry.lookup("nope.shop.svc.cluster.local", "shop") is None


def test_domain_suffix_option() -> None:
    registry, _ = build(SERVICE_WITH_ENDPOINTS, domain_suffix="corp.internal")
    assert registry.lookup("shop.shop.svc.corp.internal", "shop") is not None
    assert registry.has_cluster("outbound|8080||shop.shop.svc.corp.internal")


ENDPOINT_SLICES = """\
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: shop, namespace: shop}
subsets:
- addresses: [{ip: 10.9.9.9}]
  ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: shop-abc
  namespace: shop
  labels: {kubernetes.io/service-name: shop}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: shop-a}
- addresses: [10.0.0.2]
  conditions: {ready: false}
- addresses: [10.0.0.4]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: shop-def
  namespace: shop
  labels: {kubernetes.io/service-name: shop}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: true}
- addresses: [10.0.0.3]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: other
  namespace: shop
  labels: {kubernetes.io/service-name: other}
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.1.1.1]}]
---
apiVersion: v1
kind: Pod
metadata: {name: shop-a, namespace: shop, labels: {version: v1}}
"""


def test_endpoint_slices_win_over_endpoints_and_are_deduplicated() -> None:
    registry, _ = build(ENDPOINT_SLICES)
    c = cluster(registry, f"outbound|80||{SHOP}")
    assert addresses(c) == [
        ("10.0.0.1", 8080, True),
        ("10.0.0.2", 8080, False),
        ("10.0.0.3", 8080, True),
        ("10.0.0.4", 8080, True),  # unset ready condition = ready
    ]
    assert c.endpoints[0].labels == (("version", "v1"),)


def test_unnamed_single_port_endpoints() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: default}
subsets:
- addresses: [{ip: 192.168.1.10}]
  ports: [{port: 8081}]
"""
    registry, _ = build(text)
    c = cluster(registry, "outbound|80||legacy.default.svc.cluster.local")
    assert addresses(c) == [("192.168.1.10", 8081, True)]
    assert c.protocol == "HTTP"  # unknown protocol: the gateway speaks HTTP/1.1


def test_service_without_endpoints_still_has_clusters() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: default}
spec:
  ports: [{name: http, port: 80}]
"""
    registry, diagnostics = build(text)
    assert diagnostics == ()
    assert cluster(registry, "outbound|80||lonely.default.svc.cluster.local").endpoints == ()


def test_external_name_service() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  type: ExternalName
  externalName: api.example.com
  ports: [{name: https, port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: default}
spec:
  type: ExternalName
  ports: [{name: http, port: 80}]
"""
    registry, diagnostics = build(text)
    info = registry.lookup("ext.default.svc.cluster.local", "default")
    assert info is not None and info.resolution == "EXTERNAL_NAME"
    c = cluster(registry, "outbound|443||ext.default.svc.cluster.local")
    assert c.discovery == "EXTERNAL_NAME"
    assert addresses(c) == [("api.example.com", 443, True)]
    assert registry.lookup("broken.default.svc.cluster.local", "default") is None
    (problem,) = diagnostics
    assert problem.code == "IST0106" and problem.field_path == "spec.externalName"
    assert str(problem.origin) == f"{FILE}:{line_of(text, 'type: ExternalName', 2)}"


def test_protocol_from_app_protocol_and_port_name() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec:
  ports:
  - {name: web, port: 1, appProtocol: grpc}
  - {name: http2-x, port: 2}
  - {name: tcp-db, port: 3}
  - {name: tls, port: 4}
  - {name: grpc-web, port: 5}
  - {name: x, port: 6, appProtocol: kubernetes.io/h2c}
  - {name: https, port: 7}
  - {name: mongo, port: 8}
"""
    registry, _ = build(text)
    info = registry.lookup("multi.default.svc.cluster.local", "default")
    assert info is not None
    assert [p.protocol for p in info.ports] == [
        "GRPC",
        "HTTP2",
        "TCP",
        "TLS",
        "GRPC",  # Istio reads the name up to the first '-'
        "HTTP2",
        "HTTPS",
        "MONGO",
    ]
    protocols = [c.protocol for c in registry.clusters()]
    assert protocols == ["HTTP2", "HTTP2", "TCP", "TLS", "HTTP2", "HTTP2", "HTTP", "TCP"]


# --- ServiceEntry ----------------------------------------------------------------------------------

SE_STATIC = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.example.internal, short]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 9000, name: tcp-admin, protocol: TCP}
  endpoints:
  - address: 10.1.0.1
    labels: {version: v1}
    weight: 3
    locality: eu-west/zone-a
  - address: 10.1.0.2
    ports: {http: 8443}
    labels: {version: v2}
"""


def test_service_entry_static() -> None:
    registry, diagnostics = build(SE_STATIC)
    assert diagnostics == ()
    info = registry.lookup("legacy.example.internal", "shop")
    assert info is not None
    assert (info.origin_kind, info.resolution, info.name, info.namespace) == (
        "ServiceEntry",
        "STATIC",
        "legacy.example.internal",
        "shop",
    )
    assert [(p.number, p.name, p.protocol, p.target_port) for p in info.ports] == [
        (80, "http", "HTTP", 8080),
        (9000, "tcp-admin", "TCP", None),
    ]
    http = cluster(registry, "outbound|80||legacy.example.internal")
    assert [(ep.address, ep.port) for ep in http.endpoints] == [("10.1.0.1", 8080), ("10.1.0.2", 8443)]
    first = http.endpoints[0]
    assert (first.labels, first.weight, first.locality) == ((("version", "v1"),), 3, "eu-west/zone-a")
    assert http.endpoints[1].weight == 1
    assert (http.service_name, http.service_namespace, http.discovery) == (
        "legacy.example.internal",
        "shop",
        "STATIC",
    )
    assert http.source == ir.Source("ServiceEntry", "shop", "legacy", FILE, 1)
    admin = cluster(registry, "outbound|9000||legacy.example.internal")
    assert [(ep.address, ep.port) for ep in admin.endpoints] == [("10.1.0.1", 9000), ("10.1.0.2", 9000)]
    assert admin.protocol == "TCP"
    # A short host expands with the ServiceEntry's namespace.
    assert registry.has_cluster("outbound|80||short.shop.svc.cluster.local")


def test_service_entry_dns_with_and_without_endpoints() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [shop-legacy.migration.internal]
  resolution: DNS
  ports: [{number: 443, name: tls-legacy, protocol: TLS}]
  endpoints: [{address: lb.old-cluster.example.net}, {address: 10.2.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS, targetPort: 8443}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr, namespace: shop}
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 80, name: http}]
  endpoints: [{address: one.example.com}]
"""
    registry, diagnostics = build(text)
    assert diagnostics == ()
    legacy = cluster(registry, "outbound|443||shop-legacy.migration.internal")
    assert (legacy.discovery, legacy.protocol) == ("DNS", "TLS")
    assert [(ep.address, ep.port) for ep in legacy.endpoints] == [
        ("lb.old-cluster.example.net", 443),
        ("10.2.0.1", 443),
    ]
    api = cluster(registry, "outbound|443||api.example.com")
    assert [(ep.address, ep.port) for ep in api.endpoints] == [("api.example.com", 8443)]
    rr = cluster(registry, "outbound|80||rr.example.com")
    assert rr.discovery == "DNS_ROUND_ROBIN"
    assert [(ep.address, ep.port) for ep in rr.endpoints] == [("one.example.com", 80)]


def test_service_entry_none_resolution_has_empty_clusters() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none, namespace: shop}
spec:
  hosts: [none.example.com]
  resolution: NONE
  ports: [{number: 80, name: http}]
"""
    registry, diagnostics = build(text)
    assert diagnostics == ()
    info = registry.lookup("none.example.com", "shop")
    assert info is not None and info.resolution == "NONE"
    c = cluster(registry, "outbound|80||none.example.com")
    assert (c.discovery, c.endpoints) == ("STATIC", ())


INVALID_ENTRIES = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none-eps, namespace: shop}
spec:
  hosts: [a.example.com]
  resolution: NONE
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: no-ports, namespace: shop}
spec:
  hosts: [b.example.com]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: no-hosts, namespace: shop}
spec:
  resolution: DNS
  ports: [{number: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild-dns, namespace: shop}
spec:
  hosts: ["*.example.org"]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: SPDY}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static-name, namespace: shop}
spec:
  hosts: [c.example.com]
  resolution: STATIC
  ports: [{number: 80, name: http}]
  endpoints: [{address: not-an-ip.example.com}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dynamic, namespace: shop}
spec:
  hosts: ["*.dyn.example.com"]
  resolution: DYNAMIC_DNS
  ports: [{number: 80, name: http}]
"""


def test_invalid_service_entries_are_dropped_with_file_and_line() -> None:
    registry, diagnostics = build(INVALID_ENTRIES)
    assert registry.clusters() == ()
    found = {(d.code, d.resource.name if d.resource else "", d.field_path): d for d in diagnostics}
    expected = {
        ("IST0106", "none-eps", "spec.endpoints"): line_of(
            INVALID_ENTRIES, "endpoints: [{address: 10.0.0.1}]"
        ),
        # A missing field points at its parent (`spec:`).
        ("IST0106", "no-ports", "spec.ports"): line_of(INVALID_ENTRIES, "name: no-ports") + 1,
        ("IST0106", "no-hosts", "spec.hosts"): line_of(INVALID_ENTRIES, "name: no-hosts") + 1,
        ("IST0106", "wild-dns", "spec.hosts[0]"): line_of(INVALID_ENTRIES, '"*.example.org"'),
        ("IST0106", "wild-dns", "spec.ports[0].protocol"): line_of(INVALID_ENTRIES, "SPDY"),
        ("IST0106", "static-name", "spec.endpoints[0].address"): line_of(INVALID_ENTRIES, "not-an-ip"),
        ("MG0111", "dynamic", ""): line_of(INVALID_ENTRIES, "DYNAMIC_DNS"),
    }
    assert set(found) == set(expected)
    for key, line in expected.items():
        assert found[key].origin is not None
        assert (found[key].origin.file, found[key].origin.line) == (FILE, line), key


def test_workload_entry_selection() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: shop}
spec:
  hosts: [vm.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, targetPort: 8080}]
  workloadSelector:
    labels: {app: vm}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: shop}
spec:
  address: 10.3.0.1
  labels: {app: vm, version: v1}
  ports: {http: 9080}
  weight: 5
  locality: us/east
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-2, namespace: shop}
spec:
  address: 10.3.0.2
  labels: {app: vm, version: v2}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other-app, namespace: shop}
spec:
  address: 10.3.0.3
  labels: {app: db}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other-namespace, namespace: elsewhere}
spec:
  address: 10.3.0.4
  labels: {app: vm}
---
apiVersion: v1
kind: Pod
metadata: {name: vm-pod, namespace: shop, labels: {app: vm, version: v3}}
status: {podIP: 10.3.0.5}
"""
    registry, diagnostics = build(text)
    assert diagnostics == ()
    c = cluster(registry, "outbound|80||vm.shop.internal")
    got = [
        (ep.address, ep.port, ep.weight, ep.locality, dict(ep.labels).get("version")) for ep in c.endpoints
    ]
    assert got == [
        ("10.3.0.1", 9080, 5, "us/east", "v1"),
        ("10.3.0.2", 8080, 1, "", "v2"),
        ("10.3.0.5", 8080, 1, "", "v3"),
    ]


# --- visibility and lookup -------------------------------------------------------------------------

VISIBILITY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: team-a}
spec:
  hosts: [private.example.com]
  exportTo: ["."]
  resolution: DNS
  ports: [{number: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: to-gateway, namespace: team-a}
spec:
  hosts: [to-gateway.example.com]
  exportTo: [istio-system]
  resolution: DNS
  ports: [{number: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local-private, namespace: istio-system}
spec:
  hosts: [local.example.com]
  exportTo: ["."]
  resolution: DNS
  ports: [{number: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: hidden
  namespace: team-a
  annotations: {networking.istio.io/exportTo: "~"}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: shared
  namespace: team-a
  annotations: {networking.istio.io/exportTo: "team-b, istio-system"}
spec:
  ports: [{name: http, port: 80}]
"""


def test_export_to_visibility_from_the_gateway_namespace() -> None:
    registry, _ = build(VISIBILITY)
    assert registry.lookup("private.example.com", "team-a") is None
    assert not registry.has_cluster("outbound|80||private.example.com")
    assert registry.lookup("to-gateway.example.com", "team-a") is not None
    assert registry.lookup("local.example.com", "istio-system") is not None
    assert registry.lookup("hidden.team-a.svc.cluster.local", "team-a") is None
    shared = registry.lookup("shared.team-a.svc.cluster.local", "team-b")
    assert shared is not None and shared.export_to == ("team-b", "istio-system")
    # Seen from another gateway namespace the picture changes.
    other, _ = build(VISIBILITY, namespace="team-a")
    assert other.lookup("private.example.com", "team-a") is not None
    assert other.lookup("to-gateway.example.com", "team-a") is None
    assert other.lookup("local.example.com", "istio-system") is None


LOOKUP = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: team-a}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: team-b}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{number: 8080, name: http}]
  endpoints: [{address: 10.0.0.2}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: istio-system}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{number: 9090, name: http}]
  endpoints: [{address: 10.0.0.3}]
"""


def test_lookup_prefers_the_virtual_service_namespace_then_the_gateway_namespace() -> None:
    registry, _ = build(LOOKUP)
    for namespace in ("team-a", "team-b", "istio-system"):
        found = registry.lookup("api.example.com", namespace)
        assert found is not None and found.namespace == namespace
    fallback = registry.lookup("api.example.com", "team-c")
    assert fallback is not None and fallback.namespace == "istio-system"
    # Clusters carry no namespace: one set per host, from the gateway namespace's service.
    assert [c.name for c in registry.clusters()] == ["outbound|9090||api.example.com"]
    without_gateway_copy, _ = build(LOOKUP.rsplit("---", 1)[0])
    first = without_gateway_copy.lookup("api.example.com", "team-c")
    assert first is not None and first.namespace == "team-a"
    assert [c.name for c in without_gateway_copy.clusters()] == ["outbound|80||api.example.com"]


def test_kubernetes_service_wins_over_service_entry_for_the_same_host() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: squatter, namespace: shop, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  hosts: [shop.shop.svc.cluster.local]
  resolution: DNS
  ports: [{number: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  ports: [{name: http, port: 8080}]
"""
    registry, diagnostics = build(text)
    info = registry.lookup(SHOP, "shop")
    assert info is not None and info.origin_kind == "Service"
    assert [c.name for c in registry.clusters()] == [f"outbound|8080||{SHOP}"]
    assert codes(diagnostics) == ["MG0110"]
    assert diagnostics[0].resource is not None and diagnostics[0].resource.name == "squatter"
    assert diagnostics[0].origin is not None and diagnostics[0].origin.line == 1


@pytest.mark.parametrize("subset", ["", "v1"])
def test_cluster_names_follow_istio(subset: str) -> None:
    text = SERVICE_WITH_ENDPOINTS + (
        """\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  subsets: [{name: v1, labels: {version: v1}}]
"""
    )
    registry, _ = build(text)
    name = f"outbound|8080|{subset}|{SHOP}"
    assert registry.has_cluster(name)
    c = cluster(registry, name)
    assert (c.port, c.subset, c.service_host) == (8080, subset, SHOP)
    names = [c.name for c in registry.clusters()]
    assert names == sorted(names)


def test_tcp_port_wins_over_its_udp_twin() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: metrics, port: 9153}
"""
    registry, diagnostics = build(text)
    assert diagnostics == ()
    info = registry.lookup("dns.kube-system.svc.cluster.local", "kube-system")
    assert info is not None
    assert [(p.number, p.name) for p in info.ports] == [(53, "dns-tcp"), (9153, "metrics")]
    assert [c.name for c in registry.clusters()] == [
        "outbound|53||dns.kube-system.svc.cluster.local",
        "outbound|9153||dns.kube-system.svc.cluster.local",
    ]
