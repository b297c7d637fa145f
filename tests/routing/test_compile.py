"""compile_config(): indexes, shared answers and compile-time findings (never exceptions)."""

from __future__ import annotations

import dataclasses

from meshgate import ir
from meshgate.routing import LocalReply, RouteDecision, compile_config, decide, explain
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.weights import WeightedPicker

from .irbuild import (
    PRESENT,
    P,
    cluster,
    config,
    exact,
    forward,
    http_chain,
    listener,
    path,
    prefix,
    regex,
    req,
    route,
    table,
    vhost,
)


def test_table_is_frozen() -> None:
    tbl = table(vhost("v", ["*"], route("r")))
    assert tbl.ports == (80,)
    try:
        tbl.problems = ("x",)  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:  # pragma: no cover
        raise AssertionError("RoutingTable must be frozen")
    try:
        tbl.clusters["new"] = cluster("new")  # type: ignore[index]
    except TypeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("RoutingTable.clusters must be read-only")


def test_forward_answers_are_built_once_and_shared() -> None:
    tbl = table(vhost("v", ["*"], route("r")))
    assert decide(tbl, req()) is decide(tbl, req(path="/other"))


def test_duplicates_are_reported_and_the_first_one_wins() -> None:
    first = listener(80, http_chain(vhost("v1", ["*"], route("first")), name="one"))
    second = listener(80, http_chain(vhost("v2", ["*"], route("second")), name="two"))
    cfg = ir.Config(listeners=(first, second), clusters=(cluster("svc"), cluster("svc")))
    tbl = compile_config(cfg)
    answer = decide(tbl, req())
    assert isinstance(answer, RouteDecision) and answer.route.name == "first"
    assert any("repeated" in p for p in tbl.problems)
    assert any("defined twice" in p for p in tbl.problems)


def test_two_default_chains_and_two_star_vhosts_are_reported() -> None:
    a = http_chain(vhost("a1", ["*"], route("a")), vhost("a2", ["*"], route("a2")), name="a", tls=True)
    b = http_chain(vhost("b", ["*"], route("b")), name="b", tls=True)
    tbl = compile_config(config(listener(443, a, b)))
    answer = decide(tbl, req(port=443, scheme="https", sni="x.com"))
    assert isinstance(answer, RouteDecision) and answer.route.name == "a"
    assert any("both match any SNI" in p for p in tbl.problems)
    assert any("domain * repeated" in p for p in tbl.problems)


def test_invalid_regexes_are_problems_not_errors() -> None:
    tbl = table(
        vhost(
            "v",
            ["*"],
            route("bad-path", path=path(P.REGEX, "(")),
            route("bad-header", headers=(ir.HeaderMatch("x", regex("[")),)),
            route("fallback"),
        )
    )
    assert len(tbl.problems) == 2
    assert all("regex" in p for p in tbl.problems)
    answer = decide(tbl, req(headers={"x": "["}))
    assert isinstance(answer, RouteDecision) and answer.route.name == "fallback"
    text = explain(tbl, req()).render_text()
    assert "never matches" in text


def test_ignore_case_string_matchers() -> None:
    header_exact = RouteMatcher(ir.RouteMatch(headers=(ir.HeaderMatch("x", exact("Ab", ignore_case=True)),)))
    assert header_exact.matches(req(headers={"x": "aB"}), None)
    assert not header_exact.matches(req(headers={"x": "aBc"}), None)
    header_prefix = RouteMatcher(
        ir.RouteMatch(headers=(ir.HeaderMatch("x", prefix("Ab", ignore_case=True)),))
    )
    assert header_prefix.matches(req(headers={"x": "aBc"}), None)
    assert not header_prefix.matches(req(headers={"x": "xab"}), None)
    # Envoy folds ASCII only: a non-ASCII letter must still match exactly.
    accented = RouteMatcher(ir.RouteMatch(headers=(ir.HeaderMatch("x", exact("É", ignore_case=True)),)))
    assert not accented.matches(req(headers={"x": "é"}), None)
    segment = RouteMatcher(ir.RouteMatch(path=path(P.SEGMENT_PREFIX, "/Foo", ignore_case=True)))
    assert segment.matches(req(path="/FOO/bar"), None)
    assert not segment.matches(req(path="/foobar"), None)


def test_descriptions() -> None:
    matcher = RouteMatcher(
        ir.RouteMatch(
            path=path(P.PREFIX, "/a", ignore_case=True),
            scheme=exact("https"),
            headers=(ir.HeaderMatch("x", exact("1"), invert=True), ir.HeaderMatch("y", PRESENT, invert=True)),
        )
    )
    assert matcher.describe() == (
        'path prefix "/a" (ignore case) and scheme exact "https"'
        ' and header x not exact "1" and header y absent'
    )
    assert matcher.first_failure(req(path="/a"), None) == 'scheme: exact "https" does not match "http"'
    assert RouteMatcher(ir.RouteMatch()).describe() == "any request"


def test_explain_texts_for_connection_close_and_bodies() -> None:
    tbl = table(vhost("v", ["*"], route("teapot", action=ir.DirectResponse(418, b"short and stout"))))
    assert "body 15 bytes" in explain(tbl, req()).render_text()
    chain = http_chain(vhost("v", ["*"], route("r")), name="a", server_names=["a.com"], tls=True)
    closed = explain(compile_config(config(listener(443, chain))), req(port=443, sni="b.com"))
    assert isinstance(closed.decision, LocalReply) and closed.decision.status == 0
    text = closed.render_text()
    assert "close the connection (NR filter_chain_not_found)" in text
    assert 'chain     none for SNI "b.com" (server names: a.com)' in text


def test_picker_share() -> None:
    picker = WeightedPicker.build(forward(("a", 90), ("b", 10)).clusters)
    assert [picker.share(c) for c in picker.choices] == [0.9, 0.1]
    single = WeightedPicker.build(forward(("only", 0)).clusters)
    assert single.share(single.choices[0]) == 1.0
    empty = WeightedPicker.build(forward(("a", 0), ("b", 0)).clusters)
    assert empty.choices == () and empty.share(forward("a").clusters[0]) == 0.0
