"""Route-condition semantics (istio-semantics.md sec. 3.6), one field at a time."""

from __future__ import annotations

import pytest

from meshgate import ir
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.primitives import QueryParams, parse_query
from meshgate.routing.request import RequestView

from .irbuild import PRESENT, P, exact, path, prefix, regex, req


def holds(match: ir.RouteMatch, request: RequestView) -> bool:
    matcher = RouteMatcher(match)
    query = QueryParams(request.query) if matcher.uses_query else None
    return matcher.matches(request, query)


def on_path(kind: ir.PathMatchKind, value: str, ignore_case: bool = False) -> ir.RouteMatch:
    return ir.RouteMatch(path=path(kind, value, ignore_case))


# --- path -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "request_path", "query", "expected"),
    [
        ("/login", "/login", "", True),
        ("/login", "/login", "next=/", True),  # the query is not part of the path
        ("/login", "/login/", "", False),
        ("/login", "/Login", "", False),
        ("/login", "/log", "", False),
    ],
)
def test_exact_path_ignores_query(value: str, request_path: str, query: str, expected: bool) -> None:
    assert holds(on_path(P.EXACT, value), req(path=request_path, query=query)) is expected


def test_exact_path_ignore_case() -> None:
    match = on_path(P.EXACT, "/Login", ignore_case=True)
    assert holds(match, req(path="/LOGIN"))
    assert holds(match, req(path="/login"))
    assert not holds(match, req(path="/login2"))


@pytest.mark.parametrize(
    ("request_path", "query", "expected"),
    [
        ("/api", "", True),
        ("/api/x", "", True),
        ("/apix", "", True),  # raw string prefix: no segment boundary
        ("/api", "x", True),  # `/api?x`
        ("/ap", "", False),
        ("/API", "", False),
        ("/v1/api", "", False),
    ],
)
def test_prefix_is_a_raw_string_prefix(request_path: str, query: str, expected: bool) -> None:
    assert holds(on_path(P.PREFIX, "/api"), req(path=request_path, query=query)) is expected


def test_prefix_ignore_case() -> None:
    match = on_path(P.PREFIX, "/Api", ignore_case=True)
    assert holds(match, req(path="/API/users"))
    assert holds(match, req(path="/api"))
    assert not holds(match, req(path="/ap"))


def test_prefix_containing_a_question_mark_reaches_into_the_query() -> None:
    # Envoy compares a prefix with the whole :path, query included.
    match = on_path(P.PREFIX, "/search?q=")
    assert holds(match, req(path="/search", query="q=tea"))
    assert not holds(match, req(path="/search", query="page=2"))


@pytest.mark.parametrize(
    ("pattern", "request_path", "expected"),
    [
        (r"/users/[0-9]+", "/users/42", True),
        (r"/users/[0-9]+", "/users/42/profile", False),  # anchored at the end
        (r"/users/[0-9]+", "/v1/users/42", False),  # anchored at the start
        (r"[0-9]+", "/42", False),
        (r".*", "/anything", True),
        (r"/a|/b", "/b", True),  # alternation is anchored as a whole
        (r"/a|/b", "/ab", False),
        (r"(?i)/Users", "/USERS", True),
    ],
)
def test_regex_is_a_full_match(pattern: str, request_path: str, expected: bool) -> None:
    assert holds(on_path(P.REGEX, pattern), req(path=request_path)) is expected


def test_regex_sees_the_path_without_query() -> None:
    assert holds(on_path(P.REGEX, "/a"), req(path="/a", query="b=1"))


def test_regex_ignore_case_has_no_effect() -> None:
    match = on_path(P.REGEX, "/users", ignore_case=True)
    assert holds(match, req(path="/users"))
    assert not holds(match, req(path="/USERS"))


def test_regex_on_non_ascii_path() -> None:
    assert holds(on_path(P.REGEX, "/caf./menu"), req(path="/café/menu"))
    assert not holds(on_path(P.REGEX, "/caf./menu"), req(path="/cafés/menu"))


def test_invalid_regex_never_matches_and_is_reported() -> None:
    matcher = RouteMatcher(on_path(P.REGEX, "(?<=a)b"))
    assert not matcher.matches(req(path="/b"), None)
    assert matcher.problems()
    assert "regex" in matcher.problems()[0]


@pytest.mark.parametrize(
    ("value", "request_path", "expected"),
    [
        ("/foo", "/foo", True),
        ("/foo", "/foo/", True),
        ("/foo", "/foo/bar", True),
        ("/foo", "/foobar", False),
        ("/foo/", "/foo", True),  # trailing '/' of the value is stripped
        ("/foo/", "/foo/bar", True),
        ("/foo/", "/foobar", False),
        ("/foo/bar", "/foo", False),
        ("/", "/anything", True),
        ("", "/anything", True),
    ],
)
def test_segment_prefix(value: str, request_path: str, expected: bool) -> None:
    assert holds(on_path(P.SEGMENT_PREFIX, value), req(path=request_path)) is expected


def test_segment_prefix_matches_with_query() -> None:
    assert holds(on_path(P.SEGMENT_PREFIX, "/foo"), req(path="/foo", query="x=1"))


def test_no_condition_matches_everything() -> None:
    assert holds(ir.RouteMatch(), req(path="/whatever", method="DELETE"))


# --- method, scheme, authority ----------------------------------------------------------------


def test_method_is_case_sensitive() -> None:
    match = ir.RouteMatch(method=exact("GET"))
    assert holds(match, req(method="GET"))
    assert not holds(match, req(method="get"))
    assert not holds(match, req(method="POST"))


def test_method_regex_and_prefix() -> None:
    assert holds(ir.RouteMatch(method=regex("GET|HEAD")), req(method="HEAD"))
    assert not holds(ir.RouteMatch(method=regex("GET|HEAD")), req(method="GETX"))
    assert holds(ir.RouteMatch(method=prefix("PO")), req(method="POST"))


def test_scheme() -> None:
    match = ir.RouteMatch(scheme=exact("https"))
    assert holds(match, req(scheme="https"))
    assert not holds(match, req(scheme="http"))
    assert not holds(match, req(scheme="HTTPS"))


def test_authority_is_compared_as_sent_with_port() -> None:
    match = ir.RouteMatch(authority=exact("shop.example.com"))
    assert holds(match, req("shop.example.com"))
    assert not holds(match, req("shop.example.com:8080"))  # unlike vhost selection
    assert not holds(match, req("SHOP.example.com"))
    assert holds(ir.RouteMatch(authority=prefix("shop.")), req("shop.example.com:8080"))


# --- headers ----------------------------------------------------------------------------------


def header(name: str, match: ir.StringMatch, invert: bool = False) -> ir.RouteMatch:
    return ir.RouteMatch(headers=(ir.HeaderMatch(name, match, invert),))


def test_header_exact_is_case_sensitive_on_value() -> None:
    match = header("x-user", exact("alice"))
    assert holds(match, req(headers={"x-user": "alice"}))
    assert not holds(match, req(headers={"x-user": "Alice"}))
    assert not holds(match, req())  # absent never matches


def test_header_prefix_and_regex() -> None:
    assert holds(header("x-v", prefix("v2")), req(headers={"x-v": "v2.1"}))
    assert not holds(header("x-v", prefix("v2")), req(headers={"x-v": "v1"}))
    assert holds(header("x-v", regex("v[0-9]")), req(headers={"x-v": "v7"}))
    assert not holds(header("x-v", regex("v[0-9]")), req(headers={"x-v": "v77"}))


def test_header_present() -> None:
    match = header("x-debug", PRESENT)
    assert holds(match, req(headers={"x-debug": ""}))
    assert holds(match, req(headers={"x-debug": "1"}))
    assert not holds(match, req(headers={"x-other": "1"}))


def test_header_exact_empty_means_present_with_empty_value() -> None:
    match = header("x-debug", exact(""))
    assert holds(match, req(headers={"x-debug": ""}))
    assert not holds(match, req(headers={"x-debug": "1"}))
    assert not holds(match, req())


def test_header_names_are_lower_cased() -> None:
    assert holds(header("X-User", exact("a")), req(headers={"x-user": "a"}))


def test_without_header_holds_when_absent_or_not_matching() -> None:
    match = header("x-user", exact("alice"), invert=True)
    assert holds(match, req())
    assert holds(match, req(headers={"x-user": "bob"}))
    assert not holds(match, req(headers={"x-user": "alice"}))


def test_without_header_present_holds_only_when_absent() -> None:
    match = header("x-debug", PRESENT, invert=True)
    assert holds(match, req())
    assert not holds(match, req(headers={"x-debug": ""}))
    assert not holds(match, req(headers={"x-debug": "yes"}))


def test_all_conditions_are_anded() -> None:
    match = ir.RouteMatch(
        path=path(P.PREFIX, "/api"),
        method=exact("GET"),
        headers=(ir.HeaderMatch("x-a", exact("1")), ir.HeaderMatch("x-b", PRESENT)),
    )
    full = {"x-a": "1", "x-b": "y"}
    assert holds(match, req(path="/api/x", headers=full))
    assert not holds(match, req(path="/api/x", headers={"x-a": "1"}))
    assert not holds(match, req(path="/api/x", method="POST", headers=full))
    assert not holds(match, req(path="/web", headers=full))


# --- query parameters -------------------------------------------------------------------------


def query(name: str, match: ir.StringMatch) -> ir.RouteMatch:
    return ir.RouteMatch(query=(ir.QueryMatch(name, match),))


def test_query_exact() -> None:
    match = query("v", exact("2"))
    assert holds(match, req(query="v=2"))
    assert holds(match, req(query="a=1&v=2"))
    assert not holds(match, req(query="v=20"))
    assert not holds(match, req(query=""))


def test_query_key_without_value_is_empty_string() -> None:
    assert holds(query("debug", exact("")), req(query="debug"))
    assert holds(query("debug", exact("")), req(query="debug="))
    assert not holds(query("debug", exact("")), req(query="debug=1"))


def test_query_present() -> None:
    assert holds(query("debug", PRESENT), req(query="debug"))
    assert holds(query("debug", PRESENT), req(query="x=1&debug=0"))
    assert not holds(query("debug", PRESENT), req(query="debugx=1"))


def test_query_names_are_case_sensitive() -> None:
    assert not holds(query("v", exact("2")), req(query="V=2"))


def test_query_first_value_wins() -> None:
    assert holds(query("v", exact("1")), req(query="v=1&v=2"))
    assert not holds(query("v", exact("2")), req(query="v=1&v=2"))


def test_query_prefix_and_regex() -> None:
    assert holds(query("id", prefix("ab")), req(query="id=abc"))
    assert holds(query("id", regex("[a-c]+")), req(query="id=abc"))
    assert not holds(query("id", regex("[a-c]+")), req(query="id=abcd"))


def test_query_is_not_percent_decoded() -> None:
    assert holds(query("q", exact("a%20b")), req(query="q=a%20b"))
    assert not holds(query("q", exact("a b")), req(query="q=a%20b"))


def test_parse_query_edge_cases() -> None:
    assert parse_query("") == {}
    assert parse_query("a=1&&b") == {"a": "1", "b": ""}
    assert parse_query("a=1=2") == {"a": "1=2"}
    assert parse_query("a=1&a=2") == {"a": "1"}


def test_query_view_parses_once_and_lazily() -> None:
    view = QueryParams("a=1&b=2")
    assert view._parsed is None
    assert view.get("a") == "1"
    parsed = view._parsed
    assert view.get("b") == "2"
    assert view._parsed is parsed


def test_query_condition_without_a_view_still_answers() -> None:
    matcher = RouteMatcher(query("a", exact("1")))
    assert matcher.uses_query
    assert matcher.matches(req(query="a=1"), None)


def test_matcher_without_query_conditions_does_not_need_the_view() -> None:
    assert not RouteMatcher(header("x", PRESENT)).uses_query


# --- failure descriptions (used by explain) ----------------------------------------------------


@pytest.mark.parametrize(
    ("match", "view", "expected"),
    [
        (on_path(P.PREFIX, "/tea"), req(path="/coffee"), 'path: prefix "/tea" does not match "/coffee"'),
        (on_path(P.EXACT, "/a"), req(path="/b"), 'path: exact "/a" does not match "/b"'),
        (on_path(P.SEGMENT_PREFIX, "/a"), req(path="/ab"), 'path: segment prefix "/a" does not match "/ab"'),
        (ir.RouteMatch(method=exact("POST")), req(), 'method: exact "POST" does not match "GET"'),
        (header("x-user", exact("a")), req(), 'header x-user: exact "a" but header is absent'),
        (
            header("x-user", exact("a")),
            req(headers={"x-user": "b"}),
            'header x-user: exact "a" does not match "b"',
        ),
        (header("x-d", PRESENT, True), req(headers={"x-d": "1"}), 'header x-d: must be absent but is "1"'),
        (
            header("x-d", exact("1"), True),
            req(headers={"x-d": "1"}),
            'header x-d: must not match exact "1" but is "1"',
        ),
        (query("v", exact("2")), req(), 'query v: exact "2" but parameter is absent'),
        (query("v", exact("2")), req(query="v=3"), 'query v: exact "2" does not match "3"'),
        (
            ir.RouteMatch(authority=exact("a.com")),
            req("a.com:80"),
            'authority: exact "a.com" does not match "a.com:80"',
        ),
    ],
)
def test_first_failure_text(match: ir.RouteMatch, view: RequestView, expected: str) -> None:
    matcher = RouteMatcher(match)
    assert matcher.first_failure(view, None) == expected


def test_first_failure_is_none_when_matching() -> None:
    matcher = RouteMatcher(on_path(P.PREFIX, "/"))
    assert matcher.first_failure(req(path="/x"), None) is None


def test_first_failure_reports_the_first_failing_condition_in_order() -> None:
    match = ir.RouteMatch(
        path=path(P.PREFIX, "/api"), method=exact("POST"), headers=(ir.HeaderMatch("x", PRESENT),)
    )
    failure = RouteMatcher(match).first_failure(req(path="/api", method="GET"), None)
    assert failure is not None and failure.startswith("method:")
