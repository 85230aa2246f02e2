"""POST /enrich: analyse a dump without storing it and answer its scores and observations."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import BinaryIO

from plugins.rtcstats import credits, metrics
from plugins.rtcstats.conventions import unrated
from plugins.rtcstats.parsing import DumpTooLarge
from plugins.rtcstats.service.abstract import SEVERITIES
from plugins.rtcstats.service.analyze import analyze_now
from plugins.rtcstats.service.chunked_upload import check_chunks, read_assembled
from plugins.rtcstats.service.config import settings
from plugins.rtcstats.service.dump_checks import expanded_size
from plugins.rtcstats.service.errors import InvalidRequest


def _check_inline(expanded: int | None, cfg: dict) -> None:
    """:raises DumpTooLarge: /enrich answers only synchronously, up to analyze_inline_max_bytes
    (`expanded` None: more than that)."""
    if expanded is None or expanded > cfg["analyze_inline_max_bytes"]:
        size = "more than that" if expanded is None else f"{expanded} bytes"
        raise DumpTooLarge(
            f"the dump expands to {size}; /enrich analyses at most "
            f"{cfg['analyze_inline_max_bytes']} within a request: send it to /analyze or /upload, "
            "which analyse larger dumps in the background"
        )


ENRICH_KEYS = (
    "category",
    "tags",
    "firstSeenAt",
    "url",
    "property",
    "valueInCount",
    "valueInPercent",
    "averageInMs",
    "maxInMs",
    "durationInMs",
    "durationInSeconds",
    "durationInPercent",
)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def enrich_projection(data: dict) -> dict:
    """The /enrich answer's data: scores, counts, flat observations, userAgentData."""
    observations = []
    for obs in data.get("observations") or []:
        if not isinstance(obs, Mapping) or not obs.get("type") or obs.get("severity") not in SEVERITIES:
            continue
        flat = {"type": obs["type"], "severity": obs["severity"]}
        for key in ENRICH_KEYS:
            value = obs.get(key)
            if key in ("category", "url", "property"):
                if isinstance(value, str) and value:
                    flat[key] = value
            elif key == "tags":
                if isinstance(value, list):
                    flat[key] = [t for t in value if isinstance(t, str)]
            elif _number(value):
                flat[key] = int(value) if key == "firstSeenAt" else value
        observations.append(flat)
    counts = {s: sum(1 for o in observations if o["severity"] == s) for s in SEVERITIES}
    scores = {
        key: (data.get(key) if _number(data.get(key)) else None)
        for key in ("experienceScore", "audioScore", "videoScore", "connectivityScore", "observationsScore")
    }
    if unrated(data):
        scores["experienceScore"] = None  # the vendor's Scores: null when there is no media to score
    ua = data.get("userAgentData")
    return {
        "scores": scores,
        "observationsCount": counts,
        "observations": observations,
        "userAgentData": ua if isinstance(ua, Mapping) else {},
    }


def enrich_body(account_id: int, file: BinaryIO, size: int) -> dict:
    """POST /enrich with the dump in the body (a spooled file).

    :raises: as enrich; DumpTooLarge for a dump over analyze_inline_max_bytes (before any credit).
    """
    if not size:
        raise InvalidRequest("body: empty; send the dump file as the request body")
    metrics.received("enrich", size)
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    _check_inline(expanded_size(file, size, cfg), cfg)
    return enrich(account_id, file.read())


def enrich(account_id: int, data: bytes) -> dict:
    """POST /enrich: analyse without storing and answer the scores/observations projection.

    :raises: as analyze_now.
    """
    answer = analyze_now(account_id, data, save=False)
    return {
        "data": enrich_projection(answer["data"]),
        "processorVersion": answer["processorVersion"],
        "generatedAt": int(time.time() * 1000),
    }


def enrich_assembled(account_id: int, file_id: str) -> dict:
    """POST /enrich with a JSON assemble request: join the chunks, then enrich.

    :raises: as analyze_assembled.
    """
    cfg = settings()
    credits.ensure_available(account_id, cfg["monthly_credits"])
    _check_inline(check_chunks(account_id, file_id, cfg), cfg)
    data, _ = read_assembled(account_id, file_id)
    return enrich(account_id, data)
