"""Sans-socket checks of the policy pieces: fault percentages, CORS origin matching, outlier
ejection limits, retry back-off, hash keys from cookies, the per-snapshot plan cache."""

from __future__ import annotations

import random

from meshgate import ir
from meshgate.proxy import balancer, fault
from meshgate.proxy.cors import CompiledCors
from meshgate.proxy.limits import Limits
from meshgate.proxy.plan import PlanCache
from meshgate.proxy.request_head import cookie_value
from meshgate.proxy.retry import compile_retry
from meshgate.proxy.stats import Stats
from meshgate.proxy.upstream import EndpointPool, UpstreamPools, _ClusterState


def test_fault_roll_is_parts_per_million() -> None:
    rng = random.Random(1).random
    assert not fault.roll(0.0, rng)
    assert fault.roll(100.0, rng)
    hits = sum(fault.roll(0.5, rng) for _ in range(200_000))
    assert 700 < hits < 1300  # 0.5 % of 200k = 1000
    assert fault.abort_for(ir.FaultPolicy(abort_status=503), rng) is None  # no percentage: never
    grpc = fault.abort_for(ir.FaultPolicy(abort_grpc_status="UNAVAILABLE", abort_percent=100), rng)
    assert grpc is not None and ("grpc-status", "14") in grpc[2]


def test_cors_origin_matchers() -> None:
    policy = ir.CorsPolicy(
        allow_origins=(
            ir.StringMatch(ir.MatchKind.PREFIX, "https://shop."),
            ir.StringMatch(ir.MatchKind.REGEX, r"https://[a-z]+\.example\.org"),
        ),
        forward_unmatched_preflights=False,
    )
    cors = CompiledCors(policy)
    assert cors.allowed("https://shop.example") and cors.allowed("https://api.example.org")
    assert not cors.allowed("https://evil.example")
    assert cors.preflight("https://evil.example") == ()  # IGNORE: answered without CORS headers
    assert CompiledCors(ir.CorsPolicy(allow_origins=(ir.StringMatch(ir.MatchKind.EXACT, "*"),))).allowed("x")


def _pool(port: int = 9000) -> EndpointPool:
    """A real endpoint pool (the compiled balancer accepts nothing else), fresh outlier state."""
    state = _ClusterState(ir.Cluster("c", "c", 80))
    return EndpointPool(UpstreamPools(Limits(), Stats()), state, "127.0.0.1", port)


def test_outlier_ejection_time_grows_and_max_percent_holds() -> None:
    pools = [_pool(9000 + i) for i in range(4)]
    policy = ir.OutlierDetection(
        consecutive_5xx=2, base_ejection_time=10, max_ejection_percent=25, interval=5
    )
    assert not balancer.report(pools[0], policy, pools, status=500, now=0)
    assert balancer.report(pools[0], policy, pools, status=503, now=0)
    assert pools[0].ejected_until == 10
    for _ in range(2):  # a second host would be 50 % > 25 %: not ejected
        balancer.report(pools[1], policy, pools, local_failure=True, now=1)
    assert pools[1].ejected_until == 0
    assert balancer.available(pools[0], 10.5) and pools[0].ejected_until == 0
    balancer.report(pools[0], policy, pools, status=500, now=11)
    assert balancer.report(pools[0], policy, pools, status=500, now=11)
    assert pools[0].ejected_until == 11 + 20  # second ejection: base × 2
    success = _pool()
    success.fails_5xx = 3
    balancer.report(success, policy, pools, status=200, now=0)
    assert success.fails_5xx == 0


def test_backoff_is_jittered_and_capped() -> None:
    rule = compile_retry(ir.RetryPolicy(5, ("5xx",), backoff_base=0.025))
    assert rule.backoff(1, lambda: 0.999) < 0.025
    assert rule.backoff(3, lambda: 0.999) < 0.1
    assert rule.backoff(20, lambda: 0.999) <= 0.25  # 10 × base
    assert compile_retry(ir.RetryPolicy(2, ("5xx",)), consistent_hash=True).other_hosts is False


def test_cookie_value() -> None:
    assert cookie_value('a=1; sticky="abc"; b=2', "sticky") == "abc"
    assert cookie_value("a=1", "sticky") == ""
    assert cookie_value(None, "sticky") == ""


def test_plan_cache_is_per_snapshot_and_by_identity() -> None:
    cache = PlanCache()
    svc = ir.Cluster("c", "c", 80)
    r = ir.Route("r", ir.RouteMatch(), ir.Forward((ir.WeightedCluster("c"),)))
    first = cache.get("s1", r, svc)
    assert cache.get("s1", r, svc) is first
    assert cache.get("s2", r, svc) is not first
    assert first.route_first and first.plain_request and first.plain_response


def test_plan_cache_is_per_cluster_of_a_weighted_route() -> None:
    """Two destinations balancing differently: each cluster's plan has its own retry rule (retrying
    on another host is off under consistent hashing, on otherwise)."""
    cache = PlanCache()
    hashed = ir.Cluster("h", "h", 80, load_balancer=ir.LoadBalancer(policy="CONSISTENT_HASH"))
    plain = ir.Cluster("p", "p", 80)
    dests = (ir.WeightedCluster("h", weight=50), ir.WeightedCluster("p", weight=50))
    r = ir.Route("r", ir.RouteMatch(), ir.Forward(dests), retries=ir.RetryPolicy(2, ("5xx",)))
    first = cache.get("s1", r, hashed)
    second = cache.get("s1", r, plain)
    assert first.retry.other_hosts is False and second.retry.other_hosts is True
    # alternating (the last-used entry, then the table): each cluster keeps its one plan
    for _ in range(3):
        assert cache.get("s1", r, hashed) is first and cache.get("s1", r, plain) is second
