"""Delegate VirtualServices (istio-semantics 3.17): expansion in place, match merge, inheritance."""

from __future__ import annotations

from meshgate.routing import RequestView, RouteDecision, decide

from sim import build_table, expect, simulate

CONFIG = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: front}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/gw]
  http:
    - name: first
      match: [{uri: {prefix: /first}}]
      route: [{destination: {host: web.front.svc.cluster.local}}]
    - name: shop
      match: [{uri: {prefix: /shop}}]
      timeout: 7s
      delegate: {name: shop-routes, namespace: team}
    - name: missing
      match: [{uri: {prefix: /missing}}]
      delegate: {name: nope}
    - name: last
      route: [{destination: {host: web.front.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-routes, namespace: team}
spec:
  exportTo: ["*"]
  http:
    - name: cart
      match: [{uri: {prefix: /shop/cart}}]
      route: [{destination: {host: cart}}]
    - name: conflict
      match: [{uri: {prefix: /cart}}]
      route: [{destination: {host: cart}}]
    - name: rest
      route: [{destination: {host: shop}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: front}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: team}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: team}
spec: {ports: [{name: http, port: 80}]}
"""


def test_delegate_rules_replace_the_root_rule_in_place() -> None:
    first, cart, rest, cart_elsewhere, last = simulate(
        CONFIG,
        [
            {"host": "shop.example.com", "path": "/first"},
            {"host": "shop.example.com", "path": "/shop/cart/1"},
            {"host": "shop.example.com", "path": "/shop/x"},
            {"host": "shop.example.com", "path": "/cart"},
            {"host": "shop.example.com", "path": "/other"},
        ],
    )
    expect(first, route="first")
    # Delegate short names resolve in the delegate's namespace; names join root and delegate.
    expect(cart, route="shop-cart", cluster="outbound|80||cart.team.svc.cluster.local")
    # A delegate rule without matches takes the root's matches.
    expect(rest, route="shop-rest", cluster="outbound|80||shop.team.svc.cluster.local")
    # `/cart` conflicts with the root's `/shop` prefix: that delegate rule is dropped.
    expect(cart_elsewhere, route="last")
    expect(last, route="last")


def test_delegate_inherits_timeout_and_reports_problems() -> None:
    table, diagnostics = build_table(CONFIG)
    messages = [d.render() for d in diagnostics]
    # The namespace defaults to the root's, so the missing delegate is looked up as front/nope.
    assert any("MG0105" in m and "delegate VirtualService front/nope not found" in m for m in messages)
    assert any("MG0105" in m and "conflict" in m and "team/shop-routes" in m for m in messages), messages
    decision = decide(table, RequestView(port=80, authority="shop.example.com", path="/shop/cart"))
    assert isinstance(decision, RouteDecision)
    assert decision.route.timeout == 7.0
