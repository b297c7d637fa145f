"""Virtual-host selection (istio-semantics.md sec. 5.2): exact > longest suffix wildcard >
longest prefix wildcard > `*`; port stripped, case-insensitive; no vhost -> 404 NR."""

from __future__ import annotations

import pytest

from meshgate.routing import LocalReply, RouteDecision, RoutingTable, decide
from meshgate.routing import table as table_module
from meshgate.routing.table import normalize_host

from .irbuild import P, path, req, route, table, vhost

HOSTS = table(
    vhost("exact", ["a.example.com"], route("exact", path=path(P.PREFIX, "/"))),
    vhost("suffix-short", ["*.example.com"], route("suffix-short", path=path(P.PREFIX, "/"))),
    vhost("suffix-long", ["*.b.example.com"], route("suffix-long", path=path(P.PREFIX, "/"))),
    vhost("suffix-dash", ["*-bar.example.com"], route("suffix-dash", path=path(P.PREFIX, "/"))),
    vhost("prefix-short", ["shop.*"], route("prefix-short", path=path(P.PREFIX, "/"))),
    vhost("prefix-long", ["shop.example.*"], route("prefix-long", path=path(P.PREFIX, "/"))),
    vhost("ipv6", ["[::1]"], route("ipv6", path=path(P.PREFIX, "/"))),
    vhost("any", ["*"], route("any", path=path(P.PREFIX, "/"))),
)


def chosen(authority: str, tbl: RoutingTable = HOSTS) -> str:
    answer = decide(tbl, req(authority))
    assert isinstance(answer, RouteDecision), answer
    return answer.virtual_host.name


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("a.example.com", "exact"),
        ("A.Example.COM", "exact"),  # case-insensitive
        ("a.example.com:8080", "exact"),  # port stripped
        ("x.example.com", "suffix-short"),
        ("x.y.example.com", "suffix-short"),  # a wildcard spans several labels
        ("x.b.example.com", "suffix-long"),  # longest suffix first
        ("x.y.b.example.com", "suffix-long"),
        ("foo-bar.example.com", "suffix-dash"),
        ("shop.other.org", "prefix-short"),
        ("shop.example.net", "prefix-long"),  # longest prefix first
        ("shop.example.com", "suffix-short"),  # suffix wildcards beat prefix wildcards
        ("[::1]:8080", "ipv6"),
        ("[::1]", "ipv6"),
        ("example.com", "any"),  # the bare suffix is not covered by *.example.com
        ("-bar.example.com", "suffix-short"),  # *-bar needs at least one character
        ("b.example.com", "suffix-short"),
        ("elsewhere.org", "any"),
        ("", "any"),
    ],
)
def test_host_selection_order(authority: str, expected: str) -> None:
    assert chosen(authority) == expected


def test_exact_beats_wildcard_even_when_wildcard_is_longer() -> None:
    tbl = table(
        vhost("exact", ["x.y.z.example.com"], route("e")),
        vhost("wild", ["*.y.z.example.com"], route("w")),
    )
    assert chosen("x.y.z.example.com", tbl) == "exact"
    assert chosen("q.y.z.example.com", tbl) == "wild"


def test_vhost_with_several_domains() -> None:
    tbl = table(vhost("multi", ["a.com", "*.b.com"], route("r")))
    assert chosen("a.com", tbl) == "multi"
    assert chosen("x.b.com", tbl) == "multi"


def test_configured_domains_are_lower_cased() -> None:
    tbl = table(vhost("upper", ["Shop.Example.COM"], route("r")))
    assert chosen("shop.example.com", tbl) == "upper"


def test_no_vhost_is_404_nr_route_not_found() -> None:
    tbl = table(vhost("only", ["a.example.com"], route("r")))
    answer = decide(tbl, req("b.example.com"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details, answer.body) == (404, "NR", "route_not_found", b"")
    assert answer.virtual_host is None
    assert answer.listener is not None and answer.listener.port == 80


def test_blackhole_star_vhost_without_routes_is_404() -> None:
    tbl = table(vhost("blackhole", ["*"]))
    answer = decide(tbl, req("anything.example.com"))
    assert isinstance(answer, LocalReply)
    assert (answer.status, answer.flags, answer.details) == (404, "NR", "route_not_found")
    assert answer.virtual_host is not None and answer.virtual_host.name == "blackhole"


def test_duplicate_domain_first_wins_and_is_reported() -> None:
    tbl = table(vhost("first", ["a.com"], route("r1")), vhost("second", ["a.com"], route("r2")))
    assert chosen("a.com", tbl) == "first"
    assert any("a.com" in p for p in tbl.problems)


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("Shop.Example.com", "shop.example.com"),
        ("shop.example.com:8080", "shop.example.com"),
        ("[::1]:8080", "[::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("10.0.0.1:80", "10.0.0.1"),
    ],
)
def test_normalize_host(authority: str, expected: str) -> None:
    assert normalize_host(authority) == expected
    assert normalize_host(authority) == expected  # again, from the memo


def test_normalize_host_memo_is_bounded() -> None:
    """The Host header is the client's: a flood of distinct values does not grow the memo."""
    for n in range(table_module._NORMALIZED_MAX * 2 + 10):
        assert normalize_host(f"Host-{n}.Example.com:{n % 65536}") == f"host-{n}.example.com"
    assert len(table_module._NORMALIZED) <= table_module._NORMALIZED_MAX
