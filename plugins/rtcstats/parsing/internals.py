"""Chrome chrome://webrtc-internals "Create dump" JSON (M86 ... M149) -> parsed_dump.Dump.

Layout (rtcstats-dumps.md section 1): a JSON object with `getUserMedia` (request/response records),
`PeerConnections` (`"<pid>-<lid>"` -> {url, rtcConfiguration, constraints?, updateLog, stats}),
`UserAgent`, since ~M138 `UserAgentData` (array, later object) and since ~M147 `timestamp`,
`hardwareConcurrency`, `deviceMemory` (`cpuPerformance` in some builds).

Times (dump-facts D3): updateLog entries and getUserMedia records count only with a numeric
`timestamp`; old Chrome's `time` locale strings (local zone, 1 s resolution) are kept in Event.extra but
never used as times. Stats snapshots are rebuilt from the time series (internals_stats, D5).

Every problem with the structure raises DumpFormatError naming the key (or the JSON line); nothing
else escapes. Things that are skipped without failing are reported in Dump.warnings.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.parsed_dump import Dump, Event, normalize_event_name
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.internals_scan import PcSpans, ScanError, raw_line, scan
from plugins.rtcstats.parsing.internals_stats import DictSource, build_stats
from plugins.rtcstats.parsing.internals_values import (
    is_number,
    parse_configuration,
    parse_constraint,
    parse_event_value,
)

__all__ = ["parse_internals"]

FORMAT = "webrtc-internals"
_KNOWN_TOP_LEVEL = frozenset(
    (
        "getUserMedia",
        "PeerConnections",
        "UserAgent",
        "UserAgentData",
        "timestamp",
        "hardwareConcurrency",
        "deviceMemory",
        "cpuPerformance",
    )
)
_DEVICE_KEYS = ("hardwareConcurrency", "deviceMemory", "cpuPerformance")
_GUM_RESPONSE_KEYS = ("stream_id", "error", "error_message", "audio_track_info", "video_track_info")
_GUM_CONSUMED = frozenset(
    ("timestamp", "request_type", "audio", "video", "audio_track_info", "video_track_info", "error")
)
_PC_KNOWN = frozenset(("pid", "url", "rtcConfiguration", "constraints", "updateLog", "stats"))


# When orjson refuses the bytes, dumps at least this big are decoded series by series (internals_scan)
# instead of with one json.loads: that never holds the decoded text and the whole parsed document at once
# (about 3x the file).
STREAM_MIN_BYTES = 4 * 1024 * 1024


def parse_internals(raw: bytes, *, stream: bool | None = None) -> Dump:
    """Parse an uncompressed webrtc-internals dump.

    By default the document is decoded with orjson (several times faster than the stdlib scanner
    below, and it reads the bytes without a decoded str copy). What orjson refuses - invalid JSON,
    but also NaN/Infinity, lone surrogates or a BOM that json accepts - goes the exact stdlib way:
    series by series from STREAM_MIN_BYTES on, else one json.loads. `stream` forces (True) or
    prevents (False) the series-by-series way and skips orjson. All give the same Dump.

    :raises DumpFormatError: not a JSON object, JSON syntax error (names the line), or a key whose
        content has the wrong shape (names the key, e.g. ``PeerConnections.92-1.stats``).
    """
    with paused_gc():
        return _parse(raw, stream)


def _parse(raw: bytes, stream: bool | None) -> Dump:
    try:
        top = _load_fast(raw) if stream is None else None
        if top is not None:
            return _build(top, _doc_pcs(top))
        if stream is None:
            stream = len(raw) >= STREAM_MIN_BYTES
        top, pcs = _open_streaming(raw) if stream else (None, None)
        if top is None:
            top = _load(raw)
            pcs = _doc_pcs(top)
        return _build(top, pcs)
    except DumpFormatError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as err:
        # Safety net: a shape we did not foresee must still be a format error, not a crash.
        raise DumpFormatError(f"unexpected content in the dump: {type(err).__name__}: {err}") from None


def _load_fast(raw: bytes) -> dict | None:
    """The document decoded by orjson; None when orjson refuses it or it is not an object, so that the
    stdlib path gives its exact error message (or accepts what only json accepts)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _load(raw: bytes) -> dict:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DumpFormatError(f"not valid JSON: {err.msg} (column {err.colno})", line=err.lineno) from None
    except UnicodeDecodeError as err:
        raise DumpFormatError(f"not UTF-8 text: {err.reason} at byte {err.start}") from None
    except (ValueError, RecursionError) as err:
        raise DumpFormatError(f"not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise DumpFormatError("a webrtc-internals dump is a JSON object", line=1)
    return doc


def _loads_pieces(raw: bytes, pieces: list[tuple[int, int]], placeholder: bytes = b"{}") -> Any:
    """json.loads of the concatenated raw slices / placeholders, errors mapped to lines of raw."""
    text = b"".join(placeholder if start < 0 else raw[start:end] for start, end in pieces)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        line = raw_line(raw, pieces, err.pos)
        raise DumpFormatError(f"not valid JSON: {err.msg}", line=line) from None
    except (ValueError, RecursionError) as err:
        raise DumpFormatError(f"not valid JSON: {err}") from None


class _SpanSource:
    """The series of one PC, decoded from their byte spans on each read."""

    def __init__(self, raw: bytes, series: dict[str, tuple[int, int]], where: str):
        self.raw = raw
        self.spans = series
        self.where = where

    def keys(self) -> list[str]:
        return list(self.spans)

    def get(self, key: str) -> Any:
        start, end = self.spans[key]
        try:
            return _loads_pieces(self.raw, [(start, end)])
        except DumpFormatError as err:
            err.key = self.where  # the message names the line; the key is kept for callers
            raise

    def release(self, key: str) -> None:
        pass


def _doc_pcs(doc: dict) -> list:
    """(pc id, loader) pairs of a parsed document; loader() -> (entry, series source or None)."""
    pcs = _check_pcs(doc)

    def loader(pc_id: str):
        def load():
            entry = pcs[pc_id]
            pcs[pc_id] = None  # drop the parsed PC as soon as it has been built
            if isinstance(entry, dict) and isinstance(entry.get("stats"), dict):
                return entry, DictSource(entry["stats"])
            return entry, None

        return load

    return [(pc_id, loader(pc_id)) for pc_id in list(pcs)]


def _check_pcs(doc: dict) -> dict:
    if "PeerConnections" not in doc:
        raise DumpFormatError(
            "not a webrtc-internals dump: the 'PeerConnections' object is missing", key="PeerConnections"
        )
    pcs = doc["PeerConnections"]
    if not isinstance(pcs, dict):
        raise DumpFormatError("'PeerConnections' is not an object", key="PeerConnections")
    return pcs


def _open_streaming(raw: bytes):
    """(top-level dict without the PCs, PC loaders) from byte spans; (None, None) to fall back."""
    try:
        scanned = scan(raw)
    except ScanError:
        return None, None  # json.loads of the whole file reports the problem (or copes)
    if scanned.pcs_span is None:
        return None, None
    start, end = scanned.pcs_span
    top = _loads_pieces(raw, [(0, start), (-1, 2), (end, len(raw))])
    if not isinstance(top, dict):
        raise DumpFormatError("a webrtc-internals dump is a JSON object", line=1)

    def loader(pc_id: str, spans: PcSpans):
        def load():
            if spans.stats is None:
                entry = _loads_pieces(raw, [(spans.start, spans.end)])
                return entry, None
            stats_start, stats_end = spans.stats
            pieces = [(spans.start, stats_start), (-1, 2), (stats_end, spans.end)]
            return _loads_pieces(raw, pieces), _SpanSource(
                raw, spans.series, f"PeerConnections.{pc_id}.stats"
            )

        return load

    _check_pcs(top)  # the placeholder {} stands for the PCs, which come from the loaders
    return top, [(pc_id, loader(pc_id, spans)) for pc_id, spans in scanned.pcs.items()]


def _build(doc: dict, pcs: list) -> Dump:
    """The Dump from the top-level object and the PCs' loaders (see _doc_pcs / _open_streaming)."""
    dump = Dump(format=FORMAT)

    user_agent = doc.get("UserAgent")
    if isinstance(user_agent, str):
        dump.user_agent = user_agent
    elif user_agent is not None:
        dump.warnings.append("UserAgent is not a string; ignored")
    dump.user_agent_data = doc.get("UserAgentData")  # array [{brand, version}] or object form
    for key in _DEVICE_KEYS:
        if key in doc:
            dump.device[key] = doc[key]
    created = doc.get("timestamp")
    if is_number(created):
        dump.dump_created_ms = float(created)
    elif created is not None:
        dump.warnings.append("top-level 'timestamp' is not a number; ignored")

    unknown = sorted(k for k in doc if k not in _KNOWN_TOP_LEVEL)
    if unknown:
        dump.warnings.append(f"unknown top-level key(s) ignored: {', '.join(unknown[:10])}")

    dump.client_events = _get_user_media(doc.get("getUserMedia"), dump.warnings)

    locale_only = 0
    truncated = False
    interpolated_pcs = 0
    strings: dict[str, str] = {}
    for pc_id, load in pcs:
        where = f"PeerConnections.{pc_id}"
        entry, source = load()
        if not isinstance(entry, dict):
            raise DumpFormatError("a peer connection entry is not an object", key=where)
        pc = dump.pc(str(pc_id))
        url = entry.get("url")
        pc.url = url if isinstance(url, str) else None
        if "rtcConfiguration" in entry:
            pc.configuration = parse_configuration(entry.get("rtcConfiguration"))
        constraints = entry.get("constraints")
        if constraints not in (None, "", {}):
            dump.warnings.append(
                f"{where}.constraints (legacy PC constraints) not kept: {str(constraints)[:80]}"
            )
        pc.events, skipped_locale = _update_log(entry.get("updateLog"), where, dump.warnings)
        locale_only += skipped_locale
        if source is None and entry.get("stats") is not None:
            raise DumpFormatError("'stats' is not an object", key=f"{where}.stats")
        if source is not None:
            result = build_stats(str(pc_id), source, pc, strings)
            truncated = truncated or result.truncated
            interpolated_pcs += result.interpolated
            dump.warnings.extend(result.warnings)
        del entry, source

    dump.stats_truncated = truncated
    dump.format_detail = {
        "top_level_keys": sorted(str(k) for k in doc),
        "stats_truncated": truncated,
        "updatelog_locale_time_entries_ignored": locale_only,
        "stats_time_source": (
            None
            if not dump.peer_connections
            else "interpolated"
            if interpolated_pcs == len(dump.peer_connections)
            else "mixed"
            if interpolated_pcs
            else "timestamp-series"
        ),
    }
    if truncated:
        dump.warnings.append(
            "some stats series hold 1000 points (the page's cap): the beginning of the call is missing"
        )
    return dump


# --- getUserMedia --------------------------------------------------------------------------------


def _get_user_media(records: Any, warnings: list[str]) -> list[Event]:
    """getUserMedia/getDisplayMedia records -> client events in file order.

    Request: `navigator.mediadevices.getusermedia` with value `{"audio": <constraint>, "video": ...}`
    (only the kinds requested; `""` -> true, old JS-ish constraints parsed). Success response:
    `...onsuccess` with value `[[kind, trackId, label, streamId], ...]` (the shape of Chrome's own rtcstats
    writer). Failure: `...onfailure` with the error name; `error_message` goes to extra.
    extra = [{origin, pid, rid, request_id, url, stream_id, error_message, ...}] (what is present).
    """
    if records is None:
        return []
    if not isinstance(records, list):
        raise DumpFormatError("'getUserMedia' is not an array", key="getUserMedia")
    events: list[Event] = []
    skipped = 0
    for record in records:
        if not isinstance(record, dict):
            skipped += 1
            continue
        request_type = record.get("request_type")
        if not isinstance(request_type, str) or not request_type:
            request_type = "getUserMedia"
        base = f"navigator.mediaDevices.{request_type}"
        stamp = record.get("timestamp")
        time = float(stamp) if is_number(stamp) else None
        extra = {k: v for k, v in record.items() if k not in _GUM_CONSUMED}
        if any(key in record for key in _GUM_RESPONSE_KEYS):
            if "error" in record or "error_message" in record:
                raw_name = base + "OnFailure"
                value: Any = record.get("error")
            else:
                raw_name = base + "OnSuccess"
                value = _tracks(record)
        else:
            raw_name = base
            value = {kind: parse_constraint(record[kind]) for kind in ("audio", "video") if kind in record}
        events.append(Event(time, normalize_event_name(raw_name), raw_name, value, [extra] if extra else []))
    if skipped:
        warnings.append(f"getUserMedia: {skipped} record(s) that are not objects skipped")
    return events


def _tracks(record: dict) -> list[list]:
    stream_id = record.get("stream_id")
    tracks = []
    for kind in ("audio", "video"):
        info = record.get(f"{kind}_track_info")
        if isinstance(info, str):
            try:
                info = json.loads(info)
            except ValueError:
                info = {"id": None, "label": info}
        if isinstance(info, dict):
            tracks.append([kind, info.get("id"), info.get("label"), stream_id])
    return tracks


# --- updateLog -----------------------------------------------------------------------------------


def _update_log(log: Any, where: str, warnings: list[str]) -> tuple[list[Event], int]:
    """updateLog entries -> events in file order. Returns (events, entries with only a locale time)."""
    if log is None:
        return [], 0
    if not isinstance(log, list):
        raise DumpFormatError("'updateLog' is not an array", key=f"{where}.updateLog")
    events: list[Event] = []
    skipped = 0
    locale_only = 0
    for entry in log:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            skipped += 1
            continue
        raw_name = entry["type"]
        name = normalize_event_name(raw_name)
        stamp = entry.get("timestamp")
        time = float(stamp) if is_number(stamp) else None
        if time is None and isinstance(entry.get("time"), str):
            locale_only += 1
        extra = {k: v for k, v in entry.items() if k not in ("type", "value", "timestamp")}
        value = parse_event_value(name, entry.get("value"))
        events.append(Event(time, name, raw_name, value, [extra] if extra else []))
    if skipped:
        warnings.append(f"{where}.updateLog: {skipped} entr(y/ies) without an object with a 'type' skipped")
    return events, locale_only
