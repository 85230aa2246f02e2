"""Prometheus metrics: request counts and latency, queue depth (multi-process aware under gunicorn)."""

from __future__ import annotations

import os
import time

from flask import Response, g, request

_metrics = None


def _instruments():
    # Created on first use, once per process: prometheus_client decides at import time whether it
    # runs in multi-process mode (PROMETHEUS_MULTIPROC_DIR), so it must not be imported earlier.
    global _metrics
    if _metrics is None:
        from prometheus_client import Counter, Histogram

        _metrics = (
            Counter("mediaplane_http_requests_total", "HTTP requests", ["method", "endpoint", "status"]),
            Histogram(
                "mediaplane_http_request_duration_seconds",
                "HTTP request latency",
                ["method", "endpoint"],
                buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            ),
        )
    return _metrics


def start_timer() -> None:
    g.metrics_started = time.perf_counter()


# Labelled children by label values: `labels()` validates and locks on every call, and the set of
# (method, endpoint, status) seen by a process is small.
_children: dict[tuple, tuple] = {}


def observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
        key = (request.method, endpoint, response.status_code)
        children = _children.get(key)
        if children is None:
            counter, histogram = _instruments()
            children = _children[key] = (
                counter.labels(request.method, endpoint, str(response.status_code)),
                histogram.labels(request.method, endpoint),
            )
        children[0].inc()
        children[1].observe(time.perf_counter() - started)
    return response


# Collectors computed when /metrics is scraped (objects with a prometheus `collect()`), added by
# plugins at startup: figures that live in the database or Redis, not in this process's counters
# (e.g. work done by job workers, whose counters no web process holds).
_scrape_collectors: list = []


def add_scrape_collector(collector) -> None:
    """Have /metrics include `collector` (its `collect()` yields metric families; once per object)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def render(redis_conn, queue_names: list[str]) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from rq import Queue

    _instruments()

    class QueueDepth:
        def collect(self):
            depth = GaugeMetricFamily("mediaplane_queue_depth", "Jobs waiting per RQ queue", labels=["queue"])
            age = GaugeMetricFamily(
                "mediaplane_queue_oldest_job_age_seconds",
                "How long the job at the head of each RQ queue has waited (0 when the queue is empty)",
                labels=["queue"],
            )
            failed = GaugeMetricFamily(
                "mediaplane_queue_failed_jobs",
                "Jobs of each RQ queue in its failed-job registry (failed with no retry left; kept for "
                "the registry's TTL)",
                labels=["queue"],
            )
            for name in queue_names:
                try:
                    queue = Queue(name, connection=redis_conn)
                    depth.add_metric([name], queue.count)
                    age.add_metric([name], _oldest_age(queue))
                    failed.add_metric([name], queue.failed_job_registry.count)
                except Exception:  # noqa: BLE001 - a Redis outage must not hide the other metrics
                    continue
            yield from (depth, age, failed)

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry  # noqa: N811
    output = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(QueueDepth())
    for collector in _scrape_collectors:
        extra.register(collector)
    declare_plugin_metrics()
    from core.shared_metrics import SharedCollector

    extra.register(SharedCollector(redis_conn))
    return Response(output + generate_latest(extra), content_type=CONTENT_TYPE_LATEST)


def _oldest_age(queue) -> float:
    """Seconds since the job at the head of `queue` was enqueued; 0 for an empty queue."""
    from datetime import UTC, datetime

    head = queue.get_job_ids(0, 1)
    if not head:
        return 0.0
    job = queue.fetch_job(head[0])
    if job is None or job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - enqueued).total_seconds())


def declare_plugin_metrics() -> None:
    """Import each enabled plugin's `metrics` module, where it declares its shared (Redis) metrics, so
    that /metrics lists them even in a process that has not counted any yet."""
    import importlib

    from flask import current_app

    plugins = current_app.extensions["mediaplane"].plugins
    for name in plugins.order:
        package = plugins.known[name].module.__name__.rpartition(".")[0]
        if not package:  # a plugin that is a lone module has no metrics module beside it
            continue
        try:
            importlib.import_module(f"{package}.metrics")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.metrics":
                raise
