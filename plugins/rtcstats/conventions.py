"""Conventions of the analysis that the web tier needs too, kept apart so it need not import the analyzer."""

from __future__ import annotations

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
    the scores or the AnalyzeResponseData (same keys).
    """
    return (
        scores.get("experienceScore") == 0
        and scores.get("audioScore") is None
        and scores.get("videoScore") is None
    )
