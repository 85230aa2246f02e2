"""Domain metrics of the Agora-style endpoints on /metrics (created on first use, like core.metrics)."""

from __future__ import annotations

_instruments: dict | None = None


def _get() -> dict:
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "answers": Counter(
                "mediaplane_analytics_agora_answers_total",
                "Agora-style /beta answers by endpoint and outcome (ok, rate_limited, appid_refused, "
                "call_not_found)",
                ["endpoint", "outcome"],
            ),
            "points": Counter(
                "mediaplane_analytics_agora_points_total",
                "Data points served: [ts, value] pairs of call details, per-minute or per-day items of "
                "the by_time endpoints, diagnoses",
                ["endpoint"],
            ),
        }
    return _instruments


def answered(endpoint: str, outcome: str) -> None:
    _get()["answers"].labels(endpoint, outcome).inc()


def points(endpoint: str, count: int) -> None:
    if count:
        _get()["points"].labels(endpoint).inc(count)
