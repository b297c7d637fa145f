"""Admin views beyond readiness/config/prometheus: clusters, Envoy-style stats, reload history,
per-object diagnostics. Read-only, JSON or plain text, never key material (`to_plain` redacts)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from meshgate import ir
from meshgate.diag import Diagnostic
from meshgate.proxy.stats import Stats

# Hook for outlier detection (proxy/upstream.py): when `UpstreamPools` grows a method
# `endpoint_state(cluster_name, address, port) -> dict` (e.g. {"ejected": True, "ejected_until":
# ..., "consecutive_5xx": 3}), /clusters shows what it returns next to each endpoint.
EndpointState = Callable[[str, str, int], dict[str, Any]]


def _pool_state(pools: object) -> EndpointState:
    """Read-only look at the live endpoint pools (proxy/upstream.py `EndpointPool`): requests in
    flight, idle connections and the outlier-detection state (ejection, consecutive failures)."""
    live: dict[tuple[str, str, int], Any] = getattr(pools, "_pools", {})

    def state(cluster: str, address: str, port: int) -> dict[str, Any]:
        pool = live.get((cluster, address, port))
        if pool is None:
            return {}
        until = float(getattr(pool, "ejected_until", 0.0) or 0.0)
        left = until - time.monotonic()
        return {
            "active_requests": getattr(pool, "active", 0),
            "idle_connections": len(getattr(pool, "idle", ())),
            "ejected": left > 0,
            "ejected_for_s": round(left, 3) if left > 0 else 0.0,
            "ejections": getattr(pool, "ejections", 0),
            "consecutive_5xx": getattr(pool, "fails_5xx", 0),
            "consecutive_gateway_errors": getattr(pool, "fails_gw", 0),
        }

    return state


def clusters_view(config: ir.Config | None, pools: object) -> dict[str, Any]:
    state: EndpointState | None = getattr(pools, "endpoint_state", None) or _pool_state(pools)
    out: list[dict[str, Any]] = []
    for cluster in config.clusters if config else ():
        endpoints = []
        for endpoint in cluster.endpoints:
            item: dict[str, Any] = {
                "address": f"{endpoint.address}:{endpoint.port}",
                "health": "healthy" if endpoint.ready else "unhealthy",
                "weight": endpoint.weight,
                "locality": endpoint.locality,
            }
            if state is not None:
                item.update(state(cluster.name, endpoint.address, endpoint.port))
            endpoints.append(item)
        out.append(
            {
                "name": cluster.name,
                "service": cluster.service_host,
                "subset": cluster.subset,
                "discovery": cluster.discovery,
                "outlier_detection": cluster.outlier_detection is not None,
                "endpoints": endpoints,
            }
        )
    return {"clusters": out}


def stats_text(stats: Stats) -> str:
    """Envoy's `/stats` flavour: `name: value` lines, sorted."""
    rows = {
        "downstream_cx_total": stats.downstream_cx_total,
        "downstream_cx_active": stats.downstream_cx_active,
        "downstream_protocol_errors": stats.downstream_protocol_errors,
        "upstream_cx_total": stats.upstream_cx_total,
        "upstream_cx_active": stats.upstream_cx_active,
        "upstream_cx_connect_fail": stats.upstream_cx_connect_fail,
        "upstream_rq_pending_overflow": stats.total(flags="UO"),
        "ssl.handshake": stats.tls_handshakes,
        "ssl.handshake_failures": stats.tls_handshake_failures,
        "filesystem.write_failed": stats.access_log_write_failures,  # Envoy's name
        "access_log.backlog_waits": stats.access_log_backlog_waits,  # meshgate's writer thread
        "config.sequence": stats.config_sequence,
        "downstream_rq_total": stats.total(),
        "workers": stats.workers,
    }
    for outcome, n in stats.reloads.items():
        rows[f"reload.{outcome}"] = n
    for (status, _, _), series in stats.series().items():
        key = f"downstream_rq_{status // 100}xx"
        rows[key] = rows.get(key, 0) + series.count
    return "".join(f"{name}: {value}\n" for name, value in sorted(rows.items()))


def diagnostics_view(diagnostics: Iterable[Diagnostic]) -> dict[str, Any]:
    """Diagnostics of the served snapshot, grouped by object (`Kind namespace/name`, or file)."""
    objects: dict[str, list[dict[str, Any]]] = {}
    for diagnostic in diagnostics:
        ref = diagnostic.resource
        if ref is not None:
            key = f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"
        else:
            key = diagnostic.origin.file if diagnostic.origin else "-"
        objects.setdefault(key, []).append(diagnostic.as_dict())
    return {"objects": dict(sorted(objects.items()))}
