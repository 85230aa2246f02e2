"""Scores of a call: experience (0-100), audio, video and connectivity (1-5 or None), observations (0-40).

No public formula exists for these scores (rtcstats-dumps.md 4.5), so they are ours, built from the
published building blocks of 4.4: the ITU-T G.107 E-model for audio (mos.py, shared with the per-interval
`mos` series), rtcscore's frame-rate term for video, and subtractive penalties (client-monitor style) for
connectivity. Every formula and constant is explained in docs/rtcstats-scoring.md. All functions are pure.

Directions: more loss, jitter, RTT, freezes, relaying, failures or severe observations never raise a score.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from plugins.rtcstats.analysis.metrics_model import (
    CallMetrics,
    PcMetrics,
    SelectedPair,
    Series,
    StreamMetrics,
)
from plugins.rtcstats.analysis.mos import audio_mos, audio_mos_list, bpl_for
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

SAMPLE_TOLERANCE_MS = 1500.0  # a sample of another series counts for an interval ending this much later

VIDEO_REF_HEIGHT = 120
VIDEO_HEIGHT_SLOPE = 1.1
VIDEO_BASE = 1.5
VIDEO_UNKNOWN_RES_BASE = 4.0
VIDEO_EXPECTED_FPS = 30.0  # full marks for frame rate; no gain counted above it
VIDEO_FPS_COEF = 1.9  # rtcscore: frames the call lost against the source's rate
VIDEO_SOURCE_FPS_COEF = 0.6  # a source that is itself slow (see docs 3.2): 10 fps costs 0.66
VIDEO_SUSTAINED_PCT = 95  # percentile of a stream's own interval frame rates standing for its source rate
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


def _bpl(stream: StreamMetrics) -> float:
    return bpl_for(stream.codec, stream.audio_fec is not False)


def value_at(series: Series, time: float) -> float | None:
    """The series value measured at `time` (latest sample not after it, within tolerance), else None."""
    if not series:
        return None
    i = bisect.bisect_right(series.times, time + 1e-6) - 1
    if i >= 0 and time - series.times[i] <= SAMPLE_TOLERANCE_MS:
        return series.values[i]
    return None


def values_at(series: Series, times: list[float]) -> np.ndarray:
    """value_at(series, t) for each t as floats, NaN for None (a long call has thousands of intervals):
    searchsorted is bisect_right for all of them at once (series times are in order)."""
    at = np.asarray(times, dtype=float)
    if not series:
        return np.full(len(at), np.nan)
    keys = np.array(series.times, dtype=float)
    i = np.searchsorted(keys, at + 1e-6, side="right") - 1
    found = np.maximum(i, 0)
    ok = (i >= 0) & (at - keys[found] <= SAMPLE_TOLERANCE_MS)
    return np.where(ok, np.array(series.values, dtype=float)[found], np.nan)


def values_at_list(series: Series, times: list[float]) -> list[float]:
    """values_at(series, times).tolist() by one walk over the keys (_walk_values_at), which is
    searchsorted(side="right") on float times in order without NaN (checked at C speed; any other
    series takes values_at), with the same float arithmetic. Whatever the length: compiled, the walk
    costs less per interval than numpy's conversions to and from arrays (an audio stream has tens of
    intervals, where numpy's fixed cost per call is most of the work; a long call, thousands)."""
    keys = series.times
    if not keys:
        return [_NAN] * len(times)
    if not (_finite_floats(keys, True) and _finite_floats(times, False)):
        return values_at(series, times).tolist()
    return _walk_values_at(keys, series.values, times)


def _finite_floats(items: list, ordered: bool) -> bool:
    """Every item a float (not a subclass), finite (x - x is 0.0, not NaN), and in order when `ordered`:
    where the walk below is searchsorted. One pass, on C doubles compiled (scores.pxd)."""
    previous = -_INF
    for item in items:
        if type(item) is not float:
            return False
        x = item
        if not x - x == 0.0:
            return False
        if ordered:
            if x < previous:
                return False
            previous = x
    return True


def _walk_values_at(keys: list[float], values: list, times: list[float]) -> list[float]:
    """values_at_list's loop: `found` counts the keys <= time + 1e-6, which is bisect_right(keys,
    time + 1e-6), carried on from one time to the next while the times grow (the intervals of a
    series are in order: one walk over the keys instead of a bisect per time), counted again from 0
    when a time goes back. Compiled, keys and times are read as C doubles (scores.pxd)."""
    out: list[float] = []
    append = out.append
    count = len(keys)
    found = 0
    last = 0.0  # keys[found - 1] when found
    tolerance = SAMPLE_TOLERANCE_MS
    for time in times:
        bound = time + 1e-6
        if found and last > bound:
            found = 0
        while found < count:
            key = keys[found]
            if key > bound:
                break
            last = key
            found += 1
        if found and time - last <= tolerance:
            append(float(values[found - 1]))
        else:
            append(_NAN)
    return out


_NAN = math.nan
_INF = math.inf


def _rtts_for(stream: StreamMetrics, pc: PcMetrics | None, times: list[float]) -> list[float]:
    """_rtt_for(stream, pc, t) for each t, NaN for None (x != x: x is NaN)."""
    rtts = values_at_list(stream.rtt_ms, times)
    if pc is not None:
        rtts = [
            pc_rtt if rtt != rtt else rtt
            for rtt, pc_rtt in zip(rtts, values_at_list(pc.rtt_ms, times), strict=True)
        ]
    if any(rtt != rtt for rtt in rtts):
        fallback = _rtt_for(stream, pc, None)
        fill = _NAN if fallback is None else float(fallback)
        rtts = [fill if rtt != rtt else rtt for rtt in rtts]
    return rtts


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
    """The stream carried media: payload bytes > 0 (packets only when the report has no byte counter),
    or some interval measured bitrate/frames. Padding-only probe streams (jitsi) count packets but no
    payload bytes; like response.carried_media they are not media anyone heard or saw."""
    if stream.bytes is not None and stream.bytes > 0:
        return True
    if stream.bytes is None and (stream.packets or 0) > 0:
        return True
    return any(v > 0 for v in stream.bitrate_kbps.values) or any(v > 0 for v in stream.fps.values)


def audio_stream_score(stream: StreamMetrics, pc: PcMetrics | None = None) -> tuple[float, int]:
    """(mean MOS over the stream's intervals, number of intervals); one whole-stream point if no series.

    Intervals are those of the loss series; jitter, RTT and jitter-buffer delay are the samples of the
    same interval (RTT of the stream, else of the connection's selected pair).
    """
    bpl = _bpl(stream)
    buffer_series = stream.jitter_buffer_delay_ms if stream.direction == "inbound" else Series()
    if stream.loss_pct_series:
        times = stream.loss_pct_series.times
        values = audio_mos_list(
            stream.loss_pct_series.values,
            _rtts_for(stream, pc, times),
            values_at_list(stream.jitter_ms, times),
            values_at_list(buffer_series, times),
            bpl,
        )
        return sum(values) / len(values), len(values)  # summed in order, as Python floats
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
    source_fps: float | None = None,
) -> float:
    """Video score 1-5 from resolution, frame rate, share of time frozen (0-1) and loss percent.

    base = 1.5 + 1.1 log2(height / 120) (4.0 when unknown); minus 1.9 ln(ref / fps) for frames lost
    against the source's rate ref = min(30, source_fps) (rtcscore's term, whose expected frame rate is
    the source's), else 30; minus 0.6 ln(30 / ref) for a source slower than 30 fps; minus 6 x freeze
    share; minus 0.15 per percent lost. Clamped to [1, 5]. Non-increasing in a lower fps at any ref.
    """
    if finite(height) and height > 0:  # type: ignore[operator]
        base = _clamp(VIDEO_BASE + VIDEO_HEIGHT_SLOPE * math.log2(height / VIDEO_REF_HEIGHT), 1.0, 5.0)  # type: ignore[operator]
    else:
        base = VIDEO_UNKNOWN_RES_BASE
    if finite(fps):
        if fps < 1:  # type: ignore[operator]
            return 1.0
        ref = VIDEO_EXPECTED_FPS
        if finite(source_fps) and source_fps > 0:  # type: ignore[operator]
            ref = _clamp(source_fps, 1.0, VIDEO_EXPECTED_FPS)  # type: ignore[arg-type]
        if fps < ref:  # type: ignore[operator]
            base -= VIDEO_FPS_COEF * math.log(ref / fps)  # type: ignore[operator]
        base -= VIDEO_SOURCE_FPS_COEF * math.log(VIDEO_EXPECTED_FPS / ref)
    base -= VIDEO_FREEZE_COEF * _clamp(freeze_share, 0.0, 1.0)
    base -= VIDEO_LOSS_COEF * max(0.0, loss_pct)
    return _clamp(base, 1.0, 5.0)


def _freeze_share(stream: StreamMetrics) -> float:
    span = stream_duration_ms(stream)
    frozen = stream.total_freezes_duration_s
    if not span or not finite(frozen):
        return 0.0
    return _clamp(frozen * 1000 / span, 0.0, 1.0)  # type: ignore[operator]


def source_fps(stream: StreamMetrics) -> float | None:
    """The frame rate the stream's source produced: the measured capture rate (outbound media source),
    else the rate the stream itself sustained (95th percentile of its intervals). A receiver cannot see
    the sender's camera, and a webcam that delivers 10 fps in dim light is not a loss of the call."""
    if finite(stream.source_fps) and stream.source_fps > 0:  # type: ignore[operator]
        return stream.source_fps
    values = sorted(stream.fps.values)
    if not values:
        return None
    return values[max(0, math.ceil(VIDEO_SUSTAINED_PCT / 100 * len(values)) - 1)]


def shows_frames(stream: StreamMetrics) -> bool:
    """False for a video stream whose frame counter never moved and that never had a frame size: its
    bytes were padding or probes (jitsi's receive-only 'mixedlabelvideo0' slot), not a picture."""
    if stream.frame_height or stream.max_frame_height or stream.frames_decoded:
        return True
    return not stream.fps or any(v > 0 for v in stream.fps.values)


def video_stream_score(stream: StreamMetrics) -> float:
    """video_mos of one stream. A screen share is judged on freezes and loss only: its resolution is the
    screen's and its frame rate follows the content (1-5 fps of a still slide is by design)."""
    freeze, loss = _freeze_share(stream), stream_loss_pct(stream) or 0.0
    if stream.screenshare:
        return video_mos(None, None, freeze, loss)
    height = stream.frame_height or stream.max_frame_height
    return video_mos(height, series_avg(stream.fps), freeze, loss, source_fps(stream))


def video_score(metrics: CallMetrics) -> float | None:
    """Video score 1-5: mean over video streams with media, weighted by their number of intervals.

    Outbound simulcast layers of one track count once, with their best layer (what good receivers got).
    """
    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for stream in sorted(metrics.streams_of("video"), key=lambda s: s.key):
        if not has_media(stream) or not shows_frames(stream):
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
