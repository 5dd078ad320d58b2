"""The ARI round-trip latency histogram, fed by AriClient's observer hook.

Labelled by HTTP method and path template (``/channels/{id}/play/{playback}``),
never by a raw id, so the number of series stays fixed however many calls pass.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from callcenter.ari import RequestObserver

# REST round trips on loopback take about a millisecond; past a second ARI is in trouble.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def ari_latency(registry: CollectorRegistry) -> RequestObserver:
    """An observer for :class:`AriClient` that records into ``registry``."""
    histogram = Histogram(
        "hotline_ari_request_seconds",
        "ARI REST round trips, by method and path template",
        ["method", "path"],
        buckets=BUCKETS,
        registry=registry,
    )
    children: dict[tuple[str, str], Histogram] = {}

    def observe(method: str, path: str, seconds: float) -> None:
        key = (method, path)
        child = children.get(key)
        if child is None:  # labels() costs a lock and a lookup; once per template
            child = children[key] = histogram.labels(method, path)
        child.observe(seconds)

    return observe
