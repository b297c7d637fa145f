"""DestinationRules: lookup steps and precedence, merging, effective policy, IR mapping, diagnostics."""

from __future__ import annotations

import base64

import pytest

from meshgate import ir
from meshgate.diag import Diagnostic
from meshgate.sources import load_text
from meshgate.translate.options import TranslateOptions
from meshgate.translate.services import ServiceRegistry

FILE = "x.yaml"
SHOP = "shop.shop.svc.cluster.local"
MAX = 2**32 - 1

BASE = """\
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: http-admin, port: 8080}
  - {name: tcp-db, port: 5432}
---
apiVersion: v1
kind: Endpoints
metadata: {name: shop, namespace: shop}
subsets:
- addresses:
  - {ip: 10.0.0.1, targetRef: {kind: Pod, name: shop-v1}}
  - {ip: 10.0.0.2, targetRef: {kind: Pod, name: shop-v2}}
  ports:
  - {name: http, port: 8080}
  - {name: http-admin, port: 8080}
  - {name: tcp-db, port: 5432}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-v1, namespace: shop, labels: {app: shop, version: v1}}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-v2, namespace: shop, labels: {app: shop, version: v2}}
"""


def build(extra: str, namespace: str = "istio-system") -> tuple[ServiceRegistry, tuple[Diagnostic, ...], str]:
    text = BASE + "---\n" + extra
    loaded = load_text(text, FILE)
    assert not loaded.diagnostics, [d.render() for d in loaded.diagnostics]
    registry, diagnostics = ServiceRegistry.build(loaded.bundle, TranslateOptions(namespace=namespace))
    return registry, diagnostics, text


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def cluster(registry: ServiceRegistry, port: int = 80, subset: str = "", host: str = SHOP) -> ir.Cluster:
    name = f"outbound|{port}|{subset}|{host}"
    found = registry.cluster(name)
    assert found is not None, f"{name} not in {[c.name for c in registry.clusters()]}"
    return found


def dr(name: str, namespace: str, host: str, simple: str, *, export_to: str = "", extra: str = "") -> str:
    export = f"\n  exportTo: {export_to}" if export_to else ""
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  host: "{host}"{export}
  trafficPolicy:
    loadBalancer: {{simple: {simple}}}
{extra}---
"""


def policy(registry: ServiceRegistry, port: int = 80, subset: str = "") -> str:
    return cluster(registry, port, subset).load_balancer.policy


def found_codes(diagnostics: tuple[Diagnostic, ...]) -> list[str]:
    return sorted(d.code for d in diagnostics)


# --- which rule applies (sec 6.1) ------------------------------------------------------------------


def test_no_destination_rule_gives_istio_defaults() -> None:
    registry, diagnostics, _ = build("")
    assert diagnostics == ()
    c = cluster(registry)
    assert c.load_balancer == ir.LoadBalancer("LEAST_REQUEST", None)
    assert c.connection_pool == ir.ConnectionPool(MAX, MAX, MAX, MAX, 0, 10.0, 3600.0)
    assert (c.outlier_detection, c.tls) == (None, None)


def test_short_host_expands_with_the_rule_namespace() -> None:
    registry, diagnostics, text = build(
        dr("same", "shop", "shop", "RANDOM") + dr("elsewhere", "other", "shop", "ROUND_ROBIN")
    )
    assert policy(registry) == "RANDOM"
    # In namespace "other", `shop` means shop.other.svc.cluster.local, which does not exist.
    (unknown,) = diagnostics
    assert unknown.code == "IST0174"
    assert "shop.other.svc.cluster.local" in unknown.message
    assert unknown.resource is not None and unknown.resource.name == "elsewhere"
    assert unknown.origin is not None
    assert (unknown.origin.file, unknown.origin.line) == (FILE, line_of(text, 'host: "shop"', 2))


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param(
            dr("root", "istio-system", "*.local", "RANDOM", export_to='["*"]')
            + dr("svc", "shop", SHOP, "ROUND_ROBIN"),
            "ROUND_ROBIN",
            id="step 2 (service namespace) before step 3 (exported root)",
        ),
        pytest.param(
            dr("root", "istio-system", "*.local", "RANDOM", export_to='["."]')
            + dr("svc", "shop", SHOP, "ROUND_ROBIN"),
            "RANDOM",
            id="private wildcard in the gateway (root) namespace beats exact rule of the service namespace",
        ),
        pytest.param(
            dr("root", "istio-system", "*.local", "RANDOM"),
            "RANDOM",
            id="step 3 alone",
        ),
        pytest.param(
            dr("root", "istio-system", "*.local", "RANDOM")
            + dr("svc", "shop", SHOP, "ROUND_ROBIN", export_to="[team-x]"),
            "RANDOM",
            id="service namespace rule not exported to the gateway",
        ),
        pytest.param(
            dr("root", "istio-system", "*", "RANDOM")
            + dr("svc", "shop", SHOP, "ROUND_ROBIN", export_to="[istio-system]"),
            "ROUND_ROBIN",
            id="service namespace rule exported by name to the gateway",
        ),
        pytest.param(
            dr("root", "istio-system", "*.local", "RANDOM")
            + dr("hidden", "shop", SHOP, "LEAST_REQUEST", export_to="[team-x]")
            + dr("wild", "shop", "*.shop.svc.cluster.local", "ROUND_ROBIN"),
            "RANDOM",
            id="the most specific host is chosen before exportTo filtering (istiod)",
        ),
        pytest.param(
            dr("svc", "shop", SHOP, "ROUND_ROBIN", export_to='["."]'),
            "LEAST_REQUEST",
            id="private rule of the service namespace is invisible to the gateway",
        ),
    ],
)
def test_lookup_steps(rules: str, expected: str) -> None:
    registry, _, _ = build(rules)
    assert policy(registry) == expected


def test_inside_a_step_exact_beats_wildcard_and_longer_wildcard_beats_shorter() -> None:
    wildcards = dr("any", "shop", "*.local", "RANDOM") + dr(
        "svc", "shop", "*.svc.cluster.local", "ROUND_ROBIN"
    )
    registry, _, _ = build(wildcards)
    assert policy(registry) == "ROUND_ROBIN"
    registry, _, _ = build(wildcards + dr("exact", "shop", SHOP, "LEAST_CONN"))
    assert policy(registry) == "LEAST_REQUEST"  # LEAST_CONN is LEAST_REQUEST's alias


def test_workload_selector_rule_applies_only_when_it_selects_the_gateway() -> None:
    selected = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: for-gw, namespace: istio-system}
spec:
  host: "*.local"
  workloadSelector: {matchLabels: {istio: ingressgateway}}
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
"""
    registry, _, _ = build(selected + dr("svc", "shop", SHOP, "ROUND_ROBIN"))
    assert policy(registry) == "RANDOM"
    other = selected.replace("istio: ingressgateway", "istio: egressgateway")
    registry, _, _ = build(other + dr("svc", "shop", SHOP, "ROUND_ROBIN"))
    assert policy(registry) == "ROUND_ROBIN"


# --- merging (sec 6.1.3) ---------------------------------------------------------------------------

MERGE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: second, namespace: shop, creationTimestamp: "2024-02-01T00:00:00Z"}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets:
  - {name: v1, labels: {version: v2}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: first, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  host: shop.shop.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: empty, namespace: shop, creationTimestamp: "2023-01-01T00:00:00Z"}
spec:
  host: shop
  trafficPolicy: {}
"""


def test_rules_for_one_host_merge_in_creation_order() -> None:
    registry, diagnostics, text = build(MERGE)
    # `empty` is oldest but its trafficPolicy is empty: `first` is the first non-empty one.
    assert policy(registry) == "ROUND_ROBIN"
    assert [e.address for e in cluster(registry, subset="v1").endpoints] == ["10.0.0.1"]  # first's v1
    assert [e.address for e in cluster(registry, subset="v2").endpoints] == ["10.0.0.2"]  # second's v2
    assert cluster(registry, subset="v2").load_balancer.policy == "ROUND_ROBIN"
    by_code = {d.code: d for d in diagnostics}
    assert sorted(by_code) == ["MG0113", "MG0114"]
    duplicate, shadowed = by_code["MG0113"], by_code["MG0114"]
    assert duplicate.resource is not None and duplicate.resource.name == "second"
    assert duplicate.origin is not None and duplicate.origin.line == line_of(
        text, "{name: v1, labels: {version: v2}}"
    )
    assert shadowed.origin is not None and shadowed.origin.line == line_of(text, "simple: RANDOM")
    assert "DestinationRule shop/first" in shadowed.message


# --- effective policy (sec 6.2.3) ------------------------------------------------------------------

PRECEDENCE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 100}}
    portLevelSettings:
    - port: {number: 8080}
      outlierDetection: {consecutive5xxErrors: 7}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {http: {http2MaxRequests: 50}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
      portLevelSettings:
      - port: {number: 80}
        tls: {mode: SIMPLE}
"""


@pytest.mark.parametrize(
    ("port", "subset", "expected"),
    [
        (80, "", ("ROUND_ROBIN", 100, MAX, None, None)),
        # port-level entry replaces all four top-level fields: no ROUND_ROBIN, no maxConnections
        (8080, "", ("LEAST_REQUEST", MAX, MAX, 7, None)),
        # the subset's connectionPool replaces the inherited one as a whole; loadBalancer is inherited
        (80, "v1", ("ROUND_ROBIN", MAX, 50, None, None)),
        (8080, "v1", ("LEAST_REQUEST", MAX, 50, 7, None)),
        # the subset's port-level entry replaces all four, so its own RANDOM is gone too
        (80, "v2", ("LEAST_REQUEST", MAX, MAX, None, "SIMPLE")),
        (8080, "v2", ("RANDOM", MAX, MAX, 7, None)),
    ],
)
def test_port_level_and_subset_precedence(
    port: int, subset: str, expected: tuple[str, int, int, int | None, str | None]
) -> None:
    """(load balancer, maxConnections, http2MaxRequests, consecutive5xxErrors, tls mode)"""
    registry, diagnostics, _ = build(PRECEDENCE)
    assert diagnostics == ()
    c = cluster(registry, port, subset)
    od = c.outlier_detection
    actual = (
        c.load_balancer.policy,
        c.connection_pool.max_connections,
        c.connection_pool.max_requests,
        od.consecutive_5xx if od else None,
        c.tls.mode if c.tls else None,
    )
    assert actual == expected


# --- IR mapping ------------------------------------------------------------------------------------


def with_policy(body: str, subsets: str = "") -> str:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: shop}}
spec:
  host: shop
  trafficPolicy:
{indented}
{subsets}"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("loadBalancer: {simple: ROUND_ROBIN}", ir.LoadBalancer("ROUND_ROBIN")),
        ("loadBalancer: {simple: RANDOM}", ir.LoadBalancer("RANDOM")),
        ("loadBalancer: {simple: LEAST_REQUEST}", ir.LoadBalancer("LEAST_REQUEST")),
        ("loadBalancer: {simple: LEAST_CONN}", ir.LoadBalancer("LEAST_REQUEST")),
        ("loadBalancer: {simple: UNSPECIFIED}", ir.LoadBalancer("LEAST_REQUEST")),
        (
            "loadBalancer: {consistentHash: {httpHeaderName: x-user}}",
            ir.LoadBalancer("CONSISTENT_HASH", ir.HashPolicy(header="x-user")),
        ),
        (
            "loadBalancer: {consistentHash: {httpCookie: {name: sticky, path: /app, ttl: 90s}}}",
            ir.LoadBalancer(
                "CONSISTENT_HASH", ir.HashPolicy(cookie="sticky", cookie_path="/app", cookie_ttl=90.0)
            ),
        ),
        (
            "loadBalancer: {consistentHash: {httpCookie: {name: session}}}",
            ir.LoadBalancer("CONSISTENT_HASH", ir.HashPolicy(cookie="session")),
        ),
        (
            "loadBalancer: {consistentHash: {useSourceIp: true}}",
            ir.LoadBalancer("CONSISTENT_HASH", ir.HashPolicy(source_ip=True)),
        ),
        (
            "loadBalancer: {consistentHash: {httpQueryParameterName: user}}",
            ir.LoadBalancer("CONSISTENT_HASH", ir.HashPolicy(query_parameter="user")),
        ),
    ],
)
def test_load_balancer_mapping(body: str, expected: ir.LoadBalancer) -> None:
    registry, diagnostics, _ = build(with_policy(body))
    assert diagnostics == ()
    assert cluster(registry).load_balancer == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
connectionPool:
  tcp: {maxConnections: 10, connectTimeout: 250ms, idleTimeout: 30s}
  http:
    http1MaxPendingRequests: 20
    http2MaxRequests: 30
    maxRetries: 4
    maxRequestsPerConnection: 1
    idleTimeout: 1m
""",
            ir.ConnectionPool(10, 20, 30, 4, 1, 0.25, 60.0),
        ),
        # http.idleTimeout falls back to tcp.idleTimeout; 0 means "not set" (Istio sends only > 0)
        (
            "connectionPool: {tcp: {idleTimeout: 30s, maxConnections: 0}, http: {http2MaxRequests: 0}}",
            ir.ConnectionPool(MAX, MAX, MAX, MAX, 0, 10.0, 30.0),
        ),
        ("connectionPool: {http: {maxRetries: 2}}", ir.ConnectionPool(max_retries=2)),
    ],
)
def test_connection_pool_mapping(body: str, expected: ir.ConnectionPool) -> None:
    registry, diagnostics, _ = build(with_policy(body))
    assert diagnostics == ()
    assert cluster(registry).connection_pool == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("outlierDetection: {}", ir.OutlierDetection(5, None, 10.0, 30.0, 10, 0)),
        (
            """
outlierDetection:
  consecutive5xxErrors: 3
  consecutiveGatewayErrors: 2
  interval: 5s
  baseEjectionTime: 1m
  maxEjectionPercent: 50
  minHealthPercent: 25
""",
            ir.OutlierDetection(3, 2, 5.0, 60.0, 50, 25),
        ),
        # 0 disables a kind of ejection; maxEjectionPercent 0 is not sent (Envoy's 10 % applies)
        (
            "outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 0, maxEjectionPercent: 0}",
            ir.OutlierDetection(None, None, 10.0, 30.0, 10, 0),
        ),
        # deprecated consecutiveErrors counts gateway errors and turns 5xx ejection off
        ("outlierDetection: {consecutiveErrors: 4}", ir.OutlierDetection(None, 4, 10.0, 30.0, 10, 0)),
    ],
)
def test_outlier_detection_mapping(body: str, expected: ir.OutlierDetection) -> None:
    registry, diagnostics, _ = build(with_policy(body))
    assert diagnostics == ()
    assert cluster(registry).outlier_detection == expected


def test_upstream_protocol_follows_h2_upgrade_policy_on_http_ports_only() -> None:
    registry, _, _ = build(with_policy("connectionPool: {http: {h2UpgradePolicy: UPGRADE}}"))
    assert cluster(registry, 80).protocol == "HTTP2"
    assert cluster(registry, 5432).protocol == "TCP"
    registry, _, _ = build(with_policy("connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}"))
    assert cluster(registry, 80).protocol == "HTTP"


def test_tls_simple_mutual_istio_mutual_and_disable() -> None:
    subsets = """\
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {tls: {mode: DISABLE}}
"""
    body = """
tls:
  mode: SIMPLE
  sni: shop.internal
  caCertificates: /etc/certs/ca.pem
  subjectAltNames: [spiffe://shop, shop.internal]
  insecureSkipVerify: true
portLevelSettings:
- port: {number: 8080}
  tls: {mode: MUTUAL, clientCertificate: /etc/certs/c.pem, privateKey: /etc/certs/k.pem}
"""
    registry, diagnostics, _ = build(with_policy(body, subsets))
    assert diagnostics == ()
    assert cluster(registry).tls == ir.UpstreamTls(
        "SIMPLE",
        sni="shop.internal",
        ca_file="/etc/certs/ca.pem",
        subject_alt_names=("spiffe://shop", "shop.internal"),
        insecure_skip_verify=True,
    )
    assert cluster(registry, 8080).tls == ir.UpstreamTls(
        "MUTUAL", cert_file="/etc/certs/c.pem", key_file="/etc/certs/k.pem"
    )
    assert cluster(registry, 80, "v1").tls == ir.UpstreamTls("ISTIO_MUTUAL", sni=f"outbound_.80_.v1_.{SHOP}")
    assert cluster(registry, 80, "v2").tls is None


def test_tls_subject_alt_names_fall_back_to_the_service_entry() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.example.net]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
  subjectAltNames: [legacy.example.net, old.example.net]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: shop}
spec:
  host: legacy.example.net
  trafficPolicy: {tls: {mode: SIMPLE}}
"""
    registry, diagnostics, _ = build(text)
    assert diagnostics == ()
    tls = cluster(registry, 443, host="legacy.example.net").tls
    assert tls == ir.UpstreamTls("SIMPLE", subject_alt_names=("legacy.example.net", "old.example.net"))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CREDENTIALS = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: client-tls, namespace: istio-system}}
type: kubernetes.io/tls
data:
  tls.crt: {b64("CERT-A")}
  tls.key: {b64("KEY-A")}
  ca.crt: {b64("CA-A")}
---
apiVersion: v1
kind: Secret
metadata: {{name: client-generic, namespace: istio-system}}
stringData:
  cert: CERT-B
  key: KEY-B
---
apiVersion: v1
kind: Secret
metadata: {{name: client-generic-cacert, namespace: istio-system}}
stringData: {{cacert: CA-B}}
---
apiVersion: v1
kind: Secret
metadata: {{name: wrong-namespace, namespace: shop}}
stringData: {{cert: C, key: K}}
---
apiVersion: v1
kind: Secret
metadata: {{name: no-keys, namespace: istio-system}}
stringData: {{foo: bar}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: shop}}
spec:
  host: shop
  trafficPolicy:
    tls: {{mode: MUTUAL, credentialName: client-tls, sni: shop.internal}}
    portLevelSettings:
    - port: {{number: 8080}}
      tls: {{mode: MUTUAL, credentialName: client-generic}}
    - port: {{number: 5432}}
      tls: {{mode: SIMPLE, credentialName: client-tls}}
  subsets:
  - name: v1
    labels: {{version: v1}}
    trafficPolicy:
      tls: {{mode: MUTUAL, credentialName: wrong-namespace}}
  - name: v2
    labels: {{version: v2}}
    trafficPolicy:
      tls: {{mode: MUTUAL, credentialName: no-keys}}
"""


def test_tls_credential_name_reads_the_secret_in_the_gateway_namespace() -> None:
    registry, diagnostics, text = build(CREDENTIALS)
    main = cluster(registry).tls
    assert main is not None
    assert (main.mode, main.sni, main.cert_pem, main.key_pem, main.ca_pem) == (
        "MUTUAL",
        "shop.internal",
        b"CERT-A",
        b"KEY-A",
        b"CA-A",
    )
    generic = cluster(registry, 8080).tls
    assert generic is not None
    assert (generic.cert_pem, generic.key_pem, generic.ca_pem) == (b"CERT-B", b"KEY-B", b"CA-B")
    simple = cluster(registry, 5432).tls  # SIMPLE takes only the CA from the credential
    assert simple is not None and (simple.cert_pem, simple.key_pem, simple.ca_pem) == (b"", b"", b"CA-A")
    assert "KEY-A" not in repr(main)
    missing = cluster(registry, 80, "v1").tls
    assert missing is not None and (missing.cert_pem, missing.key_pem) == (b"", b"")

    by_code = {d.code: d for d in diagnostics}
    assert sorted(by_code) == ["IST0101", "IST0161"]
    not_found = by_code["IST0101"]
    assert "Secret" in not_found.message and "istio-system/wrong-namespace" in not_found.message
    assert not_found.field_path == "spec.subsets[0].trafficPolicy.tls.credentialName"
    assert not_found.origin is not None
    assert (not_found.origin.file, not_found.origin.line) == (
        FILE,
        line_of(text, "credentialName: wrong-namespace"),
    )
    unusable = by_code["IST0161"]
    assert "istio-system/no-keys" in unusable.message and "foo" in unusable.message


# --- diagnostics -----------------------------------------------------------------------------------


def test_subset_selecting_no_endpoint() -> None:
    extra = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v3, labels: {version: v3}}
"""
    registry, diagnostics, text = build(extra)
    assert [e.address for e in cluster(registry, subset="v1").endpoints] == ["10.0.0.1"]
    assert cluster(registry, subset="v3").endpoints == ()  # exists: 503 UH at request time, not NC
    (problem,) = diagnostics
    assert problem.code == "IST0173" and "v3" in problem.message
    assert problem.field_path == "spec.subsets[1]"
    assert problem.origin is not None and problem.origin.line == line_of(text, "{name: v3")


INVALID = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: -1}
    loadBalancer: {simple: FASTEST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1, labels: {version: v2}}
"""


def test_invalid_rule_is_dropped_with_field_paths_and_lines() -> None:
    registry, diagnostics, text = build(INVALID)
    assert not registry.has_cluster(f"outbound|80|v1|{SHOP}")
    assert cluster(registry).connection_pool.max_connections == MAX
    found = {d.field_path: d for d in diagnostics}
    assert set(found) == {
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
        "spec.trafficPolicy.loadBalancer.simple",
        "spec.subsets[1].name",
    }
    assert all(d.code == "IST0106" for d in diagnostics)
    negative = found["spec.trafficPolicy.connectionPool.tcp.maxConnections"]
    assert negative.origin is not None
    assert (negative.origin.file, negative.origin.line) == (FILE, line_of(text, "maxConnections: -1"))
    assert negative.render().startswith(f"{FILE}:{line_of(text, 'maxConnections: -1')}: Error [IST0106]")
    assert "FASTEST" in found["spec.trafficPolicy.loadBalancer.simple"].message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("tls: {mode: MUTUAL}", "spec.trafficPolicy.tls"),
        ("tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem}", "spec.trafficPolicy.tls"),
        ("tls: {mode: SIMPLE, credentialName: c, caCertificates: /ca}", "spec.trafficPolicy.tls"),
        ("tls: {mode: STRICT}", "spec.trafficPolicy.tls.mode"),
        (
            "outlierDetection: {maxEjectionPercent: 101}",
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
        ),
        ("outlierDetection: {interval: 0s}", "spec.trafficPolicy.outlierDetection.interval"),
        ("connectionPool: {http: {maxRetries: -2}}", "spec.trafficPolicy.connectionPool.http.maxRetries"),
        (
            "connectionPool: {tcp: {connectTimeout: 0s}}",
            "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
        ),
        (
            "connectionPool: {http: {h2UpgradePolicy: SOMETIMES}}",
            "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy",
        ),
        (
            "loadBalancer: {consistentHash: {httpHeaderName: a, useSourceIp: true}}",
            "spec.trafficPolicy.loadBalancer.consistentHash",
        ),
        (
            "portLevelSettings: [{loadBalancer: {simple: RANDOM}}]",
            "spec.trafficPolicy.portLevelSettings[0].port",
        ),
    ],
)
def test_validation_errors(body: str, path: str) -> None:
    registry, diagnostics, _ = build(with_policy(body))
    assert [(d.code, d.field_path) for d in diagnostics] == [("IST0106", path)]
    assert cluster(registry).load_balancer.policy == "LEAST_REQUEST"


def test_passthrough_is_only_a_warning() -> None:
    registry, diagnostics, _ = build(with_policy("loadBalancer: {simple: PASSTHROUGH}"))
    assert [(d.code, d.field_path) for d in diagnostics] == [
        ("IST0133", "spec.trafficPolicy.loadBalancer.simple")
    ]
    assert policy(registry) == "LEAST_REQUEST"


def test_wildcard_rule_covering_a_service_is_not_unknown() -> None:
    registry, diagnostics, _ = build(dr("all", "istio-system", "*.cluster.local", "RANDOM"))
    assert diagnostics == ()
    assert policy(registry) == "RANDOM"
    _, diagnostics, _ = build(dr("none", "istio-system", "*.example.com", "RANDOM"))
    assert found_codes(diagnostics) == ["IST0174"]


def test_istio_mutual_keeps_a_given_sni_and_subject_alt_names() -> None:
    registry, diagnostics, _ = build(
        with_policy(
            "tls: {mode: ISTIO_MUTUAL, sni: shop.mesh, subjectAltNames: [spiffe://td/ns/shop/sa/shop]}"
        )
    )
    assert diagnostics == ()
    assert cluster(registry).tls == ir.UpstreamTls(
        "ISTIO_MUTUAL", sni="shop.mesh", subject_alt_names=("spiffe://td/ns/shop/sa/shop",)
    )


def test_dns_subset_without_endpoints_has_no_cluster() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [ext.example.com]
  resolution: DNS
  ports: [{number: 80, name: http}]
  endpoints:
  - {address: blue.example.com, labels: {color: blue}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: shop}
spec:
  host: ext.example.com
  subsets:
  - {name: blue, labels: {color: blue}}
  - {name: green, labels: {color: green}}
"""
    registry, diagnostics, _ = build(text)
    blue = cluster(registry, 80, "blue", host="ext.example.com")
    assert (blue.discovery, [e.address for e in blue.endpoints]) == ("DNS", ["blue.example.com"])
    # A DNS cluster with nothing to resolve is not generated: 503 NC, as istiod does.
    assert not registry.has_cluster("outbound|80|green|ext.example.com")
    assert found_codes(diagnostics) == ["IST0173"]
