"""Domain metrics of the report plugin on /metrics: reports accepted or rejected (by reason) and samples
stored. Counted in the web workers that take the reports: the multi-process mode of `mediaplane serve`
sums them; the ingest path pays no Redis round trip for them."""

from __future__ import annotations

_instruments = None

# Answers of POST /report/metrics by status; any other 4xx is "other", a 5xx "error".
REASONS = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    415: "unsupported_type",
    429: "rate_limited",
    503: "unavailable",
}


def _get():
    # Created on first use, as core.metrics does: prometheus_client reads PROMETHEUS_MULTIPROC_DIR
    # when imported, and the CLI must not import it at all.
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter

        _instruments = {
            "reports": Counter(
                "mediaplane_report_reports",
                "POST /report/metrics answers: accepted, or rejected by reason (invalid, unauthenticated, "
                "forbidden, too_large, unsupported_type, rate_limited, unavailable, other, error)",
                ["outcome"],
            ),
            "samples": Counter(
                "mediaplane_report_samples_stored", "Samples (one per stream of a report) stored"
            ),
        }
    return _instruments


def report_answered(status: int) -> None:
    if status < 300:
        outcome = "accepted"
    else:
        outcome = REASONS.get(status, "error" if status >= 500 else "other")
    _get()["reports"].labels(outcome).inc()


def samples_stored(count: int) -> None:
    if count:
        _get()["samples"].inc(count)
