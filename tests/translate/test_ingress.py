"""Kubernetes Ingress → generated Istio Gateway/VirtualService objects (translate/ingress.py).

Inputs are YAML text loaded through the real loader so origins (file:line) are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshgate.diag import Diagnostic, Level
from meshgate.resources.ingress import Ingress
from meshgate.resources.istio import Gateway, VirtualService
from meshgate.sources import load_paths, load_text
from meshgate.translate.ingress import (
    GENERATED_CREATION_TIMESTAMP,
    ROUTE_SEMANTICS_ANNOTATION,
    IngressConversion,
    convert_ingresses,
    gateway_name,
    virtual_service_name,
)
from meshgate.translate.ingress_class import class_decision
from meshgate.translate.options import IngressMode, TranslateOptions

FILE = "x.yaml"


def convert(text: str, **options: Any) -> IngressConversion:
    loaded = load_text(text, FILE)
    assert not [d for d in loaded.diagnostics if d.level >= Level.WARNING], [
        d.render() for d in loaded.diagnostics
    ]
    return convert_ingresses(loaded.bundle, TranslateOptions(**options))


def dump(obj: Gateway | VirtualService) -> dict[str, Any]:
    return obj.model_dump(by_alias=True, exclude_defaults=True)


def vs_for(result: IngressConversion, host: str) -> VirtualService:
    found = [vs for vs in result.virtual_services if vs.spec.hosts == [host]]
    assert len(found) == 1, [vs.spec.hosts for vs in result.virtual_services]
    return found[0]


def codes(result: IngressConversion) -> list[str]:
    return [d.code for d in result.diagnostics]


def only(result: IngressConversion, code: str) -> Diagnostic:
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, [d.render() for d in result.diagnostics]
    return found[0]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def routes(vs: VirtualService) -> list[tuple[dict[str, str] | None, str, int | None]]:
    """(uri condition, destination host, port) per route, in order."""
    out = []
    for route in vs.spec.http:
        uri = None
        if route.match:
            assert route.match[0].uri is not None
            uri = route.match[0].uri.model_dump(exclude_none=True)
        destination = route.route[0].destination
        out.append((uri, destination.host, destination.port.number if destination.port else None))
    return out


def ingress(
    name: str = "web",
    *,
    namespace: str = "shop",
    annotations: str = "",
    spec: str = "",
) -> str:
    meta_extra = f"\n  annotations:\n{annotations}" if annotations else ""
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}{meta_extra}\nspec:\n{spec}"
    )


SIMPLE_RULES = """  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
"""

ISTIO_CLASS = """---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: istio-class
spec:
  controller: istio.io/ingress-controller
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
spec:
  controller: k8s.io/ingress-nginx
"""


# --- class selection (7.1) ---------------------------------------------------------------------

DEFAULT, STRICT, OFF = IngressMode.DEFAULT, IngressMode.STRICT, IngressMode.OFF


@pytest.mark.parametrize(
    ("annotation", "class_name", "mode", "handled"),
    [
        # annotation decides, whatever spec.ingressClassName says
        ("istio", None, DEFAULT, True),
        ("istio", None, STRICT, True),
        ("istio", None, OFF, False),
        ("nginx", None, DEFAULT, False),
        ("nginx", None, STRICT, False),
        ("", None, DEFAULT, False),  # present but empty is a class, and not ours
        ("istio", "nginx", STRICT, True),
        ("nginx", "istio-class", DEFAULT, False),
        # IngressClass looked up by name, handled iff its controller is Istio's
        (None, "istio-class", DEFAULT, True),
        (None, "istio-class", STRICT, True),
        (None, "istio-class", OFF, False),
        (None, "nginx", DEFAULT, False),
        (None, "nginx", STRICT, False),
        # a class name with no IngressClass counts as no class
        (None, "missing", DEFAULT, True),
        (None, "missing", STRICT, False),
        # no class at all
        (None, None, DEFAULT, True),
        (None, None, STRICT, False),
        (None, None, OFF, False),
    ],
)
def test_class_selection(
    annotation: str | None, class_name: str | None, mode: IngressMode, handled: bool
) -> None:
    annotations = f'    kubernetes.io/ingress.class: "{annotation}"\n' if annotation is not None else ""
    spec = (f"  ingressClassName: {class_name}\n" if class_name else "") + SIMPLE_RULES
    text = ingress(annotations=annotations, spec=spec) + ISTIO_CLASS
    loaded = load_text(text, FILE)
    (only_ingress,) = loaded.bundle.of(Ingress)
    decision = class_decision(only_ingress, loaded.bundle, TranslateOptions(ingress_mode=mode))
    assert decision.handled is handled, decision

    result = convert_ingresses(loaded.bundle, TranslateOptions(ingress_mode=mode))
    assert len(result.gateways) == int(handled)
    assert len(result.virtual_services) == int(handled)
    if handled:
        assert "MG0201" not in codes(result)
    else:
        skipped = only(result, "MG0201")
        assert skipped.level is Level.INFO
        assert skipped.origin is not None and skipped.origin.line == 1
        assert skipped.resource is not None and skipped.resource.name == "web"


def test_class_selection_uses_configured_class_and_controller() -> None:
    text = (
        ingress("a", annotations='    kubernetes.io/ingress.class: "meshgate"\n', spec=SIMPLE_RULES)
        + "---\n"
        + ingress("b", spec="  ingressClassName: mine\n" + SIMPLE_RULES.replace("shop.", "b."))
        + "---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: mine\n"
        "spec:\n  controller: example.com/meshgate\n"
    )
    options: dict[str, Any] = {
        "ingress_mode": STRICT,
        "ingress_class": "meshgate",
        "ingress_controller": "example.com/meshgate",
    }
    result = convert(text, **options)
    assert sorted(g.name for g in result.gateways) == [
        "a-istio-autogenerated-k8s-ingress-shop",
        "b-istio-autogenerated-k8s-ingress-shop",
    ]
    # and with Istio's defaults neither is ours
    assert convert(text, ingress_mode=STRICT).gateways == ()


def test_mode_off_generates_nothing_and_says_why() -> None:
    text = ingress("a", spec=SIMPLE_RULES) + "---\n" + ingress("b", spec=SIMPLE_RULES)
    result = convert(text, ingress_mode=OFF)
    assert result.gateways == () and result.virtual_services == ()
    assert result.ingress_semantics == frozenset()
    assert codes(result) == ["MG0201", "MG0201"]
    assert "OFF" in result.diagnostics[0].message


# --- the seed's cafe-ingress ------------------------------------------------------------------

CAFE_V1BETA1 = """apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: cafe-ingress
spec:
  tls:
  - hosts:
    - cafe.example.com
    secretName: cafe-secret
  rules:
  - host: cafe.example.com
    http:
      paths:
      - path: /tea
        backend:
          serviceName: tea-svc
          servicePort: 80
      - path: /coffee
        backend:
          serviceName: coffee-svc
          servicePort: 80
"""

CAFE_GATEWAY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {
        "name": "cafe-ingress-istio-autogenerated-k8s-ingress-default",
        "namespace": "istio-system",
        "creationTimestamp": GENERATED_CREATION_TIMESTAMP,
    },
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {
                "port": {
                    "number": 443,
                    "protocol": "HTTPS",
                    "name": "https-443-ingress-cafe-ingress-default-0",
                },
                "hosts": ["cafe.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "cafe-secret"},
            },
            {
                "port": {"number": 80, "protocol": "HTTP", "name": "http-80-ingress-cafe-ingress-default"},
                "hosts": ["*"],
            },
        ],
    },
}


def _cafe_route(service: str, uri: dict[str, str]) -> dict[str, Any]:
    return {
        "match": [{"uri": uri}],
        "route": [
            {
                "destination": {"host": f"{service}.default.svc.cluster.local", "port": {"number": 80}},
                "weight": 100,
            }
        ],
    }


CAFE_VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {
        "name": "cafe-example-com-cafe-ingress-istio-autogenerated-k8s-ingress",
        "namespace": "default",
        "annotations": {ROUTE_SEMANTICS_ANNOTATION: "ingress"},
        "creationTimestamp": GENERATED_CREATION_TIMESTAMP,
    },
    "spec": {
        "hosts": ["cafe.example.com"],
        "gateways": ["istio-system/cafe-ingress-istio-autogenerated-k8s-ingress-default"],
        # No pathType (v1beta1) = ImplementationSpecific = exact match in Istio; longer path first.
        "http": [_cafe_route("coffee-svc", {"exact": "/coffee"}), _cafe_route("tea-svc", {"exact": "/tea"})],
    },
}


def test_seed_cafe_ingress_verbatim() -> None:
    result = convert(CAFE_V1BETA1)
    assert result.diagnostics == ()
    (gateway,) = result.gateways
    (vs,) = result.virtual_services
    assert dump(gateway) == CAFE_GATEWAY
    assert dump(vs) == CAFE_VIRTUAL_SERVICE
    assert result.ingress_semantics == frozenset({("default", vs.name)})


def test_seed_cafe_origins_point_into_the_ingress() -> None:
    result = convert(CAFE_V1BETA1)
    (gateway,) = result.gateways
    (vs,) = result.virtual_services
    assert (gateway.origin.file, gateway.origin.line) == (FILE, 1)
    assert gateway.origin_of("spec.servers[0].tls.credentialName").line == line_of(CAFE_V1BETA1, "secretName")
    assert vs.origin.line == line_of(CAFE_V1BETA1, "- host: cafe")
    # route 0 is /coffee (second path in the file), route 1 is /tea
    assert vs.origin_of("spec.http[0]").line == line_of(CAFE_V1BETA1, "- path: /coffee")
    assert vs.origin_of("spec.http[1].route[0].destination").line == line_of(CAFE_V1BETA1, "backend:")


BETA_FORMS = """apiVersion: {api_version}
kind: Ingress
metadata:
  name: shop
  namespace: shop
spec:
  backend:
    serviceName: fallback
    servicePort: 8080
  tls:
  - secretName: shop-cert
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api/*
        backend:
          serviceName: api
          servicePort: http
      - path: /static
        pathType: Prefix
        backend:
          serviceName: static
          servicePort: "81"
"""

V1_FORM = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: shop
spec:
  defaultBackend:
    service:
      name: fallback
      port:
        number: 8080
  tls:
  - secretName: shop-cert
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api/*
        pathType: ImplementationSpecific
        backend:
          service:
            name: api
            port:
              name: http
      - path: /static
        pathType: Prefix
        backend:
          service:
            name: static
            port:
              number: 81
"""

API_SERVICE = """---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  ports:
  - name: http
    port: 9000
"""


def test_v1beta1_and_v1_forms_give_identical_output() -> None:
    outputs = []
    for text in (
        BETA_FORMS.format(api_version="extensions/v1beta1"),
        BETA_FORMS.format(api_version="networking.k8s.io/v1beta1"),
        V1_FORM,
    ):
        result = convert(text + API_SERVICE)
        outputs.append(
            (
                [dump(g) for g in result.gateways],
                [dump(v) for v in result.virtual_services],
                [(d.code, d.message) for d in result.diagnostics],
            )
        )
    assert outputs[0] == outputs[1] == outputs[2]
    gateways, _, _ = outputs[2]
    assert [s["hosts"] for s in gateways[0]["spec"]["servers"]] == [["*"], ["*"]]  # tls without hosts
    result = convert(V1_FORM + API_SERVICE)
    assert routes(vs_for(result, "shop.example.com")) == [
        ({"prefix": "/static"}, "static.shop.svc.cluster.local", 81),
        ({"prefix": "/api"}, "api.shop.svc.cluster.local", 9000),
        (None, "fallback.shop.svc.cluster.local", 8080),
    ]


# --- backends (7.5) ---------------------------------------------------------------------------

BACKENDS = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /named
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: http
      - path: /no-service
        pathType: Prefix
        backend:
          service:
            name: ghost
            port:
              name: http
      - path: /wrong-port-name
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: grpc
      - path: /numbered-no-service
        pathType: Prefix
        backend:
          service:
            name: ghost
            port:
              number: 7000
      - path: /bucket
        pathType: Prefix
        backend:
          resource:
            apiGroup: k8s.example.com
            kind: StorageBucket
            name: static-assets
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
  - name: metrics
    port: 9090
  - name: http
    port: 8080
"""


def test_named_port_is_resolved_through_the_service() -> None:
    vs = vs_for(convert(BACKENDS), "shop.example.com")
    assert ({"prefix": "/named"}, "web.shop.svc.cluster.local", 8080) in routes(vs)


def test_numeric_port_needs_no_service_as_in_istio() -> None:
    vs = vs_for(convert(BACKENDS), "shop.example.com")
    assert ({"prefix": "/numbered-no-service"}, "ghost.shop.svc.cluster.local", 7000) in routes(vs)


def test_unresolvable_backends_are_skipped_with_file_and_line() -> None:
    result = convert(BACKENDS)
    vs = vs_for(result, "shop.example.com")
    kept = [uri["prefix"] for uri, _, _ in routes(vs) if uri]
    assert kept == ["/numbered-no-service", "/named"]
    missing = [d for d in result.diagnostics if d.code == "MG0202"]
    assert [(d.origin.file, d.origin.line) for d in missing if d.origin] == [
        (FILE, line_of(BACKENDS, "- path: /no-service")),
        (FILE, line_of(BACKENDS, "- path: /wrong-port-name")),
    ]
    assert "Service shop/ghost not found" in missing[0].message
    assert "no port named 'grpc'" in missing[1].message
    assert all(d.level is Level.WARNING for d in missing)
    resource = only(result, "MG0203")
    assert resource.origin is not None
    assert resource.origin.line == line_of(BACKENDS, "backend:", occurrence=5)
    assert "/bucket" in resource.message


# --- hosts -----------------------------------------------------------------------------------


def test_ip_host_rule_is_skipped_with_mg0207() -> None:
    text = ingress(
        spec=SIMPLE_RULES + SIMPLE_RULES.replace("  rules:\n", "").replace("shop.example.com", "10.0.0.7")
    )
    result = convert(text)
    assert [vs.spec.hosts for vs in result.virtual_services] == [["shop.example.com"]]
    problem = only(result, "MG0207")
    assert problem.level is Level.ERROR
    assert problem.origin is not None and problem.origin.line == line_of(text, "host: 10.0.0.7")
    assert "10.0.0.7" in problem.message


def test_rule_without_http_is_skipped() -> None:
    text = ingress(spec="  rules:\n  - host: bare.example.com\n" + SIMPLE_RULES.replace("  rules:\n", ""))
    result = convert(text)
    assert [vs.spec.hosts for vs in result.virtual_services] == [["shop.example.com"]]
    assert result.diagnostics == ()


def test_empty_and_wildcard_hosts() -> None:
    text = ingress(
        spec=SIMPLE_RULES.replace("- host: shop.example.com\n    http:", "- http:")
        + SIMPLE_RULES.replace("  rules:\n", "").replace("shop.example.com", '"*.example.com"')
    )
    result = convert(text)
    assert [(vs.spec.hosts, vs.name) for vs in result.virtual_services] == [
        (["*"], "wildcard-web-istio-autogenerated-k8s-ingress"),
        (["*.example.com"], "wildcard-example-com-web-istio-autogenerated-k8s-ingress"),
    ]


# --- one VirtualService per host across Ingresses (7.4) ------------------------------------------

TWO_INGRESSES = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: first
  namespace: team-a
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /a
        pathType: Prefix
        backend:
          service: {name: a, port: {number: 80}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: second
  namespace: team-b
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /bb
        pathType: Prefix
        backend:
          service: {name: b, port: {number: 80}}
      - path: /b
        pathType: Prefix
        backend:
          service: {name: b2, port: {number: 80}}
  - host: other.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: b, port: {number: 80}}
"""


def test_rules_for_one_host_merge_into_the_earliest_ingresss_virtual_service() -> None:
    result = convert(TWO_INGRESSES)
    assert [g.name for g in result.gateways] == [
        "first-istio-autogenerated-k8s-ingress-team-a",
        "second-istio-autogenerated-k8s-ingress-team-b",
    ]
    shop = vs_for(result, "shop.example.com")
    assert (shop.namespace, shop.name) == ("team-a", "shop-example-com-first-istio-autogenerated-k8s-ingress")
    assert shop.spec.gateways == ["istio-system/first-istio-autogenerated-k8s-ingress-team-a"]
    # longest first; "/a" and "/b" tie on length and keep creation order (first's before second's)
    assert routes(shop) == [
        ({"prefix": "/bb"}, "b.team-b.svc.cluster.local", 80),
        ({"prefix": "/a"}, "a.team-a.svc.cluster.local", 80),
        ({"prefix": "/b"}, "b2.team-b.svc.cluster.local", 80),
    ]
    other = vs_for(result, "other.example.com")
    assert (other.namespace, other.spec.gateways) == (
        "team-b",
        ["istio-system/second-istio-autogenerated-k8s-ingress-team-b"],
    )
    assert routes(other) == [(None, "b.team-b.svc.cluster.local", 80)]
    # the generated objects keep the source Ingress's load order and Istio's zero timestamp
    assert shop.seq < other.seq
    assert shop.metadata.creation_timestamp == GENERATED_CREATION_TIMESTAMP
    assert result.ingress_semantics == {(vs.namespace, vs.name) for vs in result.virtual_services}


def test_routes_from_another_file_fall_back_to_the_virtual_service_origin(tmp_path: Path) -> None:
    first, second = TWO_INGRESSES.split("---\n")
    (tmp_path / "a.yaml").write_text(first, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(second, encoding="utf-8")
    loaded = load_paths([str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    result = convert_ingresses(loaded.bundle, TranslateOptions())
    shop = vs_for(result, "shop.example.com")
    assert shop.origin.file.endswith("a.yaml")
    assert shop.origin_of("spec.http[1]").line == line_of(first, "- path: /a")  # same file: exact line
    assert shop.origin_of("spec.http[0]") == shop.origin  # /bb lives in b.yaml: no line from a.yaml


# --- route order (7.7) ------------------------------------------------------------------------

ORDER_PATHS = [
    ("Prefix", "/", "root"),
    ("Exact", "/foo", "exact-foo"),
    ("Prefix", "/foo", "prefix-foo"),
    ("ImplementationSpecific", "/*", "any"),
    ("Prefix", "/foo/bar/", "foo-bar"),
    ("ImplementationSpecific", "/foo/*", "is-foo"),
    ("Exact", "/", "exact-root"),
    ("ImplementationSpecific", "/abc", "is-abc"),
    ("Prefix", "/abcd", "prefix-abcd"),
]


def _paths_yaml(paths: list[tuple[str, str, str]]) -> str:
    out = "  rules:\n  - host: shop.example.com\n    http:\n      paths:\n"
    for path_type, path, service in paths:
        out += (
            f'      - path: "{path}"\n        pathType: {path_type}\n        backend:\n'
            f"          service: {{name: {service}, port: {{number: 80}}}}\n"
        )
    return out


def test_route_order_follows_istio() -> None:
    result = convert(ingress(spec=_paths_yaml(ORDER_PATHS)))
    assert result.diagnostics == ()
    order = [(uri, host.split(".")[0]) for uri, host, _ in routes(vs_for(result, "shop.example.com"))]
    assert order == [
        ({"prefix": "/foo/bar"}, "foo-bar"),  # len 9
        ({"prefix": "/abcd"}, "prefix-abcd"),  # len 5
        ({"exact": "/foo"}, "exact-foo"),  # len 4, exact before prefix
        ({"exact": "/abc"}, "is-abc"),  # len 4 (IS without wildcard = exact), file order among exacts
        ({"prefix": "/foo"}, "prefix-foo"),  # len 4
        ({"prefix": "/foo"}, "is-foo"),  # "/foo/*" → prefix "/foo", len 4
        ({"exact": "/"}, "exact-root"),  # len 1, exact first
        (None, "root"),  # Prefix "/" = len 1, no condition
        (None, "any"),  # "/*" = no condition, len 0: last
    ]


# --- paths the API server would refuse; regex-looking paths -------------------------------------


def test_invalid_paths_are_skipped_with_mg0208() -> None:
    paths = [
        ("Prefix", "api", "relative"),
        ("Exact", "/a//b", "double-slash"),
        ("prefix", "/lower", "bad-type"),
        ("ImplementationSpecific", "rel/*", "relative-is"),
        ("Prefix", "/ok", "ok"),
    ]
    text = ingress(spec=_paths_yaml(paths))
    result = convert(text)
    assert routes(vs_for(result, "shop.example.com")) == [
        ({"prefix": "/ok"}, "ok.shop.svc.cluster.local", 80)
    ]
    invalid = [d for d in result.diagnostics if d.code == "MG0208"]
    assert [d.origin.line for d in invalid if d.origin] == [
        line_of(text, 'path: "api"'),
        line_of(text, 'path: "/a//b"'),
        line_of(text, 'path: "/lower"'),
        line_of(text, 'path: "rel/*"'),
    ]
    assert "absolute" in invalid[0].message and "'//'" in invalid[1].message
    assert "'prefix'" in invalid[2].message
    assert invalid[0].fix == "Write /api."


def test_regex_looking_paths_warn_and_match_literally() -> None:
    paths = [
        ("ImplementationSpecific", "/api/v[0-9]+", "regex"),
        ("ImplementationSpecific", "/static/.*", "fine"),
        ("Prefix", "/plain", "plain"),
    ]
    text = ingress(spec=_paths_yaml(paths))
    result = convert(text)
    assert routes(vs_for(result, "shop.example.com"))[0] == (
        {"exact": "/api/v[0-9]+"},
        "regex.shop.svc.cluster.local",
        80,
    )
    warning = only(result, "MG0206")
    assert warning.level is Level.WARNING
    assert warning.origin is not None and warning.origin.line == line_of(text, "/api/v[0-9]+")
    assert "ImplementationSpecific" in warning.message


# --- Gateway and TLS (7.3) ----------------------------------------------------------------------

TLS_SPEC = """  tls:
  - hosts: [a.example.com]
  - hosts: [b.example.com, c.example.com]
    secretName: bc-cert
  - secretName: any-cert
"""


def test_tls_entries_become_https_servers_in_istio_order() -> None:
    text = ingress(spec=TLS_SPEC + SIMPLE_RULES)
    result = convert(text)
    (gateway,) = result.gateways
    assert gateway.namespace == "istio-system"
    assert gateway.spec.selector == {"istio": "ingressgateway"}
    servers = [
        (s.port.name, s.port.number, s.port.protocol, s.hosts, s.tls.credential_name if s.tls else None)
        for s in gateway.spec.servers
    ]
    assert servers == [
        ("https-443-ingress-web-shop-1", 443, "HTTPS", ["b.example.com", "c.example.com"], "bc-cert"),
        ("https-443-ingress-web-shop-2", 443, "HTTPS", ["*"], "any-cert"),
        ("http-80-ingress-web-shop", 80, "HTTP", ["*"], None),
    ]
    assert all(s.tls.mode == "SIMPLE" for s in gateway.spec.servers if s.tls)
    missing = only(result, "MG0205")
    assert missing.origin is not None and missing.origin.line == line_of(text, "- hosts: [a.example.com]")
    assert "a.example.com" in missing.message and "spec.tls[0]" in missing.message


def test_gateway_namespace_and_selector_follow_options() -> None:
    result = convert(
        ingress(spec=SIMPLE_RULES),
        ingress_namespace="edge",
        workload_labels=(("istio", "public-gw"),),
    )
    (gateway,) = result.gateways
    assert (gateway.namespace, gateway.spec.selector) == ("edge", {"istio": "public-gw"})
    assert vs_for(result, "shop.example.com").spec.gateways == [
        "edge/web-istio-autogenerated-k8s-ingress-shop"
    ]


def test_tls_for_a_host_routed_by_an_earlier_ingress_warns() -> None:
    text = (
        ingress("first", spec=SIMPLE_RULES)
        + "---\n"
        + ingress(
            "second", spec="  tls:\n  - hosts: [shop.example.com]\n    secretName: cert\n" + SIMPLE_RULES
        )
    )
    result = convert(text)
    warning = only(result, "MG0209")
    assert warning.resource is not None and warning.resource.name == "second"
    assert "shop/first" in warning.message
    assert warning.origin is not None and warning.origin.line == line_of(text, "- hosts: [shop.example.com]")
    # when the Ingress that terminates TLS is also the earliest one for the host, all is well
    first, second = text.split("---\n")
    assert "MG0209" not in codes(convert(second + "---\n" + first))


# --- names ------------------------------------------------------------------------------------


def test_generated_names() -> None:
    assert gateway_name("cafe-ingress", "default") == "cafe-ingress-istio-autogenerated-k8s-ingress-default"
    assert (
        virtual_service_name("cafe.example.com", "cafe")
        == "cafe-example-com-cafe-istio-autogenerated-k8s-ingress"
    )
    assert (
        virtual_service_name("*.example.com", "x") == "wildcard-example-com-x-istio-autogenerated-k8s-ingress"
    )
    assert (
        virtual_service_name("", "x")
        == virtual_service_name("*", "x")
        == "wildcard-x-istio-autogenerated-k8s-ingress"
    )


def test_colliding_virtual_service_names_are_made_unique() -> None:
    text = ingress(
        spec=SIMPLE_RULES.replace("shop.example.com", "a-b.com")
        + SIMPLE_RULES.replace("  rules:\n", "").replace("shop.example.com", "a.b-com")
    )
    names = [vs.name for vs in convert(text).virtual_services]
    assert names == [
        "a-b-com-web-istio-autogenerated-k8s-ingress",
        "a-b-com-web-istio-autogenerated-k8s-ingress-2",
    ]


# --- defaultBackend (meshgate extension) ---------------------------------------------------------

DEFAULT_BACKEND = """  defaultBackend:
    service:
      name: fallback
      port:
        number: 8080
"""

FALLBACK = (None, "fallback.shop.svc.cluster.local", 8080)


def test_default_backend_ends_every_host_and_the_wildcard_host() -> None:
    spec = (
        DEFAULT_BACKEND
        + SIMPLE_RULES.replace("path: /\n", "path: /app\n")
        + SIMPLE_RULES.replace("  rules:\n", "").replace("shop.example.com", "api.example.com")
    )
    text = ingress(spec=spec)
    result = convert(text)
    shop = vs_for(result, "shop.example.com")
    assert routes(shop) == [({"prefix": "/app"}, "web.shop.svc.cluster.local", 80), FALLBACK]
    assert shop.spec.http[-1].name == "default-backend"
    # api.example.com has its own catch-all path: a fallback after it could never be reached
    assert routes(vs_for(result, "api.example.com")) == [(None, "web.shop.svc.cluster.local", 80)]
    wildcard = vs_for(result, "*")
    assert routes(wildcard) == [FALLBACK]
    assert wildcard.name == "wildcard-web-istio-autogenerated-k8s-ingress"
    assert wildcard.namespace == "shop"
    assert wildcard.spec.gateways == ["istio-system/web-istio-autogenerated-k8s-ingress-shop"]
    assert wildcard.origin.line == line_of(text, "defaultBackend:")
    assert (wildcard.namespace, wildcard.name) in result.ingress_semantics
    served = only(result, "MG0204")
    assert served.level is Level.INFO and "fallback:8080" in served.message


def test_default_backend_off_is_exactly_istio() -> None:
    spec = DEFAULT_BACKEND + SIMPLE_RULES.replace("path: /\n", "path: /app\n")
    result = convert(ingress(spec=spec), ingress_default_backend=False)
    assert [vs.spec.hosts for vs in result.virtual_services] == [["shop.example.com"]]
    assert routes(result.virtual_services[0]) == [({"prefix": "/app"}, "web.shop.svc.cluster.local", 80)]
    assert result.diagnostics == ()


def test_default_backend_joins_an_existing_wildcard_virtual_service() -> None:
    rules = SIMPLE_RULES.replace("- host: shop.example.com\n    http:", "- http:").replace(
        "path: /\n", "path: /app\n"
    )
    result = convert(ingress("rules-only", spec=rules) + "---\n" + ingress("fallback", spec=DEFAULT_BACKEND))
    (wildcard,) = result.virtual_services
    assert wildcard.name == "wildcard-rules-only-istio-autogenerated-k8s-ingress"  # Istio's object, unchanged
    assert routes(wildcard) == [({"prefix": "/app"}, "web.shop.svc.cluster.local", 80), FALLBACK]


def test_second_default_backend_for_the_same_hosts_is_reported_unused() -> None:
    text = (
        ingress("one", spec=DEFAULT_BACKEND)
        + "---\n"
        + ingress("two", spec=DEFAULT_BACKEND.replace("8080", "9090"))
    )
    result = convert(text)
    (wildcard,) = result.virtual_services
    assert routes(wildcard) == [FALLBACK]
    assert codes(result) == ["MG0204", "MG0210"]
    unused = result.diagnostics[1]
    assert unused.resource is not None and unused.resource.name == "two"
    assert "defaultBackend of Ingress shop/one" in unused.message and "fallback:9090" in unused.message


def test_default_backend_shadowed_by_catch_all_paths_is_reported_unused() -> None:
    wildcard_rules = SIMPLE_RULES.replace("- host: shop.example.com\n    http:", "- http:")
    text = (
        ingress("rules", spec=wildcard_rules) + "---\n" + ingress("late", spec=DEFAULT_BACKEND + SIMPLE_RULES)
    )
    result = convert(text)
    assert [routes(vs) for vs in result.virtual_services] == [
        [(None, "web.shop.svc.cluster.local", 80)],
        [(None, "web.shop.svc.cluster.local", 80)],
    ]
    unused = only(result, "MG0210")
    assert "catch-all path of Ingress shop/rules (spec.rules[0].http.paths[0])" in unused.message
    assert "catch-all path of Ingress shop/late" in unused.message


def test_v1beta1_backend_is_the_default_backend() -> None:
    text = CAFE_V1BETA1.replace("spec:\n", "spec:\n  backend:\n    serviceName: menu\n    servicePort: 80\n")
    result = convert(text)
    assert routes(vs_for(result, "cafe.example.com"))[-1] == (None, "menu.default.svc.cluster.local", 80)
    assert routes(vs_for(result, "*")) == [(None, "menu.default.svc.cluster.local", 80)]


def test_unresolvable_default_backend_is_reported_at_its_line() -> None:
    spec = (
        "  defaultBackend:\n    service:\n      name: ghost\n      port:\n        name: http\n" + SIMPLE_RULES
    )
    text = ingress(spec=spec)
    result = convert(text)
    problem = only(result, "MG0202")
    assert problem.origin is not None and problem.origin.line == line_of(text, "defaultBackend:")
    assert [vs.spec.hosts for vs in result.virtual_services] == [["shop.example.com"]]
    assert "MG0204" not in codes(result)


# --- behaviour through the whole pipeline (tests/sim.py) -------------------------------------------


TESTDATA = Path(__file__).parent / "testdata"


def simulate(text: str, calls: list[dict[str, Any]], **options: Any) -> list[tuple[int, str | None]]:
    from sim import simulate as run

    return [(result["status"], result["cluster"]) for result in run(text, calls, TranslateOptions(**options))]


def backends(namespace: str, *services: tuple[str, int]) -> str:
    out = ""
    for name, port in services:
        meta = f"metadata: {{name: {name}, namespace: {namespace}}}"
        out += (
            f"---\napiVersion: v1\nkind: Service\n{meta}\nspec: {{ports: [{{name: http, port: {port}}}]}}\n"
            f"---\napiVersion: v1\nkind: Endpoints\n{meta}\n"
            f"subsets: [{{addresses: [{{ip: 127.0.0.1}}], ports: [{{name: http, port: {port}}}]}}]\n"
        )
    return out


def test_seed_cafe_ingress_serves_like_istio() -> None:
    text = (TESTDATA / "ingress-cafe-v1beta1.in.yaml").read_text(encoding="utf-8")
    assert CAFE_V1BETA1 in text  # the golden input carries the seed Ingress verbatim
    tea = "outbound|80||tea-svc.default.svc.cluster.local"
    coffee = "outbound|80||coffee-svc.default.svc.cluster.local"
    assert simulate(
        text,
        [
            {"host": "cafe.example.com", "path": "/tea"},
            {"host": "cafe.example.com", "path": "/coffee?size=large"},
            {"host": "cafe.example.com", "path": "/tea/green"},  # no pathType = exact in Istio
            {"host": "cafe.example.com:80", "path": "/tea"},
            {"host": "other.example.com", "path": "/tea"},
            {"host": "cafe.example.com", "path": "/coffee", "port": 443, "sni": "cafe.example.com"},
        ],
    ) == [(200, tea), (200, coffee), (404, None), (200, tea), (404, None), (200, coffee)]


def test_https_for_a_host_owned_by_another_ingress_is_404_as_warned() -> None:
    text = (TESTDATA / "ingress-tls-hosts.in.yaml").read_text(encoding="utf-8")
    assert "MG0209" in codes(convert(text))
    checkout = "outbound|80||checkout.shop.svc.cluster.local"
    https = {"port": 443, "sni": "shop.example.com"}
    assert simulate(
        text,
        [
            {"host": "shop.example.com", "path": "/checkout"},
            {"host": "shop.example.com", "path": "/checkout", **https},
            {"host": "pay.shop.example.com", "path": "/", "port": 443, "sni": "pay.shop.example.com"},
        ],
    ) == [(200, checkout), (404, None), (200, checkout)]


def test_default_backend_answers_unmatched_paths_and_unknown_hosts() -> None:
    spec = DEFAULT_BACKEND + SIMPLE_RULES.replace("path: /\n", "path: /app\n")
    text = ingress(spec=spec) + backends("shop", ("web", 80), ("fallback", 8080))
    calls = [
        {"host": "shop.example.com", "path": "/app/x"},
        {"host": "shop.example.com", "path": "/other"},
        {"host": "unknown.example.org", "path": "/"},
    ]
    web, fallback = (
        "outbound|80||web.shop.svc.cluster.local",
        "outbound|8080||fallback.shop.svc.cluster.local",
    )
    assert simulate(text, calls) == [(200, web), (200, fallback), (200, fallback)]
    # Istio's behaviour with the extension off: unmatched requests get 404
    assert simulate(text, calls, ingress_default_backend=False) == [(200, web), (404, None), (404, None)]
