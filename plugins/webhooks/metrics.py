"""Delivery metrics: attempts by outcome and their latency, deliveries finished by status (counted in
Redis through core.shared_metrics, since attempts run in RQ work horses on any machine and /metrics
must show their sum), and deliveries by status now (read from the database when /metrics is scraped)."""

from __future__ import annotations

import logging

import peewee

from core.shared_metrics import SharedCounter, SharedHistogram
from plugins.webhooks.models import Delivery

log = logging.getLogger("webhooks")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

ATTEMPTS = SharedCounter(
    "mediaplane_webhook_attempts",
    "Webhook delivery attempts by outcome (success, http_error, timeout, connection_error, ...)",
    ["outcome"],
)
ATTEMPT_SECONDS = SharedHistogram(
    "mediaplane_webhook_attempt_duration_seconds",
    "Time of one webhook delivery attempt, connection included",
    buckets=LATENCY_BUCKETS,
)
FINISHED = SharedCounter(
    "mediaplane_webhook_deliveries_finished",
    "Webhook deliveries that reached a final status (succeeded, failed)",
    ["status"],
)


def attempted(outcome: str, seconds: float) -> None:
    ATTEMPTS.inc(outcome=outcome)
    ATTEMPT_SECONDS.observe(seconds)


def finished(status: str) -> None:
    FINISHED.inc(status=status)


class DeliveryBacklog:
    """mediaplane_webhook_deliveries{status}: deliveries in the log now, per status, from the database."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from core.plugins import current_plugins
        from plugins.webhooks.schemas import DELIVERY_STATUSES

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


def status_counts() -> dict[str, int]:
    """Deliveries per status, all accounts (for /metrics)."""
    query = Delivery.select(Delivery.status, peewee.fn.COUNT(Delivery.seq).alias("n")).group_by(
        Delivery.status
    )
    return {row.status: row.n for row in query}


BACKLOG = DeliveryBacklog()
