"""Scores of a call: experience (0-100), audio, video and connectivity (1-5 or None), observations (0-40).

No public formula exists for these scores (rtcstats-dumps.md 4.5), so they are ours, built from the
published building blocks of 4.4: the ITU-T G.107 E-model R -> MOS mapping for audio, rtcscore's
frame-rate term for video, and subtractive penalties (client-monitor style) for connectivity. Every
formula and constant is explained in docs/rtcstats-scoring.md. All functions are pure.

Directions: more loss, jitter, RTT, freezes, relaying, failures or severe observations never raise a score.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable

from plugins.rtcstats.analysis.metrics_model import (
    CallMetrics,
    PcMetrics,
    SelectedPair,
    Series,
    StreamMetrics,
)
from plugins.rtcstats.analysis.observations import (
    SEVERITY_RANK,
    finite,
    series_avg,
    stream_duration_ms,
    stream_loss_pct,
)
from plugins.rtcstats.analysis.rules_connectivity import churn_cycles, drop_after_connect, relay_protocol

# --- constants (docs/rtcstats-scoring.md) --------------------------------------------------------

OBSERVATIONS_MAX = 40
SEVERITY_PENALTY = {"critical": 16, "high": 8, "medium": 4, "low": 2, "info": 0}

R0 = 93.2  # G.107 basic signal-to-noise ratio with default parameters
DEFAULT_RTT_MS = 50.0  # rtcscore default
DEFAULT_JITTER_MS = 10.0  # webrtcmetrics default
CODEC_DELAY_MS = 20.0  # packetisation + codec lookahead (rtcscore's constant)
BUFFER_BASE_MS = 30.0  # jitter-buffer estimate = 30 + 2 x jitter (50 ms at the default jitter)
OPUS_BPL = 20.0  # packet-loss robustness with in-band FEC (rtcscore)
OTHER_BPL = 10.0  # without FEC (rtcscore); G.711/G.722 and unknown codecs
SAMPLE_TOLERANCE_MS = 1500.0  # a sample of another series counts for an interval ending this much later

VIDEO_REF_HEIGHT = 120
VIDEO_HEIGHT_SLOPE = 1.1
VIDEO_BASE = 1.5
VIDEO_UNKNOWN_RES_BASE = 4.0
VIDEO_EXPECTED_FPS = 30.0
VIDEO_FPS_COEF = 1.9  # rtcscore
VIDEO_FREEZE_COEF = 6.0  # per unit share of time frozen
VIDEO_LOSS_COEF = 0.15  # per percent lost

SETUP_FREE_MS = 1000.0
SETUP_SLOPE_MS = 4000.0
SETUP_MAX_PENALTY = 1.5
RELAY_UDP_PENALTY = 0.5
RELAY_TCP_PENALTY = 1.0  # tcp or tls relay
ICE_TCP_PENALTY = 0.5  # direct ICE-TCP
DROP_RECOVERED_PENALTY = 1.0
DROP_PENALTY = 2.0
RESTART_PENALTY = 0.5
RESTART_MAX_PENALTY = 1.5
CHURN_PENALTY = 0.25
CHURN_MAX_PENALTY = 1.0
RTT_FREE_MS = 150.0
RTT_SLOPE_MS = 150.0
RTT_MAX_PENALTY = 1.5

AUDIO_FULL_MOS = 4.3  # MOS counted as full marks in the experience score ("excellent", 4.3)
WEIGHTS = {"audio": 0.5, "video": 0.3, "connectivity": 0.2}
QUALITY_POINTS = 100 - OBSERVATIONS_MAX  # 60 points for quality, 40 for the absence of findings


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# --- audio ---------------------------------------------------------------------------------------


def r_to_mos(r: float) -> float:
    """ITU-T G.107 mapping of the transmission rating R to MOS (1-4.5), monotonic non-decreasing."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return _clamp(1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r), 1.0, 4.5)


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id of the simplified E-model (Cole & Rosenbluth): 0.024 d + 0.11 (d - 177.3) above 177.3 ms."""
    d = max(0.0, one_way_delay_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def loss_impairment(loss_pct: float, bpl: float = OPUS_BPL, ie: float = 0.0) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl), Ppl in percent (G.107 random loss)."""
    pl = max(0.0, loss_pct)
    return ie + (95 - ie) * pl / (pl + bpl)


def audio_mos(
    loss_pct: float = 0.0,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer_ms: float | None = None,
    bpl: float = OPUS_BPL,
) -> float:
    """MOS of one interval of audio from loss, RTT and jitter (or the measured jitter-buffer delay).

    One-way delay d = 20 + buffer + RTT/2, buffer = measured jitter-buffer delay, else 30 + 2 x jitter;
    R = 93.2 - Ie,eff(loss) - Id(d); MOS = G.107(R). An interval where every packet was lost scores 1.
    Non-increasing in loss, RTT, jitter and buffer.
    """
    if loss_pct >= 100:
        return 1.0
    rtt = rtt_ms if finite(rtt_ms) else DEFAULT_RTT_MS
    jitter = jitter_ms if finite(jitter_ms) else DEFAULT_JITTER_MS
    buffer = buffer_ms if finite(buffer_ms) else BUFFER_BASE_MS + 2 * max(0.0, jitter)  # type: ignore[operator]
    d = CODEC_DELAY_MS + max(0.0, buffer) + max(0.0, rtt) / 2  # type: ignore[operator]
    r = R0 - loss_impairment(loss_pct, bpl) - delay_impairment(d)
    return r_to_mos(r)


def _bpl(stream: StreamMetrics) -> float:
    codec = (stream.codec or "").lower()
    return OPUS_BPL if (not codec or "opus" in codec or "red" in codec) else OTHER_BPL


def value_at(series: Series, time: float) -> float | None:
    """The series value measured at `time` (latest sample not after it, within tolerance), else None."""
    if not series:
        return None
    i = bisect.bisect_right(series.times, time + 1e-6) - 1
    if i >= 0 and time - series.times[i] <= SAMPLE_TOLERANCE_MS:
        return series.values[i]
    return None


def _rtt_for(stream: StreamMetrics, pc: PcMetrics | None, time: float | None) -> float | None:
    candidates = [stream.rtt_ms] + ([pc.rtt_ms] if pc else [])
    if time is not None:
        for series in candidates:
            value = value_at(series, time)
            if value is not None:
                return value
    for series in candidates:
        avg = series_avg(series)
        if avg is not None:
            return avg
    return pc.rtt_mean_ms if pc is not None and finite(pc.rtt_mean_ms) else None


def has_media(stream: StreamMetrics) -> bool:
    """The stream carried media: packets > 0, bytes > 0, or some interval measured bitrate/frames."""
    return (
        (stream.packets or 0) > 0
        or (stream.bytes or 0) > 0
        or any(v > 0 for v in stream.bitrate_kbps.values)
        or any(v > 0 for v in stream.fps.values)
    )


def audio_stream_score(stream: StreamMetrics, pc: PcMetrics | None = None) -> tuple[float, int]:
    """(mean MOS over the stream's intervals, number of intervals); one whole-stream point if no series.

    Intervals are those of the loss series; jitter, RTT and jitter-buffer delay are the samples of the
    same interval (RTT of the stream, else of the connection's selected pair).
    """
    bpl = _bpl(stream)
    buffer_series = stream.jitter_buffer_delay_ms if stream.direction == "inbound" else Series()
    if stream.loss_pct_series:
        values = [
            audio_mos(
                loss,
                _rtt_for(stream, pc, t),
                value_at(stream.jitter_ms, t),
                value_at(buffer_series, t),
                bpl,
            )
            for t, loss in zip(stream.loss_pct_series.times, stream.loss_pct_series.values, strict=False)
        ]
        return sum(values) / len(values), len(values)
    loss = stream_loss_pct(stream) or 0.0
    mos = audio_mos(
        loss, _rtt_for(stream, pc, None), series_avg(stream.jitter_ms), series_avg(buffer_series), bpl
    )
    return mos, 1


def audio_score(metrics: CallMetrics) -> float | None:
    """Audio score 1-5: interval-weighted mean of the per-stream E-model MOS; None without audio media."""
    total, weight = 0.0, 0
    for stream in sorted(metrics.streams_of("audio"), key=lambda s: s.key):
        if not has_media(stream):
            continue
        mos, n = audio_stream_score(stream, metrics.pcs.get(stream.pc_id))
        total += mos * n
        weight += n
    return round(_clamp(total / weight, 1.0, 5.0), 2) if weight else None


# --- video ---------------------------------------------------------------------------------------


def video_mos(
    height: float | None,
    fps: float | None,
    freeze_share: float = 0.0,
    loss_pct: float = 0.0,
) -> float:
    """Video score 1-5 from resolution, frame rate, share of time frozen (0-1) and loss percent.

    base = 1.5 + 1.1 log2(height / 120) (4.0 when unknown); minus 1.9 ln(30 / fps) below 30 fps
    (rtcscore); minus 6 x freeze share; minus 0.15 per percent lost. Clamped to [1, 5].
    """
    if finite(height) and height > 0:  # type: ignore[operator]
        base = _clamp(VIDEO_BASE + VIDEO_HEIGHT_SLOPE * math.log2(height / VIDEO_REF_HEIGHT), 1.0, 5.0)  # type: ignore[operator]
    else:
        base = VIDEO_UNKNOWN_RES_BASE
    if finite(fps):
        if fps < 1:  # type: ignore[operator]
            return 1.0
        if fps < VIDEO_EXPECTED_FPS:  # type: ignore[operator]
            base -= VIDEO_FPS_COEF * math.log(VIDEO_EXPECTED_FPS / fps)  # type: ignore[operator]
    base -= VIDEO_FREEZE_COEF * _clamp(freeze_share, 0.0, 1.0)
    base -= VIDEO_LOSS_COEF * max(0.0, loss_pct)
    return _clamp(base, 1.0, 5.0)


def _freeze_share(stream: StreamMetrics) -> float:
    span = stream_duration_ms(stream)
    frozen = stream.total_freezes_duration_s
    if not span or not finite(frozen):
        return 0.0
    return _clamp(frozen * 1000 / span, 0.0, 1.0)  # type: ignore[operator]


def video_stream_score(stream: StreamMetrics) -> float:
    height = stream.frame_height or stream.max_frame_height
    return video_mos(height, series_avg(stream.fps), _freeze_share(stream), stream_loss_pct(stream) or 0.0)


def video_score(metrics: CallMetrics) -> float | None:
    """Video score 1-5: mean over video streams with media, weighted by their number of intervals.

    Outbound simulcast layers of one track count once, with their best layer (what good receivers got).
    """
    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for stream in sorted(metrics.streams_of("video"), key=lambda s: s.key):
        if not has_media(stream):
            continue
        if stream.direction == "outbound":
            key: tuple = ("out", stream.pc_id, stream.track_identifier or stream.ssrc or stream.stat_id)
        else:
            key = ("in", stream.key)
        weight = max(1, len(stream.fps.values), len(stream.bitrate_kbps.values))
        groups[key].append((video_stream_score(stream), weight))
    if not groups:
        return None
    total = weight_sum = 0.0
    for layers in groups.values():
        best, weight = max(layers)
        total += best * weight
        weight_sum += weight
    return round(_clamp(total / weight_sum, 1.0, 5.0), 2)


# --- connectivity --------------------------------------------------------------------------------


def pc_scorable(pc: PcMetrics) -> bool:
    """A connection gets a connectivity score when it produced a selected pair or its ICE ran to an end
    (connected or failed). Connections that never started ICE, or were abandoned while checking, do not."""
    return bool(pc.selected_pairs) or pc.reached_connected or pc.failed


def pc_connectivity(pc: PcMetrics) -> float:
    """Connectivity 1-5 of one connection: 1 when it never connected, else 5 minus penalties for setup
    time, relay/TCP/TLS path, drops, ICE restarts, churn and RTT (docs/rtcstats-scoring.md)."""
    if not pc.reached_connected:
        return 1.0
    score = 5.0
    setup = pc.connection_time_ms if finite(pc.connection_time_ms) else pc.ice_connection_time_ms
    if finite(setup):
        score -= _clamp((setup - SETUP_FREE_MS) / SETUP_SLOPE_MS, 0.0, SETUP_MAX_PENALTY)  # type: ignore[operator]
    score -= path_penalty(pc)
    drop = drop_after_connect(pc)
    if drop is not None:
        score -= DROP_RECOVERED_PENALTY if drop[1] else DROP_PENALTY
    score -= min(RESTART_MAX_PENALTY, RESTART_PENALTY * max(0, pc.ice_restarts))
    score -= min(CHURN_MAX_PENALTY, CHURN_PENALTY * churn_cycles(pc)[0])
    rtt = pc.rtt_mean_ms if finite(pc.rtt_mean_ms) else series_avg(pc.rtt_ms)
    if rtt is not None:
        score -= _clamp((rtt - RTT_FREE_MS) / RTT_SLOPE_MS, 0.0, RTT_MAX_PENALTY)
    return _clamp(score, 1.0, 5.0)


def path_penalty(pc: PcMetrics) -> float:
    """Penalty of the final selected pair(s), the worst one counting: TURN over TCP/TLS 1.0, TURN over
    UDP 0.5 (also when only the remote side is relayed), direct ICE-TCP 0.5, direct UDP 0."""
    pairs = list(getattr(pc, "final_selected_pairs", None) or []) or (
        [pc.final_pair] if pc.final_pair else []
    )
    return max((pair_penalty(p) for p in pairs), default=0.0)


def pair_penalty(pair: SelectedPair) -> float:
    if pair.local.type == "relay":
        return RELAY_TCP_PENALTY if relay_protocol(pair.local) in ("tcp", "tls") else RELAY_UDP_PENALTY
    if pair.remote.type == "relay":
        return RELAY_UDP_PENALTY
    if (pair.local.protocol or "").lower() == "tcp":
        return ICE_TCP_PENALTY
    return 0.0


def connectivity_score(metrics: CallMetrics) -> float | None:
    """Mean connectivity over the scorable connections; None when there is none."""
    values = [pc_connectivity(metrics.pcs[k]) for k in sorted(metrics.pcs) if pc_scorable(metrics.pcs[k])]
    return round(sum(values) / len(values), 2) if values else None


# --- observations and experience -----------------------------------------------------------------


def observations_score(observations: Iterable[dict]) -> int:
    """40 minus severity penalties, floor 0: per type, the most severe observation costs the full
    penalty (critical 16, high 8, medium 4, low 2, info 0) and every further one of that type half."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for o in observations:
        by_type[str(o.get("type"))].append(str(o.get("severity")))
    penalty = 0
    for severities in by_type.values():
        ordered = sorted(severities, key=lambda s: SEVERITY_RANK.get(s, len(SEVERITY_RANK)))
        penalty += SEVERITY_PENALTY.get(ordered[0], 0)
        penalty += sum(SEVERITY_PENALTY.get(s, 0) // 2 for s in ordered[1:])
    return max(0, OBSERVATIONS_MAX - penalty)


def normalised(name: str, value: float) -> float:
    """A 1-5 score mapped to 0-1; audio counts MOS >= 4.3 as full marks (the E-model tops out at 4.5)."""
    top = AUDIO_FULL_MOS if name == "audio" else 5.0
    return _clamp((value - 1) / (top - 1), 0.0, 1.0)


def experience_score(
    audio: float | None, video: float | None, connectivity: float | None, observations: int
) -> int:
    """0 without media; else 60 x weighted mean of the normalised scores (audio 0.5, video 0.3,
    connectivity 0.2, over those present) + the observations score (0-40), rounded."""
    if audio is None and video is None:
        return 0
    parts = {"audio": audio, "video": video, "connectivity": connectivity}
    present = {k: v for k, v in parts.items() if v is not None}
    weight = sum(WEIGHTS[k] for k in present)
    quality = sum(WEIGHTS[k] * normalised(k, v) for k, v in present.items()) / weight
    return int(round(_clamp(QUALITY_POINTS * quality + observations, 0, 100)))


def score(metrics: CallMetrics, observations: list[dict]) -> dict:
    """{experienceScore, audioScore, videoScore, connectivityScore, observationsScore} of a call."""
    audio = audio_score(metrics)
    video = video_score(metrics)
    connectivity = connectivity_score(metrics)
    obs = observations_score(observations)
    return {
        "experienceScore": experience_score(audio, video, connectivity, obs),
        "audioScore": audio,
        "videoScore": video,
        "connectivityScore": connectivity,
        "observationsScore": obs,
    }
