"""The SessionAbstract of an analysis: what GET /sessions shows and filters on, and its columns."""

from __future__ import annotations

import json
from collections.abc import Mapping

from plugins.rtcstats.conventions import NO_CONNECTION, UNKNOWN_CONNECTIVITY, unrated
from plugins.rtcstats.service.wire import clean_text

SEVERE = ("critical", "high", "medium")


SEVERITIES = ("critical", "high", "medium", "low", "info")


def _pick(mapping, *keys):
    if not isinstance(mapping, Mapping):
        return None
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def _name_version(value) -> tuple[str | None, str | None]:
    """ "Chrome" or {"name": "Chrome", "version": "142.0"} -> (name, version)."""
    if isinstance(value, Mapping):
        return clean_text(_pick(value, "name", "brand")), clean_text(_pick(value, "version", "major"))
    return clean_text(value), None


def score_band(score) -> str:
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return "unrated"
    return "high" if score >= 80 else "medium" if score >= 60 else "low"


def abstract_of(data: dict) -> dict:
    """The SessionAbstract of an analysis: what the list shows and filters on. Every key present."""
    observations = [o for o in data.get("observations") or [] if isinstance(o, Mapping)]
    severe = [o for o in observations if o.get("severity") in SEVERE]
    types = sorted({str(o["type"]) for o in severe if o.get("type")})
    tags = sorted({str(t) for o in severe for t in o.get("tags") or [] if isinstance(t, str)})
    counts = data.get("observationsCount")
    if not isinstance(counts, Mapping):
        counts = {s: sum(1 for o in observations if o.get("severity") == s) for s in SEVERITIES}
    ua = data.get("userAgentData") if isinstance(data.get("userAgentData"), Mapping) else {}
    browser, browser_version = _name_version(_pick(ua, "browser", "browserName"))
    browser = browser or clean_text(_pick(data, "browser"))
    browser_version = clean_text(_pick(ua, "browserVersion", "browserMajorVersion")) or browser_version
    os_name, os_version = _name_version(_pick(ua, "os", "osName", "operatingSystem", "platform"))
    os_version = clean_text(_pick(ua, "osVersion", "platformVersion")) or os_version
    if browser_version:
        browser_version = browser_version.split(".")[0]
    meta = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    score = data.get("experienceScore")
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    if unrated(data):
        score = None  # the analyzer's 0 means "no media to score": unrated, not a low score
    connectivity = clean_text(data.get("connectivity"), 64)
    if connectivity in (NO_CONNECTION, UNKNOWN_CONNECTIVITY):
        connectivity = None  # the abstract may say null: "no connectivity", not a kind of it
    return {
        "observationTypes": types,
        "observationFlags": types,
        "observationTags": tags,
        "browser": browser,
        "browserVersion": browser_version,
        "os": os_name,
        "osVersion": os_version,
        "conferenceId": clean_text(_pick(meta, "conferenceId", "conference"), 255),
        "sessionId": clean_text(_pick(meta, "sessionId", "session"), 255),
        "userId": clean_text(_pick(meta, "userId", "user"), 255),
        "experienceScore": score,
        "connectivity": connectivity,
        "observationsCritical": int(counts.get("critical") or 0),
        "observationsHigh": int(counts.get("high") or 0),
        "observationsMedium": int(counts.get("medium") or 0),
        "scoreBand": score_band(score),
    }


def without_aliases(item: dict) -> dict:
    """A list item without the observationFlags alias (for clients with strict schemas, e.g. MCP)."""
    abstract = item.get("abstract")
    if abstract is None:
        return item
    return {**item, "abstract": {k: v for k, v in abstract.items() if k != "observationFlags"}}


def abstract_columns(abstract: dict) -> dict:
    return {
        "abstract": json.dumps(abstract, separators=(",", ":")),
        "browser": abstract["browser"],
        "browser_version": abstract["browserVersion"],
        "os": abstract["os"],
        "os_version": abstract["osVersion"],
        "user_id": abstract["userId"],
        "conference_id": abstract["conferenceId"],
        "session_ident": abstract["sessionId"],
        "experience_score": abstract["experienceScore"],
        "connectivity": abstract["connectivity"],
        "observations_critical": abstract["observationsCritical"],
        "observations_high": abstract["observationsHigh"],
        "observations_medium": abstract["observationsMedium"],
    }
