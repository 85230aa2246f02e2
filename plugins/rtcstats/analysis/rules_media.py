"""Observation rules about RTP streams: jitter, loss, playout, freezes, pauses, encoder/decoder, limits.

Each rule is a small function registered with its catalogue entry (see observations.rule). Thresholds:
docs/rtcstats-scoring.md, sources rtcstats-dumps.md 4.3.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.rtcstats.analysis.metrics_model import CallMetrics, StreamMetrics
from plugins.rtcstats.analysis.observations import (
    finite,
    first_time_above,
    fmt_num,
    indicators,
    make,
    rule,
    series_avg,
    series_max,
    sorted_streams,
    stream_duration_ms,
    stream_intervals,
    stream_label,
    stream_loss_pct,
    stream_source,
    stream_tags,
)

JITTER_MEDIUM_MS = 40
JITTER_HIGH_MS = 100
OPUS_LOSS_PCT = 4.0
G711_LOSS_PCT = 1.0
LOSS_HIGH_FACTOR = 2.5
VIDEO_LOSS_MEDIUM_PCT = 2.0
VIDEO_LOSS_HIGH_PCT = 5.0
MIN_LOSS_PACKETS = 100
NEGATIVE_LOST_BUG = -1_000_000
PLAYOUT_STALL_HIGH_SHARE = 0.2
CONCEALMENT_MEDIUM_PCT = 3.0
CONCEALMENT_HIGH_PCT = 10.0
PAUSE_S = 10.0
FREEZE_MEDIUM_PCT = 5.0
FREEZE_HIGH_PCT = 15.0
FREEZE_UNKNOWN_SPAN_S = 10.0
FRAMES_DROPPED_MEDIUM_PCT = 10.0
FRAMES_DROPPED_HIGH_PCT = 20.0
MIN_FRAMES = 100
SEND_DELAY_MS = 20.0
SEND_DELAY_MIN_SHARE = 0.10
QUALITY_LIMITATION_MEDIUM_PCT = 20.0
QUALITY_LIMITATION_HIGH_PCT = 50.0
DEFAULT_FPS = 30.0
CODEC_TIME_MEDIUM_RATIO = 1 / 3
CODEC_TIME_HIGH_RATIO = 2 / 3
JITTER_BUFFER_DELAY_MS = 500.0

# Codecs without loss concealment strong enough for the Opus threshold (rtcstats-dumps.md 4.3).
NARROW_CODECS = ("pcmu", "pcma", "g711", "g722")


def _codec_name(stream: StreamMetrics) -> str:
    codec = (stream.codec or "").lower()
    return codec.split("/", 1)[1] if "/" in codec else codec


def audio_loss_threshold(stream: StreamMetrics) -> float:
    """Loss percentage above which audio of this codec degrades: 1 % for G.711/G.722, else 4 % (Opus)."""
    return G711_LOSS_PCT if _codec_name(stream).startswith(NARROW_CODECS) else OPUS_LOSS_PCT


def _enough_packets(stream: StreamMetrics) -> bool:
    if stream.packets is None:
        return bool(stream.loss_pct_series)
    return stream.packets + max(stream.packets_lost or 0, 0) >= MIN_LOSS_PACKETS


def _first(series_time: float | None, stream: StreamMetrics) -> float | None:
    return series_time if series_time is not None else stream.first_seen_ms


# --- jitter --------------------------------------------------------------------------------------


def _jitter(direction: str, type: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for s in sorted_streams(metrics, direction=direction):
            avg = series_avg(s.jitter_ms)
            if avg is None or avg <= JITTER_MEDIUM_MS:
                continue
            yield make(
                type,
                "high" if avg > JITTER_HIGH_MS else "medium",
                source=stream_source(s),
                tags=stream_tags(s, "network"),
                first_seen=_first(first_time_above(s.jitter_ms, JITTER_MEDIUM_MS), s),
                averageInMs=avg,
                maxInMs=series_max(s.jitter_ms),
                durationInPercent=s.jitter_ms.share_above(JITTER_MEDIUM_MS) * 100,
                property="jitter",
                indicators=indicators(s.jitter_ms),
                meaning=f"Jitter on the {stream_label(s)} stream averaged {fmt_num(avg, 0)} ms (above "
                f"{JITTER_MEDIUM_MS} ms): packets arrive irregularly, adding delay and choppy playback.",
            )

    return check


_JITTER_ENTRY = dict(
    severities=("medium", "high"),
    threshold=f"stream-average jitter > {JITTER_MEDIUM_MS} ms (high above {JITTER_HIGH_MS} ms)",
    advice="Look for congested or wireless links; a wired connection or less concurrent traffic helps.",
    reason="Medium: the jitter buffer grows and adds delay; high above 100 ms where playout breaks up.",
)
high_jitter_in = rule(
    "highJitterIn",
    title="High incoming media jitter",
    category="streams",
    tags=("inbound", "audio", "video", "network"),
    meaning="Incoming packets arrived irregularly (high jitter), adding delay and choppy playback.",
    **_JITTER_ENTRY,  # type: ignore[arg-type]
)(_jitter("inbound", "highJitterIn"))
high_jitter_out = rule(
    "highJitterOut",
    title="High outgoing media jitter",
    category="streams",
    tags=("outbound", "audio", "video", "network"),
    meaning="Packets sent by this client reached the other side irregularly (high jitter reported back).",
    **_JITTER_ENTRY,  # type: ignore[arg-type]
)(_jitter("outbound", "highJitterOut"))


# --- loss ----------------------------------------------------------------------------------------


def _loss_obs(type: str, s: StreamMetrics, loss: float, threshold: float, severity: str, effect: str) -> dict:
    return make(
        type,
        severity,
        source=stream_source(s),
        tags=stream_tags(s, "network"),
        first_seen=_first(first_time_above(s.loss_pct_series, threshold), s),
        valueInPercent=loss,
        durationInPercent=s.loss_pct_series.share_above(threshold) * 100 if s.loss_pct_series else None,
        property="packetsLost",
        indicators=indicators(s.loss_pct_series),
        meaning=f"{fmt_num(loss, 2)} % of the {stream_label(s)} packets were lost (threshold "
        f"{fmt_num(threshold)} %{' for ' + s.codec if s.codec and s.kind == 'audio' else ''}): {effect}",
    )


def _audio_loss(direction: str, type: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for s in sorted_streams(metrics, "audio", direction):
            loss = stream_loss_pct(s)
            threshold = audio_loss_threshold(s)
            if loss is None or loss <= threshold or not _enough_packets(s):
                continue
            severity = "high" if loss > threshold * LOSS_HIGH_FACTOR else "medium"
            yield _loss_obs(type, s, loss, threshold, severity, "speech sounds robotic or cuts out.")

    return check


_AUDIO_LOSS_ENTRY = dict(
    severities=("medium", "high"),
    threshold=f"stream loss > {OPUS_LOSS_PCT:g} % (Opus and others) "
    f"or > {G711_LOSS_PCT:g} % (PCMU/PCMA/G.722); "
    f"high above {LOSS_HIGH_FACTOR:g}x the threshold; streams with < {MIN_LOSS_PACKETS} packets ignored",
    advice="Check the network path (Wi-Fi, congestion); Opus in-band FEC and RED help with moderate loss.",
    reason="Medium: audible artefacts; high when loss is far beyond what concealment can hide.",
)
high_audio_loss_in = rule(
    "highAudioLossIn",
    title="High incoming audio packet loss",
    category="streams",
    tags=("inbound", "audio", "network"),
    meaning="Many incoming audio packets were lost: the remote speech sounds robotic or cuts out.",
    **_AUDIO_LOSS_ENTRY,  # type: ignore[arg-type]
)(_audio_loss("inbound", "highAudioLossIn"))
high_audio_loss_out = rule(
    "highAudioLossOut",
    title="High outgoing audio packet loss",
    category="streams",
    tags=("outbound", "audio", "network"),
    meaning="Many audio packets sent by this client were lost: others hear this user robotic or cut.",
    **_AUDIO_LOSS_ENTRY,  # type: ignore[arg-type]
)(_audio_loss("outbound", "highAudioLossOut"))


def _video_loss(direction: str, type: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for s in sorted_streams(metrics, "video", direction):
            loss = stream_loss_pct(s)
            if loss is None or loss <= VIDEO_LOSS_MEDIUM_PCT or not _enough_packets(s):
                continue
            severity = "high" if loss > VIDEO_LOSS_HIGH_PCT else "medium"
            yield _loss_obs(
                type, s, loss, VIDEO_LOSS_MEDIUM_PCT, severity,
                "video becomes blocky, freezes or drops in resolution.",
            )  # fmt: skip

    return check


_VIDEO_LOSS_ENTRY = dict(
    severities=("medium", "high"),
    threshold=f"stream loss > {VIDEO_LOSS_MEDIUM_PCT:g} % (high above {VIDEO_LOSS_HIGH_PCT:g} %); "
    f"streams with < {MIN_LOSS_PACKETS} packets ignored",
    advice="Check the network path; lowering the sending resolution/bitrate reduces congestion loss.",
    reason="Medium from 2 % (noticeable per the KB bands), high above 5 % (very poor).",
)
high_video_loss_in = rule(
    "highVideoLossIn",
    title="High incoming video packet loss",
    category="streams",
    tags=("inbound", "video", "network"),
    meaning="Many incoming video packets were lost: remote video freezes, blurs or drops resolution.",
    **_VIDEO_LOSS_ENTRY,  # type: ignore[arg-type]
)(_video_loss("inbound", "highVideoLossIn"))
high_video_loss_out = rule(
    "highVideoLossOut",
    title="High outgoing video packet loss",
    category="streams",
    tags=("outbound", "video", "network"),
    meaning="Many video packets sent by this client were lost: others see this user's video degrade.",
    **_VIDEO_LOSS_ENTRY,  # type: ignore[arg-type]
)(_video_loss("outbound", "highVideoLossOut"))


@rule(
    "negativePacketsLost",
    title="Invalid packet loss values",
    category="streams",
    severities=("medium", "low"),
    tags=("inbound", "outbound", "audio", "video", "bug"),
    meaning="packetsLost was negative: the sender or a media server reports wrong RTCP counters, so loss "
    "figures for this stream cannot be trusted.",
    threshold=f"packetsLost < 0 at some point (low); below {NEGATIVE_LOST_BUG:,} (medium: a wrapped 24-bit "
    "counter or a server bug)",
    advice="Check the media server / remote stack that produces the RTCP receiver reports.",
    reason="A reporting bug, not a user-facing problem; medium when the value is absurd.",
)
def negative_packets_lost(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics):
        lowest = s.min_packets_lost if finite(s.min_packets_lost) else None
        if not s.negative_packets_lost and (lowest is None or lowest >= 0):
            continue
        absurd = lowest is not None and lowest < NEGATIVE_LOST_BUG
        yield make(
            "negativePacketsLost",
            "medium" if absurd else "low",
            source=stream_source(s),
            tags=stream_tags(s, "bug"),
            first_seen=s.first_seen_ms,
            valueInCount=lowest,
            property="packetsLost",
            meaning=f"packetsLost on the {stream_label(s)} stream went negative"
            + (f" (down to {lowest:,.0f})" if lowest is not None else "")
            + ": the loss figures of this stream are unreliable.",
        )


# --- audio playout -------------------------------------------------------------------------------


@rule(
    "noAudioPlayout",
    title="No audio samples played out",
    category="streams",
    severities=("medium", "high"),
    tags=("inbound", "audio"),
    meaning="Audio packets were received but not played out (jitterBufferEmittedCount stayed flat): "
    "the user could not hear the remote side during those moments.",
    threshold=f"intervals with packets received and jitterBufferEmittedCount flat > 0; high when >= "
    f"{PLAYOUT_STALL_HIGH_SHARE:.0%} of the stream's intervals",
    advice="Check the audio output device and the app's audio element (autoplay policy, muted element).",
    reason="The remote side was inaudible while packets arrived; "
    "high when it lasted a large part of the call.",
)
def no_audio_playout(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "audio", "inbound"):
        stalled = s.emitted_stalled_intervals
        if stalled <= 0:
            continue
        total = max(stream_intervals(s), stalled)
        share = stalled / total
        yield make(
            "noAudioPlayout",
            "high" if share >= PLAYOUT_STALL_HIGH_SHARE else "medium",
            source=stream_source(s),
            tags=("inbound", "audio"),
            first_seen=s.first_seen_ms,
            valueInCount=stalled,
            durationInPercent=share * 100,
            property="jitterBufferEmittedCount",
            meaning=f"In {stalled} of {total} intervals incoming audio packets arrived but nothing was "
            "played out: the user could not hear the remote side then.",
        )


@rule(
    "audioConcealment",
    title="Audio interruptions",
    category="streams",
    severities=("medium", "high"),
    tags=("inbound", "audio", "network"),
    meaning="A noticeable part of the received audio had to be synthesised (concealed) because samples "
    "were missing: the user heard glitches and gaps.",
    threshold="(concealedSamples - silentConcealedSamples) / totalSamplesReceived "
    f"> {CONCEALMENT_MEDIUM_PCT:g} % (high above {CONCEALMENT_HIGH_PCT:g} %); "
    "legacy goog stats: mean googSpeechExpandRate (else googExpandRate), samples whose audioOutputLevel "
    "shows silence (<= 327 of 32767) counting 0",
    advice="Usually loss or jitter on the path; see the loss and jitter findings of the same stream.",
    reason="Concealment above 3 % is audible (ObserveRTC default); above 10 % speech is hard to follow.",
)
def audio_concealment(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "audio", "inbound"):
        pct = s.concealed_pct
        if not finite(pct) or pct <= CONCEALMENT_MEDIUM_PCT:  # type: ignore[operator]
            continue
        yield make(
            "audioConcealment",
            "high" if pct > CONCEALMENT_HIGH_PCT else "medium",  # type: ignore[operator]
            source=stream_source(s),
            tags=("inbound", "audio", "network"),
            first_seen=s.first_seen_ms,
            valueInPercent=pct,
            property="concealedSamples",
            meaning=f"{fmt_num(pct, 1)} % of the incoming audio was concealed (synthesised to hide "  # type: ignore[arg-type]
            "missing samples): the user heard glitches and gaps.",
        )


@rule(
    "highJitterBufferDelay",
    title="High jitter buffer delay",
    category="streams",
    severities=("medium",),
    tags=("inbound", "audio", "video", "network"),
    meaning="Received media waited long in the jitter buffer before playout, "
    "adding delay to the conversation.",
    threshold=f"average jitterBufferDelay / jitterBufferEmittedCount > {JITTER_BUFFER_DELAY_MS:g} ms",
    advice="Caused by high jitter or bursts on the path; see jitter findings; check audio/video sync.",
    reason="Medium: conversation delay and lip-sync issues, but media flows.",
)
def high_jitter_buffer_delay(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, direction="inbound"):
        avg = series_avg(s.jitter_buffer_delay_ms)
        if avg is None or avg <= JITTER_BUFFER_DELAY_MS:
            continue
        yield make(
            "highJitterBufferDelay",
            "medium",
            source=stream_source(s),
            tags=stream_tags(s, "network"),
            first_seen=_first(first_time_above(s.jitter_buffer_delay_ms, JITTER_BUFFER_DELAY_MS), s),
            averageInMs=avg,
            maxInMs=series_max(s.jitter_buffer_delay_ms),
            property="jitterBufferDelay",
            indicators=indicators(s.jitter_buffer_delay_ms),
            meaning=f"Incoming {s.kind} waited {fmt_num(avg, 0)} ms on average in the jitter buffer "
            f"(over {JITTER_BUFFER_DELAY_MS:g} ms), adding delay to the conversation.",
        )


# --- video playout -------------------------------------------------------------------------------


@rule(
    "videoPaused",
    title="High pause duration",
    category="streams",
    severities=("medium",),
    tags=("inbound", "video", "cpu", "network"),
    meaning="Incoming video was paused (no frames for 5 s or more) for a long time.",
    threshold=f"totalPausesDuration > {PAUSE_S:g} s",
    advice="Check whether the sender muted video, lacked bandwidth/CPU, or the SFU stopped forwarding it.",
    reason="Medium: may be intentional (sender turned the camera off), so not higher.",
)
def video_paused(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "video", "inbound"):
        paused = s.total_pauses_duration_s
        if not finite(paused) or paused <= PAUSE_S:  # type: ignore[operator]
            continue
        span = stream_duration_ms(s)
        yield make(
            "videoPaused",
            "medium",
            source=stream_source(s),
            tags=("inbound", "video", "network"),
            first_seen=s.first_seen_ms,
            durationInSeconds=paused,
            durationInPercent=paused * 1000 / span * 100 if span else None,  # type: ignore[operator]
            valueInCount=s.pause_count,
            property="totalPausesDuration",
            meaning=f"Incoming video was paused for {fmt_num(paused, 1)} s in total"  # type: ignore[arg-type]
            + (f" over {s.pause_count} pause(s)" if s.pause_count else "")
            + ".",
        )


@rule(
    "highFreezeDuration",
    title="High freeze duration",
    category="streams",
    severities=("medium", "high"),
    tags=("inbound", "video", "network", "cpu"),
    meaning="Incoming video froze for a noticeable share of the time.",
    threshold=f"totalFreezesDuration > {FREEZE_MEDIUM_PCT:g} % of the stream's active time (high above "
    f"{FREEZE_HIGH_PCT:g} %); > {FREEZE_UNKNOWN_SPAN_S:g} s when the active time is unknown",
    advice="Usually loss, bandwidth or decoder CPU; see the loss, framesDropped and decode-time findings.",
    reason="Freezes are the most visible video problem; high when video was frozen often.",
)
def high_freeze_duration(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "video", "inbound"):
        frozen = s.total_freezes_duration_s
        if not finite(frozen) or frozen <= 0:  # type: ignore[operator]
            continue
        span = stream_duration_ms(s)
        share = frozen * 1000 / span * 100 if span else None  # type: ignore[operator]
        if share is None:
            if frozen <= FREEZE_UNKNOWN_SPAN_S:  # type: ignore[operator]
                continue
            severity = "medium"
        elif share <= FREEZE_MEDIUM_PCT:
            continue
        else:
            severity = "high" if share > FREEZE_HIGH_PCT else "medium"
        yield make(
            "highFreezeDuration",
            severity,
            source=stream_source(s),
            tags=("inbound", "video", "network"),
            first_seen=s.first_seen_ms,
            durationInSeconds=frozen,
            durationInPercent=share,
            valueInCount=s.freeze_count,
            property="totalFreezesDuration",
            meaning=f"Incoming video froze for {fmt_num(frozen, 1)} s"  # type: ignore[arg-type]
            + (f" ({fmt_num(share, 1)} % of the time)" if share is not None else "")
            + (f" in {s.freeze_count} freeze(s)" if s.freeze_count else "")
            + ".",
        )


@rule(
    "framesDropped",
    title="Frames dropped",
    category="streams",
    severities=("medium", "high"),
    tags=("inbound", "video", "cpu"),
    meaning="Many received video frames were dropped before display, usually because the device could "
    "not decode them in time.",
    threshold="framesDropped / (framesDecoded + framesDropped) "
    f"> {FRAMES_DROPPED_MEDIUM_PCT:g} % (high above "
    f"{FRAMES_DROPPED_HIGH_PCT:g} %), at least {MIN_FRAMES} frames",
    advice="Check the receiver's CPU load and hardware decoding; receive a lower resolution.",
    reason="Thresholds of the ObserveRTC decoder detector (0.1) and score calculator (0.2).",
)
def frames_dropped(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "video", "inbound"):
        dropped, decoded = s.frames_dropped, s.frames_decoded
        if dropped is None or decoded is None or dropped + decoded < MIN_FRAMES:
            continue
        pct = dropped / (dropped + decoded) * 100
        if pct <= FRAMES_DROPPED_MEDIUM_PCT:
            continue
        yield make(
            "framesDropped",
            "high" if pct > FRAMES_DROPPED_HIGH_PCT else "medium",
            source=stream_source(s),
            tags=("inbound", "video", "cpu"),
            first_seen=s.first_seen_ms,
            valueInPercent=pct,
            valueInCount=dropped,
            property="framesDropped",
            meaning=f"{fmt_num(pct, 1)} % of the incoming video frames ({dropped}) were dropped before "
            "display: video looked jerky.",
        )


# --- sending -------------------------------------------------------------------------------------


@rule(
    "delayedThroughput",
    title="Delays on sending media",
    category="streams",
    severities=("medium", "low"),
    tags=("outbound", "audio", "video", "network"),
    meaning="Outgoing packets waited in the sender's pacer before leaving: the uplink is congested.",
    threshold=f"packet send delay (ΔtotalPacketSendDelay/ΔpacketsSent) > {SEND_DELAY_MS:g} ms in >= "
    f"{SEND_DELAY_MIN_SHARE:.0%} of the intervals; medium when the stream average also exceeds it",
    advice="Check the uplink bandwidth and competing uploads; lower the sending bitrate.",
    reason="Adds delay for everyone receiving this user; medium when it is the normal state of the stream.",
)
def delayed_throughput(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, direction="outbound"):
        series = s.packet_send_delay_ms
        if not series or series.share_above(SEND_DELAY_MS) < SEND_DELAY_MIN_SHARE:
            continue
        avg = series_avg(series)
        share = series.share_above(SEND_DELAY_MS) * 100
        yield make(
            "delayedThroughput",
            "medium" if avg is not None and avg > SEND_DELAY_MS else "low",
            source=stream_source(s),
            tags=stream_tags(s, "network"),
            first_seen=_first(first_time_above(series, SEND_DELAY_MS), s),
            averageInMs=avg,
            maxInMs=series_max(series),
            durationInPercent=share,
            property="totalPacketSendDelay",
            indicators=indicators(series),
            meaning=f"Outgoing {s.kind} packets waited more than {SEND_DELAY_MS:g} ms before being sent in "
            f"{fmt_num(share, 0)} % of the intervals: the uplink is congested.",
        )


def _quality_limitation(reason: str, type: str, extra_tag: str, effect: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for s in sorted_streams(metrics, "video", "outbound"):
            pct = (s.quality_limitation_pct or {}).get(reason)
            if not finite(pct) or pct <= QUALITY_LIMITATION_MEDIUM_PCT:  # type: ignore[operator]
                continue
            yield make(
                type,
                "high" if pct > QUALITY_LIMITATION_HIGH_PCT else "medium",  # type: ignore[operator]
                source=stream_source(s),
                tags=("outbound", "video", extra_tag),
                first_seen=s.first_seen_ms,
                valueInPercent=pct,
                durationInPercent=pct,
                valueInCount=s.quality_limitation_resolution_changes,
                property="qualityLimitationDurations",
                meaning=f"The outgoing video was limited by {reason} "
                f"{fmt_num(pct, 0)} % of the time: {effect}",  # type: ignore[arg-type]
            )

    return check


_LIMITATION_THRESHOLD = (
    f"> {QUALITY_LIMITATION_MEDIUM_PCT:g} % of the stream's time "
    f"(high above {QUALITY_LIMITATION_HIGH_PCT:g} %)"
)
quality_limitation_cpu = rule(
    "qualityLimitationCpu",
    title="High CPU limitation",
    category="streams",
    severities=("medium", "high"),
    tags=("outbound", "video", "cpu"),
    meaning="The encoder lowered the outgoing video quality because the device's CPU was overloaded.",
    threshold="qualityLimitationDurations.cpu " + _LIMITATION_THRESHOLD,
    advice="Close other applications, use hardware encoding, or send a lower resolution/frame rate.",
    reason="qualityLimitation 'none' below 80 % is significant (KB); 20 % of time limited is our onset.",
)(_quality_limitation("cpu", "qualityLimitationCpu", "cpu", "others saw lower resolution or frame rate."))
quality_limitation_bandwidth = rule(
    "qualityLimitationBandwidth",
    title="High bandwidth limitation",
    category="streams",
    severities=("medium", "high"),
    tags=("outbound", "video", "network"),
    meaning="The encoder lowered the outgoing video quality because the estimated bandwidth was too low.",
    threshold="qualityLimitationDurations.bandwidth " + _LIMITATION_THRESHOLD,
    advice="Check the uplink; reduce other uploads or the number of simulcast layers.",
    reason="qualityLimitation 'none' below 80 % is significant (KB); 20 % of time limited is our onset.",
)(
    _quality_limitation(
        "bandwidth", "qualityLimitationBandwidth", "network", "others saw lower resolution or frame rate."
    )
)


def _codec_time(direction: str, type: str, attr: str, verb: str):
    def check(metrics: CallMetrics) -> Iterator[dict]:
        for s in sorted_streams(metrics, "video", direction):
            per_frame = getattr(s, attr)
            if not finite(per_frame):
                continue
            fps = series_avg(s.fps)
            if s.screenshare and fps is not None:
                # a screen share runs at a few fps by design: its frame budget is that long (at most 1 s),
                # not the 33 ms of a camera's 30 fps
                fps = max(fps, 1.0)
            fps = fps if fps is not None and fps >= 1 else DEFAULT_FPS
            budget = 1000 / fps
            ratio = per_frame / budget
            if ratio <= CODEC_TIME_MEDIUM_RATIO:
                continue
            yield make(
                type,
                "high" if ratio > CODEC_TIME_HIGH_RATIO else "medium",
                source=stream_source(s),
                tags=(direction, "video", "cpu"),
                first_seen=s.first_seen_ms,
                averageInMs=per_frame,
                valueInPercent=ratio * 100,
                property="totalEncodeTime" if direction == "outbound" else "totalDecodeTime",
                meaning=f"{verb} a video frame took {fmt_num(per_frame, 1)} ms on average, "
                f"{fmt_num(ratio * 100, 0)} % of the {fmt_num(budget, 1)} ms between frames at "
                f"{fmt_num(fps, 0)} fps: the device's CPU is struggling.",
            )

    return check


_CODEC_TIME_THRESHOLD = (
    "average time per frame > 1/3 of the frame interval (1000/fps; 30 fps when unknown), high above 2/3"
)
high_encode_time = rule(
    "highEncodeTime",
    title="High encode time",
    category="streams",
    severities=("medium", "high"),
    tags=("outbound", "video", "cpu"),
    meaning="Encoding each outgoing video frame took a large part of the time between frames: CPU strain.",
    threshold="totalEncodeTime/framesEncoded: " + _CODEC_TIME_THRESHOLD,
    advice="Use hardware encoding, fewer simulcast layers, or a lower resolution.",
    reason="testRTC warns above 1/3 of the frame time; above 2/3 frames start being skipped.",
)(_codec_time("outbound", "highEncodeTime", "avg_encode_time_ms", "Encoding"))
high_decode_time = rule(
    "highDecodeTime",
    title="High decode time",
    category="streams",
    severities=("medium", "high"),
    tags=("inbound", "video", "cpu"),
    meaning="Decoding each incoming video frame took a large part of the time between frames: CPU strain.",
    threshold="totalDecodeTime/framesDecoded: " + _CODEC_TIME_THRESHOLD,
    advice="Check hardware decoding support for the codec; receive a lower resolution.",
    reason="testRTC warns above 1/3 of the frame time; above 2/3 frames start being dropped.",
)(_codec_time("inbound", "highDecodeTime", "avg_decode_time_ms", "Decoding"))


# --- unused / silent -----------------------------------------------------------------------------


@rule(
    "unusedStream",
    title="Unused stream",
    category="streams",
    severities=("low",),
    tags=("outbound", "audio", "video", "behavior"),
    meaning="A negotiated outgoing stream sent nothing while the connection was up.",
    threshold="outbound packets == 0 (and bytes 0) on a connection that reached 'connected', when no other "
    "outbound stream of the same kind on that connection sent media (inactive simulcast layers and "
    "receive-only slots of an SFU are not reported)",
    advice="Check that the track was attached and not replaced by null; remove unused transceivers.",
    reason="Low: often intentional (muted), but wastes a negotiation slot or hides a missing track.",
)
def unused_stream(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, direction="outbound"):
        pc = metrics.pcs.get(s.pc_id)
        if pc is None or not pc.reached_connected or s.packets is None or s.packets > 0 or (s.bytes or 0) > 0:
            continue
        siblings = [
            o for o in sorted_streams(metrics, s.kind, "outbound") if o.pc_id == s.pc_id and o is not s
        ]
        if any((o.packets or 0) > 0 or (o.bytes or 0) > 0 for o in siblings):
            continue
        yield make(
            "unusedStream",
            "low",
            source=stream_source(s),
            tags=stream_tags(s, "behavior"),
            first_seen=s.first_seen_ms,
            valueInCount=0,
            property="packetsSent",
            meaning=f"The {stream_label(s)} stream was negotiated but sent no packets.",
        )


@rule(
    "constantMicrophoneVolume",
    title="Constant microphone volume",
    category="streams",
    severities=("medium",),
    tags=("peripheral", "audio", "outbound"),
    meaning="The microphone's audio level never changed while sending: the device delivers silence or "
    "a constant signal (hardware mute, broken or wrong device).",
    threshold="outbound audio sent packets and its audioLevel never changed",
    advice="Ask the user to check the microphone selection, hardware mute switch and OS input level.",
    reason="Medium: the others probably could not hear this user.",
)
def constant_microphone_volume(metrics: CallMetrics) -> Iterator[dict]:
    for s in sorted_streams(metrics, "audio", "outbound"):
        if s.audio_level_flat is True and (s.packets or 0) > 0:
            yield make(
                "constantMicrophoneVolume",
                "medium",
                source=stream_source(s),
                tags=("peripheral", "audio", "outbound"),
                first_seen=s.first_seen_ms,
                property="audioLevel",
            )
