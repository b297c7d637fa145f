"""Request counters and histograms (istio-semantics 8.2): what `observe` records is what a scrape
shows, per (response_code, response_flags, cluster) row, and a worker's export merged by the
supervisor adds up exactly."""

from __future__ import annotations

import itertools
import json
import math

from prometheus_client.parser import text_string_to_metric_families

from meshgate import ir
from meshgate.proxy.stats import BUCKETS, Stats, format_prometheus

CLUSTER = "outbound|80||shop.default.svc.cluster.local"
CONFIG = ir.Config(
    clusters=(ir.Cluster(name=CLUSTER, service_host="shop.default.svc.cluster.local", port=80),)
)


def _samples(text: str, name: str, **labels: str) -> dict[str, float]:
    """`le` (or "" for non-bucket samples) -> value, for the samples of `name` carrying `labels`,
    read with prometheus_client's parser (as tests/live/test_live_metrics.py reads scrapes)."""
    return {
        sample.labels.get("le", ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    }


def _observed() -> Stats:
    stats = Stats()
    stats.observe(200, "", CLUSTER, 0.2, 0, 3)
    stats.observe(200, "", CLUSTER, 7.0, 120, 16384)
    stats.observe(503, "UF,URX", CLUSTER, 30.0, 0, 91)
    stats.observe(404, "NR", "", 0.0, 0, 0)
    return stats


def test_rows_and_histograms_as_scraped() -> None:
    text = format_prometheus(_observed(), CONFIG)
    ok = {"response_code": "200", "response_flags": "-"}
    assert _samples(text, "istio_requests_total", **ok) == {"": 2}
    assert _samples(text, "istio_requests_total", response_code="503", response_flags="UF,URX") == {"": 1}
    assert _samples(text, "istio_requests_total", response_code="404", response_flags="NR") == {"": 1}
    duration = _samples(text, "istio_request_duration_milliseconds_bucket", **ok)
    assert (duration["0.5"], duration["5"], duration["10"], duration["+Inf"]) == (1, 1, 2, 2)
    assert _samples(text, "istio_request_duration_milliseconds_sum", **ok) == {"": 7.2}
    sizes = _samples(text, "istio_response_bytes_bucket", **ok)
    assert (sizes["5"], sizes["10000"], sizes["30000"]) == (1, 1, 2)
    assert _samples(text, "istio_response_bytes_sum", **ok) == {"": 16387}
    requests = _samples(text, "istio_request_bytes_bucket", **ok)
    assert (requests["0.5"], requests["250"]) == (1, 2)  # an empty body counts in the first bucket


def test_exports_merge_into_the_supervisors_totals() -> None:
    total = Stats()
    for _ in range(2):  # two workers with the same traffic, exported over JSON as the supervisor reads it
        total.merge(json.loads(json.dumps(_observed().export())))
    assert total.total() == 8 and total.total(status=503, flags="UF,URX") == 2
    text = format_prometheus(total, CONFIG)
    ok = {"response_code": "200", "response_flags": "-"}
    assert _samples(text, "istio_requests_total", **ok) == {"": 4}
    assert _samples(text, "istio_request_duration_milliseconds_sum", **ok) == {"": 14.4}
    assert _samples(text, "istio_response_bytes_bucket", **ok)["30000"] == 4


def test_disabled_stats_count_nothing() -> None:
    stats = Stats(enabled=False)
    stats.observe(200, "", CLUSTER, 1.0, 0, 3)
    assert stats.total() == 0


def _bucket_counts(stats: Stats, name: str) -> list[float]:
    """The per-bucket (not cumulative) counts of `name` for the one 200 row, +Inf last."""
    text = format_prometheus(stats, CONFIG)
    cumulative = _samples(text, name, response_code="200", response_flags="-")
    bounds = [*(str(int(b)) if float(b).is_integer() else str(b) for b in BUCKETS), "+Inf"]
    values = [cumulative[le] for le in bounds]
    return [values[0]] + [b - a for a, b in itertools.pairwise(values)]


def test_each_value_counts_in_the_first_bucket_whose_bound_holds_it() -> None:
    for i, bound in enumerate(BUCKETS):
        for value, index in ((bound, i), (math.nextafter(bound, math.inf), i + 1)):
            stats = Stats()
            stats.observe(200, "", CLUSTER, value, math.ceil(value), math.ceil(value))
            expected = [0.0] * (len(BUCKETS) + 1)
            expected[index] = 1.0
            assert _bucket_counts(stats, "istio_request_duration_milliseconds_bucket") == expected, value
            # whole bytes: ceil(0.5) = 1 is past the 0.5 bucket, ceil of just above a bound is bound + 1
            by_bytes = [0.0] * (len(BUCKETS) + 1)
            by_bytes[index if value == bound and float(bound).is_integer() else i + 1] = 1.0
            assert _bucket_counts(stats, "istio_response_bytes_bucket") == by_bytes, value
            assert _bucket_counts(stats, "istio_request_bytes_bucket") == by_bytes, value


def test_rows_repeat_and_alternate_without_mixing() -> None:
    stats = Stats()
    other = "outbound|80||other.default.svc.cluster.local"
    for status, flags, cluster in [
        (200, "", CLUSTER),
        (200, "", CLUSTER),  # the same row as the last request
        (200, "", other),  # same status, another cluster
        (503, "", CLUSTER),  # same cluster, another status
        (200, "UF", CLUSTER),  # flags: never the last plain row
        (200, "", CLUSTER),
    ]:
        stats.observe(status, flags, cluster, 1.0, 0, 10)
    assert stats.total(status=200, flags="") == 4 and stats.total(status=503) == 1
    assert stats.total(flags="UF") == 1
    assert {key: series.count for key, series in stats.series().items()} == {
        (200, "", CLUSTER): 3,
        (503, "", CLUSTER): 1,
        (200, "UF", CLUSTER): 1,
        (200, "", other): 1,
    }
    merged = Stats()
    merged.observe(200, "", CLUSTER, 1.0, 0, 10)  # its last row is then added to by the merge
    merged.merge(json.loads(json.dumps(stats.export())))
    merged.observe(200, "", CLUSTER, 1.0, 0, 10)
    assert merged.series()[(200, "", CLUSTER)].count == 5
    assert merged.series()[(200, "", CLUSTER)].entry()[4 + 1] == 5  # all five in the 1 ms bucket
