"""Request metrics in the spec's Prometheus shape, on a registry owned by one app.

A per-app ``CollectorRegistry`` (not prometheus-client's global one) keeps two apps in one
process, as in the tests, from sharing counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BUCKETS = (
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
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_count = Counter(
            "request_count", "Counter of requests", ["path", "status_code"], registry=self.registry
        )
        self.requests = Histogram(
            "requests",
            "Histogram of request time metrics",
            ["route", "status_code"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, status: int, seconds: float) -> None:
        code = str(status)
        self.request_count.labels(route, code).inc()
        self.requests.labels(route, code).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
