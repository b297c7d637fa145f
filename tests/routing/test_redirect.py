"""Redirect `location` (istio-semantics.md sec. 3.8 rules 2-5, and 1.5 for httpsRedirect)."""

from __future__ import annotations

import pytest

from meshgate import ir
from meshgate.routing import LocalReply, decide
from meshgate.routing.redirect import redirect_location, split_authority, tls_redirect_location

from .irbuild import P, path, req, route, table, vhost

OLD = path(P.PREFIX, "/old")


def location(
    redirect: ir.Redirect,
    authority: str,
    target: str,
    *,
    scheme: str = "http",
    match: ir.PathMatch | None = OLD,
) -> str:
    request_path, _, query = target.partition("?")
    return redirect_location(redirect, match, req(authority, request_path, query=query, scheme=scheme))


def test_worked_example_of_section_3_8() -> None:
    redirect = ir.Redirect(code=308, host="new.example.com", path="/new")
    tbl = table(vhost("v", ["shop.example.com"], route("old", action=redirect, path=OLD)))
    answer = decide(tbl, req("shop.example.com:8080", "/old/x", query="q=1"))
    assert isinstance(answer, LocalReply)
    assert answer.status == 308
    assert answer.headers == (("location", "http://new.example.com/new?q=1"),)


def test_worked_example_of_section_1_5() -> None:
    assert tls_redirect_location(req("shop.example.com:8080", "/a", query="b=1")) == (
        "https://shop.example.com:8080/a?b=1"
    )


def test_default_code_is_301() -> None:
    tbl = table(vhost("v", ["*"], route("r", action=ir.Redirect(host="b.com"))))
    answer = decide(tbl, req())
    assert isinstance(answer, LocalReply) and answer.status == 301


@pytest.mark.parametrize(
    ("redirect", "target", "expected_path"),
    [
        (ir.Redirect(path="/new"), "/old/x?q=1", "/new?q=1"),  # query kept
        (ir.Redirect(path="/new"), "/old/x", "/new"),
        (ir.Redirect(path="/new?a=b"), "/old/x?q=1", "/new?a=b"),  # its own query replaces
        (ir.Redirect(path="new"), "/old", "/new"),  # always absolute
        (ir.Redirect(host="b.com"), "/old/x?q=1", "/old/x?q=1"),  # no path option: unchanged
        (ir.Redirect(prefix_rewrite="/new"), "/old/x?q=1", "/new/x?q=1"),
        (ir.Redirect(prefix_rewrite="/"), "/old/x", "//x"),
    ],
)
def test_path_rules(redirect: ir.Redirect, target: str, expected_path: str) -> None:
    assert (
        location(redirect, "a.com", target)
        == f"http://{'b.com' if redirect.host else 'a.com'}{expected_path}"
    )


def test_prefix_rewrite_replaces_only_the_matched_prefix() -> None:
    redirect = ir.Redirect(prefix_rewrite="/")
    assert location(redirect, "a.com", "/old/x", match=path(P.PREFIX, "/old/")) == "http://a.com/x"
    assert location(redirect, "a.com", "/Old/x", match=path(P.PREFIX, "/old/", ignore_case=True)) == (
        "http://a.com/x"
    )
    segment = path(P.SEGMENT_PREFIX, "/old/")
    assert (
        location(ir.Redirect(prefix_rewrite="/new"), "a.com", "/old/x", match=segment) == "http://a.com/new/x"
    )
    exact = path(P.EXACT, "/old")
    assert (
        location(ir.Redirect(prefix_rewrite="/new"), "a.com", "/old?q", match=exact) == "http://a.com/new?q"
    )
    assert location(ir.Redirect(prefix_rewrite="/v2/"), "a.com", "/x", match=None) == "http://a.com/v2/x"


@pytest.mark.parametrize(
    ("redirect", "authority", "scheme", "expected"),
    [
        # authority replaces the host and drops the request's port
        (ir.Redirect(host="b.com"), "a.com:8080", "http", "http://b.com/old"),
        (ir.Redirect(host="b.com", port=8443), "a.com:8080", "http", "http://b.com:8443/old"),
        # without authority the Host is reused as sent
        (ir.Redirect(path="/old"), "A.com:8080", "http", "http://A.com:8080/old"),
        (ir.Redirect(path="/old"), "a.com:80", "http", "http://a.com:80/old"),  # same scheme: kept
        # scheme change drops the old scheme's default port only
        (ir.Redirect(scheme="https"), "a.com:80", "http", "https://a.com/old"),
        (ir.Redirect(scheme="https"), "a.com:8080", "http", "https://a.com:8080/old"),
        (ir.Redirect(scheme="http"), "a.com:443", "https", "http://a.com/old"),
        (ir.Redirect(scheme="http"), "a.com:80", "https", "http://a.com:80/old"),
        (ir.Redirect(scheme="https"), "a.com", "http", "https://a.com/old"),
        # an explicit port replaces the request's
        (ir.Redirect(port=8443), "a.com:8080", "http", "http://a.com:8443/old"),
        (ir.Redirect(port=8443), "a.com", "http", "http://a.com:8443/old"),
        (ir.Redirect(port=9000), "[::1]:8080", "http", "http://[::1]:9000/old"),
        (ir.Redirect(scheme="https", port=8443), "a.com:80", "http", "https://a.com:8443/old"),
        # default ports are never written; the elision scheme is the redirect's scheme...
        (ir.Redirect(scheme="https", port=443), "a.com", "http", "https://a.com/old"),
        (ir.Redirect(scheme="http", port=80), "a.com", "https", "http://a.com/old"),
        (ir.Redirect(scheme="http", port=443), "a.com", "http", "http://a.com:443/old"),
        # ...or, without scheme, https on TLS servers and http otherwise (the location keeps the
        # request's scheme)
        (ir.Redirect(port=443, server_tls=True), "a.com", "https", "https://a.com/old"),
        (ir.Redirect(port=443, server_tls=False), "a.com", "http", "http://a.com:443/old"),
        (ir.Redirect(port=80, server_tls=False), "a.com", "http", "http://a.com/old"),
        (ir.Redirect(port=80, server_tls=True), "a.com", "https", "https://a.com:80/old"),
        # an elided or protocol-default port writes nothing, so the Host keeps its port (Envoy)
        (ir.Redirect(port=80), "a.com:8080", "http", "http://a.com:8080/old"),
        (ir.Redirect(port=0), "a.com:8080", "http", "http://a.com:8080/old"),
        (ir.Redirect(port=0, scheme="https"), "a.com:80", "http", "https://a.com/old"),
    ],
)
def test_host_port_and_scheme_rules(
    redirect: ir.Redirect, authority: str, scheme: str, expected: str
) -> None:
    assert location(redirect, authority, "/old", scheme=scheme) == expected


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("a.com", ("a.com", "")),
        ("a.com:8080", ("a.com", "8080")),
        ("[::1]:8080", ("[::1]", "8080")),
        ("[::1]", ("[::1]", "")),
    ],
)
def test_split_authority(authority: str, expected: tuple[str, str]) -> None:
    assert split_authority(authority) == expected
