"""Counters the data plane bumps and the admin server formats (Prometheus text, istio-semantics 8.2).

Hot path: the row of the last plain request again, else two dict lookups (cluster name, then
response code; a (code, flags) key when flags are set), and native increments on the row's `Series`
(`Stats.observe`); histogram buckets are found by compares with Envoy's default boundaries
(8.2.4). Labels are resolved from the config only when scraped, so the hot path never builds label
strings. Workers export their raw counters (`export`) and the supervisor merges them (`merge`)
before formatting, so one scrape reports every worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from meshgate import ir

# Envoy's default histogram bucket boundaries (istio-semantics 8.2.4); Istio uses them for the
# duration (ms) and the size (bytes) histograms alike.
BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
    10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
_N: Final = len(BUCKETS) + 1  # + the +Inf bucket
# Series.buckets: the duration run, then request bytes, then response bytes (each _N long)
_REQ_RUN: Final = _N
_RESP_RUN: Final = 2 * _N
# Series.entry() (exports, scrapes): count, duration sum, request bytes sum, response bytes sum,
# then the bucket runs
_DUR0: Final = 4
_REQ0: Final = _DUR0 + _REQ_RUN
_RESP0: Final = _DUR0 + _RESP_RUN


def _bucket(value: float) -> int:
    """Index of the first bucket whose bound is >= value (bisect_left over BUCKETS), as compares of
    native floats with constants: the loop over a tuple of boxed floats it replaces unboxed each bound
    (~130 instructions for a 600-byte response). tests/proxy/test_stats.py holds it to BUCKETS."""
    if value <= 0.5:
        return 0
    if value <= 1.0:
        return 1
    if value <= 5.0:
        return 2
    if value <= 10.0:
        return 3
    if value <= 25.0:
        return 4
    if value <= 50.0:
        return 5
    if value <= 100.0:
        return 6
    if value <= 250.0:
        return 7
    if value <= 500.0:
        return 8
    if value <= 1000.0:
        return 9
    if value <= 2500.0:
        return 10
    if value <= 5000.0:
        return 11
    if value <= 10000.0:
        return 12
    if value <= 30000.0:
        return 13
    if value <= 60000.0:
        return 14
    if value <= 300000.0:
        return 15
    if value <= 600000.0:
        return 16
    if value <= 1800000.0:
        return 17
    if value <= 3600000.0:
        return 18
    return 19


class Series:
    """One row of `istio_requests_total` and its three histograms (one (response_code,
    response_flags, cluster) key). Native fields and per-histogram bucket lists instead of one list
    of boxed numbers: every `+=` on a boxed float went through the generic number protocol."""

    __slots__ = ("buckets", "count", "duration_sum", "request_bytes_sum", "response_bytes_sum")

    def __init__(self) -> None:
        self.count = 0
        self.duration_sum = 0.0
        self.request_bytes_sum = 0
        self.response_bytes_sum = 0
        self.buckets = [0] * (3 * _N)  # the duration, request-bytes and response-bytes runs

    def entry(self) -> list[float]:
        """The exported layout: count, the three sums, then the three bucket runs."""
        return [
            float(self.count),
            self.duration_sum,
            float(self.request_bytes_sum),
            float(self.response_bytes_sum),
        ] + [float(n) for n in self.buckets]

    def add(self, values: list[float]) -> None:
        """Another worker's `entry()` (as read from its JSON export) added into this one."""
        self.count += int(values[0])
        self.duration_sum += values[1]
        self.request_bytes_sum += int(values[2])
        self.response_bytes_sum += int(values[3])
        buckets = self.buckets
        for i in range(3 * _N):
            buckets[i] += int(values[_DUR0 + i])


class _ClusterSeries:
    """A cluster's rows: by status alone when there are no response flags (the common case: an
    int-keyed lookup instead of hashing a (status, flags, cluster) tuple per request)."""

    __slots__ = ("flagged", "plain")

    def __init__(self) -> None:
        self.plain: dict[int, Series] = {}
        self.flagged: dict[tuple[int, str], Series] = {}


Key = tuple[int, str, str]  # (response_code, response_flags, cluster name)

_COUNTERS = (
    "downstream_cx_total",
    "downstream_cx_active",
    "downstream_protocol_errors",
    "upstream_cx_total",
    "upstream_cx_active",
    "upstream_cx_connect_fail",
    "tls_handshakes",
    "tls_handshake_failures",
    "access_log_backlog_waits",
    "access_log_write_failures",
)


@dataclass(slots=True)
class Stats:
    by_cluster: dict[str, _ClusterSeries] = field(default_factory=dict)
    downstream_cx_total: int = 0
    downstream_cx_active: int = 0
    upstream_cx_total: int = 0
    upstream_cx_active: int = 0
    upstream_cx_connect_fail: int = 0
    downstream_protocol_errors: int = 0
    tls_handshakes: int = 0
    tls_handshake_failures: int = 0
    access_log_backlog_waits: int = 0  # counted by the access log's writer (log_writer.py)
    access_log_write_failures: int = 0
    reloads: dict[str, int] = field(default_factory=dict)  # outcome → count
    config_sequence: int = 0  # bumped on every applied (or partly applied) reload
    config_version: str = ""
    workers: int = 1
    enabled: bool = True  # --stats off: requests are not counted (benchmarks the cost)
    # The row of the last plain (no flags) request: most requests repeat the last one's cluster and
    # status, and two dict lookups cost ~260 instructions. Rows are never removed, so it stays valid.
    _last_cluster: str = field(default="", init=False, repr=False, compare=False)
    _last_status: int = field(default=-1, init=False, repr=False, compare=False)
    _last_series: Series | None = field(default=None, init=False, repr=False, compare=False)

    def observe(
        self, status: int, flags: str, cluster: str, duration_ms: float, req_bytes: int, resp_bytes: int
    ) -> None:
        """One finished request: the counter and the three histograms."""
        if not self.enabled:
            return
        series = self._last_series
        if flags or series is None or status != self._last_status or cluster != self._last_cluster:
            series = self.row((status, flags, cluster))
            if not flags:
                self._last_series, self._last_status, self._last_cluster = series, status, cluster
        series.count += 1
        series.duration_sum += duration_ms
        series.request_bytes_sum += req_bytes
        series.response_bytes_sum += resp_bytes
        buckets = series.buckets
        # `x = x + 1`, not `x += 1`: on a list item mypyc's += is the generic PyNumber_InPlaceAdd
        # (~140 instructions); this unboxes, adds natively and boxes
        at = _bucket(duration_ms)
        buckets[at] = buckets[at] + 1
        at = _REQ_RUN + (_bucket(float(req_bytes)) if req_bytes else 0)
        buckets[at] = buckets[at] + 1
        at = _RESP_RUN + (_bucket(float(resp_bytes)) if resp_bytes else 0)
        buckets[at] = buckets[at] + 1

    def series(self) -> dict[Key, Series]:
        """Every row by (response_code, response_flags, cluster) (scrapes and exports)."""
        found: dict[Key, Series] = {}
        for cluster, rows in self.by_cluster.items():
            for status, series in rows.plain.items():
                found[(status, "", cluster)] = series
            for (status, flags), series in rows.flagged.items():
                found[(status, flags, cluster)] = series
        return found

    def row(self, key: Key) -> Series:
        """The row of a key, created when new."""
        status, flags, cluster = key
        rows = self.by_cluster.get(cluster)
        if rows is None:
            rows = self.by_cluster[cluster] = _ClusterSeries()
        table_key = (status, flags)
        if flags:
            series = rows.flagged.get(table_key)
            if series is None:
                series = rows.flagged[table_key] = Series()
            return series
        found = rows.plain.get(status)
        if found is None:
            found = rows.plain[status] = Series()
        return found

    def count(self, status: int, flags: str, cluster: str) -> None:
        self.observe(status, flags, cluster, 0.0, 0, 0)

    def tls_handshake(self, ok: bool) -> None:
        """Hook for the TLS layer: call once per finished (or failed) handshake."""
        self.tls_handshakes += 1
        if not ok:
            self.tls_handshake_failures += 1

    def reload(self, outcome: str, version: str = "", sequence: int = 0) -> None:
        self.reloads[outcome] = self.reloads.get(outcome, 0) + 1
        if version:
            self.config_version = version
            self.config_sequence = sequence

    def total(self, *, status: int | None = None, flags: str | None = None) -> int:
        return int(
            sum(
                series.count
                for (code, flag, _), series in self.series().items()
                if (status is None or code == status) and (flags is None or flag == flags)
            )
        )

    # --- across workers --------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """JSON-able raw counters (a worker's answer to the supervisor)."""
        return {
            "requests": [[s, f, c, series.entry()] for (s, f, c), series in self.series().items()],
            "counters": {name: getattr(self, name) for name in _COUNTERS},
            "reloads": dict(self.reloads),
            "config": [self.config_sequence, self.config_version],
        }

    def merge(self, raw: dict[str, Any]) -> None:
        for status, flags, cluster, values in raw.get("requests", ()):
            self.row((int(status), str(flags), str(cluster))).add(values)
        for name, value in raw.get("counters", {}).items():
            if name in _COUNTERS:
                setattr(self, name, getattr(self, name) + int(value))
        for outcome, n in raw.get("reloads", {}).items():
            self.reloads[outcome] = self.reloads.get(outcome, 0) + int(n)
        sequence, version = raw.get("config", (0, ""))
        if int(sequence) >= self.config_sequence:
            self.config_sequence, self.config_version = int(sequence), str(version)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") or "unknown"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _cluster_labels(cluster: ir.Cluster | None) -> dict[str, str]:
    if cluster is None:
        return {}
    host, name, namespace = cluster.service_host, cluster.service_name, cluster.service_namespace
    if not name and host.count(".") >= 1:
        name, _, rest = host.partition(".")
        namespace = namespace or rest.partition(".")[0]
    return {
        "destination_service": host,
        "destination_service_name": name,
        "destination_service_namespace": namespace,
        "destination_workload_namespace": namespace,
        "destination_canonical_service": name,
        "destination_version": cluster.subset,
        "destination_canonical_revision": cluster.subset,
    }


def _label_text(
    status: int, flags: str, cluster: ir.Cluster | None, source_workload: str, source_namespace: str
) -> str:
    """Every label of istio-semantics 8.2.3 for HTTP, `unknown` where the gateway cannot know."""
    known = _cluster_labels(cluster)
    labels = {
        "reporter": "source",
        "source_workload": source_workload,
        "source_workload_namespace": source_namespace,
        "source_principal": "",
        "source_app": source_workload,
        "source_version": "",
        "source_cluster": "",
        "source_canonical_service": source_workload,
        "source_canonical_revision": "latest",
        "destination_workload": "",
        "destination_workload_namespace": known.get("destination_workload_namespace", ""),
        "destination_principal": "",
        "destination_app": "",
        "destination_version": known.get("destination_version", ""),
        "destination_service": known.get("destination_service", ""),
        "destination_service_name": known.get("destination_service_name", ""),
        "destination_service_namespace": known.get("destination_service_namespace", ""),
        "destination_cluster": "",
        "destination_canonical_service": known.get("destination_canonical_service", ""),
        "destination_canonical_revision": known.get("destination_canonical_revision", ""),
        "request_protocol": "http",
        "response_code": str(status),
        "response_flags": flags or "-",
        "connection_security_policy": "unknown",
    }
    return ",".join(f'{name}="{_label(value)}"' for name, value in labels.items())


def format_prometheus(
    stats: Stats,
    config: ir.Config | None,
    *,
    source_workload: str = "istio-ingressgateway",
    source_namespace: str = "istio-system",
) -> str:
    clusters = {c.name: c for c in config.clusters} if config else {}
    merged: dict[str, list[float]] = {}
    for (status, flags, cluster_name), series in stats.series().items():
        entry = series.entry()
        labels = _label_text(status, flags, clusters.get(cluster_name), source_workload, source_namespace)
        into = merged.get(labels)
        if into is None:
            merged[labels] = list(entry)
        else:
            for i, value in enumerate(entry):
                into[i] += value
    rows = sorted(merged.items())
    lines = [
        "# HELP istio_requests_total Requests handled by the gateway.",
        "# TYPE istio_requests_total counter",
    ]
    lines += [f"istio_requests_total{{{labels}}} {_number(entry[0])}" for labels, entry in rows]
    histograms = (
        ("istio_request_duration_milliseconds", "Request duration (ms).", _DUR0, 1),
        ("istio_request_bytes", "Request body size (bytes).", _REQ0, 2),
        ("istio_response_bytes", "Response body size (bytes).", _RESP0, 3),
    )
    for name, help_text, first, sum_index in histograms:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for labels, entry in rows:
            cumulative = 0.0
            for i, bound in enumerate(BUCKETS):
                cumulative += entry[first + i]
                lines.append(f'{name}_bucket{{{labels},le="{_number(bound)}"}} {_number(cumulative)}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {_number(entry[0])}')
            lines.append(f"{name}_sum{{{labels}}} {_number(entry[sum_index])}")
            lines.append(f"{name}_count{{{labels}}} {_number(entry[0])}")
    overflow = stats.total(flags="UO")
    scalars = (
        ("meshgate_downstream_cx", "counter", stats.downstream_cx_total),
        ("meshgate_downstream_cx_active", "gauge", stats.downstream_cx_active),
        ("meshgate_downstream_protocol_errors", "counter", stats.downstream_protocol_errors),
        ("meshgate_upstream_cx", "counter", stats.upstream_cx_total),
        ("meshgate_upstream_cx_active", "gauge", stats.upstream_cx_active),
        ("meshgate_upstream_cx_connect_fail", "counter", stats.upstream_cx_connect_fail),
        ("meshgate_upstream_rq_pending_overflow", "counter", overflow),
        ("meshgate_tls_handshakes", "counter", stats.tls_handshakes),
        ("meshgate_tls_handshake_failures", "counter", stats.tls_handshake_failures),
        ("meshgate_access_log_backlog_waits", "counter", stats.access_log_backlog_waits),
        ("meshgate_access_log_write_failures", "counter", stats.access_log_write_failures),
        ("meshgate_config_sequence", "gauge", stats.config_sequence),
        ("meshgate_workers", "gauge", stats.workers),
    )
    for name, kind, count in scalars:
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{'_total' if kind == 'counter' else ''} {count}")
    lines.append("# TYPE meshgate_reloads counter")
    for outcome in ("applied", "partial", "rejected", "unchanged"):
        lines.append(f'meshgate_reloads_total{{outcome="{outcome}"}} {stats.reloads.get(outcome, 0)}')
    lines.append("# TYPE meshgate_config_info gauge")
    lines.append(f'meshgate_config_info{{version="{_label(stats.config_version)}"}} 1')
    return "\n".join(lines) + "\n"
