"""Listener choice by port/bind and filter-chain choice by SNI (istio-semantics.md 1.8.7, 5.1)."""

from __future__ import annotations

import dataclasses

import pytest

from meshgate import ir
from meshgate.routing import (
    LocalReply,
    RouteDecision,
    RoutingTable,
    compile_config,
    decide,
    explain,
    select_chain,
    select_listener,
)

from .irbuild import config, http_chain, listener, req, route, tcp_chain, vhost


def https_table() -> RoutingTable:
    def chain(name: str, names: list[str]) -> ir.FilterChain:
        return http_chain(vhost(f"vh-{name}", ["*"], route(name)), name=name, server_names=names, tls=True)

    return compile_config(
        config(
            listener(
                443,
                chain("exact", ["a.example.com"]),
                chain("short", ["*.example.com"]),
                chain("long", ["*.b.example.com"]),
                chain("default", []),
            )
        )
    )


TLS = https_table()


@pytest.mark.parametrize(
    ("sni", "expected", "rule"),
    [
        ("a.example.com", "exact", "exact"),
        ("A.EXAMPLE.COM", "exact", "exact"),
        ("x.example.com", "short", "wildcard"),
        ("x.y.example.com", "short", "wildcard"),  # any number of labels
        ("x.b.example.com", "long", "wildcard"),  # longest wildcard first
        ("b.example.com", "short", "wildcard"),
        ("example.com", "default", "default"),  # never the bare suffix
        ("other.org", "default", "default"),
        (None, "default", "default"),  # no SNI: only the chain without server names
        ("", "default", "default"),
    ],
)
def test_sni_selection_order(sni: str | None, expected: str, rule: str) -> None:
    found = select_listener(TLS, 443)
    assert found is not None
    chosen = select_chain(TLS, found, sni)
    assert chosen is not None
    assert (chosen.chain.name, chosen.rule) == (expected, rule)
    answer = decide(TLS, req("anything", port=443, scheme="https", sni=sni))
    assert isinstance(answer, RouteDecision)
    assert answer.chain.name == expected
    assert answer.route.name == expected


def test_no_matching_chain_closes_the_connection() -> None:
    tbl = compile_config(
        config(
            listener(
                443, http_chain(vhost("v", ["*"], route("r")), name="a", server_names=["a.com"], tls=True)
            )
        )
    )
    answer = decide(tbl, req("a.com", port=443, scheme="https", sni="b.com"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (0, "NR", "filter_chain_not_found")
    assert answer.listener is not None and answer.chain is None
    no_sni = decide(tbl, req("a.com", port=443, scheme="https"))
    assert isinstance(no_sni, LocalReply) and no_sni.details == "filter_chain_not_found"


def test_plaintext_listener_ignores_sni() -> None:
    tbl = compile_config(config(listener(80, http_chain(vhost("v", ["*"], route("r")), name="plain"))))
    for sni in (None, "whatever.example.com"):
        answer = decide(tbl, req(sni=sni))
        assert isinstance(answer, RouteDecision) and answer.chain.name == "plain"
    found = select_listener(tbl, 80)
    assert found is not None
    chosen = select_chain(tbl, found, "x")
    assert chosen is not None and chosen.rule == "plaintext"


def test_star_server_name_makes_a_default_chain() -> None:
    tbl = compile_config(
        config(
            listener(
                443, http_chain(vhost("v", ["*"], route("r")), name="star", server_names=["*"], tls=True)
            )
        )
    )
    answer = decide(tbl, req(port=443, scheme="https", sni="anything.org"))
    assert isinstance(answer, RouteDecision) and answer.chain.name == "star"


def test_each_chain_only_sees_its_own_virtual_hosts() -> None:
    a = http_chain(vhost("va", ["a.com"], route("ra")), name="a", server_names=["a.com"], tls=True)
    b = http_chain(vhost("vb", ["b.com"], route("rb")), name="b", server_names=["b.com"], tls=True)
    tbl = compile_config(config(listener(443, a, b)))
    ok = decide(tbl, req("b.com", port=443, scheme="https", sni="b.com"))
    assert isinstance(ok, RouteDecision) and ok.route.name == "rb"
    # HTTP/2 coalescing: a connection opened for a.com used for b.com routes with a.com's table.
    coalesced = decide(tbl, req("b.com", port=443, scheme="https", sni="a.com"))
    assert isinstance(coalesced, LocalReply)
    assert (coalesced.status, coalesced.flags, coalesced.details) == (404, "NR", "route_not_found")


def test_tcp_proxy_chain_is_not_http() -> None:
    tbl = compile_config(config(listener(443, tcp_chain("passthrough", ["db.example.com"]))))
    answer = decide(tbl, req("db.example.com", port=443, sni="db.example.com"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (0, "", "tcp_proxy")
    assert answer.chain is not None and answer.chain.name == "passthrough"


def test_unknown_port_is_listener_not_found() -> None:
    tbl = compile_config(config(listener(80, http_chain(vhost("v", ["*"], route("r"))))))
    answer = decide(tbl, req(port=8080))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (404, "NR", "listener_not_found")
    assert select_listener(tbl, 8080) is None


def test_listener_by_bind_address() -> None:
    wildcard = listener(80, http_chain(vhost("v", ["*"], route("any")), name="any"))
    local = listener(80, http_chain(vhost("v", ["*"], route("local")), name="local"), bind="127.0.0.1")
    tbl = compile_config(config(local, wildcard))

    def name(bind: str) -> str:
        found = select_listener(tbl, 80, bind)
        assert found is not None
        return found.listener.bind

    assert name("") == "0.0.0.0"  # no bind given: the listener on all addresses
    assert name("127.0.0.1") == "127.0.0.1"
    assert name("10.1.2.3") == "0.0.0.0"
    answer = decide(tbl, req(bind="127.0.0.1"))
    assert isinstance(answer, RouteDecision) and answer.route.name == "local"


def test_bind_without_wildcard_listener() -> None:
    tbl = compile_config(config(listener(80, http_chain(vhost("v", ["*"], route("r"))), bind="127.0.0.1")))
    assert select_listener(tbl, 80) is not None  # no bind given: the only listener
    assert select_listener(tbl, 80, "10.0.0.1") is None


def test_disabled_chain_keeps_its_names_but_closes_connections() -> None:
    broken = dataclasses.replace(
        http_chain(vhost("v", ["*"], route("broken")), name="broken", server_names=["a.com"], tls=True),
        disabled="secret istio-system/a-cert not found",
    )
    fallback = http_chain(vhost("v", ["*"], route("fallback")), name="fallback", tls=True)
    tbl = compile_config(config(listener(443, broken, fallback)))
    answer = decide(tbl, req("a.com", port=443, scheme="https", sni="a.com"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (0, "", "filter_chain_disabled")
    assert answer.chain is not None and answer.chain.name == "broken"
    other = decide(tbl, req("b.com", port=443, scheme="https", sni="b.com"))
    assert isinstance(other, RouteDecision) and other.route.name == "fallback"
    text = explain(tbl, req("a.com", port=443, scheme="https", sni="a.com")).render_text()
    assert "disabled: secret istio-system/a-cert not found" in text
    assert "close the connection" in text
