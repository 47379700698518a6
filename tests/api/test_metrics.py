"""The batched metrics store: folding must count every observation into the right bucket."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from api.metrics import BATCH, Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_counts_and_buckets_across_batches() -> None:
    metrics = Metrics()
    for i in range(BATCH + 10):  # crosses one automatic fold, then the scrape folds the rest
        metrics.observe("GET:/x", 200, 0.0001 if i % 2 else 0.3)
    metrics.observe("GET:/x", 404, 20.0)
    samples = _samples(metrics)
    ok = (("path", "GET:/x"), ("status_code", "200"))
    assert samples["request_count_total", ok] == BATCH + 10
    route = ("route", "GET:/x")
    assert samples["requests_bucket", (("le", "0.0001"), route, ("status_code", "200"))] == (BATCH + 10) // 2
    assert samples["requests_bucket", (("le", "0.25"), route, ("status_code", "200"))] == (BATCH + 10) // 2
    assert samples["requests_bucket", (("le", "0.5"), route, ("status_code", "200"))] == BATCH + 10
    assert samples["requests_bucket", (("le", "10.0"), route, ("status_code", "404"))] == 0
    assert samples["requests_bucket", (("le", "+Inf"), route, ("status_code", "404"))] == 1
    assert abs(samples["requests_sum", (route, ("status_code", "200"))] - ((BATCH + 10) // 2) * 0.3001) < 1e-6
