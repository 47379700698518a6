"""Request metrics in the spec's Prometheus shape, on a registry owned by one app.

Observations are appended to a list (a fraction of a microsecond) and folded into per-route
counters in batches with numpy, at scrape time or every ``BATCH`` requests; prometheus-client
only formats the exposition. A per-app registry (not prometheus-client's global one) keeps two
apps in one process, as in the tests, from sharing counters.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

BUCKETS = np.array(
    [
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
    ]
)
BATCH = 4096


class _Series:
    """Counts of one (route, status): per-bucket counts (last = +Inf) and the sum of seconds."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = np.zeros(len(BUCKETS) + 1, dtype=np.int64)
        self.total = 0.0


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self._pending: list[tuple[str, int, float]] = []
        self._series: dict[tuple[str, int], _Series] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)  # type: ignore[arg-type]

    def observe(self, route: str, status: int, seconds: float) -> None:
        self._pending.append((route, status, seconds))
        if len(self._pending) >= BATCH:
            self._fold()

    def _fold(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[tuple[str, int], list[float]] = {}
        for route, status, seconds in pending:
            groups.setdefault((route, status), []).append(seconds)
        for key, values in groups.items():
            series = self._series.get(key) or self._series.setdefault(key, _Series())
            times = np.asarray(values)
            series.buckets += np.bincount(np.searchsorted(BUCKETS, times), minlength=len(BUCKETS) + 1)
            series.total += float(times.sum())

    def collect(self) -> Iterator[Metric]:
        """prometheus-client collector protocol: the two families of the spec's example."""
        self._fold()
        count = CounterMetricFamily("request_count", "Counter of requests", labels=["path", "status_code"])
        hist = HistogramMetricFamily(
            "requests", "Histogram of request time metrics", labels=["route", "status_code"]
        )
        bounds = [*(f"{b:g}" if b < 1 else str(float(b)) for b in BUCKETS), "+Inf"]
        for (route, status), series in sorted(self._series.items()):
            cumulative = np.cumsum(series.buckets)
            count.add_metric([route, str(status)], float(cumulative[-1]))
            hist.add_metric(
                [route, str(status)], list(zip(bounds, cumulative.astype(float), strict=True)), series.total
            )
        yield count
        yield hist

    def render(self) -> bytes:
        return generate_latest(self.registry)
