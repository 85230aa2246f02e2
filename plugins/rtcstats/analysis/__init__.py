"""Analysis of a parsed dump: metrics, then observations, scores and summary, then the API response."""

from __future__ import annotations

from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.model import Dump

# Bumped whenever a change alters results: stored sessions analysed by an older version are
# re-analysed when read (or in bulk by `mediaplane rtcstats reprocess`).
PROCESSOR_VERSION = "1.2.0"
# The session's `connectivity` (a string in the vendor schema) when there is no selected pair to name:
# no peer connection at all, or connections of which none recorded a selected candidate pair.
NO_CONNECTION = "NONE"
UNKNOWN_CONNECTIVITY = "UNKNOWN"


def unrated(scores: dict) -> bool:
    """True when the call had no audio and no video media to score (experienceScore 0, audioScore and
    videoScore None).

    Its experienceScore of 0 then means "nothing to score", not a terrible call (the vendor's
    AnalyzeResponseData documents 0 there and never null), so what may say null (the list abstract,
    the /enrich scores) says null, and the viewer and the rule summary show it as not rated. Takes
    the scores or the AnalyzeResponseData (same keys). Here, not in scores.py, so that the web tier
    can use it without importing the analyzer (numpy).
    """
    return (
        scores.get("experienceScore") == 0
        and scores.get("audioScore") is None
        and scores.get("videoScore") is None
    )


def analyze(dump: Dump, *, file_name: str = "", file_size: int = 0, uploaded_ms: float | None = None) -> dict:
    """The AnalyzeResponseData of a dump (see specs/rtcstats-api.md); pure, no I/O. `uploaded_ms`
    (epoch ms) dates a dump that recorded no event; else the time of the analysis does."""
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.analysis.observations import detect
    from plugins.rtcstats.analysis.response import build_response
    from plugins.rtcstats.analysis.scores import score
    from plugins.rtcstats.analysis.summary import summarize

    with paused_gc():
        metrics = compute_metrics(dump)
        observations = detect(metrics)
        scores = score(metrics, observations)
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
