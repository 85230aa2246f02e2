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
"""

from __future__ import annotations

import math

__all__ = [
    "DEFAULT_JITTER_MS",
    "DEFAULT_RTT_MS",
    "MOS_MAX",
    "MOS_UNUSABLE",
    "OPUS_BPL",
    "OTHER_BPL",
    "audio_mos",
    "bpl_for",
    "delay_impairment",
    "interval_mos",
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


def _finite(value: float | None) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def r_to_mos(r: float) -> float:
    """ITU-T G.107 mapping of the transmission rating R to MOS (1-4.5), monotonic non-decreasing."""
    if r <= 0:
        return MOS_MIN
    if r >= 100:
        return MOS_MAX
    return max(MOS_MIN, min(MOS_MAX, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)))


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id of the simplified E-model (Cole & Rosenbluth): 0.024 d + 0.11 (d - 177.3) above 177.3 ms.

    Linear above the knee, not rtcscore's squared term, which sends every interval with more than
    about 190 ms one-way delay to MOS 1 although G.114 rates up to 400 ms as acceptable."""
    d = max(0.0, one_way_delay_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def loss_impairment(loss_pct: float, bpl: float = OPUS_BPL, ie: float = 0.0) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl), Ppl in percent (G.107 random loss)."""
    pl = max(0.0, loss_pct)
    return ie + (95 - ie) * pl / (pl + bpl)


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
    if loss_pct >= 100:
        return MOS_MIN
    rtt = rtt_ms if _finite(rtt_ms) else DEFAULT_RTT_MS
    jitter = jitter_ms if _finite(jitter_ms) else DEFAULT_JITTER_MS
    buffer = buffer_ms if _finite(buffer_ms) else BUFFER_BASE_MS + 2 * max(0.0, jitter)  # type: ignore[operator]
    d = CODEC_DELAY_MS + max(0.0, buffer) + max(0.0, rtt) / 2  # type: ignore[operator,type-var]
    r = R0 - loss_impairment(loss_pct, bpl) - delay_impairment(d)
    return r_to_mos(r)


def interval_mos(
    loss_pct: float | None = None,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer_ms: float | None = None,
    bpl: float = OPUS_BPL,
) -> float:
    """audio_mos for the per-interval `mos` series: the same value, except 0 (the contract's "unusable
    transport") for an interval that lost every packet, and no loss measured counts as 0 %."""
    loss = 0.0 if not _finite(loss_pct) else min(max(loss_pct, 0.0), 100.0)  # type: ignore[type-var]
    if loss >= 100.0:
        return MOS_UNUSABLE
    return audio_mos(loss, rtt_ms, jitter_ms, buffer_ms, bpl)
