"""Domain metrics of the rtcstats plugin, kept in Redis (core.shared_metrics): analyses run in job work
horses and in web workers on any machine, and /metrics must show their sum."""

from __future__ import annotations

import functools
import time

from core.shared_metrics import SharedCounter, SharedHistogram

ANALYSES = SharedCounter(
    "mediaplane_rtcstats_analyses",
    "Dumps parsed and analysed (by jobs and inline), by dump format and outcome: ok, unreadable (not a "
    "dump we read), too_large (over the size caps, gzip bombs included), error (an analyzer failure)",
    ["format", "outcome"],
)
ANALYSIS_SECONDS = SharedHistogram(
    "mediaplane_rtcstats_analysis_duration_seconds",
    "Time to parse and analyse one dump, by dump format (failed analyses included)",
    ["format"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
RECEIVED_BYTES = SharedCounter(
    "mediaplane_rtcstats_received_bytes",
    "Dump bytes received as sent (gzip stays compressed), by route: upload (chunks), analyze, enrich",
    ["route"],
)

OUTCOMES = {"DumpFormatError": "unreadable", "DumpTooLarge": "too_large"}


def received(route: str, size: int) -> None:
    RECEIVED_BYTES.inc(size, route=route)


def counted_analysis(run):
    """Decorate the parse-and-analyse function (data first): count each run and time it."""

    @functools.wraps(run)
    def wrapper(data: bytes, *args, **kwargs):
        started = time.perf_counter()
        try:
            result = run(data, *args, **kwargs)
        except Exception as err:
            names = [kind.__name__ for kind in type(err).__mro__]
            outcome = next((OUTCOMES[name] for name in names if name in OUTCOMES), "error")
            _done(_format_of(data), outcome, started)
            raise
        _done(str((result.get("metadata") or {}).get("format") or "unknown"), "ok", started)
        return result

    return wrapper


def _done(dump_format: str, outcome: str, started: float) -> None:
    ANALYSES.inc(format=dump_format, outcome=outcome)
    ANALYSIS_SECONDS.observe(time.perf_counter() - started, format=dump_format)


def _format_of(data: bytes) -> str:
    from plugins.rtcstats.service.dump_checks import SNIFF_BYTES, sniff

    try:
        return sniff(data[:SNIFF_BYTES])
    except Exception:  # noqa: BLE001 - not a dump, or a damaged one: its format is unknown
        return "unknown"


# The live collector (collector.py, collector_jitsi.py), by protocol: rtcstats (rtcstats#5.0), jitsi.
# Open sockets = opened - closed.
COLLECTOR_SOCKETS = SharedCounter(
    "mediaplane_rtcstats_collector_sockets",
    "Collector WebSockets opened and closed (event: opened, closed); open ones are the difference",
    ["protocol", "event"],
)
COLLECTOR_CLOSES = SharedCounter(
    "mediaplane_rtcstats_collector_closes",
    "Collector WebSockets ended, by reason: client (closed it), lost (no close frame), idle, "
    "message_too_big, session_too_large, rate_limited, going_away (the worker stopped); and refused at "
    "connect: unauthorized, no_credits, too_many_sockets, worker_full, unavailable; jitsi only: "
    "bad_session_id, reconnect_refused, unsupported_client, and session_idle (one session ended, its "
    "socket goes on)",
    ["protocol", "reason"],
)
COLLECTOR_MESSAGES = SharedCounter(
    "mediaplane_rtcstats_collector_messages",
    "Collector messages written to dumps (counted per socket every few seconds and at its end)",
    ["protocol"],
)
COLLECTOR_SESSIONS = SharedCounter(
    "mediaplane_rtcstats_collector_sessions",
    "Collector dumps stored as sessions, by how: socket (at its end, or a jitsi session's), recovered "
    "(of a lost worker)",
    ["protocol", "how"],
)
