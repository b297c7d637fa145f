"""explain(): a readable trace that always agrees with decide()."""

from __future__ import annotations

import json

from meshgate import ir
from meshgate.routing import LocalReply, RouteDecision, compile_config, decide, explain

from .irbuild import (
    PRESENT,
    P,
    config,
    exact,
    fixed_rng,
    forward,
    http_chain,
    listener,
    path,
    req,
    route,
    table,
    vhost,
)

SPECIFIC = (
    route("tea", path=path(P.PREFIX, "/tea")),
    route("coffee-beta", path=path(P.PREFIX, "/coffee"), headers=(ir.HeaderMatch("x-user", exact("a")),)),
    route("coffee-post", path=path(P.PREFIX, "/coffee"), method=exact("POST")),
)
COFFEE = route(
    "coffee",
    path=path(P.PREFIX, "/coffee"),
    action=forward("svc", rewrite=ir.Rewrite(uri="/beans", authority="beans.internal")),
)
SHOP = table(vhost("shop", ["shop.example.com", "*.shop.example.com"], *SPECIFIC, COFFEE))
STRICT = table(vhost("shop", ["shop.example.com"], *SPECIFIC))


def test_explain_a_match() -> None:
    request = req("Shop.Example.com:80", "/coffee/x", query="q=1")
    e = explain(SHOP, request, fixed_rng(0.5))
    assert e.decision == decide(SHOP, request, fixed_rng(0.5))
    assert isinstance(e.decision, RouteDecision)
    assert e.listener.found and e.listener.name == "0.0.0.0_80"
    assert e.chain is not None and e.chain.rule == "plaintext"
    assert e.vhost is not None
    assert (e.vhost.name, e.vhost.domain, e.vhost.rule, e.vhost.host) == (
        "shop",
        "shop.example.com",
        "exact",
        "shop.example.com",
    )
    assert [t.name for t in e.tried] == ["tea", "coffee-beta", "coffee-post"]
    assert [t.failure for t in e.tried] == [
        'path: prefix "/tea" does not match "/coffee/x"',
        'header x-user: exact "a" but header is absent',
        'method: exact "POST" does not match "GET"',
    ]
    assert e.winner is not None and e.winner.name == "coffee" and e.winner.matched
    assert e.closest == ()
    assert e.upstream_target == "/beans/x?q=1"
    assert e.upstream_authority == "beans.internal"

    text = e.render_text()
    assert 'path: prefix "/tea" does not match "/coffee/x"' in text
    assert 'header x-user: exact "a" but header is absent' in text
    assert 'tried     #0 tea: path: prefix "/tea" does not match "/coffee/x"' in text
    assert 'route     #3 coffee matched: path prefix "/coffee"' in text
    assert "forward to cluster outbound|80||svc" in text
    assert "authority beans.internal, path /beans/x?q=1" in text


def test_explain_a_wildcard_vhost() -> None:
    e = explain(SHOP, req("eu.shop.example.com", "/tea"))
    assert e.vhost is not None
    assert (e.vhost.domain, e.vhost.rule) == ("*.shop.example.com", "suffix wildcard")
    assert e.tried == ()


def test_explain_no_route_lists_the_closest_routes() -> None:
    request = req("shop.example.com", "/coffee", method="PUT")
    e = explain(STRICT, request)
    assert e.decision == decide(STRICT, request)
    assert isinstance(e.decision, LocalReply)
    assert (e.decision.status, e.decision.flags, e.decision.details) == (404, "NR", "route_not_found")
    # /coffee routes held their path condition but failed another one; "tea" is not close.
    assert [t.name for t in e.closest] == ["coffee-beta", "coffee-post"]
    assert e.winner is None
    assert len(e.tried) == 3
    text = e.render_text()
    assert "no route matched (3 tried)" in text
    assert "closest" in text
    assert 'header x-user: exact "a" but header is absent' in text
    assert 'method: exact "POST" does not match "PUT"' in text
    assert "404 NR route_not_found" in text


def test_explain_without_any_path_match_lists_every_route() -> None:
    e = explain(SHOP, req("shop.example.com", "/water"))
    assert [t.name for t in e.closest] == ["tea", "coffee-beta", "coffee-post", "coffee"]
    assert 'path: prefix "/coffee" does not match "/water"' in e.render_text()
    assert all(t.failure and t.failure.startswith("path:") for t in e.closest)


def test_explain_unknown_host_lists_domains() -> None:
    e = explain(SHOP, req("other.example.com", "/"))
    assert e.vhost is not None and not e.vhost.found
    assert e.vhost.available_domains == ("shop.example.com", "*.shop.example.com")
    assert "domains: shop.example.com, *.shop.example.com" in e.render_text()


def test_explain_unknown_port_lists_ports() -> None:
    e = explain(SHOP, req(port=8080))
    assert not e.listener.found
    assert e.listener.available_ports == (80,)
    assert e.chain is None
    assert "listening ports: 80" in e.render_text()
    assert isinstance(e.decision, LocalReply) and e.decision.details == "listener_not_found"


def test_explain_no_chain_lists_server_names() -> None:
    chain = http_chain(vhost("v", ["*"], route("r")), name="a", server_names=["a.com", "*.b.com"], tls=True)
    tbl = compile_config(config(listener(443, chain)))
    e = explain(tbl, req(port=443, scheme="https", sni="c.com"))
    assert e.chain is not None and not e.chain.found
    assert e.chain.available_server_names == ("a.com", "*.b.com")
    found = explain(tbl, req(port=443, scheme="https", sni="x.b.com"))
    assert found.chain is not None and (found.chain.rule, found.chain.server_name) == ("wildcard", "*.b.com")


def test_explain_tls_redirect_tries_no_route() -> None:
    tbl = table(vhost("secure", ["*"], route("r"), require_tls=True))
    e = explain(tbl, req("a.com", "/x"))
    assert e.tls_redirect
    assert e.tried == () and e.winner is None and e.closest == ()
    assert isinstance(e.decision, LocalReply) and e.decision.status == 301
    assert "requires TLS" in e.render_text()


def test_to_dict_is_json_serialisable_and_complete() -> None:
    e = explain(SHOP, req("shop.example.com", "/coffee", headers={"x-user": "b"}))
    data = json.loads(json.dumps(e.to_dict()))
    assert data["decision"]["action"] == "forward"
    assert data["decision"]["route"] == "coffee"
    assert data["virtual_host"]["rule"] == "exact"
    assert data["tried"][1]["failure"] == 'header x-user: exact "a" does not match "b"'
    assert data["winner"]["name"] == "coffee"
    assert data["request"]["headers"] == {"x-user": "b"}
    missing = json.loads(json.dumps(explain(SHOP, req("nope.example.com")).to_dict()))
    assert missing["decision"] == {
        "action": "local_reply",
        "status": 404,
        "flags": "NR",
        "details": "route_not_found",
        "headers": [],
        "body": "",
        "listener": "0.0.0.0_80",
        "chain": "http",
        "virtual_host": None,
        "route": None,
    }


def test_explain_agrees_with_decide_on_many_requests() -> None:
    tbl = table(
        vhost(
            "v",
            ["*"],
            route("q", query=(ir.QueryMatch("debug", PRESENT),)),
            route("h", headers=(ir.HeaderMatch("x-debug", PRESENT, invert=True),), path=path(P.EXACT, "/x")),
            route("re", path=path(P.REGEX, "/[a-z]+/[0-9]+")),
            route("d", action=ir.DirectResponse(204), path=path(P.PREFIX, "/d")),
        )
    )
    for p in ("/x", "/abc/12", "/d/1", "/zzz", "/"):
        for query in ("", "debug"):
            for headers in ({}, {"x-debug": "1"}):
                request = req(path=p, query=query, headers=headers)
                e = explain(tbl, request)
                assert e.decision == decide(tbl, request)
                route_name = e.winner.name if e.winner else None
                decided = e.decision.route.name if e.decision.route is not None else None
                assert route_name == decided
