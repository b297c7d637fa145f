"""decide(): route order, httpsRedirect, actions, weighted picks and missing clusters."""

from __future__ import annotations

import dataclasses

import pytest

from meshgate import ir
from meshgate.routing import LocalReply, RouteDecision, decide
from meshgate.routing.weights import WeightedPicker

from .irbuild import P, cluster_name, exact, fixed_rng, forward, path, req, route, table, vhost


def test_first_match_wins_in_order() -> None:
    tbl = table(
        vhost(
            "v",
            ["*"],
            route("specific", path=path(P.PREFIX, "/api/v2")),
            route("general", path=path(P.PREFIX, "/api")),
            route("shadowed", path=path(P.PREFIX, "/api/v2/users")),
            route("rest", path=path(P.PREFIX, "/")),
        )
    )

    def name(p: str) -> str:
        answer = decide(tbl, req(path=p))
        assert isinstance(answer, RouteDecision)
        return answer.route.name

    assert name("/api/v2/users") == "specific"
    assert name("/api/v1") == "general"
    assert name("/other") == "rest"


def test_no_route_matches_is_404_nr() -> None:
    tbl = table(vhost("v", ["*"], route("api", path=path(P.PREFIX, "/api"))))
    answer = decide(tbl, req(path="/web"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details, answer.body) == (404, "NR", "route_not_found", b"")
    assert answer.virtual_host is not None and answer.virtual_host.name == "v"
    assert answer.route is None


def test_forward_decision_carries_the_whole_path() -> None:
    tbl = table(vhost("v", ["shop.example.com"], route("r", path=path(P.PREFIX, "/"), to="svc")))
    answer = decide(tbl, req("shop.example.com", "/x"))
    assert isinstance(answer, RouteDecision)
    assert answer.listener.port == 80
    assert answer.chain.name == "http"
    assert answer.virtual_host.name == "v"
    assert answer.route.name == "r"
    assert answer.destination.cluster == cluster_name("svc")
    assert answer.cluster.name == cluster_name("svc")


def test_require_tls_redirects_before_route_matching() -> None:
    tbl = table(
        vhost(
            "secure",
            ["shop.example.com"],
            route("only-post", method=exact("POST")),
            require_tls=True,
        )
    )
    # A GET would match no route, yet the answer is the redirect: the TLS check comes first.
    answer = decide(tbl, req("shop.example.com:8080", "/a", query="b=1"))
    assert isinstance(answer, LocalReply)
    assert answer.status == 301
    assert answer.headers == (("location", "https://shop.example.com:8080/a?b=1"),)
    assert answer.details == "direct_response"
    assert answer.flags == ""
    assert answer.route is None


def test_require_tls_lets_https_requests_through() -> None:
    tbl = table(vhost("secure", ["*"], route("r"), require_tls=True))
    answer = decide(tbl, req(scheme="https"))
    assert isinstance(answer, RouteDecision) and answer.route.name == "r"


def test_require_tls_without_routes_still_redirects() -> None:
    tbl = table(vhost("redirect-only", ["shop.example.com"], require_tls=True))
    answer = decide(tbl, req("Shop.Example.com", "/"))
    assert isinstance(answer, LocalReply)
    assert answer.headers == (("location", "https://Shop.Example.com/"),)  # Host as sent


def test_direct_response() -> None:
    action = ir.DirectResponse(status=418, body=b"teapot")
    tbl = table(vhost("v", ["*"], route("tea", action=action)))
    answer = decide(tbl, req())
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details, answer.body) == (
        418,
        "",
        "direct_response",
        b"teapot",
    )
    assert answer.route is not None and answer.route.name == "tea"


def test_redirect_action() -> None:
    action = ir.Redirect(code=308, host="new.example.com", path="/new")
    tbl = table(vhost("v", ["*"], route("old", action=action, path=path(P.PREFIX, "/old"))))
    answer = decide(tbl, req("shop.example.com:8080", "/old/x", query="q=1"))
    assert isinstance(answer, LocalReply)
    assert answer.status == 308
    assert answer.details == "direct_response"
    assert answer.headers == (("location", "http://new.example.com/new?q=1"),)


def test_unknown_cluster_is_503_nc() -> None:
    tbl = table(vhost("v", ["*"], route("r", to="missing")), services=("svc",))
    answer = decide(tbl, req())
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (503, "NC", "cluster_not_found")
    assert answer.route is not None and answer.route.name == "r"


def test_weighted_split_90_10_with_deterministic_rng() -> None:
    action = forward(("stable", 90), ("canary", 10))
    tbl = table(vhost("v", ["*"], route("split", action=action)), services=("stable", "canary"))
    rng = fixed_rng(0.0, 0.5, 0.8999, 0.9, 0.95, 0.9999)
    picks = []
    for _ in range(6):
        answer = decide(tbl, req(), rng)
        assert isinstance(answer, RouteDecision)
        picks.append(answer.destination.service_host)
    assert picks == ["stable", "stable", "stable", "canary", "canary", "canary"]


def test_weighted_split_proportions_over_a_grid() -> None:
    action = forward(("a", 1), ("b", 3))
    tbl = table(vhost("v", ["*"], route("split", action=action)), services=("a", "b"))
    grid = [i / 1000 for i in range(1000)]
    rng = fixed_rng(*grid)
    counts = {"a": 0, "b": 0}
    for _ in grid:
        answer = decide(tbl, req(), rng)
        assert isinstance(answer, RouteDecision)
        counts[answer.destination.service_host] += 1
    assert counts == {"a": 250, "b": 750}


def test_zero_weight_is_never_picked() -> None:
    action = forward(("off", 0), ("on", 50), ("also-off", 0))
    tbl = table(vhost("v", ["*"], route("r", action=action)), services=("off", "on", "also-off"))
    for value in (0.0, 0.3, 0.999999):
        answer = decide(tbl, req(), fixed_rng(value))
        assert isinstance(answer, RouteDecision)
        assert answer.destination.service_host == "on"


def test_single_destination_is_always_picked_whatever_its_weight() -> None:
    action = forward(("only", 0))
    calls = []

    def rng() -> float:
        calls.append(1)
        return 0.5

    tbl = table(vhost("v", ["*"], route("r", action=action)), services=("only",))
    answer = decide(tbl, req(), rng)
    assert isinstance(answer, RouteDecision) and answer.destination.service_host == "only"
    assert calls == []  # no random number needed


def test_all_zero_weights_answer_503_nc() -> None:
    action = forward(("a", 0), ("b", 0))
    tbl = table(vhost("v", ["*"], route("r", action=action)), services=("a", "b"))
    answer = decide(tbl, req())
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (503, "NC", "cluster_not_found")


def test_missing_cluster_only_for_the_picked_destination() -> None:
    action = forward(("present", 50), ("absent", 50))
    tbl = table(vhost("v", ["*"], route("r", action=action)), services=("present",))
    first = decide(tbl, req(), fixed_rng(0.1))
    second = decide(tbl, req(), fixed_rng(0.9))
    assert isinstance(first, RouteDecision) and first.destination.service_host == "present"
    assert isinstance(second, LocalReply) and second.flags == "NC"


def test_rng_out_of_range_still_lands_on_a_destination() -> None:
    picker = WeightedPicker.build(forward(("a", 1), ("b", 1)).clusters)
    chosen = picker.pick(lambda: 1.0)
    assert chosen is not None and chosen.service_host == "b"
    assert picker.share(picker.choices[0]) == pytest.approx(0.5)


def test_decisions_are_immutable() -> None:
    tbl = table(vhost("v", ["*"], route("r")))
    answer = decide(tbl, req())
    assert isinstance(answer, RouteDecision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.route = answer.route  # type: ignore[misc]
    assert decide(tbl, req()) == answer


def test_query_matching_route_through_decide() -> None:
    tbl = table(
        vhost(
            "v",
            ["*"],
            route("v2", query=(ir.QueryMatch("version", exact("2")),)),
            route("rest"),
        )
    )
    for query, expected in (("version=2", "v2"), ("version=3", "rest"), ("", "rest")):
        answer = decide(tbl, req(query=query))
        assert isinstance(answer, RouteDecision) and answer.route.name == expected
