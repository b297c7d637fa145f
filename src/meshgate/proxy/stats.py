"""Counters the data plane bumps and the admin server formats (Prometheus text, istio-semantics 8.2).

Counting is a dict increment keyed by (response_code, response_flags, cluster name); labels are
resolved from the config only when scraped, so the hot path never builds label strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshgate import ir


@dataclass(slots=True)
class Stats:
    requests: dict[tuple[int, str, str], int] = field(default_factory=dict)
    downstream_cx_total: int = 0
    downstream_cx_active: int = 0
    upstream_cx_total: int = 0
    upstream_cx_active: int = 0
    upstream_cx_connect_fail: int = 0
    downstream_protocol_errors: int = 0

    def count(self, status: int, flags: str, cluster: str) -> None:
        key = (status, flags, cluster)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1

    def total(self, *, status: int | None = None, flags: str | None = None) -> int:
        return sum(
            n
            for (code, flag, _), n in self.requests.items()
            if (status is None or code == status) and (flags is None or flag == flags)
        )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") or "unknown"


def format_prometheus(
    stats: Stats,
    config: ir.Config | None,
    *,
    source_workload: str = "istio-ingressgateway",
    source_namespace: str = "istio-system",
) -> str:
    clusters = {c.name: c for c in config.clusters} if config else {}
    lines = [
        "# HELP istio_requests_total Requests handled by the gateway.",
        "# TYPE istio_requests_total counter",
    ]
    merged: dict[tuple[str, ...], int] = {}
    for (status, flags, cluster_name), count in stats.requests.items():
        cluster = clusters.get(cluster_name)
        host = cluster.service_host if cluster else ""
        name = cluster.service_name if cluster else ""
        namespace = cluster.service_namespace if cluster else ""
        if cluster and not name and host.count(".") >= 1:
            name, _, rest = host.partition(".")
            namespace = namespace or rest.partition(".")[0]
        key = (str(status), flags or "-", host, name, namespace, cluster_name)
        merged[key] = merged.get(key, 0) + count
    for (code, flags, host, name, namespace, cluster_name), count in sorted(merged.items()):
        labels = (
            f'reporter="source",source_workload="{_label(source_workload)}",'
            f'source_workload_namespace="{_label(source_namespace)}",'
            f'destination_service="{_label(host)}",destination_service_name="{_label(name)}",'
            f'destination_service_namespace="{_label(namespace)}",'
            f'upstream_cluster="{_label(cluster_name)}",request_protocol="http",'
            f'response_code="{code}",response_flags="{_label(flags)}",'
            f'connection_security_policy="unknown"'
        )
        lines.append(f"istio_requests_total{{{labels}}} {count}")
    gauges = (
        ("meshgate_downstream_cx_total", "counter", stats.downstream_cx_total),
        ("meshgate_downstream_cx_active", "gauge", stats.downstream_cx_active),
        ("meshgate_downstream_protocol_errors_total", "counter", stats.downstream_protocol_errors),
        ("meshgate_upstream_cx_total", "counter", stats.upstream_cx_total),
        ("meshgate_upstream_cx_active", "gauge", stats.upstream_cx_active),
        ("meshgate_upstream_cx_connect_fail_total", "counter", stats.upstream_cx_connect_fail),
    )
    for name, kind, value in gauges:
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {value}")
    return "\n".join(lines) + "\n"
