"""Route-match containment against the real matcher (`meshgate.routing`).

`contains(a, b)` must say "contained" exactly when every request `b` matches is matched by `a`. For
regex-free matches the answer is exact both ways: "not contained" carries a witness request (checked
here again with a fresh matcher), and "contained" is checked against requests drawn from a pool built
from the matches' own values (so most of them do match `b`).
"""

from __future__ import annotations

import functools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshgate import ir
from meshgate.analysis.containment import contains, overlap, satisfiable
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.request import RequestView

P, PK, S, MK = ir.PathMatch, ir.PathMatchKind, ir.StringMatch, ir.MatchKind

_seeds = st.integers(0, 2**32 - 1)
_CHARS = "aAb/"
_texts = st.text(alphabet=_CHARS, max_size=4)
_paths = st.builds(lambda t: "/" + t, _texts)

path_matches = st.builds(
    P,
    st.sampled_from([PK.EXACT, PK.PREFIX, PK.SEGMENT_PREFIX]),
    _paths,
    st.booleans(),
)
string_matches = st.builds(S, st.sampled_from([MK.EXACT, MK.PREFIX]), _texts, st.booleans())
value_matches = st.one_of(string_matches, st.just(S(MK.PRESENT)))
header_matches = st.builds(ir.HeaderMatch, st.sampled_from(["x", "y"]), value_matches, st.booleans())
query_matches = st.builds(ir.QueryMatch, st.sampled_from(["q", "r"]), value_matches)

route_matches = st.builds(
    ir.RouteMatch,
    path=st.none() | path_matches,
    method=st.none() | string_matches,
    scheme=st.none() | string_matches,
    authority=st.none() | string_matches,
    headers=st.lists(header_matches, max_size=3).map(tuple),
    query=st.lists(query_matches, max_size=2).map(tuple),
)


def _values(*matches: ir.RouteMatch) -> list[str]:
    """Candidate attribute values: every configured value, case-swapped, extended, truncated."""
    seeds = {"", "/", "a", "A", "b"}
    for match in matches:
        for item in (match.path, match.method, match.scheme, match.authority):
            if item is not None:
                seeds.add(item.value)
        for header in match.headers:
            seeds.add(header.match.value)
        for param in match.query:
            seeds.add(param.match.value)
    out = set()
    for seed in seeds:
        for variant in (seed, seed.swapcase(), seed.upper(), seed.lower()):
            out.update({variant, variant + "/", variant + "a", variant + "/b", variant[:-1]})
    return sorted(out)


def requests_for(rng: random.Random, a: ir.RouteMatch, b: ir.RouteMatch, count: int) -> list[RequestView]:
    """Requests built from the matches' own values (a seeded RNG: plain Python is much faster than
    one Hypothesis draw per attribute, and the seed still comes from Hypothesis)."""
    values = _values(a, b)
    paths = [v for v in values if v.startswith("/")]  # request paths always start with '/'

    out = []
    for _ in range(count):
        headers = {name: rng.choice(values) for name in ("x", "y") if rng.random() < 0.6}
        query = "&".join(f"{name}={rng.choice(values)}" for name in ("q", "r") if rng.random() < 0.5)
        out.append(
            RequestView(
                port=80,
                authority=rng.choice(values),
                path=rng.choice(paths),
                query=query,
                method=rng.choice(values),
                scheme=rng.choice(values),
                headers=headers,
            )
        )
    return out


@functools.lru_cache(maxsize=4096)
def _matcher(match: ir.RouteMatch) -> RouteMatcher:
    return RouteMatcher(match)


def _match(match: ir.RouteMatch, request: RequestView) -> bool:
    return _matcher(match).matches(request, None)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route_matches, route_matches, st.data())
def test_containment_is_exact_for_regex_free_matches(
    a: ir.RouteMatch, b: ir.RouteMatch, data: st.DataObject
) -> None:
    verdict = contains(a, b)
    if not verdict.contained:
        assert verdict.witness is not None, "regex-free: 'not contained' must come with a witness"
        assert _match(b, verdict.witness) and not _match(a, verdict.witness)
        return
    for request in requests_for(random.Random(data.draw(_seeds)), a, b, 40):
        if _match(b, request):
            assert _match(a, request), f"claimed contained, but {request} matches b only"


@settings(max_examples=150, deadline=None)
@given(route_matches, route_matches, st.data())
def test_overlap_is_exact_for_regex_free_matches(
    a: ir.RouteMatch, b: ir.RouteMatch, data: st.DataObject
) -> None:
    example = overlap(a, b)
    if example is not None:
        assert _match(a, example) and _match(b, example)
        return
    for request in requests_for(random.Random(data.draw(_seeds)), a, b, 40):
        assert not (_match(a, request) and _match(b, request))


@settings(max_examples=100, deadline=None)
@given(route_matches, st.data())
def test_a_match_contains_itself_and_unsatisfiable_matches_match_nothing(
    b: ir.RouteMatch, data: st.DataObject
) -> None:
    assert contains(b, b).contained
    if satisfiable(b) is False:
        assert contains(ir.RouteMatch(path=P(PK.EXACT, "/never")), b).empty
        for request in requests_for(random.Random(data.draw(_seeds)), b, b, 20):
            assert not _match(b, request)
    else:
        example = overlap(b, b)
        assert example is not None and _match(b, example)


# --- examples that read as documentation ------------------------------------------------------------


def _hdr(name: str, kind: ir.MatchKind, value: str = "", invert: bool = False) -> ir.HeaderMatch:
    return ir.HeaderMatch(name, S(kind, value), invert)


def test_path_rules() -> None:
    exact = ir.RouteMatch(path=P(PK.EXACT, "/api/users"))
    prefix = ir.RouteMatch(path=P(PK.PREFIX, "/api"))
    longer = ir.RouteMatch(path=P(PK.PREFIX, "/api/v2"))
    assert contains(prefix, exact).contained  # exact ⊆ prefix when it starts with it
    assert contains(prefix, longer).contained  # prefix ⊆ shorter prefix
    assert not contains(longer, prefix).contained
    assert not contains(exact, prefix).contained
    # Ingress segment prefix /api does not match /apiary; Istio's raw prefix /api does.
    segment = ir.RouteMatch(path=P(PK.SEGMENT_PREFIX, "/api"))
    verdict = contains(segment, prefix)
    assert not verdict.contained and verdict.witness is not None
    assert verdict.witness.path.startswith("/api") and not verdict.witness.path.startswith("/api/")
    assert contains(prefix, segment).contained


def test_case_insensitive_paths() -> None:
    folded = ir.RouteMatch(path=P(PK.PREFIX, "/API", ignore_case=True))
    plain = ir.RouteMatch(path=P(PK.PREFIX, "/api/x"))
    assert contains(folded, plain).contained
    verdict = contains(plain, ir.RouteMatch(path=P(PK.PREFIX, "/api/x", ignore_case=True)))
    assert verdict.witness is not None and verdict.witness.path != "/api/x"


def test_headers_and_without_headers() -> None:
    canary = ir.RouteMatch(path=P(PK.PREFIX, "/api"), headers=(_hdr("x-canary", MK.EXACT, "true"),))
    api = ir.RouteMatch(path=P(PK.PREFIX, "/api"))
    assert contains(api, canary).contained
    verdict = contains(canary, api)
    assert verdict.witness is not None and "x-canary" not in verdict.witness.headers
    # "x is not b" is implied by "x is a"; "x absent" is not implied by "x not a".
    not_b = ir.RouteMatch(headers=(_hdr("x", MK.EXACT, "b", invert=True),))
    is_a = ir.RouteMatch(headers=(_hdr("x", MK.EXACT, "a"),))
    assert contains(not_b, is_a).contained
    absent = ir.RouteMatch(headers=(_hdr("x", MK.PRESENT, invert=True),))
    not_a = ir.RouteMatch(headers=(_hdr("x", MK.EXACT, "a", invert=True),))
    assert contains(not_a, absent).contained and not contains(absent, not_a).contained


def test_method_must_be_implied() -> None:
    get = ir.RouteMatch(path=P(PK.PREFIX, "/"), method=S(MK.EXACT, "GET"))
    any_method = ir.RouteMatch(path=P(PK.PREFIX, "/a"))
    verdict = contains(get, any_method)
    assert verdict.witness is not None and verdict.witness.method != "GET"
    assert contains(any_method, ir.RouteMatch(path=P(PK.EXACT, "/a"), method=S(MK.EXACT, "GET"))).contained


def test_regexes_only_when_identical() -> None:
    regex = ir.RouteMatch(path=P(PK.REGEX, "/items/[0-9]+"))
    narrower = ir.RouteMatch(path=P(PK.REGEX, "/items/[0-9]+"), method=S(MK.EXACT, "GET"))
    assert contains(regex, narrower).contained
    other = ir.RouteMatch(path=P(PK.REGEX, "/items/[0-9]*"))
    assert contains(other, regex) == contains(other, regex)  # cached, deterministic
    assert not contains(other, regex).contained and contains(other, regex).witness is None
    # A finite set of paths is checked value by value against a regex.
    assert contains(regex, ir.RouteMatch(path=P(PK.EXACT, "/items/42"))).contained
    assert contains(regex, ir.RouteMatch(path=P(PK.EXACT, "/items/x"))).witness is not None


def test_contradictions_are_unsatisfiable() -> None:
    both = ir.RouteMatch(headers=(_hdr("x", MK.EXACT, "a"), _hdr("x", MK.PRESENT, invert=True)))
    assert satisfiable(both) is False
    assert satisfiable(ir.RouteMatch(path=P(PK.EXACT, "/a?b"))) is False  # paths never hold '?'
    assert satisfiable(ir.RouteMatch(path=P(PK.REGEX, "/a.*"))) is None
