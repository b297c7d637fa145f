"""Property tests (hypothesis) for the invariants routing relies on."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from meshgate import ir
from meshgate.hostnames import strip_port
from meshgate.routing import RouteDecision, compile_config, decide, select_chain, select_listener
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.primitives import Regex, parse_query
from meshgate.routing.table import normalize_host
from meshgate.routing.weights import WeightedPicker

from .irbuild import P, config, forward, http_chain, listener, path, req, route, table, vhost

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
dns_name = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
port = st.integers(min_value=0, max_value=65535)


@given(host=st.one_of(dns_name, ipv6), number=port)
def test_strip_port_round_trips(host: str, number: int) -> None:
    assert strip_port(f"{host}:{number}") == host
    assert strip_port(host) == host


@given(host=dns_name, number=st.one_of(st.none(), port), upper=st.booleans())
def test_normalize_host_strips_port_and_case(host: str, number: int | None, upper: bool) -> None:
    sent = host.upper() if upper else host
    if number is not None:
        sent = f"{sent}:{number}"
    assert normalize_host(sent) == host


@settings(max_examples=60, deadline=None)
@given(suffix=dns_name, extra=st.lists(label, min_size=1, max_size=3).map(".".join))
def test_suffix_wildcard_never_matches_its_bare_suffix(suffix: str, extra: str) -> None:
    tbl = table(vhost("wild", [f"*.{suffix}"], route("w")), vhost("any", ["*"], route("a")))

    def chosen(host: str) -> str:
        answer = decide(tbl, req(host))
        assert isinstance(answer, RouteDecision)
        return answer.virtual_host.name

    assert chosen(suffix) == "any"
    assert chosen(f".{suffix}") == "any"  # the wildcard must cover at least one character
    assert chosen(f"{extra}.{suffix}") == "wild"  # any number of labels


@settings(max_examples=60, deadline=None)
@given(suffix=dns_name, extra=st.lists(label, min_size=1, max_size=3).map(".".join))
def test_sni_wildcard_never_matches_its_bare_suffix(suffix: str, extra: str) -> None:
    chain = http_chain(vhost("v", ["*"], route("r")), name="wild", server_names=[f"*.{suffix}"], tls=True)
    tbl = compile_config(config(listener(443, chain)))
    found = select_listener(tbl, 443)
    assert found is not None
    assert select_chain(tbl, found, suffix) is None
    hit = select_chain(tbl, found, f"{extra}.{suffix}")
    assert hit is not None and hit.chain.name == "wild"


@given(
    weights=st.lists(st.integers(min_value=0, max_value=20), min_size=2, max_size=6),
    value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_weighted_pick_never_returns_a_zero_weight(weights: list[int], value: float) -> None:
    destinations = forward(*((f"s{i}", w) for i, w in enumerate(weights))).clusters
    chosen = WeightedPicker.build(destinations).pick(lambda: value)
    if sum(weights) == 0:
        assert chosen is None
    else:
        assert chosen is not None and chosen.weight > 0


@given(weights=st.lists(st.integers(min_value=0, max_value=9), min_size=2, max_size=5))
def test_weighted_pick_is_exactly_proportional_over_a_uniform_grid(weights: list[int]) -> None:
    total = sum(weights)
    destinations = forward(*((f"s{i}", w) for i, w in enumerate(weights))).clusters
    picker = WeightedPicker.build(destinations)
    counts = [0] * len(weights)
    for step in range(total):
        chosen = picker.pick(lambda step=step: (step + 0.5) / total)  # type: ignore[misc]
        assert chosen is not None
        counts[int(chosen.cluster.split("||s")[1])] += 1
    assert counts == weights


segment = st.from_regex(r"[a-c]{1,3}", fullmatch=True)
segments = st.lists(segment, min_size=0, max_size=4)


@given(prefix=segments, rest=segments, trailing=st.booleans())
def test_segment_prefix_matches_whole_segments(prefix: list[str], rest: list[str], trailing: bool) -> None:
    value = "/" + "/".join(prefix) + ("/" if trailing and prefix else "")
    request_path = "/" + "/".join(rest)
    matcher = RouteMatcher(ir.RouteMatch(path=path(P.SEGMENT_PREFIX, value)))
    expected = rest[: len(prefix)] == prefix
    assert matcher.matches(req(path=request_path), None) is expected


@given(
    value=st.from_regex(r"/[a-z/]{0,6}", fullmatch=True), rest=st.from_regex(r"[a-z/]{0,6}", fullmatch=True)
)
def test_prefix_matches_any_continuation(value: str, rest: str) -> None:
    matcher = RouteMatcher(ir.RouteMatch(path=path(P.PREFIX, value)))
    assert matcher.matches(req(path=value + rest), None)


# Patterns built from constructs RE2 and Python's re agree on, to check the literal-prefix
# pre-filter and the low-level RE2 call against an independent implementation.
atom = st.sampled_from(["a", "b", "/", ".", "[ab]", "[^/]", "(a|bb)", "x"])
quantifier = st.sampled_from(["", "", "*", "+", "?", "{1,2}"])
piece = st.tuples(atom, quantifier).map("".join)
pattern = st.lists(piece, min_size=1, max_size=5).map("".join)
alternative = st.one_of(pattern, st.tuples(pattern, pattern).map("|".join))


@settings(max_examples=300)
@given(regex=alternative, text=st.from_regex(r"[ab/x]{0,8}", fullmatch=True))
def test_re2_full_match_agrees_with_python_re(regex: str, text: str) -> None:
    assert Regex(regex).fullmatch(text) is (re.fullmatch(regex, text) is not None)


@given(
    pairs=st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,4}", fullmatch=True)
        ),
        max_size=6,
    )
)
def test_query_parsing_keeps_the_first_value(pairs: list[tuple[str, str]]) -> None:
    raw = "&".join(f"{k}={v}" if v else k for k, v in pairs)
    expected: dict[str, str] = {}
    for key, value in pairs:
        expected.setdefault(key, value)
    assert parse_query(raw) == expected


@settings(max_examples=50, deadline=None)
@given(paths=st.lists(st.from_regex(r"/[a-c]{0,3}(/[a-c]{0,3})?", fullmatch=True), min_size=1, max_size=6))
def test_first_match_wins(paths: list[str]) -> None:
    routes = [route(f"r{i}", path=path(P.PREFIX, p)) for i, p in enumerate(paths)]
    tbl = table(vhost("v", ["*"], *routes))
    for probe in paths:
        answer = decide(tbl, req(path=probe))
        assert isinstance(answer, RouteDecision)
        first = next(i for i, p in enumerate(paths) if probe.startswith(p))
        assert answer.route.name == f"r{first}"
