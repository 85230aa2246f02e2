"""Domain metrics of the analytics plugin on /metrics (created on first use, like core.metrics)."""

from __future__ import annotations

_instruments: dict | None = None


def _get() -> dict:
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "opened": Counter(
                "mediaplane_analytics_calls_opened_total", "Calls (sessions) opened", ["source"]
            ),
            "finished": Counter("mediaplane_analytics_calls_finished_total", "Calls ended by the idle gap"),
            "minutes": Counter(
                "mediaplane_analytics_track_minutes_written_total", "Per-minute track rollup rows written"
            ),
            "dumps": Counter(
                "mediaplane_analytics_dumps_total",
                "Analysed rtcstats dumps taken in, by outcome",
                ["outcome"],
            ),
            "peer_stats": Counter(
                "mediaplane_analytics_peer_stats_total", "peer-stats answers, by outcome", ["outcome"]
            ),
        }
    return _instruments


def call_opened(source: str) -> None:
    _get()["opened"].labels(source).inc()


def calls_finished(count: int) -> None:
    if count:
        _get()["finished"].inc(count)


def track_minutes_written(count: int) -> None:
    if count:
        _get()["minutes"].inc(count)


def dump_ingested(outcome: str) -> None:
    _get()["dumps"].labels(outcome).inc()


def peer_stats_answered(outcome: str) -> None:
    _get()["peer_stats"].labels(outcome).inc()
