"""Per-route objects the exchange needs, compiled once per route per snapshot.

`plan_for(route)` is a dict lookup by the route's identity; the cache is dropped whenever a new
snapshot is seen, so it never keeps old configuration alive (and routes are never hashed by value,
which would walk the whole frozen dataclass on every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from meshgate import ir
from meshgate.proxy.cors import CompiledCors
from meshgate.proxy.retry import RetryRule, compile_retry

_NO_EDITS = ir.HeaderEdits()


@dataclass(frozen=True, slots=True)
class RoutePlan:
    retry: RetryRule
    cors: CompiledCors | None
    fault: ir.FaultPolicy | None
    mirrors: tuple[ir.Mirror, ...]
    # istio-semantics 3.16.5: one destination → route ops, then destination ops; weighted
    # destinations → destination ops, then route ops.
    route_first: bool
    # no header edits anywhere on the route (any destination): the heads take the fast path
    plain_request: bool
    plain_response: bool
    # no rewrite: the upstream target is the request's (what routing.upstream_target returns)
    plain_target: bool
    # no rewrite and at most one destination: the upstream authority is the destination's own,
    # else the request's (what routing.upstream_authority returns)
    plain_authority: bool

    def request_edits(self, route: ir.Route, dest: ir.WeightedCluster) -> tuple[ir.HeaderEdits, ...]:
        if self.route_first:
            return (route.request_headers, dest.request_headers)
        return (dest.request_headers, route.request_headers)

    def response_edits(
        self, route: ir.Route, dest: ir.WeightedCluster, extra: ir.HeaderEdits | None
    ) -> tuple[ir.HeaderEdits, ...]:
        first, second = (
            (route.response_headers, dest.response_headers)
            if self.route_first
            else (dest.response_headers, route.response_headers)
        )
        return (first, second, extra) if extra is not None else (first, second)


class PlanCache:
    __slots__ = ("_last", "_plans", "_snapshot")

    def __init__(self) -> None:
        self._plans: dict[int, tuple[ir.Route, ir.Cluster, RoutePlan]] = {}
        self._snapshot: object = None
        # the entry found last: requests to one route in a row skip the two id()s and the dict
        # lookup (~0.45k instructions); a miss costs two identity compares
        self._last: tuple[ir.Route, ir.Cluster, RoutePlan] | None = None

    def get(self, snapshot: object, route: ir.Route, cluster: ir.Cluster) -> RoutePlan:
        """Per (route, cluster): the retry rule depends on the cluster's load balancer, and the
        destinations of one route can be clusters that balance differently."""
        if snapshot is not self._snapshot:
            self._plans = {}
            self._snapshot = snapshot
            self._last = None
        last = self._last
        if last is not None and last[0] is route and last[1] is cluster:
            return last[2]
        # one int from both identities (a tuple key cost ~0.9k instructions per request); a
        # collision is caught by the identity check below and only costs a rebuild
        key = id(route) ^ (id(cluster) << 1)
        entry = self._plans.get(key)
        if entry is None or entry[0] is not route or entry[1] is not cluster:
            entry = self._plans[key] = (route, cluster, build(route, cluster))
        self._last = entry
        return entry[2]


def build(route: ir.Route, cluster: ir.Cluster) -> RoutePlan:
    action = route.action
    clusters = action.clusters if isinstance(action, ir.Forward) else ()
    consistent = cluster.load_balancer.policy == "CONSISTENT_HASH"
    forward = action if isinstance(action, ir.Forward) else None
    return RoutePlan(
        retry=compile_retry(route.retries, consistent),
        cors=CompiledCors(route.cors) if route.cors is not None else None,
        fault=route.fault,
        mirrors=route.mirrors,
        route_first=len(clusters) <= 1,
        plain_request=not (route.request_headers or any(c.request_headers for c in clusters)),
        plain_response=not (route.response_headers or any(c.response_headers for c in clusters)),
        plain_target=forward is None or forward.rewrite is None,
        plain_authority=forward is None or (forward.rewrite is None and len(clusters) <= 1),
    )


plans: Final = PlanCache()  # Final: importers read a C static, not the module dict, per request
