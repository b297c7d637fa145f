"""Server-wide state every connection shares: limits, pools, the snapshot store, stats, logging."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshgate.proxy.access_log import AccessLog
from meshgate.proxy.limits import DEFAULT_LIMITS, Limits
from meshgate.proxy.local_reply import DEFAULT_SERVER_NAME
from meshgate.proxy.stats import Stats
from meshgate.proxy.upstream import UpstreamPools
from meshgate.runtime.store import SnapshotStore


@dataclass(slots=True, eq=False)
class ProxyContext:
    store: SnapshotStore
    limits: Limits = DEFAULT_LIMITS
    stats: Stats = field(default_factory=Stats)
    access_log: AccessLog | None = None
    rng: Callable[[], float] = field(default_factory=lambda: random.Random().random)  # weighted picks
    server_name: str = DEFAULT_SERVER_NAME
    pools: UpstreamPools = field(init=False)
    server_header: bytes = field(init=False)
    server_lines: bytes = field(init=False)  # the gateway's response lines up to the service time
    connections: set[Any] = field(default_factory=set)  # open downstream protocols (for drain)

    def __post_init__(self) -> None:
        self.pools = UpstreamPools(self.limits, self.stats)
        if self.access_log is not None:
            self.access_log.writer.counts = self.stats  # its backlog waits and failures are metrics
        self.server_header = self.server_name.encode("latin-1")
        self.server_lines = b"server: " + self.server_header + b"\r\nx-envoy-upstream-service-time: "
