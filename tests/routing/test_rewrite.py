"""What goes upstream: `upstream_target` (istio-semantics.md sec. 3.10) and `upstream_authority`."""

from __future__ import annotations

import pytest

from meshgate import ir
from meshgate.routing import RouteDecision, decide, upstream_authority, upstream_target

from .irbuild import P, forward, path, req, route, table, vhost


def rewritten(match: ir.PathMatch | None, uri: str, target: str) -> str:
    rt = route("r", action=forward("svc", rewrite=ir.Rewrite(uri=uri)), path=match)
    request_path, _, query = target.partition("?")
    return upstream_target(rt, req(path=request_path, query=query))


# Every row of the sec. 3.10 table.
@pytest.mark.parametrize(
    ("match", "uri", "target", "expected"),
    [
        (path(P.PREFIX, "/api"), "/v2", "/api/users?x=1", "/v2/users?x=1"),
        (path(P.PREFIX, "/api"), "/", "/api/users", "//users"),
        (path(P.PREFIX, "/api/"), "/", "/api/users", "/users"),
        (path(P.EXACT, "/login"), "/auth/login", "/login?next=/", "/auth/login?next=/"),
        (None, "/v2", "/users", "/v2users"),
    ],
)
def test_section_3_10_table(match: ir.PathMatch | None, uri: str, target: str, expected: str) -> None:
    assert rewritten(match, uri, target) == expected


def test_prefix_api_slash_does_not_match_bare_api() -> None:
    # Row 3's note: `/api` alone does not match prefix `/api/`, so that route is never chosen.
    rt = route("r", action=forward("svc", rewrite=ir.Rewrite(uri="/")), path=path(P.PREFIX, "/api/"))
    answer = decide(table(vhost("v", ["*"], rt)), req(path="/api"))
    assert not isinstance(answer, RouteDecision)


def test_prefix_rewrite_with_ignore_case_replaces_the_configured_length() -> None:
    assert rewritten(path(P.PREFIX, "/API", ignore_case=True), "/v2", "/api/users") == "/v2/users"


def test_prefix_slash_catch_all_replaces_the_leading_slash() -> None:
    assert rewritten(path(P.PREFIX, "/"), "/v2/", "/users?a=1") == "/v2/users?a=1"


def test_regex_match_replaces_the_whole_path_and_keeps_the_query() -> None:
    assert rewritten(path(P.REGEX, "/u/[0-9]+"), "/user", "/u/42?full=1") == "/user?full=1"


def test_segment_prefix_uses_the_value_without_trailing_slash() -> None:
    assert rewritten(path(P.SEGMENT_PREFIX, "/foo/"), "/bar", "/foo/x?q") == "/bar/x?q"
    assert rewritten(path(P.SEGMENT_PREFIX, "/foo"), "/bar", "/foo") == "/bar"
    assert rewritten(path(P.SEGMENT_PREFIX, "/"), "/v2/", "/x") == "/v2/x"


def test_no_rewrite_sends_the_request_target() -> None:
    rt = route("r", path=path(P.PREFIX, "/api"))
    assert upstream_target(rt, req(path="/api/x", query="a=1")) == "/api/x?a=1"
    assert upstream_target(route("r", action=ir.DirectResponse(200)), req(path="/x")) == "/x"


def regex_rewritten(pattern: str, substitution: str, target: str) -> str:
    rewrite = ir.Rewrite(regex=pattern, regex_substitution=substitution)
    rt = route("r", action=forward("svc", rewrite=rewrite))
    request_path, _, query = target.partition("?")
    return upstream_target(rt, req(path=request_path, query=query))


@pytest.mark.parametrize(
    ("pattern", "substitution", "target", "expected"),
    [
        ("^/service/([^/]+)(/.*)$", r"\2/instance/\1", "/service/foo/v1/api?x=1", "/v1/api/instance/foo?x=1"),
        ("one", "two", "/xxx/one/yyy/one/zzz", "/xxx/two/yyy/two/zzz"),  # replace-all
        ("^(.*?)one(.*)$", r"\1two\2", "/xxx/one/yyy/one/zzz", "/xxx/two/yyy/one/zzz"),
        ("(?i)/xxx/", "/yyy/", "/aaa/XxX/bbb", "/aaa/yyy/bbb"),
        ("^/api", r"\0\0", "/api/x", "/api/api/x"),  # \0 is the whole match
        ("^/api", r"\\", "/api/x", "\\/x"),  # \\ is a literal backslash
        ("^.*$", "", "/anything?q=1", "/anything?q=1"),  # empty result leaves the path untouched
        ("nomatch", "x", "/a?b", "/a?b"),
        ("(", "x", "/a", "/a"),  # invalid pattern: untouched
    ],
)
def test_regex_rewrite(pattern: str, substitution: str, target: str, expected: str) -> None:
    assert regex_rewritten(pattern, substitution, target) == expected


def test_regex_rewrite_wins_over_uri() -> None:
    rewrite = ir.Rewrite(uri="/ignored", regex="^/a", regex_substitution="/b")
    rt = route("r", action=forward("svc", rewrite=rewrite), path=path(P.PREFIX, "/a"))
    assert upstream_target(rt, req(path="/a/x")) == "/b/x"


# --- authority --------------------------------------------------------------------------------


def test_authority_defaults_to_the_request_host() -> None:
    destination = ir.WeightedCluster("outbound|80||svc")
    rt = route("r", action=ir.Forward((destination,)))
    assert upstream_authority(rt, destination, req("shop.example.com:8080")) == "shop.example.com:8080"


def test_route_authority_wins_for_a_single_destination() -> None:
    destination = ir.WeightedCluster("outbound|80||svc", authority="per-destination.example.com")
    rt = route("r", action=ir.Forward((destination,), ir.Rewrite(authority="route.example.com")))
    assert upstream_authority(rt, destination, req("client.example.com")) == "route.example.com"
    plain = route("r", action=ir.Forward((destination,)))
    assert upstream_authority(plain, destination, req("client.example.com")) == "per-destination.example.com"


def test_each_weighted_destination_can_carry_its_own_authority() -> None:
    a = ir.WeightedCluster("outbound|80||a", 50, authority="a.internal")
    b = ir.WeightedCluster("outbound|80||b", 50)
    rt = route("r", action=ir.Forward((a, b), ir.Rewrite(authority="route.internal")))
    assert upstream_authority(rt, a, req("client")) == "a.internal"
    assert upstream_authority(rt, b, req("client")) == "route.internal"
    no_route_authority = route("r", action=ir.Forward((a, b)))
    assert upstream_authority(no_route_authority, b, req("client")) == "client"
