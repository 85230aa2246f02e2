"""webrtc-internals `stats` time series -> getStats snapshots and column-wise StatTracks (dump-facts D5).

The page stores one TimelineDataSeries per `<statsId>-<property>`: `{startTime, endTime, statsType?,
values}` with `values` a JSON string and only the first/last point time (ISO strings). Per-point times
come from the stat's `<statsId>-timestamp` series (Chrome >= M117), aligned so that its first point
matches the series startTime, else from the end; otherwise they are interpolated linearly between
startTime and endTime. All points of a PC are clustered in time (a new cluster starts more than 300 ms
- 600 ms with interpolated times - after the cluster's first point); a cluster is one getStats snapshot
and its time is the cluster's last point.

remote-inbound-rtp / remote-outbound-rtp: their series times are the *remote report's* times (RTCP
arrival, repeated while no new report came), not getStats call times. They take no part in the
clustering (dump-facts D3 excludes them from event times too; with them the M144 fixture would get 89
instead of 59 snapshots). Their points are attached to snapshots by order, aligned from the end of the
span of their local counterpart (`localId`), else from the PC's last snapshot. Their own report times
stay in StatTrack.report_times.

Memory: series are read one at a time from a SeriesSource (the parsed dict, or byte spans decoded on
demand). Pass 1 reads each series for its statsType, the `-timestamp` values and the point count of
interpolated series (the few values needed for the type are reduced to one scalar); pass 2 parses each
`values` string once and writes it straight into the track's column. Constant series share one value
object and equal strings one str object, so the model stays near the size of the JSON text.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from typing import Any, Protocol

import numpy as np
import orjson

from plugins.rtcstats.parsed_dump import PeerConnection, StatTrack
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.internals_values import iso_to_ms

__all__ = [
    "MAX_POINTS",
    "DictSource",
    "SeriesSource",
    "StatsResult",
    "build_stats",
    "split_key",
    "type_from_id",
]

MAX_POINTS = 1000  # the page's MAX_STATS_DATA_POINT_BUFFER_SIZE
GAP_MS = 300.0
GAP_INTERPOLATED_MS = 600.0
REMOTE_TYPES = frozenset(("remote-inbound-rtp", "remote-outbound-rtp"))
_NOT_COLUMNS = frozenset(("timestamp", "type", "id"))
_PRE_PROPS = frozenset(("type", "isRemote", "localId"))
_SCALAR_TYPES = (int, float, str, bool)

# Old standard-stats ids (dumps without statsType) and legacy goog ids -> type.
_ID_PREFIX_TYPES = (
    ("rtcinboundrtp", "inbound-rtp"),
    ("rtcoutboundrtp", "outbound-rtp"),
    ("rtcremoteinboundrtp", "remote-inbound-rtp"),
    ("rtcremoteoutboundrtp", "remote-outbound-rtp"),
    ("rtcicecandidatepair_", "candidate-pair"),
    ("rtctransport_", "transport"),
    ("rtccodec_", "codec"),
    ("rtccertificate_", "certificate"),
    ("rtcpeerconnection", "peer-connection"),
    ("rtcmediastreamtrack_", "track"),
    ("rtcmediastream_", "stream"),
    ("rtcaudiosource_", "media-source"),
    ("rtcvideosource_", "media-source"),
    ("rtcaudioplayout_", "media-playout"),
    ("rtcdatachannel_", "data-channel"),
    ("rtcsctptransport_", "sctp-transport"),
    ("ssrc_", "ssrc"),
    ("conn-", "googCandidatePair"),
    ("bweforvideo", "VideoBwe"),
    ("channel-", "googComponent"),
    ("googtrack_", "googTrack"),
    ("googcertificate_", "googCertificate"),
    ("googlibjinglesession_", "googLibjingleSession"),
)


def split_key(key: str) -> tuple[str, str] | None:
    """`"IT01A1-packetsReceived"` -> ("IT01A1", "packetsReceived");
    `"IT01A1-[bytesReceived_in_bits/s]"` -> ("IT01A1", "[bytesReceived_in_bits/s]") (computed by the
    page; the bracket may itself contain '-'); stat ids contain '-', so plain keys split on the last
    '-'. None when there is no stat id or no property."""
    if key.endswith("]"):
        cut = key.find("-[")
        if cut > 0:
            return key[:cut], key[cut + 1 :]
    cut = key.rfind("-")
    if cut <= 0 or cut == len(key) - 1:
        return None
    return key[:cut], key[cut + 1 :]


def type_from_id(stat_id: str, is_remote: Any = None) -> str | None:
    """The stats type implied by an old-style id (`RTCInboundRTPAudioStream_1` -> inbound-rtp);
    `RTCIceCandidate_*` needs the `isRemote` value."""
    lowered = stat_id.lower()
    if lowered.startswith("rtcicecandidate_"):
        if is_remote is None:
            return None
        return "remote-candidate" if is_remote in (True, "true") else "local-candidate"
    for prefix, stat_type in _ID_PREFIX_TYPES:
        if lowered.startswith(prefix):
            return stat_type
    return None


class SeriesSource(Protocol):
    """Where the series of one PC's `stats` object come from."""

    def keys(self) -> list[str]: ...

    def get(self, key: str) -> Any:
        """The series value (normally a dict); may decode it on each call."""

    def release(self, key: str) -> None:
        """The series will not be read again."""


class DictSource:
    """Series of an already parsed `stats` dict; released series are dropped from it."""

    def __init__(self, stats: dict):
        self.stats = stats

    def keys(self) -> list[str]:
        return list(self.stats)

    def get(self, key: str) -> Any:
        return self.stats[key]

    def release(self, key: str) -> None:
        self.stats[key] = None


class StatsResult:
    """What build_stats reports besides filling the PeerConnection."""

    __slots__ = ("truncated", "interpolated", "warnings")

    def __init__(self) -> None:
        self.truncated = False
        self.interpolated = False
        self.warnings: list[str] = []


class _Context:
    __slots__ = (
        "where",
        "source",
        "result",
        "strings",
        "ts_texts",
        "isos",
        "clusters",
        "placed_ts",
        "overwritten",
        "dropped",
    )

    def __init__(self, where: str, source: SeriesSource, result: StatsResult, strings: dict):
        self.where = where
        self.source = source
        self.result = result
        self.strings = strings  # str -> shared str (the whole dump)
        self.ts_texts: dict[str, list[float]] = {}  # -timestamp series text -> the same list
        self.isos: dict[Any, float | None] = {}  # startTime/endTime text -> ms
        self.clusters: dict[tuple[float, float, int], list[int]] = {}  # interpolated span -> snapshots
        # id of a shared -timestamp list -> where its points go (None: nowhere)
        self.placed_ts: dict[int, _Placement | None] = {}
        self.overwritten = 0
        self.dropped = 0

    def series(self, key: str) -> dict:
        series = self.source.get(key)
        if not isinstance(series, dict):
            raise DumpFormatError(f"series {key!r} is not an object", key=self.where)
        return series

    def values(self, series: dict, key: str) -> list:
        """The series' `values`, decoded."""
        return self._read(series, key, None)

    def column(self, series: dict, key: str) -> list:
        """values() made a column of the model: value objects shared (_compact). A constant series is its
        one element, decoded once (a str shared through `strings`), repeated: no look at each element."""
        return self._read(series, key, self.strings)

    def _read(self, series: dict, key: str, strings: dict[str, str] | None) -> list:
        values = series.get("values")
        if isinstance(values, list):
            return values if strings is None else _compact(values, strings)
        if not isinstance(values, str):
            raise DumpFormatError(f"series {key!r} has no 'values' string", key=self.where)
        try:
            constant = _constant_element(values)
            if constant is not None:
                element, count = constant
                if strings is not None and element.__class__ is str:
                    element = strings.setdefault(element, element)
                return [element] * count
            parsed = orjson.loads(values)
        except orjson.JSONDecodeError:
            parsed = None  # json.loads below gives the error (or accepts NaN, Infinity, ...)
        if not isinstance(parsed, list):
            try:
                parsed = json.loads(values)
            except (ValueError, RecursionError) as err:
                raise DumpFormatError(
                    f"series {key!r}: 'values' is not valid JSON ({err})", key=self.where
                ) from None
            if not isinstance(parsed, list):
                raise DumpFormatError(f"series {key!r}: 'values' is not a JSON array", key=self.where)
        return parsed if strings is None else _compact(parsed, strings)

    def count(self, series: dict, key: str) -> int:
        """Number of points, without materialising purely numeric arrays."""
        values = series.get("values")
        if isinstance(values, str):
            body = values.strip()
            if (
                len(body) >= 2
                and body[0] == "["
                and body[-1] == "]"
                and '"' not in body
                and "{" not in body
                and body.count("[") == 1
            ):
                return 0 if not body[1:-1].strip() else body.count(",") + 1
        return len(self.values(series, key))

    def ms(self, text: Any) -> float | None:
        try:
            return self.isos[text]
        except KeyError:
            found = self.isos[text] = iso_to_ms(text)
            return found
        except TypeError:  # unhashable
            return None

    def span(self, series: dict, key: str) -> tuple[float, float]:
        start, end = self.ms(series.get("startTime")), self.ms(series.get("endTime"))
        if start is None or end is None:
            raise DumpFormatError(f"series {key!r} has no readable startTime/endTime", key=self.where)
        return start, end


class _Stat:
    """What pass 1 learns about one stats id."""

    __slots__ = ("id", "series", "stats_type", "pre", "type", "remote", "ts", "last_time")

    def __init__(self, stat_id: str):
        self.id = stat_id
        self.series: list[tuple[str, str]] = []  # (property, key)
        self.stats_type: str | None = None
        self.pre: dict[str, Any] = {}  # last value of the type / isRemote / localId series
        self.type: str | None = None
        self.remote = False
        self.ts: list[float] | None = None  # the -timestamp series, when usable
        self.last_time: float | None = None


def build_stats(
    pc_id: str, source: SeriesSource, pc: PeerConnection, strings: dict[str, str] | None = None
) -> StatsResult:
    """Fill pc.stats and pc.snapshot_times from the PC's series.

    `strings` is a cache shared by the PCs of one dump so that equal string values share one object.
    :raises DumpFormatError: a series that is not an object, unparseable `values`, unreadable times
        (key ``PeerConnections.<id>.stats``; the message names the series).
    """
    where = f"PeerConnections.{pc_id}.stats"
    result = StatsResult()
    ctx = _Context(where, source, result, strings if strings is not None else {})

    # ---- pass 1: group by stat id; read timestamps, statsType and the few type hints
    groups: dict[str, _Stat] = {}
    bad_keys = 0
    for key in source.keys():
        parts = split_key(key)
        if parts is None:
            bad_keys += 1
            source.release(key)
            continue
        stat_id, prop = parts
        series = ctx.series(key)
        stat = groups.get(stat_id)
        if stat is None:
            stat = groups[stat_id] = _Stat(stat_id)
        stat.series.append((prop, key))
        stats_type = series.get("statsType")
        if stat.stats_type is None and isinstance(stats_type, str) and stats_type:
            stat.stats_type = stats_type
        if prop == "timestamp":
            _read_timestamps(ctx, stat, series, key)
        elif prop in _PRE_PROPS and (
            stat.stats_type is None or (prop == "localId" and stat.stats_type in REMOTE_TYPES)
        ):
            stat.pre[prop] = _last_scalar(ctx.values(series, key))
    if bad_keys:
        result.warnings.append(
            f"{where}: {bad_keys} series key(s) not of the form '<statsId>-<property>' skipped"
        )

    # ---- point times: the -timestamp series, else interpolated series by series
    interp: dict[tuple[float, float, int], list[float]] = {}
    cluster_points: set[float] = set()
    remote_points: list[float] = []
    # The stats of one getStats call share one -timestamp list (_read_timestamps): its latest point is
    # found, and its points are added to the clustering, once.
    ts_last: dict[int, float | None] = {}
    clustered: set[int] = set()
    for stat in groups.values():
        _decide_type(stat)
        if stat.ts is not None:
            shared = id(stat.ts)
            if shared not in ts_last:
                ts_last[shared] = max(stat.ts) if stat.ts else None
            stat.last_time = ts_last[shared]
            if stat.remote:
                remote_points.extend(stat.ts)
            elif shared not in clustered:
                clustered.add(shared)
                cluster_points.update(stat.ts)
            continue
        result.interpolated = True
        for _prop, key in stat.series:
            series = ctx.series(key)
            count = ctx.count(series, key)
            if count >= MAX_POINTS:
                result.truncated = True
            if not count:
                continue
            start, end = ctx.span(series, key)
            times = interp.get((start, end, count))
            if times is None:
                times = interp[(start, end, count)] = _interpolate(start, end, count)
            (remote_points.extend if stat.remote else cluster_points.update)(times)
            if stat.last_time is None or end > stat.last_time:
                stat.last_time = end
    if not cluster_points:  # only remote stats (never seen in practice): cluster by their own times
        cluster_points.update(remote_points)
        for stat in groups.values():
            stat.remote = False
    del remote_points

    gap = GAP_INTERPOLATED_MS if result.interpolated else GAP_MS
    firsts: list[float] = []
    lasts: list[float] = []
    for point in sorted(cluster_points):
        if firsts and point - firsts[-1] <= gap:
            lasts[-1] = point
        else:
            firsts.append(point)
            lasts.append(point)
    pc.snapshot_times = lasts
    del cluster_points

    # ---- pass 2: one stat at a time, one series at a time, straight into the track columns
    for stat in groups.values():
        _fill_track(ctx, stat, pc, groups, firsts, lasts, interp)
    if ctx.overwritten:
        result.warnings.append(
            f"{where}: {ctx.overwritten} point(s) fell into a snapshot that already had a value for "
            "the same property; the later one was kept"
        )
    if ctx.dropped:
        result.warnings.append(
            f"{where}: {ctx.dropped} point(s) could not be placed on a snapshot and were skipped"
        )
    return result


def _read_timestamps(ctx: _Context, stat: _Stat, series: dict, key: str) -> None:
    text = series.get("values")
    known = ctx.ts_texts.get(text) if isinstance(text, str) else None
    if known is not None:  # the very text of another stat's -timestamp series: the same points
        if len(known) >= MAX_POINTS:
            ctx.result.truncated = True
        stat.ts = known
        return
    values = ctx.values(series, key)
    if len(values) >= MAX_POINTS:
        ctx.result.truncated = True
    if not values:
        stat.ts = None
        return
    kinds = _number_kinds(values)
    if kinds and math.isfinite(sum(values)):
        # The stats of one getStats call have the same -timestamp text: one shared list of floats.
        known = values if kinds == _ONLY_FLOATS else list(map(float, values))
        stat.ts = known
        if isinstance(text, str):
            ctx.ts_texts[text] = known
    else:
        stat.ts = None
        ctx.result.warnings.append(
            f"{ctx.where}: series {key!r} does not hold numeric timestamps; times interpolated instead"
        )


_ONLY_FLOATS = 1
_NUMBERS = 2


def _number_kinds(values: list) -> int:
    """_ONLY_FLOATS when every element is exactly a float, _NUMBERS when each is exactly an int or a float
    (bool is no timestamp), else 0. Compiled (internals_stats.pxd), a C loop comparing type pointers: no
    set of the types and no call per element, as ``set(map(type, values))`` had."""
    kinds = _ONLY_FLOATS
    for value in values:
        kind = type(value)
        if kind is not float:
            if kind is not int:
                return 0
            kinds = _NUMBERS
    return kinds


def _only_str(values: list) -> bool:
    """Every element is exactly a str (compiled: a C loop, as _number_kinds)."""
    for value in values:
        if type(value) is not str:
            return False
    return True


def _constant_element(text: str) -> tuple[Any, int] | None:
    """(v decoded once, n) when `text` is the compact array `[v,v,...,v]` of n >= 2 copies of one element;
    else None. Most series are constant (ids, kinds, codec lines, certificates, idle counters), and
    checking the text (C-speed string operations) is much cheaper than making an object per element."""
    if len(text) < 5 or text[0] != "[" or text[-1] != "]":
        return None
    if text[1] == '"':
        end = text.find('"', 2) + 1
        if end <= 0 or text[end - 2] == "\\":  # an escaped quote: leave it to the JSON decoder
            return None
    elif text[1] in "[{":  # nested values may hold commas
        return None
    else:
        end = text.find(",", 1)
        if end < 0:
            return None
    element = text[1:end]
    count, rest = divmod(len(text) - 1, len(element) + 1)
    if rest or count < 2 or not text.endswith("," + element + "]"):  # cheap rejections first
        return None
    if not text.startswith(("," + element) * (count - 1), end):  # compared in place, without a slice
        return None
    return orjson.loads(element), count


def _last_scalar(values: list) -> Any:
    for value in reversed(values):
        if isinstance(value, _SCALAR_TYPES):
            return value
    return None


def _decide_type(stat: _Stat) -> None:
    """statsType, else the `type` series, else the id prefix (RTCIceCandidate_ + isRemote)."""
    stat_type = stat.stats_type
    if stat_type is None:
        declared = stat.pre.get("type")
        if isinstance(declared, str) and declared:
            stat_type = declared
    if stat_type is None:
        stat_type = type_from_id(stat.id, stat.pre.get("isRemote"))
    stat.type = stat_type
    stat.remote = stat_type in REMOTE_TYPES


def _interpolate(start: float, end: float, count: int) -> list[float]:
    if count <= 1:
        return [end] * count
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count - 1)] + [end]


def _cluster_of(firsts: list[float], time: float) -> int:
    return bisect_right(firsts, time) - 1


def _remote_anchor(stat: _Stat, groups: dict[str, _Stat], firsts: list[float], lasts: list[float]) -> int:
    """Last snapshot index of a remote stat: the last one of its local counterpart, else the PC's."""
    local_id = stat.pre.get("localId")
    local = groups.get(local_id) if isinstance(local_id, str) else None
    if local is not None and not local.remote and local.last_time is not None:
        return max(_cluster_of(firsts, local.last_time), 0)
    return len(lasts) - 1


def _ts_offset(ctx: _Context, stat: _Stat, series: dict, count: int) -> int:
    """D5 alignment on the stat's -timestamp series: at the start when the series' startTime is the
    first timestamp (a JS Date keeps whole ms), else from the end."""
    ts = stat.ts
    assert ts is not None
    if count <= len(ts):
        start = ctx.ms(series.get("startTime"))
        if start is not None and start <= ts[0] < start + 1.0:
            return 0
    return len(ts) - count


def _fill_track(
    ctx: _Context,
    stat: _Stat,
    pc: PeerConnection,
    groups: dict[str, _Stat],
    firsts: list[float],
    lasts: list[float],
    interp: dict[tuple[float, float, int], list[float]],
) -> None:
    """Write the stat's StatTrack: one sample per snapshot the stat has points in, carried forward over
    snapshots it misses between two it is present in."""
    source = ctx.source
    anchor = _remote_anchor(stat, groups, firsts, lasts) if stat.remote else 0
    track = pc.track(stat.id, stat.type)
    if stat.type is not None:
        track.type = stat.type
    if stat.ts is not None:
        placement = _remote_placement(stat.ts, anchor) if stat.remote else _ts_placement(ctx, stat.ts, firsts)
        if placement is None:  # no point on a snapshot
            for _prop, key in stat.series:
                source.release(key)
            return
        _fill_from_ts(ctx, stat, track, placement, lasts)
        return

    _fill_interpolated(ctx, stat, track, anchor, firsts, lasts, interp)


def _fill_interpolated(
    ctx: _Context,
    stat: _Stat,
    track: StatTrack,
    anchor: int,
    firsts: list[float],
    lasts: list[float],
    interp: dict[tuple[float, float, int], list[float]],
) -> None:
    """The columns of a stat without a usable -timestamp series: each series' points get times
    interpolated over its span, then snapshots (the remote ones by order from `anchor`)."""
    source = ctx.source
    report_time: dict[int, float] = {}
    parsed: list[tuple[str, list, list[int], int | None]] = []
    present: set[int] = set()
    placed: dict[tuple[float, float, int], tuple[list[int], int | None]] = {}
    for prop, key in stat.series:
        series = ctx.series(key)
        values = ctx.column(series, key)
        source.release(key)
        count = len(values)
        if not count:
            continue
        combo = (*ctx.span(series, key), count)
        found = placed.get(combo)
        if found is None:  # most series of a stat share their span: place each span once
            times = interp.get(combo)
            if times is None:
                times = interp[combo] = _interpolate(*combo)
            if stat.remote:
                clusters = list(range(anchor - count + 1, anchor + 1))
            else:
                clusters = ctx.clusters.get(combo)
                if clusters is None:
                    clusters = ctx.clusters[combo] = [_cluster_of(firsts, t) for t in times]
            for cluster, time in zip(clusters, times, strict=True):
                if cluster >= 0:
                    present.add(cluster)
                    if report_time.get(cluster, -math.inf) < time:
                        report_time[cluster] = time
            consecutive = clusters[-1] - clusters[0] == count - 1 and len(set(clusters)) == count
            found = placed[combo] = (clusters, clusters[0] if consecutive else None)
        if prop not in _NOT_COLUMNS:
            parsed.append((prop, values, *found))
    if not present:
        return
    placement = _from_present([], present, report_time)
    first, length, gaps = placement.first, placement.length, placement.gaps
    track.times = lasts[first : first + length]
    track.report_times = placement.report_times
    for prop, values, clusters, start in parsed:
        if start is not None and start >= first and not gaps:
            track.props[prop] = _pad(values, start - first, length)
        else:
            track.props[prop] = _scatter(ctx, values, clusters, first, length, gaps)


class _Placement:
    """Where the points of a -timestamp series go: snapshot of each point (`cot`), the track's first
    snapshot and length, the snapshots it misses in between (`gaps`, relative to `first`) and its
    report times (carried forward over the gaps). Shared by the stats of one getStats call."""

    __slots__ = ("cot", "first", "length", "gaps", "contiguous", "report_times")

    def __init__(self, cot: list[int], first: int, length: int, gaps: list[int], report_times: list):
        self.cot = cot
        self.first = first
        self.length = length
        self.gaps = gaps
        self.contiguous = not gaps and len(cot) == length and cot[0] == first
        self.report_times: list[float | None] = report_times


def _placement(cot: list[int], times: list[float]) -> _Placement | None:
    """The placement of points `times` on snapshots `cot` (-1 or less: before the first snapshot, not
    placed; several points on one snapshot: the last one counts). None when no point is placed."""
    if cot and cot[-1] - cot[0] == len(cot) - 1 and cot == list(range(cot[0], cot[-1] + 1)):
        # one point per snapshot, in order (the usual case)
        if cot[-1] < 0:
            return None
        first = max(cot[0], 0)
        return _Placement(cot, first, cot[-1] - first + 1, [], times[first - cot[0] :])
    present = {c for c in cot if c >= 0}
    return _from_present(cot, present, dict(zip(cot, times, strict=True))) if present else None


def _from_present(cot: list[int], present: set[int], report_time: dict[int, float]) -> _Placement:
    """The placement on the snapshots `present`, with the report time of each."""
    first, last = min(present), max(present)
    length = last - first + 1
    gaps = [i for i in range(length) if (first + i) not in present] if len(present) < length else []
    report_times: list[float | None] = list(map(report_time.get, range(first, last + 1)))
    _carry_forward(report_times, gaps)
    return _Placement(cot, first, length, gaps, report_times)


def _ts_placement(ctx: _Context, ts: list[float], firsts: list[float]) -> _Placement | None:
    """The placement of a local stat's -timestamp series, computed once per shared list (see
    _read_timestamps: the stats of one getStats call share one list object for equal points)."""
    key = id(ts)
    if key in ctx.placed_ts:
        return ctx.placed_ts[key]
    # bisect_right(firsts, t) - 1 of every point (_cluster_of) at once; the points are finite floats
    snapshots = np.searchsorted(np.array(firsts, dtype=float), np.array(ts, dtype=float), side="right")
    placement = ctx.placed_ts[key] = _placement((snapshots - 1).tolist(), ts)
    return placement


def _remote_placement(ts: list[float], anchor: int) -> _Placement | None:
    """A remote stat's points, one per snapshot, the last on snapshot `anchor` (module docstring)."""
    return _placement(list(range(anchor - len(ts) + 1, anchor + 1)), ts)


def _fill_from_ts(
    ctx: _Context, stat: _Stat, track: StatTrack, placement: _Placement, lasts: list[float]
) -> None:
    """The columns of a stat with a -timestamp series, each series placed by `placement`."""
    source, props = ctx.source, track.props
    cot, first, length, gaps = placement.cot, placement.first, placement.length, placement.gaps
    contiguous = placement.contiguous
    track.times = lasts[first : first + length]
    track.report_times = list(placement.report_times)  # each track owns its lists
    points = len(stat.ts or ())
    for prop, key in stat.series:
        if prop in _NOT_COLUMNS:  # timestamp was read in pass 1; type/id are no columns
            source.release(key)
            continue
        series = ctx.series(key)
        values = ctx.column(series, key)
        source.release(key)
        count = len(values)
        if count >= MAX_POINTS:
            ctx.result.truncated = True
        # as many values as timestamps (the usual case): no alignment to decide
        offset = 0 if count == points else _ts_offset(ctx, stat, series, count)
        del series  # the JSON text of the values can go now
        if offset < 0:  # more values than timestamps: the oldest cannot be placed
            ctx.dropped += -offset
            values = values[-offset:]
            offset = 0
        if contiguous:
            props[prop] = _pad(values, offset, length)
        else:
            props[prop] = _scatter(ctx, values, cot[offset : offset + len(values)], first, length, gaps)


def _pad(values: list, offset: int, length: int) -> list:
    """values placed from index `offset` in a column of `length` (None elsewhere)."""
    column = [None] * offset + values if offset else values
    if len(column) < length:
        column.extend([None] * (length - len(column)))
    return column


def _scatter(
    ctx: _Context, values: list, clusters: list[int], first: int, length: int, gaps: list[int]
) -> list:
    column: list = [None] * length
    filled = [False] * length
    for cluster, value in zip(clusters, values, strict=True):
        if cluster < first:
            ctx.dropped += 1
            continue
        index = cluster - first
        if filled[index]:
            ctx.overwritten += 1
        filled[index] = True
        column[index] = value
    _carry_forward(column, gaps)
    return column


def _carry_forward(column: list, gaps: list[int]) -> None:
    """A stat absent from a snapshot between two it is present in keeps its previous values."""
    for index in gaps:
        column[index] = column[index - 1]


def _compact(values: list, strings: dict[str, str]) -> list:
    """Share value objects: json.loads makes a new object per element, but most series are constant
    (ids, kinds, ssrcs, codec lines, certificates) and many strings repeat across series."""
    if not values:
        return values
    first = values[0]
    cls = first.__class__
    if cls in (int, float, str, bool) and values[-1] == first and values.count(first) == len(values):
        # 1 == 1.0 == True: keep the types exact (a str only ever equals a str)
        if cls is str or len(set(map(type, values))) == 1:
            if cls is str:
                first = strings.setdefault(first, first)
            return [first] * len(values)
    if cls is str and _only_str(values):  # all strings: shared in one C-level pass
        return list(map(strings.setdefault, values, values))
    if cls is str or values[-1].__class__ is str:
        for index, value in enumerate(values):
            if value.__class__ is str:
                values[index] = strings.setdefault(value, value)
    return values
