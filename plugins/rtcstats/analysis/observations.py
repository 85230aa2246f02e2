"""Observations: rule-based findings about a call, computed from its CallMetrics.

Every observation type is registered once, with its catalogue entry (title, possible severities, tags,
category, meaning, threshold, advice and the reason for its severity), next to the small function that
detects it. The rules live in `rules_connectivity`, `rules_media` and `rules_client`; this module holds the
vocabulary, the registry, the helpers that build observation dicts in the contract shape
(specs/vendor/rtcstats-openapi.yml, `observations[]`) and the two entry points:

* `detect(metrics)` -> the observations of one call, one per occurrence, sorted by severity, then time.
* `merge_repeats(observations)` -> the same with identical observations merged into one with a count
  (what the API lists; the scores are computed on the occurrences).
* `catalogue()` -> the list served by GET /observations.

Thresholds and severities are documented in docs/rtcstats-scoring.md (sources: rtcstats-dumps.md 4.3).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plugins.rtcstats.analysis.metrics_model import (
    CallMetrics,
    PcMetrics,
    SelectedPair,
    Series,
    StreamMetrics,
)
from plugins.rtcstats.observation_tags import TAGS

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
CATEGORIES = ("connections", "streams", "devices", "datachannels", "logs", "pairs")

# Value fields of an observation (contract names); everything else is structural.
VALUE_FIELDS = (
    "valueInCount",
    "valueInPercent",
    "averageInMs",
    "maxInMs",
    "durationInMs",
    "durationInSeconds",
    "durationInPercent",
)

# Modules whose import registers rules (imported lazily: they import this module).
_RULE_MODULES = (
    "plugins.rtcstats.analysis.rules_connectivity",
    "plugins.rtcstats.analysis.rules_media",
    "plugins.rtcstats.analysis.rules_client",
)


@dataclass(frozen=True)
class ObservationType:
    """A catalogue entry. `severities` lists every severity the rule can emit, the default first."""

    type: str
    title: str
    category: str
    severities: tuple[str, ...]
    tags: tuple[str, ...]
    meaning: str
    threshold: str
    advice: str
    reason: str  # why this severity

    @property
    def severity(self) -> str:
        return self.severities[0]


RuleFn = Callable[[CallMetrics], Iterable[dict]]


@dataclass(frozen=True)
class Rule:
    kind: ObservationType
    check: RuleFn


_RULES: dict[str, Rule] = {}


def rule(
    type: str,
    *,
    title: str,
    category: str,
    severities: tuple[str, ...] | list[str],
    tags: tuple[str, ...] | list[str],
    meaning: str,
    threshold: str,
    advice: str,
    reason: str,
) -> Callable[[RuleFn], RuleFn]:
    """Register the decorated function as the detector of `type`, with its catalogue entry."""
    kind = ObservationType(
        type=type,
        title=title,
        category=category,
        severities=tuple(severities),
        tags=tuple(tags),
        meaning=meaning,
        threshold=threshold,
        advice=advice,
        reason=reason,
    )
    if category not in CATEGORIES:
        raise ValueError(f"{type}: unknown category {category!r}")
    if not kind.severities or any(s not in SEVERITY_RANK for s in kind.severities):
        raise ValueError(f"{type}: bad severities {kind.severities!r}")
    if any(t not in TAGS for t in kind.tags):
        raise ValueError(f"{type}: bad tags {kind.tags!r}")

    def register(fn: RuleFn) -> RuleFn:
        if type in _RULES and _RULES[type].check is not fn:
            raise ValueError(f"observation type {type!r} registered twice")
        _RULES[type] = Rule(kind, fn)
        return fn

    return register


_loaded = False  # the rule modules were imported (analyze asks for them several times per call)


def _load_rules() -> dict[str, Rule]:
    global _loaded
    if not _loaded:
        for name in _RULE_MODULES:
            importlib.import_module(name)
        _loaded = True
    return _RULES


# (registry, its size, its types by name) of the last observation_types(): the registry only grows
# (a test may swap in another dict: then the identity differs)
_types_of: tuple = (None, 0, {})


def observation_types() -> dict[str, ObservationType]:
    """Every registered observation type by name (the full catalogue, with thresholds and advice)."""
    global _types_of
    rules = _load_rules()
    registry, size, types = _types_of
    if registry is not rules or size != len(rules):
        types = {name: r.kind for name, r in sorted(rules.items())}
        _types_of = (rules, len(rules), types)
    return dict(types)


def catalogue() -> list[dict]:
    """The GET /observations catalogue: [{type, title, severity: [...], tags, category, meaning}] by type."""
    return [
        {
            "type": kind.type,
            "title": kind.title,
            "severity": sorted(kind.severities, key=SEVERITY_RANK.__getitem__),
            "tags": list(kind.tags),
            "category": kind.category,
            "meaning": kind.meaning,
        }
        for kind in observation_types().values()
    ]


def detect(metrics: CallMetrics, *, strict: bool = False) -> list[dict]:
    """Run every rule over the metrics; the observations sorted by severity, then first time, then type.

    A rule that raises is logged and skipped (one odd dump must not lose the whole analysis) unless
    `strict` (tests) re-raises.
    """
    global _current
    found: list[dict] = []
    every = sorted(metrics.streams.values(), key=_stream_key)
    _current = (metrics, [metrics.pcs[k] for k in sorted(metrics.pcs)], {(None, None): every})
    try:
        for name, r in sorted(_load_rules().items()):
            try:
                found.extend(r.check(metrics))
            except Exception:
                if strict:
                    raise
                log.exception("rtcstats observation rule %s failed; skipped", name)
    finally:
        _current = _NO_CALL
    return sort_observations(found)


# The call detect() is running on, with its PCs sorted by id and its streams sorted by key per (kind,
# direction) as asked: most of the 45 rules walk one of these, and each sorted them anew (a jitsi call
# has tens of streams). Made per detect and dropped at its end, so a call changed between two detects
# (tests) is never read stale; a rule run outside detect, or while another thread's detect holds this,
# sorts as before (the identity check: this holds a reference, so no other call can take the id).
_NO_CALL: tuple = (None, None, None)
_current: tuple = _NO_CALL


def sorted_pcs(metrics: CallMetrics) -> list[PcMetrics]:
    """The call's PcMetrics in the order of their ids (do not change the list: detect shares it)."""
    current = _current
    if current[0] is metrics:
        return current[1]
    return [metrics.pcs[k] for k in sorted(metrics.pcs)]


def sorted_streams(
    metrics: CallMetrics, kind: str | None = None, direction: str | None = None
) -> list[StreamMetrics]:
    """metrics.streams_of(kind, direction) sorted by stream key (do not change the list: detect shares
    it). Within detect, a subset is taken in order from all the streams sorted once: a stable sort of a
    subset keeps the order the sort of all of them gives it."""
    current = _current
    if current[0] is not metrics:
        return sorted(metrics.streams_of(kind, direction), key=_stream_key)
    by_filter = current[2]
    found = by_filter.get((kind, direction))
    if found is None:
        found = by_filter[(kind, direction)] = [
            s
            for s in by_filter[(None, None)]
            if (kind is None or s.kind == kind) and (direction is None or s.direction == direction)
        ]
    return found


def _stream_key(stream: StreamMetrics) -> str:
    return stream.key


def sort_observations(observations: Iterable[dict]) -> list[dict]:
    def key(o: dict) -> tuple:
        first = o.get("firstSeenAt")
        source = o.get("source") or {}
        return (
            SEVERITY_RANK.get(o.get("severity", "info"), len(SEVERITIES)),
            first is None,
            first or 0,
            o.get("type", ""),
            tuple(sorted((k, str(v)) for k, v in source.items())),
        )

    return sorted(observations, key=key)


# Where a merged observation lists the places it occurred, at most this many are named.
MERGED_NAMED_MAX = 8


def merge_repeats(observations: list[dict]) -> list[dict]:
    """Identical observations merged into one, in the place of the first, with the count in valueInCount.

    Identical: every field equal except `source` and `firstSeenAt` (e.g. "Connection failed to establish"
    on four peer connections). Observations that carry a valueInCount of their own (a count of errors,
    restarts...) are never merged: the contract has one count field and it is taken. The merged one keeps
    the first occurrence's source, the earliest firstSeenAt, and its meaning names where it occurred.
    """
    groups: dict[str, list[dict]] = {}
    order: list[str | dict] = []
    alone = _alone_of_type(observations)
    for obs in observations:
        if "valueInCount" in obs or (alone and obs.get("type") in alone):
            order.append(obs)  # as _merged gives back a group of one
            continue
        key = json.dumps(
            {k: v for k, v in obs.items() if k not in ("source", "firstSeenAt")}, sort_keys=True, default=str
        )
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(obs)
    return [item if isinstance(item, dict) else _merged(groups[item]) for item in order]


def _alone_of_type(observations: list[dict]) -> set[str]:
    """The types that only one of the observations to merge has: it can be identical to no other (the
    type is one of the fields compared), so it needs no key (a JSON dump of the whole observation). Only
    when every type is a plain str (as make() writes it): an object whose JSON is a type's name could
    equal that type, and such a set is empty."""
    counts: dict[str, int] = {}
    for obs in observations:
        if "valueInCount" not in obs:
            kind = obs.get("type")
            if type(kind) is not str:
                return set()
            counts[kind] = counts.get(kind, 0) + 1
    return {kind for kind, count in counts.items() if count == 1}


def _merged(group: list[dict]) -> dict:
    if len(group) == 1:
        return group[0]
    first = dict(group[0])
    times = [o["firstSeenAt"] for o in group if "firstSeenAt" in o]
    if times:
        first["firstSeenAt"] = min(times)
    first["valueInCount"] = len(group)
    places = list(dict.fromkeys(_place(o.get("source") or {}) for o in group))
    named = ", ".join(places[:MERGED_NAMED_MAX]) + (
        f" and {len(places) - MERGED_NAMED_MAX} more" if len(places) > MERGED_NAMED_MAX else ""
    )
    meaning = str(first.get("meaning") or "").rstrip()
    where = f" ({named})" if len(places) > 1 else ""
    first["meaning"] = f"{meaning} Seen {len(group)} times{where}."
    return first


def _place(source: dict) -> str:
    """Where an observation occurred, briefly: 'PC_1', 'PC_0 ssrc 1234', 'PC_0 pair CP1', 'request 2'."""
    pid = str(source.get("pid", ""))
    if "ssrcId" in source or "sid" in source:
        return f"{pid} ssrc {source['ssrcId']}" if "ssrcId" in source else f"{pid} {source['sid']}"
    if "cpid" in source:
        return f"{pid} pair {source['cpid']}"
    if "rid" in source:
        return f"request {source['rid']}"
    return pid or "?"


# --- building observations -----------------------------------------------------------------------


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _clean_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, 2)
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if isinstance(value, dict):
        cleaned = {k: _clean_value(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None} or None
    if isinstance(value, list | tuple):
        cleaned_list = [_clean_value(v) for v in value]
        return [v for v in cleaned_list if v is not None] or None
    if isinstance(value, str):
        return value or None
    return value


def make(
    type: str,
    severity: str,
    *,
    source: dict,
    tags: Iterable[str],
    first_seen: float | None = None,
    meaning: str | None = None,
    **values: Any,
) -> dict:
    """One observation dict in the contract shape; absent, None and non-finite values are omitted.

    `values` takes the contract field names (valueInPercent, averageInMs, url, property, indicators...).
    Severity and tags must belong to the type's catalogue entry (a programming error otherwise).
    """
    kind = _RULES[type].kind
    if severity not in kind.severities:
        raise ValueError(f"{type}: severity {severity!r} not in its catalogue {kind.severities!r}")
    wanted = set(tags)
    tag_list = [t for t in TAGS if t in wanted]
    if any(t not in kind.tags for t in tag_list) or len(tag_list) != len(wanted):
        raise ValueError(f"{type}: tags {sorted(tags)!r} not within its catalogue {kind.tags!r}")
    out: dict[str, Any] = {
        "type": type,
        "severity": severity,
        "category": kind.category,
        "source": {k: v for k, v in source.items() if v is not None and v != ""},
        "tags": tag_list,
    }
    if finite(first_seen):
        out["firstSeenAt"] = int(math.floor(first_seen))  # type: ignore[arg-type]
    for name, value in values.items():
        cleaned = _clean_value(value)
        if cleaned is not None:
            out[name] = cleaned
    out["meaning"] = meaning or kind.meaning
    return out


def pc_source(pc: PcMetrics) -> dict:
    return {"pid": pc.pc_id}


def pair_source(pc: PcMetrics, pair: SelectedPair) -> dict:
    return {"pid": pc.pc_id, "cpid": pair.pair_id}


def stream_source(stream: StreamMetrics) -> dict:
    return {"pid": stream.pc_id, "sid": stream.stat_id, "ssrcId": stream.ssrc}


def device_source(index: int, time: float | None, label: str | None = None) -> dict:
    return {"rid": str(index), "timestamp": iso_time(time), "labelId": label}


def iso_time(ms: float | None) -> str | None:
    if not finite(ms):
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)  # type: ignore[operator]
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- measuring helpers shared by the rules ------------------------------------------------------


def first_time_above(series: Series, threshold: float) -> float | None:
    """End time of the first interval whose value exceeds threshold."""
    for time, value in zip(series.times, series.values, strict=False):
        if value > threshold:
            return time
    return None


def series_avg(series: Series) -> float | None:
    # summary()["avg"] without its sort and stddev: statistics.fmean(values) is fsum(values) / len(values)
    # (exact sum, so the order is moot) behind a Python-level function; the rules ask for it per stream
    values = series.values
    return math.fsum(values) / len(values) if values else None


def series_max(series: Series) -> float | None:
    return max(series.values) if series.values else None


def indicators(series: Series) -> dict | None:
    """{avg, min, max, p5, p95, stddev} of an interval series, for the `indicators` field."""
    return series.summary()


def stream_intervals(stream: StreamMetrics) -> int:
    """Best estimate of the number of stats intervals a stream was measured over."""
    series = (
        stream.bitrate_kbps,
        stream.loss_pct_series,
        stream.jitter_ms,
        stream.rtt_ms,
        stream.fps,
        stream.packet_send_delay_ms,
        stream.jitter_buffer_delay_ms,
    )
    return max(len(s.values) for s in series)


def stream_duration_ms(stream: StreamMetrics) -> float | None:
    """Active span of a stream (active_start/end), else first/last seen; None when unknown or empty."""
    for start, end in (
        (stream.active_start_ms, stream.active_end_ms),
        (stream.first_seen_ms, stream.last_seen_ms),
    ):
        if finite(start) and finite(end) and end > start:  # type: ignore[operator]
            return end - start  # type: ignore[operator]
    return None


def stream_loss_pct(stream: StreamMetrics) -> float | None:
    """Whole-stream loss percentage (totals), else the mean of the interval losses."""
    if finite(stream.loss_pct):
        return stream.loss_pct
    return series_avg(stream.loss_pct_series)


def kind_tag(stream: StreamMetrics) -> str | None:
    return stream.kind if stream.kind in ("audio", "video") else None


def direction_tag(stream: StreamMetrics) -> str | None:
    return stream.direction if stream.direction in ("inbound", "outbound") else None


def stream_tags(stream: StreamMetrics, *extra: str) -> list[str]:
    return [t for t in (direction_tag(stream), kind_tag(stream), *extra) if t]


def stream_label(stream: StreamMetrics) -> str:
    """'incoming audio' / 'outgoing video'."""
    way = {"inbound": "incoming", "outbound": "outgoing"}.get(stream.direction, stream.direction)
    return f"{way} {stream.kind}"


def fmt_ms(ms: float) -> str:
    """Plain-language duration: '420 ms', '2.5 s', '3 min 20 s', '1 h 5 min'."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def fmt_num(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
