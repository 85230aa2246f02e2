"""Domain counters and histograms kept in Redis: /metrics shows their sum over every process.

prometheus_client's counters live in one process (or, in its multi-process mode, in files of one
machine). Much of the domain's work runs in RQ jobs, each in a work horse forked for that job, on any
machine: what they count must outlive the horse and add up across machines, so it goes to Redis (one
HINCRBYFLOAT per event) and /metrics reads it back when scraped, through prometheus_client's metric
families (it still writes the exposition format).

Declare instruments at module level (no connection is made until something is counted):

    ANALYSES = SharedCounter("mediaplane_rtcstats_analyses", "Dumps analysed", ["format", "outcome"])
    ANALYSES.inc(format="rtcstats-legacy", outcome="ok")

Counting never fails the work it counts: with Redis down the event is dropped and logged once per
process (the jobs themselves need Redis, so a count is lost only in the moment Redis went away).
"""

from __future__ import annotations

import json
import logging
import math

log = logging.getLogger(__name__)
KEY = "mediaplane:metrics:"

_declared: dict[str, SharedMetric] = {}
_warned = False
_stale_reported: set[str] = set()  # metrics already logged for counts under old label names


def _redis():
    from flask import current_app

    return current_app.extensions["mediaplane"].redis


class SharedMetric:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = ()):
        existing = _declared.get(name)
        if existing is not None and type(existing) is not type(self):
            raise ValueError(f"metric {name} is declared twice with different types")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        _declared[name] = self

    def _field(self, labels: dict) -> str:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return json.dumps([str(labels[name]) for name in self.labelnames])

    def _current_labels(self, field: str) -> list[str] | None:
        """The label values stored under `field`, or None when they were counted under another set of
        label names (a version before an upgrade, with Redis kept): those are left out of /metrics,
        which would otherwise fail on the whole scrape."""
        values = json.loads(field)
        if isinstance(values, list) and len(values) == len(self.labelnames):
            return values
        if self.name not in _stale_reported:
            _stale_reported.add(self.name)
            log.warning(
                "metrics: %s has counts under other labels than %s (an older version?): left out",
                self.name,
                self.labelnames,
            )
        return None

    def _write(self, commands) -> None:
        """Run `commands(pipeline)` against Redis; a Redis outage drops the event (logged once)."""
        global _warned
        import redis
        from flask import has_app_context

        if not has_app_context():  # e.g. the analyzer run by a script: nothing to count into
            return
        try:
            pipe = _redis().pipeline(transaction=False)
            commands(pipe)
            pipe.execute()
        except (redis.RedisError, OSError) as err:
            if not _warned:
                _warned = True
                log.warning("metrics: Redis unavailable, domain counts are being dropped (%s)", err)


class SharedCounter(SharedMetric):
    """A counter summed over all processes; exported as `<name>_total`."""

    kind = "counter"

    def inc(self, amount: float = 1, **labels) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        if amount == 0:
            return
        field = self._field(labels)
        self._write(lambda pipe: pipe.hincrbyfloat(KEY + self.name, field, amount))

    def family(self, raw: dict):
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for field, value in sorted(raw.items()):
            values = self._current_labels(field)
            if values is not None:
                family.add_metric(values, float(value))
        return family


DEFAULT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class SharedHistogram(SharedMetric):
    """A histogram summed over all processes (`_bucket`, `_sum`, `_count`)."""

    kind = "histogram"

    def __init__(self, name, documentation, labelnames=(), buckets=DEFAULT_BUCKETS):
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(float(b) for b in buckets))

    def observe(self, value: float, **labels) -> None:
        field = self._field(labels)
        # Only the bucket the value falls in is counted; the cumulative `le` counts are summed when
        # read, so an observation is two writes whatever the number of buckets.
        bound = next((b for b in self.buckets if value <= b), math.inf)
        bucket = json.dumps([json.loads(field), repr(bound)])

        def commands(pipe):
            pipe.hincrby(KEY + self.name + ":buckets", bucket, 1)
            pipe.hincrbyfloat(KEY + self.name + ":sum", field, value)

        self._write(commands)

    def family(self, raw: dict, sums: dict):
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        per_labels: dict[str, dict[float, int]] = {}
        for bucket, count in raw.items():
            labels, bound = json.loads(bucket)
            per_labels.setdefault(json.dumps(labels), {})[float(bound)] = int(count)
        for field in sorted(set(per_labels) | set(sums)):
            values = self._current_labels(field)
            if values is None:
                continue
            counts = per_labels.get(field, {})
            running, cumulative = 0, []
            for bound in (*self.buckets, math.inf):
                running += counts.get(bound, 0)
                cumulative.append(("+Inf" if bound == math.inf else _bound_text(bound), running))
            family.add_metric(values, cumulative, float(sums.get(field, 0.0)))
        return family


def _bound_text(bound: float) -> str:
    # As prometheus_client writes `le`: 0.25, 1.0, 10.0.
    return repr(float(bound))


class SharedCollector:
    """Reads every declared shared metric from Redis when /metrics is scraped.

    Families are always listed (with their HELP and TYPE) even before anything was counted, so that
    dashboards and alerts can name them from the start. A Redis outage hides the values, not /metrics.
    """

    def __init__(self, redis_conn):
        self.redis = redis_conn

    def collect(self):
        import redis

        metrics = sorted(_declared.values(), key=lambda m: m.name)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for metric in metrics:
                if metric.kind == "counter":
                    pipe.hgetall(KEY + metric.name)
                else:
                    pipe.hgetall(KEY + metric.name + ":buckets")
                    pipe.hgetall(KEY + metric.name + ":sum")
            replies = iter(pipe.execute())
        except (redis.RedisError, OSError):
            replies = None
        for metric in metrics:
            if metric.kind == "counter":
                raw = _decoded(next(replies)) if replies else {}
                yield metric.family(raw)
            else:
                raw = _decoded(next(replies)) if replies else {}
                sums = _decoded(next(replies)) if replies else {}
                yield metric.family(raw, sums)


def _decoded(mapping: dict) -> dict:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in mapping.items()
    }


def declared() -> dict[str, SharedMetric]:
    """The shared metrics declared so far, by name (for tests and the dashboard check)."""
    return dict(_declared)
