"""Prometheus metrics for ``GET /metrics``: counts and timings, never who or what.

Labels are channel, language and error kind only; a pseudonym, address or
message text never becomes a label. Each app gets its own registry, so tests
can build several apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)


class Metrics:
    """The gateway's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "rahnuma_messages_received_total",
            "Messages received, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.handled = Counter(
            "rahnuma_messages_handled_total",
            "Messages answered, by channel and language.",
            ["channel", "language"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rahnuma_answer_seconds",
            "Time from taking a message off the inbox to its answer.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "rahnuma_errors_total",
            "Errors, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "rahnuma_webhooks_rejected_total",
            "Webhook calls refused (forged, malformed).",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "rahnuma_duplicates_total",
            "Redelivered messages dropped.",
            ["channel"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rahnuma_rate_limited_total",
            "Messages over the per-user rate limit.",
            ["channel"],
            registry=self.registry,
        )
        self.sms_segments = Counter(
            "rahnuma_sms_segments_sent_total",
            "Billed SMS segments sent, by encoding.",
            ["encoding"],
            registry=self.registry,
        )
        self.outbox = Counter(
            "rahnuma_outbox_total",
            "Outbox deliveries, by channel and result.",
            ["channel", "result"],
            registry=self.registry,
        )

        self.relay_heartbeat_age = Gauge(
            "rahnuma_relay_heartbeat_age_seconds",
            "Age of the newest hotline relay heartbeat, as /readyz last saw it.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
