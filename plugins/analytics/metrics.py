"""Domain metrics of the analytics plugin on /metrics.

Calls, rollups and dumps are counted where they happen: mostly in jobs (rollups, dump intake), run in
work horses forked per job on any machine, so these counts are kept in Redis (core.shared_metrics)
and every process's add up. The answers of the read endpoints are counted in the web workers
(prometheus_client, summed by the multi-process mode of `mediaplane serve`).
"""

from __future__ import annotations

from core.shared_metrics import SharedCounter

CALLS_OPENED = SharedCounter("mediaplane_analytics_calls_opened", "Calls (sessions) opened", ["source"])
CALLS_FINISHED = SharedCounter("mediaplane_analytics_calls_finished", "Calls ended by the idle gap")
TRACK_MINUTES = SharedCounter(
    "mediaplane_analytics_track_minutes_written", "Per-minute track rollup rows written"
)
DUMPS = SharedCounter(
    "mediaplane_analytics_dumps", "Analysed rtcstats dumps taken in, by outcome", ["outcome"]
)

_instruments: dict | None = None


def _get() -> dict:
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "peer_stats": Counter(
                "mediaplane_analytics_peer_stats_total", "peer-stats answers, by outcome", ["outcome"]
            ),
        }
    return _instruments


def call_opened(source: str) -> None:
    CALLS_OPENED.inc(source=source)


def calls_finished(count: int) -> None:
    CALLS_FINISHED.inc(count)


def track_minutes_written(count: int) -> None:
    TRACK_MINUTES.inc(count)


def dump_ingested(outcome: str) -> None:
    DUMPS.inc(outcome=outcome)


def peer_stats_answered(outcome: str) -> None:
    _get()["peer_stats"].labels(outcome).inc()
