"""Audio MOS: the one E-model behind both audioScore and the per-interval `mos_*` aggregated stats.

A single formula so that the two numbers a user sees for the same call cannot disagree by definition
(rtcstats-dumps.md section 4.4 items 1 and 3; every constant is explained in docs/rtcstats-scoring.md 3.1):

    d      = 20 + buffer + RTT/2                      one-way delay, ms (rtcscore's structure)
    buffer = measured jitter-buffer delay, else 30 + 2 x jitter
    Id     = 0.024 d + 0.11 (d - 177.3) if d > 177.3   delay impairment (simplified G.107)
    Ie,eff = 95 x loss / (loss + Bpl)                  loss impairment (G.107 random loss, Ie = 0)
    R      = 93.2 - Ie,eff - Id;   MOS = G.107 R -> MOS, clamped to [1, 4.5]

Codec bitrate (rtcscore's bitrate-based Ie) is deliberately not an input: with DTX a silent talker
sends almost nothing, and a bitrate term would punish silence as bad quality.

The formula is written once, for one interval in floats, and the `_all` functions loop over the
intervals. setup compiles this module with Cython (plugins/rtcstats/compiled.py; mos.pxd types the
per-interval functions as C doubles): a stream has tens of intervals, where the thirty numpy calls of an
array formula cost more than the arithmetic itself. The C arithmetic is Python's, operation for
operation (max(0.0, x) is written `x if x > 0.0 else 0.0`, which is what Python's max does with a NaN),
so the compiled and the plain module give the same floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "DEFAULT_JITTER_MS",
    "DEFAULT_RTT_MS",
    "MOS_MAX",
    "MOS_UNUSABLE",
    "OPUS_BPL",
    "OTHER_BPL",
    "audio_mos",
    "audio_mos_all",
    "bpl_for",
    "delay_impairment",
    "interval_mos",
    "interval_mos_all",
    "interval_mos_scored",
    "LatestCursor",
    "loss_impairment",
    "r_to_mos",
]

R0 = 93.2  # G.107 basic signal-to-noise ratio with default parameters
DEFAULT_RTT_MS = 50.0  # rtcscore default
DEFAULT_JITTER_MS = 10.0  # webrtcmetrics default
CODEC_DELAY_MS = 20.0  # packetisation + codec lookahead (rtcscore's constant)
BUFFER_BASE_MS = 30.0  # jitter-buffer estimate = 30 + 2 x jitter (50 ms at the default jitter)
OPUS_BPL = 20.0  # packet-loss robustness with in-band FEC (rtcscore)
OTHER_BPL = 10.0  # without FEC (rtcscore); G.711/G.722, Opus with useinbandfec=0, other codecs
MOS_MIN = 1.0
MOS_MAX = 4.5
# The aggregated-stats contract reserves 0 for "unusable transport": an interval that lost every packet.
MOS_UNUSABLE = 0.0
DELAY_KNEE_MS = 177.3

Values = Sequence[float | None] | np.ndarray
_PLAIN_NUMBERS = frozenset((int, float, type(None)))
_FLOAT = frozenset((float,))


def _measured(values: Values) -> list[float]:
    """The values as floats, NaN where not measured (None, NaN, infinity, or not a number: bools too).
    The per-interval functions take any non-finite float as not measured."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values.tolist()
    if type(values) is list and set(map(type, values)) <= _FLOAT:
        return values  # what the float64 array of them would give back (read only, never written)
    if isinstance(values, np.ndarray) or set(map(type, values)) <= _PLAIN_NUMBERS:
        return np.array(values, dtype=float).tolist()  # None -> NaN
    return [float(v) if type(v) in (int, float) else np.nan for v in values]


def _positive(x: float) -> float:
    """max(0.0, x) of Python: 0.0 for NaN (and for -0.0)."""
    return x if x > 0.0 else 0.0


def _finite(x: float) -> bool:
    return x - x == 0.0  # False for NaN and infinities, in C as in Python


def _delay_impairment(one_way_delay_ms: float) -> float:
    d = _positive(one_way_delay_ms)
    return 0.024 * d + (0.11 * (d - DELAY_KNEE_MS) if d > DELAY_KNEE_MS else 0.0)


def _loss_impairment(loss_pct: float, bpl: float, ie: float) -> float:
    pl = _positive(loss_pct)
    return ie + (95 - ie) * pl / (pl + bpl)


def _r_to_mos(r: float) -> float:
    if r <= 0:
        return MOS_MIN
    if r >= 100:
        return MOS_MAX
    mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    mos = mos if mos < MOS_MAX else MOS_MAX  # min(MOS_MAX, mos)
    return mos if mos > MOS_MIN else MOS_MIN  # max(MOS_MIN, mos)


def _audio_mos(loss: float, rtt: float, jitter: float, buffer: float, bpl: float) -> float:
    """audio_mos of one interval; a non-finite rtt, jitter or buffer is not measured."""
    if loss >= 100:
        return MOS_MIN
    if not _finite(rtt):
        rtt = DEFAULT_RTT_MS
    if not _finite(jitter):
        jitter = DEFAULT_JITTER_MS
    if not _finite(buffer):
        buffer = BUFFER_BASE_MS + 2 * _positive(jitter)
    d = CODEC_DELAY_MS + _positive(buffer) + _positive(rtt) / 2
    return _r_to_mos(R0 - _loss_impairment(loss, bpl, 0.0) - _delay_impairment(d))


def _interval_mos(loss: float, rtt: float, jitter: float, buffer: float, bpl: float) -> float:
    """interval_mos of one interval: unmeasured (non-finite) loss counts as 0 %, all lost scores 0."""
    if not _finite(loss):
        loss = 0.0
    loss = loss if loss > 0.0 else 0.0  # min(max(loss, 0.0), 100.0)
    loss = loss if loss < 100.0 else 100.0
    if loss >= 100.0:
        return MOS_UNUSABLE
    return _audio_mos(loss, rtt, jitter, buffer, bpl)


def _audio_mos_each(loss: list, rtt: list, jitter: list, buffer: list, bpl: float) -> list:
    return [_audio_mos(loss[k], rtt[k], jitter[k], buffer[k], bpl) for k in range(len(loss))]


def _interval_mos_each(loss: list, rtt: list, jitter: list, buffer: list, bpl: float) -> list:
    return [_interval_mos(loss[k], rtt[k], jitter[k], buffer[k], bpl) for k in range(len(loss))]


def r_to_mos(r: float) -> float:
    """ITU-T G.107 mapping of the transmission rating R to MOS (1-4.5), monotonic non-decreasing."""
    return _r_to_mos(float(r))


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id of the simplified E-model (Cole & Rosenbluth): 0.024 d + 0.11 (d - 177.3) above 177.3 ms.

    Linear above the knee, not rtcscore's squared term, which sends every interval with more than
    about 190 ms one-way delay to MOS 1 although G.114 rates up to 400 ms as acceptable."""
    return _delay_impairment(float(one_way_delay_ms))


def loss_impairment(loss_pct: float, bpl: float = OPUS_BPL, ie: float = 0.0) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl), Ppl in percent (G.107 random loss)."""
    return _loss_impairment(float(loss_pct), float(bpl), float(ie))


def bpl_for(codec: str | None, fec: bool = True) -> float:
    """Packet-loss robustness: 20 for Opus/RED (or an unknown codec, WebRTC's default is Opus) with
    in-band FEC, 10 when the fmtp line turned FEC off and for G.711/G.722/other codecs."""
    name = (codec or "").lower()
    if not name or "opus" in name or "red" in name:
        return OPUS_BPL if fec else OTHER_BPL
    return OTHER_BPL


def audio_mos(
    loss_pct: float = 0.0,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer_ms: float | None = None,
    bpl: float = OPUS_BPL,
) -> float:
    """MOS (1-4.5) of one interval of audio from loss, RTT and jitter (or the measured jitter-buffer delay).

    Unmeasured inputs take the defaults (RTT 50 ms, jitter 10 ms, buffer 30 + 2 x jitter). An interval in
    which every packet was lost scores 1. Non-increasing in loss, RTT, jitter and buffer.
    """
    return audio_mos_all([loss_pct], [rtt_ms], [jitter_ms], [buffer_ms], bpl)[0].item()


def audio_mos_all(
    loss_pct: Values, rtt_ms: Values, jitter_ms: Values, buffer_ms: Values, bpl: float = OPUS_BPL
) -> np.ndarray:
    """audio_mos of every interval; the inputs are sequences of one value per interval."""
    return np.array(audio_mos_list(loss_pct, rtt_ms, jitter_ms, buffer_ms, bpl), dtype=float)


def audio_mos_list(
    loss_pct: Values, rtt_ms: Values, jitter_ms: Values, buffer_ms: Values, bpl: float = OPUS_BPL
) -> list[float]:
    """audio_mos_all as a list of floats (the audio score of a stream of tens of intervals sums them in
    Python: no array there and back)."""
    if type(loss_pct) is list and set(map(type, loss_pct)) <= _FLOAT:
        loss = loss_pct  # what the float64 array of them would give back
    else:
        loss = np.asarray(loss_pct, dtype=float).tolist()  # None -> NaN, which counts as no loss
    rtt, jitter, buffer = _measured(rtt_ms), _measured(jitter_ms), _measured(buffer_ms)
    return _audio_mos_each(loss, rtt, jitter, buffer, float(bpl))


def interval_mos(
    loss_pct: float | None = None,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer_ms: float | None = None,
    bpl: float = OPUS_BPL,
) -> float:
    """audio_mos for the per-interval `mos` series: the same value, except 0 (the contract's "unusable
    transport") for an interval that lost every packet, and no loss measured counts as 0 %."""
    return interval_mos_all([loss_pct], [rtt_ms], [jitter_ms], [buffer_ms], bpl)[0].item()


def interval_mos_all(
    loss_pct: Values, rtt_ms: Values, jitter_ms: Values, buffer_ms: Values, bpl: float = OPUS_BPL
) -> np.ndarray:
    """interval_mos of every interval; the inputs are sequences of one value per interval."""
    loss, rtt = _measured(loss_pct), _measured(rtt_ms)
    jitter, buffer = _measured(jitter_ms), _measured(buffer_ms)
    return np.array(_interval_mos_each(loss, rtt, jitter, buffer, float(bpl)), dtype=float)


class LatestCursor:
    """TimeLookup.at_array over its (times, values) float lists, one time after the other: `keys` sorted
    and finite, as at_array's own bisect takes them.

    The intervals of a stream look up increasing times, each at the key of the one before or a few keys
    on: a search starts where the previous one ended when its time did not go back (every key before
    that one is at or before it), and gallops (1, 2, 4, ... keys) before the binary search, two or three
    steps where a search of a PC's whole RTT series took a dozen. The index found is bisect_right's."""

    def __init__(self, keys: list, values: list):
        self.keys = keys
        self.values = values
        self.lo = 0  # bisect_right of the last time looked up (+ 1 ms)
        self.last = math.inf  # that time (+ 1 ms); inf: start at 0

    def at(self, time: float, max_age_ms: float) -> float:
        """The value of the latest key at or before time + 1 ms (bisect_right, written out to run on C
        doubles), NaN if none or older than max_age_ms."""
        keys = self.keys
        x = time + 1.0
        n = len(keys)
        lo = self.lo if x >= self.last else 0  # NaN: False, from 0 (and a NaN finds the end)
        hi = lo
        step = 1
        while hi < n and not x < keys[hi]:  # keys[hi] <= x: the answer is after hi
            lo = hi + 1
            hi = lo + step
            step += step
        if hi > n:
            hi = n
        while lo < hi:  # keys[:lo] <= x < keys[hi] (or hi == n)
            mid = (lo + hi) // 2
            if x < keys[mid]:
                hi = mid
            else:
                lo = mid + 1
        self.lo = lo
        self.last = x
        if lo == 0 or time - keys[lo - 1] > max_age_ms:
            return math.nan
        return self.values[lo - 1]


def interval_mos_scored(
    times: list, snaps: list, carried: list, loss: list, buffer: list, rtt: tuple, jitter: tuple, bpl: float
) -> tuple[list, list]:
    """interval_mos of each interval after the first that carried media (`carried`) or lost all of it,
    in one loop over per-interval lists of floats: the RTT looked up at the interval's `snaps` time and
    the jitter at its `times` time, each in a (keys, values) pair of float lists (empty: not measured),
    at most 15 s old. Returns (times, mos) of the finite values: one loop where a stream of tens of
    intervals paid twenty numpy calls for the masks, the selections and the lookups."""
    rtt_at = LatestCursor(rtt[0], rtt[1]) if rtt and rtt[0] else None
    jitter_at = LatestCursor(jitter[0], jitter[1]) if jitter and jitter[0] else None
    kept_times: list[float] = []
    kept_values: list[float] = []
    for k in range(1, len(times)):
        lost = loss[k]
        if not (carried[k] or lost >= 100.0):
            continue
        t = times[k]
        r = rtt_at.at(snaps[k], 15000.0) if rtt_at is not None else math.nan
        j = jitter_at.at(t, 15000.0) if jitter_at is not None else math.nan
        value = _interval_mos(lost, r, j, buffer[k], bpl)
        if value - value == 0.0:  # finite (always, bpl > 0): what the series keeps
            kept_times.append(t)
            kept_values.append(value)
    return kept_times, kept_values
