"""Parser of legacy rtcstats JSON-lines dumps (fippo/rtcstats, jitsi/rtcstats, jitsi/rtcstats-server).

Format (reference: rtcstats-dumps.md section 2.3, dump-facts.md D1-D5)::

    ["connectionInfo", null, {"url": ..., "userAgent": ..., "statsFormat": ...}, 1697705722151]
    ["create", "PC_0", {"iceServers": [...]}, 1697705722108]
    ["oniceconnectionstatechange", "PC_0", "checking", 1697705722179]
    ["getstats", "PC_0", {"timestamp": 1697705732106, "T01": {"timestamp": 0, ...}}, 1697705732110]

Every line is a JSON array ``[method, pcId, value, absoluteTimestampMs, ...extra]``: the time is always the
4th element (2023+ jitsi clients append a sequence number as a 5th element; it is kept in ``Event.extra``).

* ``connectionInfo`` (written by jitsi's server) fills ``dump.metadata`` (its keys as written: url, origin,
  path, userAgent, clientProtocol, statsFormat, clientType); it is not an event and never sets the call
  start or end (D3: in several public dumps it was pasted from another session - a warning says so when it
  is dated more than a day away from the events).
* Lines with a null pcId, and client-level methods (``navigator.*``, ``MediaStreamTrack.*``,
  ``HTMLMediaElement.*``, and jitsi's bare ``getUserMedia*``/``getDisplayMedia*``) whatever their pcId, are
  client events; every other pcId is a peer connection (D2). jitsi's ``identity`` lines stay client events
  and also copy conference/participant ids into the metadata (jitsi key names, plus generic ``conference``,
  ``user``, ``session``). ``user_agent``: a client ``userAgent`` line or client ``create`` event's
  ``userAgent`` (sent by the browser itself) wins over connectionInfo's (which may be pasted).
* ``getstats`` (any case, so rtcstats-js' ``getStats`` too) lines are delta-compressed snapshots, one
  snapshot each, at the line time. Both conventions are handled (D1, D5): "v2" when some getstats line after
  a PC's first one holds a report reduced to only ``timestamp`` (an absent report was removed), else "v1"
  (an absent report is unchanged and carried forward, with its old timestamp). The convention is a property
  of the whole file, that of the pre-scan ``detect_delta_semantics`` (regular expressions, JSON-parsing
  only candidate lines). The main pass applies the same test to its getstats lines as it reads them (in v2
  files the second getstats line of a PC usually decides), and runs the whole pre-scan only when the
  convention matters before it is known: at a line that leaves out a report the PC had (removed in v2,
  carried in v1). Until then both conventions build the same tracks. Values are kept as written (legacy
  goog stats hold numbers as strings).

Memory and speed: the input is read line by line (no list of lines or of parsed lines). The stat tracks
are built from the deltas as written (legacy_tracks.py): each value of the file is noted once, and the
columns are filled when the file is read, so the cost follows the file's size, not the number of
values the decompressed snapshots hold (five to ten times more).

Lines without a timestamp (3 elements such as jitsi's ``["e2eRtt", null, {...}]``, or a null 4th element)
carry no sample time: they are skipped, counted in ``format_detail["lines_without_time"]`` and in one
warning naming the first such line; a connectionInfo line without a time still fills the metadata.

Errors: every unreadable line raises DumpFormatError naming its line number: not UTF-8 JSON, not an array,
fewer than 3 elements, method not a string, pcId neither string nor null (an integer pcId is accepted as
its decimal string), timestamp (4th element) present but not a finite JSON number, getstats value not an
object.
Truncation policy (shared with v3, ``lines.read_json_lines`` and ``lines.decode_refused``): when the
*last* non-blank line is not valid JSON and ends inside an unclosed string, array or object - the file was
cut while being written or uploaded - it is skipped with a warning naming the line, and everything before
it is kept. A broken line anywhere else, or a complete-but-corrupt last line, is an error.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from plugins.rtcstats.gc_pause import paused_gc
from plugins.rtcstats.parsed_dump import Dump
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.legacy_tracks import LegacyStats
from plugins.rtcstats.parsing.lines import (
    BLANK,
    CUT_OFF,
    add_event,
    as_number,
    decode_refused,
    is_client_method,
    make_event,
)

__all__ = ["FORMAT", "parse_legacy", "detect_delta_semantics"]

FORMAT = "rtcstats-legacy"

# jitsi's early rtcstats traced bare `getUserMedia`, `getUserMediaOnSuccess`... (client level too).
_JITSI_CLIENT_PREFIXES = ("getusermedia", "getdisplaymedia")

# jitsi `identity` keys copied into the metadata (ids and names of the conference and the participant).
_IDENTITY_KEYS = (
    "confID",
    "confName",
    "meetingUniqueId",
    "endpointId",
    "displayName",
    "sessionId",
    "deviceId",
    "userId",
    "customerId",
    "statsSessionId",
    "applicationName",
)
# The model's canonical ids (Dump.metadata docs), from the first jitsi key present.
_IDENTITY_GENERIC = {
    "conferenceId": ("confID", "confName", "meetingUniqueId"),
    "userId": ("userId", "endpointId"),
    "sessionId": ("sessionId", "statsSessionId"),
}

# What a line's method makes of it (_LegacyParser._kind): the metadata, a client event (whatever its pcId),
# a getstats snapshot (of its pcId's PC), or an event of its pcId's PC. A null pcId makes any but
# connectionInfo a client event.
_INFO, _CLIENT, _STATS, _PC_EVENT = 0, 1, 2, 3

# connectionInfo further than this from the call's events probably belongs to another session (D3).
_CONNECTION_INFO_SKEW_MS = 24 * 3600 * 1000

_BOM = b"\xef\xbb\xbf"

# Module globals, not attribute lookups per line (as in lines.read_json_lines).
_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError

# Pre-scan (D1): a getstats line's head, and a report reduced to only its timestamp. Inside a JSON string a
# quote is always escaped, so `{"timestamp":0}` can only be structure; candidates are confirmed by parsing.
_GETSTATS_HEAD = re.compile(rb'\s*\[\s*"getstats"\s*,\s*("(?:[^"\\]|\\.)*"|-?[0-9]+)', re.IGNORECASE)
_TIMESTAMP_ONLY = re.compile(rb'\{\s*"timestamp"\s*:\s*[-+0-9.eE]+\s*\}')


def parse_legacy(raw: bytes) -> Dump:
    """Parse a legacy rtcstats JSON-lines dump (uncompressed bytes) into the model.

    :raises DumpFormatError: a line is unreadable (the message and ``err.line`` name the line).
    """
    parser = _LegacyParser(raw)
    with paused_gc():  # the tracks are thousands of new lists: no collection walks them meanwhile
        try:
            return parser.run()
        finally:
            # Each builder holds the parser's methods (_count, _decide) and the parser holds the builders: a
            # cycle through the parser's dump. Broken here, the dump is freed by reference counting when
            # the caller drops it, not kept (with all its tracks) until a full collection walks the heap.
            parser.stats.clear()


def detect_delta_semantics(raw: bytes) -> str:
    """D1: "v2" if some getstats line after a PC's first one holds a report that is only ``{timestamp}``.

    Lines are matched with regular expressions in place (no copy of each line) and only candidate lines
    are JSON-parsed; the scan stops at the first confirmed line (in v2 files usually the second getstats
    line of the first PC). tests/plugins/rtcstats/test_legacy_detect.py compares it with the scan of
    copied lines it replaced; _LegacyParser._watch is the same test made in the main pass.
    """
    size = len(raw)
    start = len(_BOM) if raw.startswith(_BOM) else 0
    seen_pcs: set[bytes] = set()
    while start < size:
        end = raw.find(b"\n", start)
        if end < 0:
            end = size
        head = _GETSTATS_HEAD.match(raw, start, end)  # a blank line is no getstats line either
        if head is not None:
            pc_key = head.group(1)
            if pc_key in seen_pcs and _TIMESTAMP_ONLY.search(raw, head.end(), end):
                if _has_timestamp_only(raw[start:end]):
                    return "v2"
            seen_pcs.add(pc_key)
        start = end + 1
    return "v1"


def _has_timestamp_only(line: bytes) -> bool:
    """Whether a candidate line decides "v2"."""
    try:
        item = orjson.loads(line)  # several times faster than the stdlib decoder on these long lines
    except ValueError:  # what orjson refuses (NaN, a BOM...) the stdlib decoder may read: as before
        try:
            return _decides_v2(json.loads(line))
        except (ValueError, RecursionError):
            return False  # the main pass reports the line
    return _decides_v2(item)


def _decides_v2(item: Any) -> bool:
    if not isinstance(item, list) or len(item) < 4 or item[3] is None or not isinstance(item[2], dict):
        return False  # a line without a timestamp is skipped by the main pass: it cannot decide either
    for key, report in item[2].items():  # a loop, not any() of a generator: no closure when compiled
        if key != "timestamp" and isinstance(report, dict) and len(report) == 1 and "timestamp" in report:
            return True
    return False


def _epoch_ms(value: Any) -> float | None:
    """A numeric timestamp, or an ISO-8601 string (fippo's early v1 top-level `timestamp`), as epoch ms."""
    number = as_number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:  # JavaScript's Date.toJSON() is UTC; never the server's zone
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp() * 1000.0
        except (ValueError, OverflowError):
            return None
    return None


def _json_object(value: Any) -> Any:
    """A dict, or a string holding a JSON object (some writers serialise twice); else the value unchanged."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if isinstance(parsed, dict):
            return parsed
    return value


def _scalar(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, (dict, list))


class _LegacyParser:
    def __init__(self, raw: bytes):
        self.raw = raw
        self.dump = Dump(format=FORMAT)
        self.semantics: str | None = None  # "v1" or "v2" once known (see _watch and _decide)
        self.seen_heads: set[bytes] = set()  # what detect_delta_semantics' seen_pcs holds at this line
        self.stats: dict[str, LegacyStats] = {}  # pcId -> its stat tracks while they are built
        self.last_stats_time: dict[str, float] = {}
        self.client_user_agent: str | None = None
        self.info_user_agent: str | None = None
        self.connection_info: list[tuple[int, float]] = []  # (line, time) of connectionInfo lines
        self.counts: dict[str, list[int]] = {}  # warning text -> [count, first line]
        self.kinds: dict[str, int] = {}  # method name as written -> _INFO, _CLIENT, _STATS or _PC_EVENT

    # -- driver -------------------------------------------------------------------------------------------

    def run(self) -> Dump:
        dump = self.dump
        dump.format_detail["legacy_delta_semantics"] = None  # known at the end; the key comes first
        dump.format_detail["has_connectionInfo"] = False

        # The loop of read_json_lines, run here: no generator step and no (number, value) tuple per line.
        raw = self.raw
        warnings = dump.warnings
        size = len(raw)
        pos = 0
        lineno = 0
        lines = 0
        watching = True  # while the convention is not known (a local: no attribute read per line after)
        while pos < size:
            end = raw.find(b"\n", pos)
            if end < 0:
                end = size
            lineno += 1
            try:
                item = _loads(raw[pos:end])
            except _OrjsonError:  # what orjson refuses, the stdlib decoder accepts or explains
                item = decode_refused(raw, raw[pos:end], end + 1, lineno, warnings)
                if item is CUT_OFF:
                    break
                if item is BLANK:
                    pos = end + 1
                    continue
            if watching:
                if self.semantics is None:
                    self._watch(item, pos, end)  # before the line is read: it may decide for itself
                else:
                    watching = False
            pos = end + 1
            lines += 1
            try:
                self._line(lineno, item)
            except DumpFormatError:
                raise
            except RecursionError:
                raise DumpFormatError("the line is nested too deeply", line=lineno) from None
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
                # a safety net: content of a shape no branch expected must still be a format error
                raise DumpFormatError(
                    f"unexpected content ({type(err).__name__}: {err})", line=lineno
                ) from None
        if lines == 0:
            raise DumpFormatError("the file holds no rtcstats lines")
        if self.semantics is None:  # no line decided "v2": neither would the pre-scan have
            self.semantics = "v1"
        dump.format_detail["legacy_delta_semantics"] = self.semantics
        self._finish()
        return dump

    def _finish(self) -> None:
        dump = self.dump
        for stats in self.stats.values():
            stats.finish()
        dump.user_agent = self.client_user_agent or self.info_user_agent or dump.user_agent
        for text, (count, first) in self.counts.items():
            dump.warnings.append(f"line {first}: {text}" + (f" ({count} lines)" if count > 1 else ""))
        times = dump.event_times()
        if self.connection_info and times:
            start, end = min(times), max(times)
            for lineno, when in self.connection_info:
                gap = max(start - when, when - end, 0.0)
                if gap > _CONNECTION_INFO_SKEW_MS:
                    dump.warnings.append(
                        f"line {lineno}: connectionInfo is dated {gap / 86_400_000:.0f} day(s) away from the "
                        "call's events; its metadata (url, userAgent) may belong to another session"
                    )

    def _count(self, text: str, lineno: int) -> None:
        entry = self.counts.get(text)
        if entry is None:
            self.counts[text] = [1, lineno]
        else:
            entry[0] += 1

    # -- one line -----------------------------------------------------------------------------------------

    def _line(self, lineno: int, item: Any) -> None:
        if not isinstance(item, list):
            raise DumpFormatError(f"the line is a JSON {type(item).__name__}, not an array", line=lineno)
        if len(item) < 3:
            raise DumpFormatError(
                f"the line has {len(item)} element(s), not [method, pcId, value, timestamp]", line=lineno
            )
        method, pc_id, value = item[0], item[1], item[2]
        if not isinstance(method, str):
            raise DumpFormatError("the method (1st element) is not a string", line=lineno)
        if pc_id is not None and not isinstance(pc_id, str):
            if isinstance(pc_id, int) and not isinstance(pc_id, bool):
                pc_id = str(pc_id)
            else:
                raise DumpFormatError("the pcId (2nd element) is neither a string nor null", line=lineno)
        kind = self.kinds.get(method)
        if kind is None:
            kind = self._kind(method)
        if len(item) == 3 or item[3] is None:
            self._untimed(lineno, kind, value)
            return
        time = item[3]
        # The usual timestamps need no call: an integer (jitsi's milliseconds) is what as_number makes of
        # it, float(), unless beyond the float range; a finite float stays (x - x is NaN for an infinity
        # or a NaN). A boolean's class is bool, not int.
        if type(time) is int:
            try:
                time = float(time)
            except OverflowError:
                raise DumpFormatError("the timestamp (4th element) is not a number", line=lineno) from None
        elif type(time) is not float or time - time != 0.0:
            time = as_number(time)
            if time is None:
                raise DumpFormatError("the timestamp (4th element) is not a number", line=lineno)

        if kind == _INFO:
            self._connection_info(lineno, value, time)
        elif pc_id is None or kind == _CLIENT:
            self._client_event(lineno, method, kind, value, time, item[4:], pc_id)
        elif kind == _STATS:
            self._getstats(lineno, pc_id, value, time)
        else:
            add_event(self.dump, pc_id, make_event(method, value, item[4:], time))

    def _watch(self, item: Any, start: int, end: int) -> None:
        """detect_delta_semantics' test of one line (raw[start:end], decoded `item`), in the main pass: the
        same getstats head (a null pcId has none, nor has an escaped method name) and pcId as written, and
        the same two checks of a line whose PC had a getstats line before, the decoded value's (cheap, a
        loop over its reports) first. A line with a head decodes to a list whose method has 8 characters:
        the regex runs on those lines only."""
        if type(item) is not list or len(item) < 2 or type(item[0]) is not str or len(item[0]) != 8:
            return
        raw = self.raw
        if start == 0 and raw.startswith(_BOM):  # the pre-scan matches the first line after a BOM
            start = len(_BOM)
        head = _GETSTATS_HEAD.match(raw, start, end)
        if head is None:
            return
        pc_key = head.group(1)
        if pc_key not in self.seen_heads:
            self.seen_heads.add(pc_key)
        elif _decides_v2(item) and _TIMESTAMP_ONLY.search(raw, head.end(), end):
            self.semantics = "v2"

    def _decide(self) -> bool:
        """Whether a report absent from a getstats line is removed ("v2"), asked by LegacyStats.add when
        the convention matters before the main pass found it: the pre-scan of the whole file answers."""
        if self.semantics is None:
            self.semantics = detect_delta_semantics(self.raw)
        return self.semantics == "v2"

    def _kind(self, method: str) -> int:
        """What a method's lines are (its pcId aside), worked out once per method name of the file."""
        lowered = method.lower()
        if lowered == "connectioninfo":
            kind = _INFO
        elif is_client_method(method) or lowered.startswith(_JITSI_CLIENT_PREFIXES):
            kind = _CLIENT
        elif lowered == "getstats":
            kind = _STATS
        else:
            kind = _PC_EVENT
        self.kinds[method] = kind
        return kind

    def _untimed(self, lineno: int, kind: int, value: Any) -> None:
        """A line without a timestamp (``["e2eRtt", null, {...}]``, or a null 4th element) has no sample
        time, so it cannot be an event or a snapshot: it is skipped and counted in the parse report, never a
        reason to refuse the file. Only connectionInfo, whose time is not used anyway, keeps its metadata."""
        if kind == _INFO:
            self._connection_info(lineno, value, None)
            return
        detail = self.dump.format_detail
        detail["lines_without_time"] = detail.get("lines_without_time", 0) + 1
        self._count("a line without a timestamp was skipped", lineno)

    def _connection_info(self, lineno: int, value: Any, time: float | None) -> None:
        self.dump.format_detail["has_connectionInfo"] = True
        if time is not None:
            self.connection_info.append((lineno, time))
        info = _json_object(value)
        if not isinstance(info, dict):
            self._count("a connectionInfo value that is not an object was ignored", lineno)
            return
        for key, field_value in info.items():
            if _scalar(field_value):
                self.dump.metadata.setdefault(key, field_value)
        agent = info.get("userAgent")
        if isinstance(agent, str) and agent and self.info_user_agent is None:
            self.info_user_agent = agent

    def _client_event(
        self, lineno: int, method: str, kind: int, value: Any, time: float, extra: list, pc_id: str | None
    ) -> None:
        if kind == _STATS:
            # stats need a peer connection; a pc-less getstats cannot be placed (and may be large)
            self._count("getstats without a pcId was ignored", lineno)
            return
        if pc_id is not None:
            extra = [*extra, {"pcId": pc_id}]  # a client method logged under a pcId: keep the id
        event = make_event(method, value, extra, time)
        add_event(self.dump, None, event)
        if event.name == "identity" and isinstance(value, dict):
            self._identity(value)
        elif event.name == "useragent" and isinstance(value, str) and value:
            self.client_user_agent = value
        elif event.name == "create" and isinstance(value, dict):
            agent = value.get("userAgent")
            if isinstance(agent, str) and agent:
                self.client_user_agent = agent

    def _identity(self, value: dict) -> None:
        metadata = self.dump.metadata
        for key in _IDENTITY_KEYS:
            if _scalar(value.get(key)):
                metadata[key] = value[key]
        for generic, sources in _IDENTITY_GENERIC.items():
            for key in sources:
                if _scalar(value.get(key)):
                    metadata.setdefault(generic, value[key])
                    break

    # -- stats --------------------------------------------------------------------------------------------

    def _getstats(self, lineno: int, pc_id: str, value: Any, time: float) -> None:
        """Decompress one getstats line (D5) and append the full snapshot to the PC's stat tracks.

        T = the line's top-level ``timestamp`` (else the line time). A new report is inserted (timestamp 0
        or none -> T); a known one is updated property by property (timestamp 0 -> T, none -> its previous
        timestamp, else its own). Under "v2" a report absent from the line is deleted, under "v1" carried.
        """
        if not isinstance(value, dict):
            raise DumpFormatError(
                f"the getstats value is a JSON {type(value).__name__}, not an object", line=lineno
            )
        fields = value  # exactly a dict (a JSON object): compiled, a C lookup below, not a method call
        previous_time = self.last_stats_time.get(pc_id)
        if previous_time is not None and time < previous_time:
            self._count(f"{pc_id}: a getstats line is older than the one before it", lineno)
        self.last_stats_time[pc_id] = time

        top = _epoch_ms(fields.get("timestamp"))
        stats = self.stats.get(pc_id)
        if stats is None:  # the PC's first getstats line: the only one that needs the PC from the dump
            stats = self.stats[pc_id] = LegacyStats(self.dump.pc(pc_id), self._count, self._decide)
        # the convention of absent reports: 1 "v2", 0 "v1", -1 not known yet (add asks _decide if it matters)
        remove_absent = -1 if self.semantics is None else self.semantics == "v2"
        stats.add(lineno, value, time, top if top is not None else time, remove_absent)
