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

The formula is written once, for arrays: a long call has thousands of intervals per stream, and numpy
evaluates them all at C speed with the same IEEE operations in the same order as the scalar Python
arithmetic would (fmax/fmin behave like max(x, nan)/min(x, nan) of Python, which keep x). The scalar
functions are the same code on a one-element array.
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


Values = Sequence[float | None] | np.ndarray
_PLAIN_NUMBERS = frozenset((int, float, type(None)))


def _finite(value: float | None) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _measured(values: Values) -> np.ndarray:
    """The values as floats, NaN where not measured (None, NaN, infinity, or not a number)."""
    if isinstance(values, np.ndarray) or set(map(type, values)) <= _PLAIN_NUMBERS:
        array = np.array(values, dtype=float)  # None -> NaN
    else:  # bools and other odd values are not measurements (_finite)
        array = np.array([v if _finite(v) else math.nan for v in values], dtype=float)
    array[~np.isfinite(array)] = math.nan
    return array


def _plain(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def r_to_mos(r: float | np.ndarray) -> float | np.ndarray:
    """ITU-T G.107 mapping of the transmission rating R to MOS (1-4.5), monotonic non-decreasing."""
    r = np.asarray(r, dtype=float)
    mos = np.fmax(MOS_MIN, np.fmin(MOS_MAX, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)))
    return _plain(np.where(r <= 0, MOS_MIN, np.where(r >= 100, MOS_MAX, mos)))


def delay_impairment(one_way_delay_ms: float | np.ndarray) -> float | np.ndarray:
    """Id of the simplified E-model (Cole & Rosenbluth): 0.024 d + 0.11 (d - 177.3) above 177.3 ms.

    Linear above the knee, not rtcscore's squared term, which sends every interval with more than
    about 190 ms one-way delay to MOS 1 although G.114 rates up to 400 ms as acceptable."""
    d = np.fmax(0.0, np.asarray(one_way_delay_ms, dtype=float))
    return _plain(0.024 * d + np.where(d > 177.3, 0.11 * (d - 177.3), 0.0))


def loss_impairment(
    loss_pct: float | np.ndarray, bpl: float = OPUS_BPL, ie: float = 0.0
) -> float | np.ndarray:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl), Ppl in percent (G.107 random loss)."""
    pl = np.fmax(0.0, np.asarray(loss_pct, dtype=float))
    return _plain(ie + (95 - ie) * pl / (pl + bpl))


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
    return float(audio_mos_all([loss_pct], [rtt_ms], [jitter_ms], [buffer_ms], bpl)[0])


def audio_mos_all(
    loss_pct: Values, rtt_ms: Values, jitter_ms: Values, buffer_ms: Values, bpl: float = OPUS_BPL
) -> np.ndarray:
    """audio_mos of every interval; the inputs are sequences of one value per interval."""
    loss = np.asarray(loss_pct, dtype=float)
    rtt = _measured(rtt_ms)
    rtt = np.where(np.isnan(rtt), DEFAULT_RTT_MS, rtt)
    jitter = _measured(jitter_ms)
    jitter = np.where(np.isnan(jitter), DEFAULT_JITTER_MS, jitter)
    buffer = _measured(buffer_ms)
    buffer = np.where(np.isnan(buffer), BUFFER_BASE_MS + 2 * np.fmax(0.0, jitter), buffer)
    d = CODEC_DELAY_MS + np.fmax(0.0, buffer) + np.fmax(0.0, rtt) / 2
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite loss gives NaN, as in Python
        r = R0 - loss_impairment(loss, bpl) - delay_impairment(d)
        return np.where(loss >= 100, MOS_MIN, r_to_mos(r))


def interval_mos(
    loss_pct: float | None = None,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer_ms: float | None = None,
    bpl: float = OPUS_BPL,
) -> float:
    """audio_mos for the per-interval `mos` series: the same value, except 0 (the contract's "unusable
    transport") for an interval that lost every packet, and no loss measured counts as 0 %."""
    return float(interval_mos_all([loss_pct], [rtt_ms], [jitter_ms], [buffer_ms], bpl)[0])


def interval_mos_all(
    loss_pct: Values, rtt_ms: Values, jitter_ms: Values, buffer_ms: Values, bpl: float = OPUS_BPL
) -> np.ndarray:
    """interval_mos of every interval; the inputs are sequences of one value per interval."""
    loss = _measured(loss_pct)
    loss = np.where(np.isnan(loss), 0.0, np.fmin(np.fmax(loss, 0.0), 100.0))
    return np.where(loss >= 100.0, MOS_UNUSABLE, audio_mos_all(loss, rtt_ms, jitter_ms, buffer_ms, bpl))
