"""Analysis of a parsed dump: metrics, then observations, scores and summary, then the API response."""

from __future__ import annotations

from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.parsed_dump import Dump

# Bumped whenever a change alters results: stored sessions analysed by an older version are
# re-analysed when read (or in bulk by `mediaplane rtcstats reprocess`).
PROCESSOR_VERSION = "1.3.0"


def analyze(dump: Dump, *, file_name: str = "", file_size: int = 0, uploaded_ms: float | None = None) -> dict:
    """The AnalyzeResponseData of a dump (see specs/rtcstats-api.md); pure, no I/O. `uploaded_ms`
    (epoch ms) dates a dump that recorded no event; else the time of the analysis does."""
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.analysis.observations import detect, merge_repeats
    from plugins.rtcstats.analysis.response import build_response
    from plugins.rtcstats.analysis.scores import score
    from plugins.rtcstats.analysis.summary import summarize

    with paused_gc():
        metrics = compute_metrics(dump)
        occurrences = detect(metrics)
        # scored per occurrence (the same findings cost the same), listed merged (one entry with a count)
        scores = score(metrics, occurrences)
        observations = merge_repeats(occurrences)
        rule_summary = summarize(metrics, observations, scores)
        return build_response(
            dump,
            metrics,
            observations,
            scores,
            rule_summary,
            file_name=file_name,
            file_size=file_size,
            uploaded_ms=uploaded_ms,
        )
