"""Per RTP stream metrics (dump-facts.md D8, D9, D10) and their per-interval series.

Streams are inbound-rtp / outbound-rtp reports (not `isRemote`) and legacy goog `ssrc_<n>_recv|send`
reports; one StreamMetrics per report id. Remote-inbound-rtp reports (RTCP receiver reports about
our outgoing streams) feed the outbound stream they describe and are never streams themselves.

Interval math, between two consecutive distinct samples of one report (sample time = the report's
own epoch timestamp, else the snapshot time; samples with an equal time - a report carried forward
unchanged - collapse to the last one):

* counter delta d = v[k] - v[k-1]; when a cumulative counter decreases the report was recreated (a
  counter reset): the new value v[k] is the traffic since the reset, d = v[k], and the reset is counted;
* bitrate kbps = d(bytes) * 8 / dt(ms), for intervals that carried packets within the stream's active
  span (from the sample before the first byte increase to the sample of the last one, D9). Intervals
  of the span without any packet (suspended/muted media) are not in the series - a pooled minimum of
  0 kbps in every call with a mute would say nothing - but are counted in idle_intervals / idle_ms.
  The whole-stream avg_bitrate_kbps (D9) does average over them;
* loss % = d(lost) / (d(lost) + d(received)) * 100 with d(lost) < 0 (late/duplicate packets, negative
  packetsLost from media servers) counted as 0, clamped to 0..100; no value when no packet was
  expected in the interval;
* jitter and RTT are values (seconds in getStats -> ms), taken only for intervals in which the
  stream carried packets; legacy goog values are already ms.
"""

from __future__ import annotations

import math
import operator
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plugins.rtcstats.analysis.metrics_model import Series, StreamMetrics
from plugins.rtcstats.analysis.metrics_values import (
    TimeLookup,
    as_int,
    column,
    distinct_samples,
    has,
    num,
    nums,
    nums_into,
    stat_type,
    text,
    truthy,
)
from plugins.rtcstats.analysis.mos import LatestCursor, bpl_for, interval_mos_all, interval_mos_scored
from plugins.rtcstats.parsed_dump import PeerConnection, StatTrack

_AUDIO_CODECS = frozenset(
    ("opus", "pcmu", "pcma", "g722", "isac", "ilbc", "cn", "telephone-event", "red", "g729", "l16")
)
_VIDEO_CODECS = frozenset(("vp8", "vp9", "h264", "h265", "hevc", "av1", "av1x", "rtx", "ulpfec", "flexfec"))
_VIDEO_HINTS = (
    "frameWidth",
    "frameHeight",
    "framesDecoded",
    "framesEncoded",
    "googFrameHeightReceived",
    "googFrameHeightSent",
    "googFrameRateReceived",
    "googFrameRateSent",
)
# contentType (standard) / googContentType (legacy goog) values of a screen capture
_SCREEN_CONTENT = frozenset(("screenshare", "screen", "screencast"))
# Legacy goog audioOutputLevel (peak, 0-32767) at or below which the played-out audio is silence or a noise
# floor: 1 % of full scale, -40 dBFS. Ours: in the fixtures speech peaks at 379-21959 and silent remotes
# sit at 0-154 (comfort noise 2-8).
SILENT_OUTPUT_LEVEL = 327
_AUDIO_HINTS = (
    "audioOutputLevel",
    "audioInputLevel",
    "totalSamplesReceived",
    "concealedSamples",
    "googExpandRate",
    "audioLevel",
    "totalAudioEnergy",
)


@dataclass
class PcContext:
    """The stat tracks of one peer connection, grouped by normalised type, with lazy time indexes."""

    pc: PeerConnection
    by_type: dict[str, list[StatTrack]] = field(default_factory=dict)
    _indexes: dict[str, dict[float, int]] = field(default_factory=dict)
    rtt: TimeLookup | None = None  # transport RTT (ms) over time, set by the PC pass

    @classmethod
    def of(cls, pc: PeerConnection) -> PcContext:
        ctx = cls(pc)
        by_type = ctx.by_type
        # a PC has hundreds of tracks: their times list says len(track) without a call, and a group's list
        # is made only for its first track (setdefault made one per track)
        for track in pc.stats.values():
            if track.times:
                kind = stat_type(track) or ""
                group = by_type.get(kind)
                if group is None:
                    by_type[kind] = [track]
                else:
                    group.append(track)
        return ctx

    def tracks(self, *types: str) -> list[StatTrack]:
        out: list[StatTrack] = []
        for kind in types:
            out += self.by_type.get(kind, [])
        return out

    def index(self, track: StatTrack) -> dict[float, int]:
        """snapshot time -> sample index of `track`."""
        found = self._indexes.get(track.id)
        if found is None:
            found = self._indexes[track.id] = dict(zip(track.times, range(len(track.times)), strict=True))
        return found

    def value_at(self, track: StatTrack, time: float, *props: str) -> Any:
        i = self.index(track).get(time)
        if i is None:
            return None
        for prop in props:
            col = track.props.get(prop)
            if col is not None and i < len(col) and col[i] is not None:
                return col[i]
        return None


# -- identification -------------------------------------------------------------------------------


def stream_direction(track: StatTrack, kind_of_type: str | None) -> str | None:
    if kind_of_type == "inbound-rtp":
        return "inbound"
    if kind_of_type == "outbound-rtp":
        return "outbound"
    if kind_of_type == "ssrc":  # legacy goog stats
        if track.id.endswith("_recv"):
            return "inbound"
        if track.id.endswith("_send"):
            return "outbound"
    return None


def stream_kind(track: StatTrack) -> str | None:
    """kind, else mediaType, else Audio/Video in the id (D10), else the codec name or media properties."""
    for prop in ("kind", "mediaType"):
        value = track.last(prop)
        if isinstance(value, str) and value.lower() in ("audio", "video"):
            return value.lower()
    lowered = track.id.lower()
    if "audio" in lowered:
        return "audio"
    if "video" in lowered:
        return "video"
    codec = text(track.last("googCodecName"))
    if codec:
        if codec.lower() in _AUDIO_CODECS:
            return "audio"
        if codec.lower() in _VIDEO_CODECS:
            return "video"
    if any(has(track, p) for p in _VIDEO_HINTS):
        return "video"
    if any(has(track, p) for p in _AUDIO_HINTS):
        return "audio"
    return None


def resolve_codec(ctx: PcContext, track: StatTrack, kind: str) -> tuple[str | None, str | None]:
    """(mimeType, sdpFmtpLine) per D10: the codec report named by codecId in the last snapshot where
    it resolves; else legacy googCodecName as "<kind>/<name>"; else the internals `[codec]` string."""
    codec_ids = track.props.get("codecId")
    if codec_ids:
        for i in range(min(len(codec_ids), len(track.times)) - 1, -1, -1):
            codec_id = codec_ids[i]
            if not isinstance(codec_id, str):
                continue
            codec = ctx.pc.stats.get(codec_id)
            if codec is None:
                continue
            mime = ctx.value_at(codec, track.times[i], "mimeType")
            if isinstance(mime, str) and mime:
                fmtp = ctx.value_at(codec, track.times[i], "sdpFmtpLine")
                return _mime(mime, kind), fmtp if isinstance(fmtp, str) else None
    name = text(track.last("googCodecName"))
    if name:
        return f"{kind}/{name}", None
    page = text(track.last("[codec]"))
    if page:
        first = page.split()[0] if page.split() else ""
        if first:
            fmtp = page[page.find("(") + 1 : page.rfind(")")] if "(" in page else None
            return f"{kind}/{first}", fmtp
    return None, None


def _mime(mime: str, kind: str) -> str:
    return mime if "/" in mime else f"{kind}/{mime}"


# -- the per-stream pass --------------------------------------------------------------------------


@dataclass
class _Intervals:
    """The interval times and masks of one stream (index k = interval between kept samples k-1 and k),
    as numpy arrays over StreamPass's buffers for the code that selects with them (read-only)."""

    times: np.ndarray
    active: np.ndarray  # bool: the interval lies in the active span (D9)
    carried: np.ndarray  # bool: packets flowed in the interval
    carried_after_first: np.ndarray  # carried without interval 0 (read-only: shared by the series)


def _nans(n: int) -> np.ndarray:
    """np.full(n, np.nan) in a third of its time: no Python-level wrapper (timeit, 30 values)."""
    out = np.empty(n)
    out.fill(np.nan)
    return out


def _floats(values: list[float | None]) -> np.ndarray:
    """A nums() column as float64, NaN for None."""
    return np.array(values, dtype=float)


def _array_deltas(values: np.ndarray) -> np.ndarray:
    """_counter_deltas of a float array (NaN for None): a decrease is a reset, whose delta is the new
    value; NaN at 0 and where either end is missing."""
    out = np.empty(len(values))
    _deltas_into(values, out)
    return out


def _deltas_into(values: np.ndarray, out: np.ndarray) -> None:
    """_array_deltas' loop (compiled: C doubles). A NaN end makes both the step and `b < a` NaN/False:
    the step stays NaN, as numpy's subtract and where gave."""
    if len(values):
        out[0] = math.nan
    for k in range(1, len(values)):
        a = values[k - 1]
        b = values[k]
        out[k] = b if b < a else b - a


def _interval_flags(
    times: np.ndarray,
    byte_values: np.ndarray,
    d_packets: np.ndarray,
    d_bytes: np.ndarray,
    dt: np.ndarray,
    flags: np.ndarray,
) -> None:
    """_Intervals' dt and masks in loops (compiled: C doubles; `flags` zeroed): rows active, carried and
    carried without interval 0.

    Payload bytes decide whether media flowed: padding-only probe streams (jitsi) count packets but no
    bytes. Packets decide only when the report has no byte counter. NaN > 0 is False."""
    n = len(times)
    has_bytes = False
    for k in range(n):
        if byte_values[k] == byte_values[k]:  # not NaN
            has_bytes = True
            break
    first = -1
    last = -1
    for k in range(n):
        dt[k] = times[k] - times[k - 1] if k else 0.0
        step = d_bytes[k]
        if (step if has_bytes else d_packets[k]) > 0:
            if first < 0:
                first = k
            last = k
        if step != step:  # no byte delta: packets decide, only for a report without bytes
            flow = not has_bytes and d_packets[k] > 0
        else:
            flow = step > 0
        if flow:
            flags[1, k] = True
            if k:
                flags[2, k] = True
    if first >= 0:
        for k in range(first, last + 1):
            flags[0, k] = True


def _bitrate_loop(
    sm: StreamMetrics,
    times: np.ndarray,
    dt: np.ndarray,
    d_bytes: np.ndarray,
    active: np.ndarray,
    carried: np.ndarray,
) -> None:
    """The bitrate series and the idle intervals of the active span (compiled: C doubles). Intervals
    after the first, in the span, with time passing; idle_ms sums their dt in order."""
    idle_intervals = sm.idle_intervals
    idle_ms = sm.idle_ms
    kept_times: list[float] = []
    kept_values: list[float] = []
    for k in range(1, len(times)):
        span = dt[k]
        if not (active[k] and span > 0):
            continue
        if not carried[k]:
            idle_intervals += 1
            idle_ms += span
            continue
        step = d_bytes[k]
        if step != step:
            continue
        kbps = step * 8.0 / span
        if kbps - kbps == 0.0:  # finite
            kept_times.append(float(times[k]))
            kept_values.append(float(kbps))
    sm.idle_intervals = idle_intervals
    sm.idle_ms = float(idle_ms)
    sm.bitrate_kbps.extend_lists(kept_times, kept_values)


def _rate_into(deltas: np.ndarray, dt: np.ndarray, scale: float, out: np.ndarray) -> None:
    """StreamPass._rate's loop: deltas * scale / dt after interval 0 where dt > 0, else NaN."""
    for k in range(len(deltas)):
        step = deltas[k]
        span = dt[k]
        out[k] = step * scale / span if k and step == step and span > 0 else math.nan


def _ratio_into(d_num: np.ndarray, d_den: np.ndarray, scale: float, out: np.ndarray) -> None:
    """StreamPass._ratio's loop: d_num * scale / d_den where d_den > 0 and d_num is not NaN, else NaN."""
    for k in range(len(d_num)):
        step = d_num[k]
        base = d_den[k]
        out[k] = step * scale / base if step == step and base > 0 else math.nan


def _floats_into(values: list, out: np.ndarray) -> None:
    """np.array(values, dtype=float) written into `out` (numbers: the kept sample times)."""
    for k in range(len(values)):
        out[k] = values[k]


def _picked_into(values: list, idx: list, out: np.ndarray) -> None:
    """np.array(values, dtype=float)[np.array(idx)] written into `out` (the kept samples' snapshot times)."""
    for k in range(len(idx)):
        out[k] = values[idx[k]]


def _scaled_into(values: np.ndarray, scale: float, out: np.ndarray) -> None:
    """values * scale, element by element (numpy's multiply, in a loop over the buffer's rows)."""
    for k in range(len(values)):
        out[k] = values[k] * scale


def _inbound_loss_into(
    lost: np.ndarray, received: np.ndarray, d_packets: np.ndarray, loss: np.ndarray, counted: np.ndarray
) -> None:
    """The inbound loss % of each interval (NaN where none) and the intervals it is counted in (`counted`
    zeroed), in one loop (compiled: C doubles) where the array code took fifteen numpy calls: packetsLost's
    delta, whose reset is decided by packetsReceived (as _deltas_following decides it), late or duplicate
    packets (a negative delta) counted as no loss, and an interval after the first counted when it
    expected packets (received + missing > 0). np.maximum(x, 0.0) is NaN for NaN, x above 0.0, else 0.0
    (+0.0 for -0.0), and np.minimum(x, 100.0) alike: written out so."""
    if len(lost):
        loss[0] = math.nan
    for k in range(1, len(lost)):
        step = lost[k] - lost[k - 1]
        d_lost = lost[k] if step == step and received[k] < received[k - 1] else step
        missing = d_lost if d_lost > 0.0 or d_lost != d_lost else 0.0
        expected = d_packets[k] + missing
        if expected > 0:
            counted[k] = True
            value = missing / expected * 100.0
            value = value if value > 0.0 or value != value else 0.0
            loss[k] = value if value < 100.0 or value != value else 100.0
        else:
            loss[k] = math.nan


def _count_stalled(emitted: np.ndarray, carried: np.ndarray) -> int:
    """np.count_nonzero(carried & (emitted == 0)): the carried intervals whose emitted count stayed flat."""
    count = 0
    for k in range(len(emitted)):
        if carried[k] and emitted[k] == 0:
            count += 1
    return count


def _span_of(values: np.ndarray, increments: np.ndarray) -> tuple[int, int, int] | None:
    """(resets, a0, a1) of _active_average for a byte column without gaps: the decreases, and the active
    span from the sample before the first positive increment to that of the last (a1 = -1: none). None
    when a value is missing (NaN)."""
    resets = 0
    first = -1
    last = -1
    for k in range(len(values)):
        b = values[k]
        if b != b:
            return None
        if k and b < values[k - 1]:
            resets += 1
        if increments[k] > 0:
            if first < 0:
                first = k
            last = k
    return resets, first - 1, last


# Below this many values a series is filled by one typed loop over the arrays (compiled: C doubles, see
# metrics_streams.pxd) instead of numpy's selections, whose fixed cost per call is most of the work on the
# tens of intervals of a stream; above it numpy's own loops are the faster ones (long calls).
_LOOP_UP_TO = 64

# Buffer rows of a stream pass (StreamPass.buf): the dozen to twenty columns, deltas and rates that a pass
# reads; one that reads more grows its buffer.
_ROWS = 24


def _extend(series: Series, times: np.ndarray, values: np.ndarray) -> None:
    """Series.add of each pair, in order: the finite values only."""
    if len(values) <= _LOOP_UP_TO:
        _extend_loop(series, times, values, None, False)
        return
    keep = np.isfinite(values)
    if np.count_nonzero(keep) == len(keep):  # all finite (mostly): a copy, not two selections
        series.extend_floats(times, values.copy())  # the series may keep the array: never the caller's
    else:
        series.extend_floats(times[keep], values[keep])


def _extend_where(series: Series, times: np.ndarray, values: np.ndarray, keep: np.ndarray) -> None:
    """_extend(series, times[keep], values[keep]): the pairs where the boolean mask `keep` is true."""
    if len(values) <= _LOOP_UP_TO:
        _extend_loop(series, times, values, keep, True)
    else:
        _extend(series, times[keep], values[keep])


def _extend_loop(
    series: Series, times: np.ndarray, values: np.ndarray, keep: np.ndarray | None, masked: bool
) -> None:
    """_extend(_where) in one loop: the pairs (where `keep`, when `masked`) whose value is finite. float()
    makes the plain run's numpy scalars the Python floats that .tolist() gives (a no-op on C doubles)."""
    kept_times: list[float] = []
    kept_values: list[float] = []
    for k in range(len(values)):
        if masked and not keep[k]:
            continue
        value = values[k]
        if value - value == 0.0:  # finite: False for NaN and infinities
            kept_times.append(float(times[k]))
            kept_values.append(float(value))
    series.extend_lists(kept_times, kept_values)


def _receiver_values(
    sm: StreamMetrics,
    times: np.ndarray,
    jitters: np.ndarray,
    rtts: np.ndarray,
    measured: np.ndarray,
    start: float,
    until: float,
) -> tuple[list[float], list[float]]:
    """The receiver reports' jitter and RTT (seconds) in ms into sm.jitter_ms and sm.rtt_ms, the reports
    between start and until only, in one loop (it was ten numpy masks and selections); returns the RTT
    points (times, ms) the MOS looks up, infinities kept as the series leave them out. Safari reports
    an RTT of 0 before the first receiver report: no measurement yet."""
    jitter_times: list[float] = []
    jitter_values: list[float] = []
    rtt_times: list[float] = []
    rtt_values: list[float] = []
    for k in range(len(times)):
        t = float(times[k])
        if not (start <= t and t <= until):
            continue
        jitter = float(jitters[k])
        if jitter == jitter:  # not NaN
            jitter_times.append(t)
            jitter_values.append(jitter * 1000.0)
        rtt = float(rtts[k])
        if rtt == 0.0 and not measured[k] > 0.0:
            continue
        if rtt == rtt:
            rtt_times.append(t)
            rtt_values.append(rtt * 1000.0)
    _extend_finite(sm.jitter_ms, jitter_times, jitter_values)
    _extend_finite(sm.rtt_ms, rtt_times, rtt_values)
    return rtt_times, rtt_values


def _extend_at(
    series: Series,
    times: np.ndarray,
    snaps: np.ndarray,
    carried: np.ndarray,
    keys: list[float],
    values: list[float],
    max_age_ms: float,
) -> None:
    """_extend(series, times[carried], lookup.at_array(snaps[carried], max_age_ms)) for a lookup's (keys,
    values) float lists (_lookup_floats: finite keys, the bisect way of at_array), in one loop: a
    mos.LatestCursor is at_array's bisect of one time after the other, and the finite values are kept (NaN:
    none, or too old)."""
    lookup = LatestCursor(keys, values)
    kept_times: list[float] = []
    kept_values: list[float] = []
    for k in range(len(times)):
        if not carried[k]:
            continue
        value = lookup.at(snaps[k], max_age_ms)
        if value - value == 0.0:
            kept_times.append(float(times[k]))
            kept_values.append(value)
    series.extend_lists(kept_times, kept_values)


def _extend_finite(series: Series, times: list[float], values: list[float]) -> None:
    """_extend of two lists: the pairs with a finite value."""
    kept = [k for k in range(len(values)) if values[k] - values[k] == 0.0]
    if len(kept) == len(values):
        series.extend_lists(times, values)
    else:
        series.extend_lists([times[k] for k in kept], [values[k] for k in kept])


_NO_TIMES = np.empty(0)


def _lookup_floats(lookup: TimeLookup) -> tuple:
    """The (times, values) float lists that TimeLookup.at_array bisects, () when the lookup's times are
    not all finite (at_array then takes searchsorted, with another answer for such times). An empty
    at_array makes them once, as a short lookup would."""
    if lookup._floats is None:
        lookup.at_array(_NO_TIMES)
    return lookup._floats


def _after_first(mask: np.ndarray) -> np.ndarray:
    """The mask without interval 0, which has no start."""
    mask = mask.copy()
    mask[:1] = False
    return mask


def _counter_deltas(values: list[float | None]) -> tuple[list[float | None], int]:
    """Interval deltas of a cumulative counter (None where either end is missing) and the resets."""
    steps = _steps(values)
    if steps is not None:  # no gap (the usual case): only the resets need a look
        resets = 0
        if steps and min(steps) < 0:
            for k, step in enumerate(steps):
                if step < 0:
                    steps[k] = values[k + 1]
                    resets += 1
        return [None, *steps], resets
    deltas: list[float | None] = [None]
    resets = 0
    for k in range(1, len(values)):
        a, b = values[k - 1], values[k]
        if a is None or b is None:
            deltas.append(None)
        elif b < a:
            resets += 1
            deltas.append(b)
        else:
            deltas.append(b - a)
    return deltas, resets


def _steps(values: list[float | None]) -> list[float] | None:
    """values[k] - values[k - 1] for k >= 1 at C speed; None when a value is missing."""
    if None in values:
        return None
    return list(map(operator.sub, values[1:], values[:-1]))


def _steady(values: list) -> bool:
    """True when `values` holds floats only, at least one, none lower than the one before: what
    `min(_steps(values)) >= 0` says of them, in one loop without the list of steps (compiled: C doubles).
    False also when undecided (a NaN step, a value that is no float): the caller then takes _steps."""
    if not values:
        return False
    a = 0.0
    for k in range(len(values)):
        value = values[k]
        if type(value) is not float:
            return False
        b = value
        if k and not b - a >= 0:  # a decrease, or a NaN step
            return False
        a = b
    return True


def _deltas_following(values: list[float | None], base: list[float | None]) -> list[float | None]:
    """Interval deltas of `values` (packetsLost) whose resets are decided by `base` (packetsReceived or
    packetsSent): when `base` decreased the report was recreated and the new value is the delta; any
    other decrease is a genuine negative delta (late or duplicate packets) and is kept negative."""
    steps = _steps(values)
    base_steps = _steps(base)
    if steps is not None and base_steps is not None and len(steps) == len(base_steps):  # no gap
        if base_steps and min(base_steps) < 0:
            for k, step in enumerate(base_steps):
                if step < 0:
                    steps[k] = values[k + 1]
        return [None, *steps]
    deltas: list[float | None] = [None]
    for k in range(1, len(values)):
        a, b = values[k - 1], values[k]
        if a is None or b is None:
            deltas.append(None)
        elif base[k] is not None and base[k - 1] is not None and base[k] < base[k - 1]:
            deltas.append(b)
        else:
            deltas.append(b - a)
    return deltas


def _totals_across_resets(values: list[float | None]) -> tuple[float | None, int, float | None]:
    """(last value, resets, sum of the last value before every reset plus the final value)."""
    if _steady(values):  # no gap, no reset (the usual case)
        return values[-1], 0, 0.0 + values[-1]
    steps = _steps(values)
    if values and steps is not None and (not steps or min(steps) >= 0):
        return values[-1], 0, 0.0 + values[-1]
    present = _floats(values)
    present = present[~np.isnan(present)]
    if not len(present):
        return None, 0, None
    carried = 0.0
    before_resets = present[:-1][present[1:] < present[:-1]].tolist()
    for value in before_resets:  # summed in order, as the loop over the values did
        carried += value
    previous = present[-1].item()
    return previous, len(before_resets), carried + previous


def _loss_vs_sent_into(times: np.ndarray, lost: np.ndarray, sent: np.ndarray, out: np.ndarray) -> int:
    """The loss % of each interval as the sender's counters see it: packetsLost and packetsSent deltas
    (a decrease of packetsSent is a reset, after which both counters' new values are the deltas; a fall
    of packetsLost alone is late packets, a negative delta that counts as 0), in float columns with NaN
    where nums() gives None (nums() gives no NaN of its own). An interval needs both ends of both
    counters and packets sent. The points' times go into out[0], their loss % into out[1]; returns how
    many. max(x, 0.0) and min(x, 100.0) are written as Python's max and min compare (-0.0 stays)."""
    count = 0
    for k in range(1, len(times)):
        l0, l1, s0, s1 = lost[k - 1], lost[k], sent[k - 1], sent[k]
        if l0 != l0 or l1 != l1 or s0 != s0 or s1 != s1:  # a None (NaN) at either end
            continue
        if s1 < s0:
            d_lost, d_sent = l1, s1
        else:
            d_lost, d_sent = l1 - l0, s1 - s0
        if d_sent <= 0:
            continue
        missing = 0.0 if 0.0 > d_lost else d_lost
        loss = missing / d_sent * 100.0
        out[0, count] = times[k]
        out[1, count] = 100.0 if 100.0 < loss else loss
        count += 1
    return count


def _loss_vs_sent_at(
    times: np.ndarray, sent: np.ndarray, rtimes: list[float], lost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The loss % points of receiver reports at `rtimes` (their packetsLost `lost`) against the own
    packetsSent column (`sent` at `times`, NaN where missing) as it was at each report (15 s at most
    before it), as _loss_vs_sent_into takes them. The present values (times increasing) make the
    TimeLookup of the (time, value) pairs without sorting them."""
    present = ~np.isnan(sent)
    sent_at = TimeLookup.of(times[present].tolist(), sent[present].tolist())
    report_times = np.array(rtimes, dtype=float)
    out = np.empty((2, len(report_times)))
    count = _loss_vs_sent_into(report_times, lost, sent_at.at_array(report_times, 15000.0), out)
    return out[0, :count], out[1, :count]


def _mode_frame(widths: list, heights: list, keep: list[bool]) -> tuple[int | None, int | None, int | None]:
    """The most common (width, height) of the kept samples with a positive height (ties: the taller,
    then the first seen), and the largest height. One loop over Python lists counting into a dict (first
    seen first): a stream has tens of samples, fewer than it takes numpy's fixed cost per call to pay off,
    and a Counter, generators and a key function cost more than the counting."""
    n = min(len(widths), len(heights), len(keep))
    width_nums, height_nums = nums(widths[:n]), nums(heights[:n])
    counts: dict[tuple[int | None, int], int] = {}
    tallest = None
    for k in range(n):
        height = height_nums[k]
        if not keep[k] or height is None or not height > 0:
            continue
        width = width_nums[k]
        size = (None if width is None else int(width), int(height))
        counts[size] = counts.get(size, 0) + 1
        if tallest is None or height > tallest:  # int() truncates, so the max commutes with it
            tallest = height
    if tallest is None:
        return None, None, None
    best: tuple[int | None, int] = (None, 0)
    best_rank = (0, 0)
    for size, count in counts.items():  # the first of the highest (count, height), as max() takes it
        rank = (count, size[1])
        if rank > best_rank:
            best, best_rank = size, rank
    return best[0], best[1], int(tallest)


def _linked(ctx: PcContext, track: StatTrack, prop: str) -> StatTrack | None:
    target = track.last(prop)
    return ctx.pc.stats.get(target) if isinstance(target, str) else None


def _fmtp_flags(fmtp: str | None) -> tuple[bool, bool]:
    """(dtx, fec) from an Opus fmtp line; FEC defaults to on when unknown (WebRTC's Opus default)."""
    if not fmtp:
        return False, True
    lowered = fmtp.replace(" ", "").lower()
    dtx = "usedtx=1" in lowered
    fec = "useinbandfec=0" not in lowered if "useinbandfec" in lowered else True
    return dtx, fec


class StreamPass:
    """Computes one StreamMetrics from its report (and, for outbound, its remote-inbound report)."""

    def __init__(self, ctx: PcContext, track: StatTrack, kind: str, direction: str):
        self.ctx = ctx
        self.track = track
        self.goog = stat_type(track) == "ssrc"
        self.sm = StreamMetrics(pc_id=ctx.pc.id, stat_id=track.id, kind=kind, direction=direction)
        self.idx, self.times = distinct_samples(track)
        self.all_kept = len(self.idx) == len(track)
        # One float buffer per stream, a row per column the pass reads (and per delta, rate or loss made
        # from them): the loops below take their typed view of it (compiled: the memoryview of StreamPass,
        # set up once here) instead of a memoryview set-up per call on a separate array, which cost as
        # much as the loop itself on the tens of samples of a stream. Row 0: the kept times, row 1: dt.
        self.buf = np.empty((_ROWS, len(self.times)))
        self.view = self.buf
        self._used = 2
        _floats_into(self.times, self.view[0])
        self.times_arr = self.buf[0]
        # the interval masks (_interval_flags' rows 0-2) and the intervals with an inbound loss (row 3)
        self.flags = np.zeros((4, len(self.times)), dtype=bool)
        self.flag_view = self.flags
        # buffer rows of the kept columns and of their interval deltas, by property names: most are read
        # two or three times per stream
        self._rows: dict[tuple[str, ...], int] = {}
        self._delta_rows: dict[tuple[str, ...], int] = {}
        self._snapshots = -1  # the buffer row of the kept samples' snapshot times, once made

    def _new_row(self) -> int:
        """A free row of the buffer; a pass that reads more columns than planned gets a bigger buffer (the
        arrays handed out before keep the old one, whose rows hold the same values)."""
        row = self._used
        if row == len(self.buf):
            grown = np.empty((2 * row, len(self.times)))
            grown[:row] = self.buf
            self.buf = grown
            self.view = grown
        self._used = row + 1
        return row

    # columns restricted to the kept samples (read-only: may be the track's own column)
    def kept(self, *props: str) -> list:
        col = column(self.track, *props)
        return col if self.all_kept and len(col) == len(self.idx) else [col[i] for i in self.idx]

    def kept_num(self, *props: str) -> list[float | None]:
        return nums(self.kept(*props))

    def kept_row(self, *props: str) -> int:
        """The buffer row holding num_array of the kept column."""
        row = self._rows.get(props)
        if row is None:
            values = self.kept(*props)
            row = self._rows[props] = self._new_row()
            nums_into(values, self.buf[row])
        return row

    def kept_arr(self, *props: str) -> np.ndarray:
        """num_array of the kept column (its buffer row: callers must not write into it)."""
        return self.buf[self.kept_row(*props)]

    def whole_nums(self, prop: str) -> list[float | None]:
        """nums() of the whole column of `prop`. When every sample is kept it is also the kept column,
        and num_array of a column is the float64 array of its nums(): it goes into kept_row(prop)'s row
        instead of a column read again."""
        col = column(self.track, prop)
        if self.all_kept and len(col) == len(self.times) and (prop,) not in self._rows:
            row = self._rows[(prop,)] = self._new_row()
            return nums_into(col, self.buf[row])
        return nums_into(col, np.empty(len(col)))

    def delta_row(self, *props: str) -> int:
        """The buffer row holding _array_deltas of kept_row."""
        row = self._delta_rows.get(props)
        if row is None:
            values = self.kept_row(*props)
            row = self._delta_rows[props] = self._new_row()
            view = self.view
            _deltas_into(view[values], view[row])
        return row

    def _extend_row(self, series: Series, row: int, flag: int = 2) -> None:
        """_extend_where(series, times, buffer row `row`, flags row `flag`; by default the intervals after
        the first that carried packets): short streams by the typed loop over the views."""
        if len(self.times) <= _LOOP_UP_TO:
            _extend_loop(series, self.view[0], self.view[row], self.flag_view[flag], True)
        else:
            _extend_where(series, self.buf[0], self.buf[row], self.flags[flag])

    def run(self) -> StreamMetrics:
        sm, track = self.sm, self.track
        sm.ssrc = as_int(track.last("ssrc"))
        sm.first_seen_ms, sm.last_seen_ms = track.times[0], track.times[-1]
        sm.rid = text(track.last("rid"))
        sm.codec, fmtp = resolve_codec(self.ctx, track, sm.kind)
        self.dtx, self.fec = _fmtp_flags(fmtp)
        if sm.kind == "audio" and fmtp:
            sm.audio_fec = self.fec
        sm.track_identifier = self._track_identifier()
        sm.screenshare = sm.kind == "video" and self._screenshare()
        if sm.direction == "inbound":
            self._inbound()
        else:
            self._outbound()
        return sm

    def _track_identifier(self) -> str | None:
        found = text(self.track.last("trackIdentifier")) or text(self.track.last("googTrackId"))
        if found:
            return found
        for link in ("trackId", "mediaSourceId"):
            other = _linked(self.ctx, self.track, link)
            if other is not None and text(other.last("trackIdentifier")):
                return other.last("trackIdentifier")
        return None

    def _screenshare(self) -> bool:
        """The report says it carries screen content: contentType "screenshare" (from the RTP
        video-content-type extension), legacy googContentType "screen", or a media source named after a
        screen capture. Tracks returned by getDisplayMedia are matched later, across the whole dump."""
        for prop in ("contentType", "googContentType"):
            col = self.track.props.get(prop) or ()
            if any(isinstance(v, str) and v.strip().lower() in _SCREEN_CONTENT for v in col):
                return True
        source = self.track.last("mediaSourceId")
        return isinstance(source, str) and "screen" in source.lower()

    # -- shared interval skeleton -----------------------------------------------------------------

    def _intervals(self, packets_prop: str, bytes_prop: str) -> _Intervals:
        """dt (row 1) and the interval masks (flags rows 0-2: active, carried, carried after the first)."""
        packets = self.delta_row(packets_prop)
        byte_deltas = self.delta_row(bytes_prop)
        byte_values = self.kept_row(bytes_prop)
        view = self.view
        _interval_flags(view[0], view[byte_values], view[packets], view[byte_deltas], view[1], self.flag_view)
        flags = self.flags
        return _Intervals(self.buf[0], flags[0], flags[1], flags[2])

    def _bitrate(self, bytes_prop: str) -> None:
        view, flags = self.view, self.flag_view
        _bitrate_loop(self.sm, view[0], view[1], view[self.delta_row(bytes_prop)], flags[0], flags[1])

    def _rate(self, counter: str, scale: float = 1000.0) -> int:
        """The row of d(counter)/dt * scale per interval (frames per second from a frame counter); NaN if
        none."""
        deltas = self.delta_row(counter)
        row = self._new_row()
        view = self.view
        _rate_into(view[deltas], view[1], scale, view[row])
        return row

    def _ratio(self, num_prop: str, den_prop: str, scale: float) -> int:
        """The row of d(num)/d(den) * scale per interval, NaN when d(den) <= 0 or a delta is missing."""
        d_num = self.delta_row(num_prop)
        d_den = self.delta_row(den_prop)
        row = self._new_row()
        view = self.view
        _ratio_into(view[d_num], view[d_den], scale, view[row])
        return row

    def _fps(self, counters: tuple[str, ...], instant: tuple[str, ...]) -> None:
        row = -1
        for prop in counters:
            if has(self.track, prop):
                row = self._rate(prop)
                break
        if row < 0:
            row = self.kept_row(*instant)
        self._extend_row(self.sm.fps, row)

    def _frames(self, iv: _Intervals, width_props: tuple[str, ...], height_props: tuple[str, ...]) -> None:
        sm = self.sm
        keep = iv.carried.tolist()
        if len(keep) == 1:
            keep[0] = True
        if any(has(self.track, p) for p in height_props):
            sm.frame_width, sm.frame_height, sm.max_frame_height = _mode_frame(
                self.kept(*width_props), self.kept(*height_props), keep
            )
            return
        other = _linked(self.ctx, self.track, "trackId")  # Safari / old Chrome: the `track` report
        if other is not None and has(other, "frameHeight"):
            sm.frame_width, sm.frame_height, sm.max_frame_height = _mode_frame(
                column(other, "frameWidth"), column(other, "frameHeight"), [True] * len(other.times)
            )

    def _video_totals(self, names: tuple[str, ...]) -> None:
        """Last values of cumulative video counters, from the report or its linked `track` report."""
        sm, track = self.sm, self.track
        other = _linked(self.ctx, track, "trackId")

        def pick(prop: str) -> Any:
            value = track.last(prop)
            if value is None and other is not None:
                value = other.last(prop)
            return value

        if "freeze" in names:
            sm.freeze_count = as_int(pick("freezeCount"))
            sm.total_freezes_duration_s = num(pick("totalFreezesDuration"))
            sm.pause_count = as_int(pick("pauseCount"))
            sm.total_pauses_duration_s = num(pick("totalPausesDuration"))
        if "decode" in names:
            sm.frames_decoded = as_int(pick("framesDecoded"))
            sm.frames_dropped = as_int(pick("framesDropped"))

    # -- inbound ----------------------------------------------------------------------------------

    def _inbound(self) -> None:
        sm, track = self.sm, self.track
        received_all = self.whole_nums("packetsReceived")
        lost_all = self.whole_nums("packetsLost")
        last_received, resets, received_total = _totals_across_resets(received_all)
        last_lost = num(track.last("packetsLost"))
        sm.packets = int(last_received) if last_received is not None else None
        sm.counter_resets = resets
        numeric_lost = [v for v in lost_all if v is not None]
        sm.min_packets_lost = min(numeric_lost) if numeric_lost else None
        if last_lost is not None:
            sm.negative_packets_lost = last_lost < 0
            sm.packets_lost = int(max(last_lost, 0))
        bytes_last, byte_resets, bytes_total = _totals_across_resets(self.whole_nums("bytesReceived"))
        sm.bytes = int(bytes_last) if bytes_last is not None else None
        if resets:
            sm.packets_across_resets = int(received_total) if received_total is not None else None
            sm.packets_lost_across_resets = self._lost_across_resets(received_all, lost_all)
        if byte_resets and bytes_total is not None:
            sm.bytes_across_resets = int(bytes_total)
        if sm.packets is not None and sm.packets_lost is not None and sm.packets + sm.packets_lost > 0:
            sm.loss_pct = sm.packets_lost / (sm.packets_lost + sm.packets) * 100.0

        self._active_average("bytesReceived")
        iv = self._intervals("packetsReceived", "bytesReceived")
        self._bitrate("bytesReceived")
        lost, received = self.kept_row("packetsLost"), self.kept_row("packetsReceived")
        loss = self._new_row()  # per interval; NaN: no packet expected or no counters
        view = self.view
        _inbound_loss_into(
            view[lost], view[received], view[self.delta_row("packetsReceived")], view[loss], self.flag_view[3]
        )
        self._extend_row(sm.loss_pct_series, loss, 3)
        if self.goog:
            jitter = self.kept_row("googJitterReceived")
        else:
            seconds = self.kept_row("jitter")
            jitter = self._new_row()
            _scaled_into(self.view[seconds], 1000.0, self.view[jitter])
        self._extend_row(sm.jitter_ms, jitter)
        if self.ctx.rtt:
            self._transport_rtt()
        buffer = self._buffer_delay()
        if sm.kind == "video":
            self._fps(
                ("framesDecoded",),
                ("framesPerSecond", "googFrameRateDecoded", "googFrameRateReceived", "framerateMean"),
            )
            self._frames(
                iv, ("frameWidth", "googFrameWidthReceived"), ("frameHeight", "googFrameHeightReceived")
            )
            self._video_totals(("freeze", "decode"))
            decode_time, frames = num(track.last("totalDecodeTime")), num(track.last("framesDecoded"))
            if decode_time is not None and frames:
                sm.avg_decode_time_ms = decode_time / frames * 1000.0
            elif self.goog:
                sm.avg_decode_time_ms = _mean(self.kept_num("googDecodeMs"), iv.carried.tolist())
        else:
            self._inbound_audio(iv, buffer, self.buf[loss])

    def _lost_across_resets(self, received: list[float | None], lost: list[float | None]) -> int | None:
        total = 0.0
        previous_received: float | None = None
        previous_lost: float | None = None
        for r, m in zip(received, lost, strict=True):
            if r is None:
                continue
            if previous_received is not None and r < previous_received and previous_lost is not None:
                total += max(previous_lost, 0.0)
            previous_received = r
            if m is not None:
                previous_lost = m
        if previous_lost is None:
            return None
        return int(total + max(previous_lost, 0.0))

    def _snapshot_times(self, intervals: np.ndarray) -> np.ndarray:
        """The snapshot times of the kept samples that end the given intervals (a boolean mask)."""
        return self._snapshot_array()[intervals]

    def _snapshot_row(self) -> int:
        """The buffer row of each kept sample's snapshot time (made once)."""
        if self._snapshots < 0:
            row = self._new_row()
            _picked_into(self.track.times, self.idx, self.view[row])
            self._snapshots = row
        return self._snapshots

    def _snapshot_array(self) -> np.ndarray:
        return self.buf[self._snapshot_row()]

    def _transport_rtt(self) -> None:
        """The PC's transport RTT at the snapshot time of each interval after the first that carried
        packets, into sm.rtt_ms. A short stream whose lookup has finite times (the bisect way of at_array)
        takes one loop over the rows (_extend_at) for the selections, lookups and series filling."""
        rtt = self.ctx.rtt
        floats = _lookup_floats(rtt)
        if floats and len(self.times) <= _LOOP_UP_TO:
            snaps = self._snapshot_row()
            view = self.view
            _extend_at(self.sm.rtt_ms, view[0], view[snaps], self.flag_view[2], floats[0], floats[1], 5000.0)
        else:
            carried = self.flags[2]
            _extend(self.sm.rtt_ms, self.buf[0][carried], rtt.at_array(self._snapshot_times(carried)))

    def _buffer_delay(self) -> np.ndarray:
        if has(self.track, "jitterBufferDelay") and has(self.track, "jitterBufferEmittedCount"):
            row = self._ratio("jitterBufferDelay", "jitterBufferEmittedCount", 1000.0)
        elif self.goog and has(self.track, "googJitterBufferMs"):
            row = self.kept_row("googJitterBufferMs")
        else:
            return _nans(len(self.times))
        self._extend_row(self.sm.jitter_buffer_delay_ms, row)
        return self.buf[row]

    def _inbound_audio(self, iv: _Intervals, buffer: np.ndarray, loss: np.ndarray) -> None:
        sm, track = self.sm, self.track
        other = _linked(self.ctx, track, "trackId")
        source = track
        concealed = num(track.last("concealedSamples"))
        total = num(track.last("totalSamplesReceived"))
        if (concealed is None or not total) and other is not None:
            source = other
            concealed, total = num(other.last("concealedSamples")), num(other.last("totalSamplesReceived"))
        if concealed is not None and total:
            # Samples concealed while the sender was silent (muted, DTX) replace silence with silence:
            # nobody hears them, so they are not an interruption (ObserveRTC and the W3C definition of
            # silentConcealedSamples). A jitsi receive slot of a muted participant was 96.9 % concealed,
            # 0.5 % once silence is left out.
            silent = num(source.last("silentConcealedSamples"))
            if silent is not None and 0 < silent <= concealed:
                concealed -= silent
            sm.concealed_pct = min(max(concealed / total * 100.0, 0.0), 100.0)
        elif self.goog and has(track, "googExpandRate"):
            # The legacy counterpart of leaving out silentConcealedSamples: googSpeechExpandRate (the
            # expansion of speech, without the noise expansion) where the dump has it, and a sample whose
            # output level shows silence concealed silence (a muted or quiet remote), which nobody hears:
            # it counts as no concealment, not as a gap.
            levels = self.kept_num("audioOutputLevel")
            heard = [
                0.0 if rate is not None and level is not None and level <= SILENT_OUTPUT_LEVEL else rate
                for rate, level in zip(
                    self.kept_num("googSpeechExpandRate", "googExpandRate"), levels, strict=True
                )
            ]
            mean = _mean(heard, iv.carried.tolist())
            sm.concealed_pct = mean * 100.0 if mean is not None else None
        if has(track, "jitterBufferEmittedCount"):
            emitted = self.delta_row("jitterBufferEmittedCount")
            sm.emitted_stalled_intervals = _count_stalled(self.view[emitted], self.flag_view[2])
        self._mos(iv, buffer, loss, rtt_series=None)

    def _mos(
        self, iv: _Intervals, buffer: np.ndarray, loss: np.ndarray, rtt_series: TimeLookup | None
    ) -> None:
        """Audio MOS of every interval that carried media (or lost all of it): mos.interval_mos_scored.
        `loss` is the loss of each interval in percent, NaN where none was measured."""
        rtt = rtt_series if rtt_series else self.ctx.rtt
        # The interval's jitter (inbound: own, outbound: the receiver reports') gives the buffer estimate
        # where no jitter-buffer delay was measured: the same inputs audioScore uses (mos.py).
        jitter = TimeLookup.of(self.sm.jitter_ms.times, self.sm.jitter_ms.values)
        rtt_floats = _lookup_floats(rtt) if rtt else ()
        jitter_floats = _lookup_floats(jitter) if jitter else ()
        bpl = bpl_for(self.sm.codec, self.fec)
        if (rtt and not rtt_floats) or (jitter and not jitter_floats):
            self._mos_arrays(iv, buffer, loss, rtt, jitter, bpl)  # a non-finite lookup time: numpy's way
            return
        times = iv.times.tolist()
        # the transport RTT is looked up at the snapshot time, a receiver report's at the interval's
        snaps = self._snapshot_array().tolist() if rtt is self.ctx.rtt and rtt else times
        mos_times, mos_values = interval_mos_scored(
            times, snaps, iv.carried.tolist(), loss.tolist(), buffer.tolist(), rtt_floats, jitter_floats, bpl
        )
        self.sm.mos.extend_lists(mos_times, mos_values)

    def _mos_arrays(
        self,
        iv: _Intervals,
        buffer: np.ndarray,
        loss: np.ndarray,
        rtt: TimeLookup | None,
        jitter: TimeLookup,
        bpl: float,
    ) -> None:
        """_mos by numpy selections and TimeLookup.at_array: what interval_mos_scored stands for, taken
        where a lookup's times are not all finite (at_array's searchsorted way, no bisect)."""
        scored = _after_first(iv.carried | (loss >= 100.0))
        times = iv.times[scored]
        if rtt:
            rtts = rtt.at_array(self._snapshot_times(scored) if rtt is self.ctx.rtt else times, 15000.0)
        else:
            rtts = _nans(len(times))
        jitters = jitter.at_array(times, 15000.0) if jitter else _nans(len(times))
        _extend(self.sm.mos, times, interval_mos_all(loss[scored], rtts, jitters, buffer[scored], bpl))

    # -- outbound ---------------------------------------------------------------------------------

    def _outbound(self) -> None:
        sm, track = self.sm, self.track
        sent_last, _, sent_total = _totals_across_resets(self.whole_nums("packetsSent"))
        sm.packets = int(sent_last) if sent_last is not None else None

        resets = self._active_average("bytesSent")
        sm.counter_resets = resets
        bytes_last, _, bytes_total = _totals_across_resets(self.whole_nums("bytesSent"))
        if bytes_last is not None:
            sm.bytes = int(bytes_last)
        if resets:
            sm.bytes_across_resets = int(bytes_total) if bytes_total is not None else None
            sm.packets_across_resets = int(sent_total) if sent_total is not None else None

        iv = self._intervals("packetsSent", "bytesSent")
        self._bitrate("bytesSent")
        self._extend_row(sm.packet_send_delay_ms, self._ratio("totalPacketSendDelay", "packetsSent", 1000.0))

        remote = self._remote_inbound()
        # the receiver reports' kept samples, worked out once for the loss and for jitter and RTT
        samples = distinct_samples(remote) if remote is not None else None
        loss_by_time = self._remote_loss(iv, remote, samples)
        rtt_lookup = self._remote_values(iv, remote, samples)
        if sm.kind == "video":
            self._fps(
                ("framesSent", "framesEncoded"), ("framesPerSecond", "googFrameRateSent", "framerateMean")
            )
            self._frames(iv, ("frameWidth", "googFrameWidthSent"), ("frameHeight", "googFrameHeightSent"))
            sm.source_fps = self._source_fps(iv)
            encode_time, frames = num(track.last("totalEncodeTime")), num(track.last("framesEncoded"))
            if encode_time is not None and frames:
                sm.avg_encode_time_ms = encode_time / frames * 1000.0
            elif self.goog:
                sm.avg_encode_time_ms = _mean(self.kept_num("googAvgEncodeMs"), iv.carried.tolist())
            sm.quality_limitation_pct = self._quality_limitation(iv)
            sm.quality_limitation_resolution_changes = as_int(
                track.last("qualityLimitationResolutionChanges")
            )
        else:
            sm.audio_level_flat = self._audio_level_flat(iv)
            loss_lookup = TimeLookup.of(*loss_by_time)
            loss = _nans(len(iv.times))
            if loss_lookup:
                loss[1:] = loss_lookup.at_array(iv.times[1:], 15000.0)
            self._mos(iv, _nans(len(iv.times)), loss, rtt_series=rtt_lookup)

    def _source_fps(self, iv: _Intervals) -> float | None:
        """Median capture frame rate while sending: the linked media-source's framesPerSecond (legacy
        goog: googFrameRateInput). Zero readings (a source before its first frame) are left out, and the
        median ignores the ramp-up and teardown samples."""
        if self.goog:
            rates = self.kept_num("googFrameRateInput")
            values = [v for v, carried in zip(rates, iv.carried.tolist(), strict=True) if carried and v]
        else:
            source = _linked(self.ctx, self.track, "mediaSourceId")
            if source is None or not has(source, "framesPerSecond"):
                return None
            start, end = self.sm.active_start_ms, self.sm.active_end_ms
            rates = [num(v) for v in column(source, "framesPerSecond")]
            values = [
                v
                for t, v in zip(source.times, rates, strict=True)
                if v and (start is None or end is None or start <= t <= end)
            ]
        return statistics.median(values) if values else None

    def _active_average(self, bytes_prop: str) -> int:
        """D9 on `bytes_prop`: samples (t, bytes) with a byte value (equal t collapsed to the last one),
        increments (a decrease is a reset: the increment is the new value), active span from the sample
        before the first positive increment to the sample of the last one; sets active_start_ms,
        active_end_ms and avg_bitrate_kbps = sum(increments in span) * 8 / span (ms). Returns the resets."""
        sm = self.sm
        row, deltas = self.kept_row(bytes_prop), self.delta_row(bytes_prop)
        values, increments = self.buf[row], self.buf[deltas]
        span = _span_of(self.view[row], self.view[deltas])
        if span is not None:  # the usual case, no gap: the intervals' own byte deltas, scanned in one loop
            resets, a0, a1 = span
            if a1 >= 0:
                start, end = float(self.times[a0]), float(self.times[a1])  # times_arr's floats
                duration = end - start
                sm.active_start_ms, sm.active_end_ms = start, end
                if duration > 0:
                    total = sum(increments[a0 + 1 : a1 + 1].tolist())  # in order, as before
                    sm.avg_bitrate_kbps = total * 8.0 / duration
            return resets
        present = ~np.isnan(values)
        if np.count_nonzero(present) == len(present):
            byte_values, times = values, self.times_arr.tolist()
        else:
            byte_values = values[present]
            times = self.times_arr[present].tolist()
            increments = _array_deltas(byte_values)
        resets = int(np.count_nonzero(byte_values[1:] < byte_values[:-1]))
        positive = (increments > 0).nonzero()[0]
        if len(positive):
            a0, a1 = int(positive[0]) - 1, int(positive[-1])
            duration = times[a1] - times[a0]
            sm.active_start_ms, sm.active_end_ms = times[a0], times[a1]
            if duration > 0:
                total = sum(increments[a0 + 1 : a1 + 1].tolist())  # in order, as before
                sm.avg_bitrate_kbps = total * 8.0 / duration
        return resets

    def _remote_inbound(self) -> StatTrack | None:
        """The remote-inbound-rtp report about this stream: localId == id, else the outbound's
        remoteId, else the same ssrc and kind (D9)."""
        if self.goog:
            return None
        candidates = self.ctx.tracks("remote-inbound-rtp")
        for other in candidates:
            if other.last("localId") == self.track.id:
                return other
        remote_id = self.track.last("remoteId")
        if isinstance(remote_id, str) and remote_id in self.ctx.pc.stats:
            other = self.ctx.pc.stats[remote_id]
            if stat_type(other) == "remote-inbound-rtp":
                return other
        for other in candidates:
            if as_int(other.last("ssrc")) == self.sm.ssrc and stream_kind(other) == self.sm.kind:
                return other
        return None

    def _remote_loss(
        self, iv: _Intervals, remote: StatTrack | None, samples: tuple[list[int], list[float]] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Remote packets lost (D9) and the per-interval outbound loss series (as receiver reports see it),
        returned as (times, loss %)."""
        sm = self.sm
        points: list[tuple[float, float]] = []
        fractions: tuple[np.ndarray, np.ndarray] | None = None
        if self.goog:  # the _send report's own packetsLost is the remote loss
            lost_value = num(self.track.last("packetsLost"))
            fractions = self._own_loss()
        elif remote is not None and samples is not None:
            lost_value = num(remote.last("packetsLost"))
            ridx, rtimes = samples
            if has(remote, "packetsReceived"):  # Firefox: the receiver's own counts
                lost = _kept_nums(remote, "packetsLost", ridx)
                received = _kept_nums(remote, "packetsReceived", ridx)
                d_lost = _deltas_following(lost, received)
                d_recv, _ = _counter_deltas(received)
                for k in range(1, len(rtimes)):
                    if d_lost[k] is None or d_recv[k] is None:
                        continue
                    missing = max(d_lost[k], 0.0)
                    if missing + d_recv[k] > 0:
                        points.append((rtimes[k], min(missing / (missing + d_recv[k]) * 100.0, 100.0)))
            elif has(remote, "fractionLost"):
                fraction = _kept_array(remote, "fractionLost", ridx)
                reported = ~np.isnan(fraction)
                percent = np.minimum(np.maximum(fraction[reported] * 100.0, 0.0), 100.0)
                fractions = np.array(rtimes, dtype=float)[reported], percent
            else:
                lost_arr = _kept_array(remote, "packetsLost", ridx)
                fractions = _loss_vs_sent_at(self.times_arr, self.kept_arr("packetsSent"), rtimes, lost_arr)
        else:
            lost_value = None
        times, values = fractions if fractions is not None else _unzip(points)
        start, end = sm.active_start_ms, sm.active_end_ms
        # receiver reports only describe media while it was sent (5 s of slack for the last report)
        if start is None:
            times, values = times[:0], values[:0]
        else:
            sent = (start <= times) & (times <= end + 5000.0)
            times, values = times[sent], values[sent]
        _extend(sm.loss_pct_series, times, values)
        if lost_value is not None:
            sm.negative_packets_lost = lost_value < 0
            sm.min_packets_lost = (
                lost_value if sm.min_packets_lost is None else min(sm.min_packets_lost, lost_value)
            )
            sm.packets_lost = int(max(lost_value, 0))
            if sm.packets:
                sm.loss_pct = min(sm.packets_lost / sm.packets * 100.0, 100.0)
        return times, values

    def _own_loss(self) -> tuple[np.ndarray, np.ndarray]:
        """The loss % points of the report's own kept packetsLost and packetsSent (legacy goog), from
        their float columns (packetsSent's is already read for the intervals) in one typed loop."""
        lost, sent = self.kept_row("packetsLost"), self.kept_row("packetsSent")
        out = np.empty((2, len(self.times)))
        view = self.view
        count = _loss_vs_sent_into(view[0], view[lost], view[sent], out)
        return out[0, :count], out[1, :count]

    def _remote_values(
        self, iv: _Intervals, remote: StatTrack | None, samples: tuple[list[int], list[float]] | None
    ) -> TimeLookup | None:
        """Outbound jitter and RTT from the receiver reports; RTT falls back to the transport RTT."""
        sm = self.sm
        start, end = sm.active_start_ms, sm.active_end_ms
        if start is None:
            return None
        rtt_times = rtt_values = np.empty(0)
        lookup = None
        if self.goog:
            self._extend_row(sm.jitter_ms, self.kept_row("googJitterReceived"))
            carried = iv.carried_after_first
            rtt = self.kept_arr("googRtt")
            timed = carried & ~np.isnan(rtt)
            rtt_times, rtt_values = iv.times[timed], rtt[timed]
            _extend(sm.rtt_ms, rtt_times, rtt_values)
            if len(rtt_times):
                lookup = TimeLookup.of(rtt_times, rtt_values)
        elif remote is not None and samples is not None:
            ridx, rtimes = samples
            times = np.array(rtimes, dtype=float)
            jitters = _kept_array(remote, "jitter", ridx)
            rtts = _kept_array(remote, "roundTripTime", ridx)
            measured = _kept_array(remote, "roundTripTimeMeasurements", ridx)
            found = _receiver_values(sm, times, jitters, rtts, measured, start, end + 5000.0)
            if found[0]:
                lookup = TimeLookup.of(*found)
        if lookup is None and self.ctx.rtt:
            self._transport_rtt()
        return lookup

    def _quality_limitation(self, iv: _Intervals) -> dict[str, float] | None:
        durations = self.track.last("qualityLimitationDurations")
        if isinstance(durations, dict):
            values = {k: num(v) for k, v in durations.items()}
            total = sum(v for v in values.values() if v is not None and v > 0)
            if total > 0:
                return {
                    reason: (values.get(reason) or 0.0) / total * 100.0
                    for reason in ("cpu", "bandwidth", "other")
                }
        if has(self.track, "qualityLimitationReason"):
            reasons = self.kept("qualityLimitationReason")
            carried = iv.carried.tolist()
            counted = [r for k, r in enumerate(reasons) if isinstance(r, str) and (carried[k] or k == 0)]
            if counted:
                return {
                    reason: counted.count(reason) / len(counted) * 100.0
                    for reason in ("cpu", "bandwidth", "other")
                }
        if self.goog and (
            has(self.track, "googCpuLimitedResolution") or has(self.track, "googBandwidthLimitedResolution")
        ):
            cpu = self.kept("googCpuLimitedResolution")
            bandwidth = self.kept("googBandwidthLimitedResolution")
            ks = iv.carried.nonzero()[0].tolist() or list(range(len(iv.times)))
            return {
                "cpu": sum(truthy(cpu[k]) for k in ks) / len(ks) * 100.0,
                "bandwidth": sum(truthy(bandwidth[k]) for k in ks) / len(ks) * 100.0,
                "other": 0.0,
            }
        return None

    def _audio_level_flat(self, iv: _Intervals) -> bool | None:
        """True when the sent audio level never changed while sending (at least 5 samples)."""
        values: list[float] = []
        if self.goog:
            levels = self.kept_num("audioInputLevel")
            used = (iv.active | iv.carried).tolist()
            values = [v for k, v in enumerate(levels) if v is not None and used[k]]
        else:
            source = _linked(self.ctx, self.track, "mediaSourceId") or _linked(
                self.ctx, self.track, "trackId"
            )
            if source is not None and has(source, "audioLevel"):
                start, end = self.sm.active_start_ms, self.sm.active_end_ms
                for t, v in zip(source.times, column(source, "audioLevel"), strict=True):
                    level = num(v)
                    if level is not None and (start is None or start <= t <= (end or t) + 1000.0):
                        values.append(level)
        if len(values) < 5:
            return None
        return max(values) == min(values)


def _unzip(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) arrays of (time, value) points."""
    if not points:
        return np.empty(0), np.empty(0)
    times, values = zip(*points, strict=True)
    return np.array(times, dtype=float), np.array(values, dtype=float)


def _kept_nums(track: StatTrack, prop: str, idx: list[int]) -> list[float | None]:
    """nums() of the column at the kept sample indexes `idx` (all of them, mostly)."""
    col = column(track, prop)
    return nums(col if len(idx) == len(col) else [col[i] for i in idx])


def _kept_array(track: StatTrack, prop: str, idx: list[int]) -> np.ndarray:
    """_kept_nums as a float array, NaN for None."""
    col = column(track, prop)
    values = col if len(idx) == len(col) else [col[i] for i in idx]
    out = np.empty(len(values))
    nums_into(values, out)
    return out


def _mean(values: list[float | None], keep: list[bool]) -> float | None:
    picked = [v for v, ok in zip(values, keep, strict=False) if ok and v is not None]
    if not picked:
        picked = [v for v in values if v is not None]
    return sum(picked) / len(picked) if picked else None


def compute_streams(ctx: PcContext, warnings: list[str]) -> list[StreamMetrics]:
    """Every inbound/outbound stream of one PC."""
    out: list[StreamMetrics] = []
    for kind_of_type in ("inbound-rtp", "outbound-rtp", "ssrc"):
        for track in ctx.tracks(kind_of_type):
            direction = stream_direction(track, kind_of_type)
            if direction is None:
                continue
            kind = stream_kind(track)
            if kind is None:
                warnings.append(f"{ctx.pc.id}: stream {track.id} has no recognisable kind; skipped")
                continue
            out.append(StreamPass(ctx, track, kind, direction).run())
    return out
