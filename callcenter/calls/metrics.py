"""Prometheus metrics of the call layer, on the app's own registry (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class CallMetrics:
    registry: CollectorRegistry
    calls_started: Counter
    calls_ended: Counter
    calls_active: Gauge
    call_duration: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> CallMetrics:
        return cls(
            registry=registry,
            calls_started=Counter(
                "hotline_calls_started", "Channels that entered Stasis", registry=registry
            ),
            calls_ended=Counter(
                "hotline_calls_ended",
                "Calls whose record was closed",
                ["disposition"],
                registry=registry,
            ),
            calls_active=Gauge(
                "hotline_calls_active", "Calls being handled now", registry=registry
            ),
            call_duration=Histogram(
                "hotline_call_duration_seconds",
                "From entering Stasis to the record closing",
                buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
                registry=registry,
            ),
        )
