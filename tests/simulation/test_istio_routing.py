"""Simulation tests: Istio Gateway + VirtualService YAML and requests → route, cluster or local reply."""

from __future__ import annotations

import pytest

from meshgate.translate import TranslateOptions

from sim import expect, simulate

SERVICES = """
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: shop}
spec: {ports: [{name: http, port: 80}, {name: admin, port: 9000}]}
"""

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
"""

WEB = "outbound|80||web.shop.svc.cluster.local"
API = "outbound|8080||api.shop.svc.cluster.local"


def vs(name: str, hosts: str, http: str, namespace: str = "shop", extra: str = "") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}{extra}}}
spec:
  hosts: {hosts}
  gateways: [istio-system/public]
  http:
{http}"""


def run(config: str, *calls: dict, options: TranslateOptions | None = None) -> list[dict]:
    return simulate(GATEWAY + config + SERVICES, list(calls), options)


def test_first_match_wins_in_rule_order() -> None:
    http = """    - name: specific
      match: [{uri: {prefix: /api/v2}}]
      route: [{destination: {host: api, port: {number: 8080}}}]
    - name: broad
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: web}}]
"""
    a, b, c = run(
        vs("r", "[shop.example.com]", http),
        {"host": "shop.example.com", "path": "/api/v2/x"},
        {"host": "shop.example.com", "path": "/api/v1"},
        {"host": "shop.example.com", "path": "/other"},
    )
    expect(a, route="specific", cluster=API)
    expect(b, route="broad", cluster=WEB)
    expect(c, status=404, flags="NR", details="route_not_found")


def test_prefix_is_a_raw_string_prefix_not_a_segment() -> None:
    http = """    - match: [{uri: {prefix: /api}}]
      route: [{destination: {host: web}}]
"""
    results = run(
        vs("r", "[s.example.com]", http),
        *({"host": "s.example.com", "path": p} for p in ("/api", "/api/x", "/apix", "/ap")),
    )
    assert [r["status"] for r in results] == [200, 200, 200, 404]


@pytest.mark.parametrize(
    ("match", "call", "matches"),
    [
        ("{uri: {exact: /login}}", {"path": "/login"}, True),
        ("{uri: {exact: /login}}", {"path": "/login/"}, False),
        ("{uri: {exact: /login}}", {"path": "/login?next=/"}, True),
        ("{uri: {exact: /Login}, ignoreUriCase: true}", {"path": "/LOGIN"}, True),
        ("{uri: {prefix: /Api}, ignoreUriCase: true}", {"path": "/api/x"}, True),
        ("{uri: {regex: '/users/[0-9]+'}}", {"path": "/users/42"}, True),
        ("{uri: {regex: '/users/[0-9]+'}}", {"path": "/users/42/edit"}, False),  # full match only
        ("{uri: {regex: '/users/[0-9]+'}, ignoreUriCase: true}", {"path": "/USERS/1"}, False),
        ("{method: {exact: POST}}", {"method": "POST"}, True),
        ("{method: {exact: POST}}", {"method": "post"}, False),
        ("{scheme: {exact: http}}", {}, True),
        ("{scheme: {exact: https}}", {}, False),
        ("{authority: {exact: 'm.example.com:8080'}}", {"host": "m.example.com:8080"}, True),
        ("{authority: {exact: m.example.com}}", {"host": "m.example.com:8080"}, False),
        ("{authority: {prefix: m.example}}", {"host": "m.example.com"}, True),
        ("{headers: {x-user: {exact: alice}}}", {"headers": {"X-User": "alice"}}, True),
        ("{headers: {x-user: {exact: alice}}}", {"headers": {"x-user": "Alice"}}, False),
        ("{headers: {x-user: {exact: alice}}}", {}, False),
        ("{headers: {x-user: {prefix: al}}}", {"headers": {"x-user": "alex"}}, True),
        ("{headers: {x-user: {regex: 'a.*e'}}}", {"headers": {"x-user": "alice"}}, True),
        ("{headers: {x-user: {}}}", {"headers": {"x-user": ""}}, True),
        ("{headers: {x-user: {exact: ''}}}", {"headers": {"x-user": ""}}, True),
        ("{withoutHeaders: {x-debug: {}}}", {}, True),
        ("{withoutHeaders: {x-debug: {}}}", {"headers": {"x-debug": "1"}}, False),
        ("{withoutHeaders: {x-env: {exact: prod}}}", {"headers": {"x-env": "dev"}}, True),
        ("{withoutHeaders: {x-env: {exact: prod}}}", {"headers": {"x-env": "prod"}}, False),
        ("{queryParams: {debug: {exact: '1'}}}", {"path": "/?debug=1"}, True),
        ("{queryParams: {debug: {exact: '1'}}}", {"path": "/?debug=2"}, False),
        ("{queryParams: {debug: {exact: ''}}}", {"path": "/?debug"}, True),
        ("{queryParams: {Debug: {exact: '1'}}}", {"path": "/?debug=1"}, False),
        ("{queryParams: {trace: {}}}", {"path": "/?a=1&trace=x"}, True),
        ("{port: 80}", {}, True),
        ("{port: 8080}", {}, False),
        ("{sourceLabels: {app: frontend}}", {}, False),
        ("{sourceLabels: {istio: ingressgateway}}", {}, True),
        ("{gateways: [istio-system/public]}", {}, True),
        ("{gateways: [istio-system/other]}", {}, False),
        ("{uri: {prefix: /a}, method: {exact: GET}}", {"path": "/a", "method": "PUT"}, False),
    ],
)
def test_every_match_field(match: str, call: dict, matches: bool) -> None:
    http = f"""    - name: target
      match: [{match}]
      route: [{{destination: {{host: api, port: {{number: 8080}}}}}}]
"""
    request = {"host": "m.example.com", **call}
    (result,) = run(vs("m", "['m.example.com']", http), request)
    if matches:
        expect(result, route="target", cluster=API)
    else:
        expect(result, status=404, flags="NR")


def test_or_across_match_blocks_and_across_rules() -> None:
    http = """    - name: either
      match: [{uri: {exact: /a}}, {headers: {x-b: {exact: "1"}}}]
      route: [{destination: {host: web}}]
"""
    a, b, c = run(
        vs("r", "[s.example.com]", http),
        {"host": "s.example.com", "path": "/a"},
        {"host": "s.example.com", "path": "/zzz", "headers": {"x-b": "1"}},
        {"host": "s.example.com", "path": "/zzz"},
    )
    expect(a, route="either")
    expect(b, route="either")
    expect(c, status=404)


def test_virtual_host_selection_order() -> None:
    config = (
        vs("exact", "[a.example.com]", "    - {name: exact, route: [{destination: {host: web}}]}\n")
        + vs("wild", "['*.example.com']", "    - {name: wild, route: [{destination: {host: web}}]}\n")
        + vs("deeper", "['*.b.example.com']", "    - {name: deeper, route: [{destination: {host: web}}]}\n")
        + vs("any", "['*']", "    - {name: star, route: [{destination: {host: web}}]}\n")
    )
    results = run(
        config,
        *(
            {"host": h}
            for h in (
                "a.example.com",
                "A.EXAMPLE.COM:8080",
                "x.example.com",
                "x.b.example.com",
                "b.example.com",
                "example.com",
                "other.org",
            )
        ),
    )
    assert [r["route"] for r in results] == ["exact", "exact", "wild", "deeper", "wild", "star", "star"]


def test_no_vhost_for_host_is_404_nr() -> None:
    (result,) = run(
        vs("only", "[a.example.com]", "    - route: [{destination: {host: web}}]\n"),
        {"host": "b.example.com"},
    )
    expect(result, status=404, flags="NR", details="route_not_found")


def test_gateway_without_virtual_services_answers_404_everywhere() -> None:
    (result,) = run("", {"host": "anything.example.com"})
    expect(result, status=404, flags="NR")


def test_merged_virtual_services_keep_creation_order_and_move_catch_alls_last() -> None:
    first = vs(
        "first",
        "[shop.example.com]",
        "    - {name: first-catch-all, route: [{destination: {host: web}}]}\n",
        extra=", creationTimestamp: '2024-01-01T00:00:00Z'",
    )
    second = vs(
        "second",
        "[shop.example.com, '*.example.com']",
        "    - {name: second-api, match: [{uri: {prefix: /api}}],"
        " route: [{destination: {host: api, port: {number: 8080}}}]}\n"
        "    - {name: second-catch-all, route: [{destination: {host: api, port: {number: 8080}}}]}\n",
        extra=", creationTimestamp: '2024-02-01T00:00:00Z'",
    )
    a, b, c = run(
        second + first,  # file order must not matter: creation time does
        {"host": "shop.example.com", "path": "/api/x"},
        {"host": "shop.example.com", "path": "/other"},
        {"host": "else.example.com", "path": "/other"},
    )
    expect(a, route="second-api")  # not hidden by first's catch-all: catch-alls move to the end
    expect(b, route="first-catch-all")  # the first VS's catch-all wins among catch-alls
    expect(c, route="second-catch-all")


def test_a_wildcard_virtual_service_does_not_merge_into_an_exact_host() -> None:
    # Istio keys vhosts by domain: shop.example.com and *.example.com are two vhosts, and the exact
    # one wins for shop.example.com even though the wildcard VS has a more specific route.
    exact = vs(
        "exact", "[shop.example.com]", "    - {name: exact-all, route: [{destination: {host: web}}]}\n"
    )
    wild = vs(
        "wild",
        "['*.example.com']",
        "    - {name: wild-api, match: [{uri: {prefix: /api}}],"
        " route: [{destination: {host: api, port: {number: 8080}}}]}\n",
    )
    a, b = run(
        exact + wild, {"host": "shop.example.com", "path": "/api"}, {"host": "x.example.com", "path": "/api"}
    )
    expect(a, route="exact-all")
    expect(b, route="wild-api")


def test_rules_after_a_catch_all_are_not_translated() -> None:
    http = """    - name: all
      route: [{destination: {host: web}}]
    - name: never
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: api, port: {number: 8080}}}]
"""
    (result,) = run(vs("r", "[s.example.com]", http), {"host": "s.example.com", "path": "/api"})
    expect(result, route="all")


def test_short_names_resolve_in_the_virtual_service_namespace() -> None:
    team = vs("team", "[t.example.com]", "    - route: [{destination: {host: web}}]\n", namespace="team-a")
    shop = vs("shop", "[s.example.com]", "    - route: [{destination: {host: web}}]\n")
    qualified = vs(
        "q", "[q.example.com]", "    - route: [{destination: {host: web.team-a.svc.cluster.local}}]\n"
    )
    a, b, c = run(
        team + shop + qualified,
        {"host": "t.example.com"},
        {"host": "s.example.com"},
        {"host": "q.example.com"},
    )
    expect(a, cluster="outbound|80||web.team-a.svc.cluster.local")
    expect(b, cluster=WEB)
    expect(c, cluster="outbound|80||web.team-a.svc.cluster.local")


def test_destination_port_rules() -> None:
    http = """    - name: no-port-multi
      match: [{uri: {prefix: /multi}}]
      route: [{destination: {host: multi}}]
    - name: unknown-host
      match: [{uri: {prefix: /ghost}}]
      route: [{destination: {host: ghost}}]
    - name: wrong-port
      match: [{uri: {prefix: /wrong}}]
      route: [{destination: {host: web, port: {number: 81}}}]
"""
    a, b, c = run(
        vs("r", "[s.example.com]", http),
        {"host": "s.example.com", "path": "/multi"},
        {"host": "s.example.com", "path": "/ghost"},
        {"host": "s.example.com", "path": "/wrong"},
    )
    # Several ports and none chosen: Istio uses the gateway server's port (80), which exists here.
    expect(a, status=200, cluster="outbound|80||multi.shop.svc.cluster.local")
    expect(b, status=503, flags="NC", details="cluster_not_found")
    expect(c, status=503, flags="NC")


NS_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: scoped, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["team-a/*", "*/shared.example.com", "./ops.example.com"]
"""


def test_namespace_qualified_server_hosts_restrict_binding() -> None:
    def bound(name: str, namespace: str, host: str) -> str:
        return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: ["{host}"]
  gateways: [istio-system/scoped]
  http: [{{name: {name}, route: [{{destination: {{host: web}}}}]}}]
"""

    config = (
        NS_GATEWAY
        + bound("a-any", "team-a", "anything.test")
        + bound("b-any", "shop", "b-only.test")
        + bound("b-shared", "shop", "*.example.com")
        + bound("ops-wrong-ns", "shop", "ops.example.com")
        + bound("ops-right-ns", "istio-system", "ops.example.com")
        + SERVICES
    )
    results = simulate(
        config,
        [
            {"host": h}
            for h in (
                "anything.test",
                "b-only.test",
                "shared.example.com",
                "x.example.com",
                "ops.example.com",
            )
        ],
    )
    assert [r["route"] for r in results] == ["a-any", None, "b-shared", None, "ops-right-ns"]


def test_gateway_name_resolution_short_qualified_and_dot() -> None:
    def bound(name: str, namespace: str, gateways: str) -> str:
        return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: ["{name}.example.com"]
  gateways: {gateways}
  http: [{{name: {name}, route: [{{destination: {{host: web.shop.svc.cluster.local}}}}]}}]
"""

    config = (
        GATEWAY
        + bound("qualified", "shop", "[istio-system/public]")
        + bound("short-same-ns", "istio-system", "[public]")
        + bound("dot", "istio-system", "[./public]")
        + bound("short-other-ns", "shop", "[public]")
        + bound("legacy", "shop", "[public.istio-system.svc.cluster.local]")
        + bound("mesh", "shop", "[mesh]")
        + SERVICES
    )
    names = ["qualified", "short-same-ns", "dot", "short-other-ns", "legacy", "mesh"]
    results = simulate(config, [{"host": f"{n}.example.com"} for n in names])
    assert [r["route"] for r in results] == ["qualified", "short-same-ns", "dot", None, "legacy", None]


def test_gateway_selector_must_match_the_workload() -> None:
    other = GATEWAY.replace("istio: ingressgateway", "istio: internal")
    config = other + vs("r", "[s.example.com]", "    - route: [{destination: {host: web}}]\n") + SERVICES
    (default,) = simulate(config, [{"host": "s.example.com"}])
    expect(default, status=404, details="listener_not_found")
    custom = TranslateOptions(workload_labels=(("istio", "internal"),))
    (served,) = simulate(config, [{"host": "s.example.com"}], custom)
    expect(served, status=200, cluster=WEB)


def test_weighted_split_follows_weights() -> None:
    http = """    - name: split
      route:
        - {destination: {host: web}, weight: 90}
        - {destination: {host: api, port: {number: 8080}}, weight: 10}
"""
    results = run(vs("r", "[s.example.com]", http), *({"host": "s.example.com"} for _ in range(2000)))
    share = sum(r["cluster"] == API for r in results) / len(results)
    assert 0.07 < share < 0.13, share


def test_redirect_direct_response_and_https_redirect() -> None:
    https_gateway = GATEWAY.replace('hosts: ["*"]', 'hosts: ["*"]\n      tls: {httpsRedirect: true}')
    http = """    - name: move
      match: [{uri: {prefix: /old}}]
      redirect: {authority: new.example.com, uri: /new, redirectCode: 308}
    - name: teapot
      match: [{uri: {exact: /teapot}}]
      directResponse: {status: 418, body: {string: "short"}}
"""
    config = vs("r", "[shop.example.com]", http) + SERVICES
    a, b = simulate(
        GATEWAY + config,
        [
            {"host": "shop.example.com:8080", "path": "/old/x?q=1"},
            {"host": "shop.example.com", "path": "/teapot"},
        ],
    )
    expect(a, status=308, location="http://new.example.com/new?q=1")
    expect(b, status=418, body=b"short")
    (c,) = simulate(https_gateway + config, [{"host": "shop.example.com:8080", "path": "/a?b=1"}])
    expect(c, status=301, location="https://shop.example.com:8080/a?b=1")
