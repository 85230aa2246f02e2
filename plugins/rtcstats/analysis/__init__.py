"""Analysis of a parsed dump: metrics, then observations, scores and summary, then the API response."""

from __future__ import annotations

from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.model import Dump

# Bumped whenever a change alters results: stored sessions analysed by an older version are
# re-analysed when read (or in bulk by `mediaplane rtcstats reprocess`).
PROCESSOR_VERSION = "1.1.0"


def analyze(dump: Dump, *, file_name: str = "", file_size: int = 0) -> dict:
    """The AnalyzeResponseData of a dump (see specs/rtcstats-api.md); pure, no I/O."""
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.analysis.observations import detect
    from plugins.rtcstats.analysis.response import build_response
    from plugins.rtcstats.analysis.scores import score
    from plugins.rtcstats.analysis.summary import summarize

    with paused_gc():
        metrics = compute_metrics(dump)
        observations = detect(metrics)
        scores = score(metrics, observations)
        summary = summarize(metrics, observations, scores)
        return build_response(
            dump, metrics, observations, scores, summary, file_name=file_name, file_size=file_size
        )
