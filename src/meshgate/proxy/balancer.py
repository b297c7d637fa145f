"""Load balancing over a cluster's ready endpoints (istio-semantics 6.3), and outlier ejection (6.5).

Policies (`ir.LoadBalancer.policy`):

- ROUND_ROBIN: next endpoint in order.
- LEAST_REQUEST (Istio's default): two choices, fewest active requests. The first choice is the
  round-robin position and the second a random endpoint; ties go to the first, so a gateway with
  no concurrency degenerates to plain round robin (deterministic) and a loaded one to P2C.
- RANDOM: uniform.
- CONSISTENT_HASH: a ring hash (like Envoy's `ring_hash`, see `Ring`) over the endpoints,
  keyed by a header, cookie, source IP or query parameter (`hash_key` below). Without a key the
  pick falls back to round robin, like Envoy without a hash.

Ejected endpoints (outlier detection) are skipped; with every endpoint ejected the cluster has no
healthy host (panic threshold 0 under Istio) and the caller answers 503 UH. Ejections end lazily:
an endpoint whose `ejected_until` has passed is returned at its next pick.

Everything per-cluster (the ring) is built once per `ir.Cluster` object, i.e. once per snapshot.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from meshgate import ir

if TYPE_CHECKING:
    from meshgate.proxy.upstream import EndpointPool

POINTS_PER_WEIGHT = 256  # 4 endpoints: a ring of 1024, Envoy's minimum
_rand = random.Random()


def hash64(data: bytes) -> int:
    """Stable across processes and workers (unlike `hash()`): the first 8 bytes of BLAKE2b."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Ring:
    """Ring hash: each endpoint gets `weight × POINTS_PER_WEIGHT` points. Unlike Envoy (which
    scales points so the ring has at least 1024), the count per endpoint does not depend on how
    many endpoints there are, so adding one of N+1 endpoints moves only ~1/(N+1) of the keys,
    all of them to the new endpoint."""

    __slots__ = ("hashes", "owners")

    def __init__(self, members: Sequence[tuple[str, int]]) -> None:
        """`members`: (stable key such as "10.0.0.1:8080", weight) in endpoint order."""
        per_weight = POINTS_PER_WEIGHT
        points: list[tuple[int, int]] = []
        for index, (key, weight) in enumerate(members):
            encoded = key.encode()
            for replica in range(max(1, weight) * per_weight):
                points.append((hash64(b"%s_%d" % (encoded, replica)), index))
        points.sort()
        self.hashes = [point for point, _ in points]
        self.owners = [owner for _, owner in points]

    def lookup(self, key_hash: int) -> int:
        """Index (into `members`) of the first point clockwise from `key_hash`."""
        if not self.hashes:
            return -1
        position = bisect.bisect_left(self.hashes, key_hash)
        if position == len(self.hashes):
            position = 0
        return self.owners[position]

    def walk(self, key_hash: int) -> list[int]:
        """Distinct owners clockwise from `key_hash` (for skipping ejected endpoints)."""
        if not self.hashes:
            return []
        start = bisect.bisect_left(self.hashes, key_hash)
        seen: list[int] = []
        size = len(self.hashes)
        for offset in range(size):
            owner = self.owners[(start + offset) % size]
            if owner not in seen:
                seen.append(owner)
        return seen


def choose(
    policy: str,
    pools: Sequence[EndpointPool],
    rr: int,
    ring: Ring | None,
    key: bytes | None,
    exclude: Sequence[EndpointPool],
    now: float,
    rng: Callable[[], float] = _rand.random,
) -> EndpointPool | None:
    """One endpoint, skipping ejected ones and (when possible) those in `exclude`."""
    count = len(pools)
    if policy == "CONSISTENT_HASH" and ring is not None and key is not None:
        order = ring.walk(hash64(key))
        candidates = [pools[i] for i in order if available(pools[i], now)]
        if not candidates:
            return None
        return next((pool for pool in candidates if pool not in exclude), candidates[0])
    first = pools[int(rng() * count) % count] if policy == "RANDOM" else pools[rr % count]
    if policy == "LEAST_REQUEST" and count > 1:
        other = pools[int(rng() * count) % count]
        if other.active < first.active:
            first = other
    if available(first, now) and first not in exclude:
        return first
    fallback: EndpointPool | None = None
    for offset in range(1, count + 1):
        pool = pools[(rr + offset) % count]
        if available(pool, now):
            if pool not in exclude:
                return pool
            fallback = fallback or pool
    return fallback


def available(pool: EndpointPool, now: float) -> bool:
    until = pool.ejected_until
    if not until:
        return True
    if now >= until:
        pool.ejected_until = 0.0  # ejection over: back in the rotation
        pool.returned_at = now
        return True
    return False


# --- outlier detection --------------------------------------------------------------------------

MAX_EJECTION_TIME = 300.0  # Envoy's max_ejection_time default


def report(
    pool: EndpointPool,
    policy: ir.OutlierDetection,
    pools: Sequence[EndpointPool],
    *,
    status: int = 0,
    local_failure: bool = False,
    now: float,
) -> bool:
    """Record one result for `pool`; True when it got ejected by this result.

    5xx responses count for `consecutive_5xx`; 502/503/504 and local failures (connect errors,
    resets, timeouts: "locally originated", counted as 5xx without split_external_local_origin_errors)
    count for both. Any other response resets both counters.
    """
    gateway = local_failure or status in (502, 503, 504)
    if not (local_failure or status >= 500):
        pool.fails_5xx = pool.fails_gw = 0
        return False
    pool.fails_5xx += 1
    if gateway:
        pool.fails_gw += 1
    limit_5xx, limit_gw = policy.consecutive_5xx, policy.consecutive_gateway_errors
    tripped = (limit_5xx is not None and limit_5xx > 0 and pool.fails_5xx >= limit_5xx) or (
        limit_gw is not None and limit_gw > 0 and gateway and pool.fails_gw >= limit_gw
    )
    if not tripped or pool.ejected_until > now:
        return False
    ejected = sum(1 for other in pools if other.ejected_until > now)
    # Envoy: at most max_ejection_percent of the hosts, but at least one host regardless.
    if ejected and (ejected + 1) * 100 > policy.max_ejection_percent * len(pools):
        return False
    # The multiplier decays by one per interval spent back in the rotation without ejection.
    if pool.ejections and pool.returned_at and policy.interval > 0:
        decay = int((now - pool.returned_at) / policy.interval)
        pool.ejections = max(0, pool.ejections - decay)
    pool.ejections += 1
    cap = max(MAX_EJECTION_TIME, policy.base_ejection_time)
    pool.ejected_until = now + min(policy.base_ejection_time * pool.ejections, cap)
    pool.fails_5xx = pool.fails_gw = 0
    return True
