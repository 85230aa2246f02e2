"""Delivery metrics: attempts by outcome and their latency (counted where attempts run), deliveries
by status (read from the database when /metrics is scraped, so every worker's work shows)."""

from __future__ import annotations

import logging

log = logging.getLogger("webhooks")
_instruments = None
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _get():
    # Created on first use: prometheus_client picks its multi-process mode at import time.
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter, Histogram

        _instruments = (
            Counter(
                "mediaplane_webhook_attempts_total",
                "Webhook delivery attempts by outcome (success, http_error, timeout, connection_error, ...)",
                ["outcome"],
            ),
            Histogram(
                "mediaplane_webhook_attempt_duration_seconds",
                "Time of one webhook delivery attempt, connection included",
                buckets=LATENCY_BUCKETS,
            ),
            Counter(
                "mediaplane_webhook_deliveries_finished_total",
                "Webhook deliveries that reached a final status (succeeded, failed)",
                ["status"],
            ),
        )
    return _instruments


def attempted(outcome: str, seconds: float) -> None:
    attempts, latency, _finished = _get()
    attempts.labels(outcome).inc()
    latency.observe(seconds)


def finished(status: str) -> None:
    _get()[2].labels(status).inc()


class DeliveryBacklog:
    """mediaplane_webhook_deliveries{status}: deliveries in the log now, per status, from the database."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from core.plugins import current_plugins
        from plugins.webhooks.schemas import DELIVERY_STATUSES
        from plugins.webhooks.service import status_counts

        family = GaugeMetricFamily(
            "mediaplane_webhook_deliveries",
            "Webhook deliveries in the log by status (pending and delivering: not done yet)",
            labels=["status"],
        )
        if not current_plugins().is_enabled("webhooks"):
            return  # another app of this process (tests) registered the collector
        try:
            counts = status_counts()
        except Exception as err:  # noqa: BLE001 - a database outage must not hide the other metrics
            log.warning("webhook delivery counts unavailable: %s", err)
            return
        for status in DELIVERY_STATUSES:
            family.add_metric([status], counts.get(status, 0))
        yield family


BACKLOG = DeliveryBacklog()
