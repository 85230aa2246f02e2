"""Scores on hand-built CallMetrics: bounds, None/0 rules, monotonicity, observationsScore arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plugins.rtcstats.analysis.metrics_model import CallMetrics, ClientMetrics, Series
from plugins.rtcstats.analysis.mos import audio_mos, r_to_mos
from plugins.rtcstats.analysis.scores import (
    _finite_floats,
    audio_score,
    connectivity_score,
    experience_score,
    has_media,
    observations_score,
    pc_connectivity,
    score,
    shows_frames,
    values_at,
    values_at_list,
    video_mos,
    video_score,
    video_stream_score,
)
from tests.plugins.rtcstats.test_observations import T0, cand, failed_pc, pair, pc, series, stream
from tests.plugins.rtcstats.test_observations import call as make_call


def audio_call(loss=0.0, jitter=10.0, rtt=50.0, codec="audio/opus"):
    s = stream(
        "audio",
        "inbound",
        codec=codec,
        loss_pct_series=series([loss] * 5),
        jitter_ms=series([jitter] * 5),
    )
    return make_call(pc(rtt_ms=series([rtt] * 5)), s)


def video_call(height=720, fps=30.0, freeze_s=0.0, loss=0.0):
    s = stream(
        "video",
        "inbound",
        frame_height=height,
        fps=series([fps] * 5),
        total_freezes_duration_s=freeze_s,
        loss_pct=loss,
    )
    return make_call(pc(), s)


# --- audio ---------------------------------------------------------------------------------------


def test_r_to_mos_bounds_and_monotonic():
    assert r_to_mos(-10) == 1.0
    assert r_to_mos(0) == 1.0
    assert r_to_mos(100) == 4.5
    assert r_to_mos(150) == 4.5
    values = [r_to_mos(r / 2) for r in range(0, 201)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert all(1.0 <= v <= 4.5 for v in values)
    assert r_to_mos(93.2) == pytest.approx(4.41, abs=0.01)


def test_audio_mos_reference_points():
    # Clean Opus call at the defaults (RTT 50 ms, jitter 10 ms): R = 93.2 - 0 - Id(95 ms) = 90.92.
    assert audio_mos(0.0, 50, 10) == pytest.approx(4.36, abs=0.01)
    # 4 % loss with Opus' Bpl 20: Ie,eff = 95 * 4 / 24 = 15.83.
    assert audio_mos(4.0, 50, 10) == pytest.approx(3.83, abs=0.01)
    assert audio_mos(100.0, 50, 10) == 1.0


@pytest.mark.parametrize("arg", ["loss_pct", "rtt_ms", "jitter_ms", "buffer_ms"])
def test_audio_mos_never_rises_with_impairments(arg):
    base = {"loss_pct": 0.0, "rtt_ms": 50.0, "jitter_ms": 10.0, "buffer_ms": None}
    steps = [0, 1, 2, 5, 10, 30, 60, 120, 250, 500, 1000, 3000]
    values = []
    for x in steps:
        kwargs = dict(base)
        kwargs[arg] = float(x) if arg != "loss_pct" else min(100.0, float(x))
        values.append(audio_mos(**kwargs))
    assert all(b <= a for a, b in zip(values, values[1:], strict=False)), values
    assert values[-1] < values[0]


def test_audio_score_more_loss_lower_score():
    scores = [audio_score(audio_call(loss=x)) for x in (0, 1, 3, 5, 10, 20, 50)]
    assert all(b < a for a, b in zip(scores, scores[1:], strict=False)), scores
    assert all(1 <= s <= 5 for s in scores)


def test_audio_score_more_jitter_and_rtt_lower_score():
    jitter = [audio_score(audio_call(jitter=x)) for x in (5, 40, 100, 200)]
    rtt = [audio_score(audio_call(rtt=x)) for x in (20, 300, 600, 1200)]
    assert all(b < a for a, b in zip(jitter, jitter[1:], strict=False)), jitter
    assert all(b < a for a, b in zip(rtt, rtt[1:], strict=False)), rtt


def test_g711_suffers_more_from_the_same_loss_than_opus():
    assert audio_score(audio_call(loss=3, codec="audio/PCMU")) < audio_score(audio_call(loss=3))


def test_audio_score_none_without_audio_media():
    assert audio_score(make_call(pc())) is None
    assert audio_score(make_call(stream("video"))) is None
    assert audio_score(make_call(stream("audio", packets=0, bytes=0))) is None


def test_audio_score_whole_stream_point_without_series():
    m = make_call(pc(rtt_mean_ms=50.0), stream("audio", "outbound", loss_pct=4.0))
    assert audio_score(m) == pytest.approx(3.83, abs=0.01)


def test_audio_score_weights_streams_by_intervals():
    good = stream("audio", "inbound", stat_id="A", loss_pct_series=series([0.0] * 9))
    bad = stream("audio", "inbound", stat_id="B", loss_pct_series=series([20.0]))
    m = make_call(pc(), good, bad)
    clean, lossy = audio_mos(0.0), audio_mos(20.0)
    assert audio_score(m) == pytest.approx((9 * clean + lossy) / 10, abs=0.01)


# --- video ---------------------------------------------------------------------------------------


def test_video_mos_bounds():
    assert video_mos(2160, 60) == 5.0
    assert video_mos(90, 2, 1.0, 50) == 1.0
    assert video_mos(720, 0.5) == 1.0
    assert video_mos(None, None) == 4.0
    assert video_mos(720, 30) == pytest.approx(4.34, abs=0.01)


def test_video_score_monotonic():
    heights = [video_score(video_call(height=h)) for h in (1080, 720, 480, 360, 180)]
    fps = [video_score(video_call(fps=f)) for f in (30, 24, 15, 8)]
    freezes = [video_score(video_call(freeze_s=s)) for s in (0, 3, 10, 30)]
    loss = [video_score(video_call(loss=x)) for x in (0, 2, 5, 10)]
    for values in (heights, fps, freezes, loss):
        assert all(b < a for a, b in zip(values, values[1:], strict=False)), values
        assert all(1 <= v <= 5 for v in values)


def test_video_score_none_without_video_and_best_simulcast_layer():
    assert video_score(make_call(stream("audio"))) is None
    low = stream(
        "video", "outbound", stat_id="L0", track_identifier="cam", frame_height=180, fps=series([30])
    )
    high = stream(
        "video", "outbound", stat_id="L2", track_identifier="cam", frame_height=720, fps=series([30])
    )
    assert video_score(make_call(pc(), low, high)) == pytest.approx(video_mos(720, 30), abs=0.01)


# --- connectivity --------------------------------------------------------------------------------


def test_connectivity_none_when_no_pc_or_ice_never_ran():
    assert connectivity_score(make_call()) is None
    idle = pc(connected=False)
    assert connectivity_score(make_call(idle)) is None
    aborted = pc(connected=False, ice_states=[(T0, "checking"), (T0 + 500, "closed")])
    assert connectivity_score(make_call(aborted)) is None


def test_connectivity_clean_direct_is_5_and_failure_is_1():
    assert connectivity_score(make_call(pc())) == 5.0
    assert connectivity_score(make_call(failed_pc())) == 1.0
    assert connectivity_score(make_call(pc("A"), failed_pc("B"))) == 3.0


def test_relay_and_tcp_lower_connectivity():
    direct = pc_connectivity(pc())
    relay_udp = pc_connectivity(pc(selected_pairs=[pair(cand("relay", relay_protocol="udp"))]))
    relay_tcp = pc_connectivity(pc(selected_pairs=[pair(cand("relay", relay_protocol="tcp"))]))
    relay_tls = pc_connectivity(pc(selected_pairs=[pair(cand("relay", url="turns:t:443"))]))
    ice_tcp = pc_connectivity(pc(selected_pairs=[pair(cand("host", protocol="tcp"))]))
    assert direct == 5.0
    assert relay_udp == 4.5 and ice_tcp == 4.5
    assert relay_tcp == relay_tls == 4.0


def test_setup_time_rtt_restarts_drops_and_churn_lower_connectivity():
    assert [pc_connectivity(pc(connection_time_ms=t)) for t in (1000, 3000, 5000, 20_000)] == [
        5.0,
        4.5,
        4.0,
        3.5,
    ]
    assert [pc_connectivity(pc(rtt_mean_ms=r)) for r in (150, 225, 300, 600)] == [5.0, 4.5, 4.0, 3.5]
    assert [pc_connectivity(pc(ice_restarts=n)) for n in (0, 1, 2, 5)] == [5.0, 4.5, 4.0, 3.5]
    dropped = pc(ice_states=[(T0, "checking"), (T0 + 100, "connected"), (T0 + 9000, "failed")])
    recovered = pc(
        ice_states=[
            (T0, "checking"),
            (T0 + 100, "connected"),
            (T0 + 9000, "failed"),
            (T0 + 9500, "connected"),
        ]
    )
    assert pc_connectivity(recovered) == 4.0
    assert pc_connectivity(dropped) == 3.0
    churn = pc(
        ice_states=[(T0, "connected")]
        + [(T0 + i, s) for i in range(1, 9) for s in ("disconnected", "connected")]
    )
    assert pc_connectivity(churn) == 4.0
    worst = pc(
        connection_time_ms=60_000,
        rtt_mean_ms=2000,
        ice_restarts=9,
        selected_pairs=[pair(cand("relay", relay_protocol="tls"))],
        ice_states=dropped.ice_states,
    )
    assert pc_connectivity(worst) == 1.0


# --- observations and experience -----------------------------------------------------------------


def o(type, severity):
    return {"type": type, "severity": severity}


@pytest.mark.parametrize(
    "observations,expected",
    [
        ([], 40),
        ([o("a", "info")], 40),
        ([o("a", "low")], 38),
        ([o("a", "medium")], 36),
        ([o("a", "high")], 32),
        ([o("a", "critical")], 24),
        ([o("a", "high"), o("a", "high")], 28),  # repeat of a type: half
        ([o("a", "medium"), o("a", "critical")], 22),  # the worst pays full, the other half (24 - 2)
        ([o("a", "critical"), o("b", "critical")], 8),
        ([o("a", "critical"), o("b", "critical"), o("c", "critical")], 0),  # floor
        ([o("a", "low")] * 5, 38 - 4),
    ],
)
def test_observations_score_arithmetic(observations, expected):
    result = observations_score(observations)
    assert result == expected
    assert isinstance(result, int)


def test_experience_zero_without_media_and_none_scores():
    m = make_call(pc(), stream("audio", packets=0, bytes=0))
    result = score(m, [])
    assert result == {
        "experienceScore": 0,
        "audioScore": None,
        "videoScore": None,
        "connectivityScore": 5.0,
        "observationsScore": 40,
    }
    empty = score(CallMetrics(start_ms=None, end_ms=None, client=ClientMetrics()), [])
    assert empty == {
        "experienceScore": 0,
        "audioScore": None,
        "videoScore": None,
        "connectivityScore": None,
        "observationsScore": 40,
    }


def test_experience_formula_and_bounds():
    assert experience_score(4.3, 5.0, 5.0, 40) == 100
    assert experience_score(1.0, 1.0, 1.0, 0) == 0
    assert experience_score(1.0, None, None, 40) == 40
    # audio 0.5 x (3.65-1)/3.3 + connectivity 0.2 x 1, over weight 0.7 -> 0.859 -> 51.5 + 30.
    assert experience_score(3.65, None, 5.0, 30) == 82
    assert experience_score(None, None, 5.0, 40) == 0


def test_experience_monotonic_in_quality_and_observations():
    by_loss = [score(audio_call(loss=x), [])["experienceScore"] for x in (0, 3, 10, 30)]
    assert all(b < a for a, b in zip(by_loss, by_loss[1:], strict=False)), by_loss
    m = audio_call()
    assert score(m, [o("x", "medium")])["experienceScore"] < score(m, [])["experienceScore"]
    assert 0 <= score(m, [o("x", "critical")] * 10)["experienceScore"] <= 100


def test_score_is_pure_and_rounded():
    m = make_call(pc(rtt_mean_ms=180.0), stream("audio", loss_pct=2.0), stream("video", frame_height=540))
    first = score(m, [o("a", "low")])
    assert first == score(m, [o("a", "low")])
    for key in ("audioScore", "videoScore", "connectivityScore"):
        assert 1 <= first[key] <= 5
        assert round(first[key], 2) == first[key]
    assert isinstance(first["experienceScore"], int) and 0 <= first["experienceScore"] <= 100


# --- video on real fixtures (issue 4: scores that looked low, checked against the raw data) -----


def fixture_metrics(name: str):
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.parsing import parse
    from tests.plugins.rtcstats.fixtures import dump_bytes

    return compute_metrics(parse(dump_bytes(name)))


def test_video_frame_rate_is_judged_against_the_source():
    # rtcscore's 1.9 ln(expected / fps) uses the source's rate; a slow source costs 0.6 ln(30 / source)
    assert video_mos(480, 10, source_fps=10) == pytest.approx(3.7 - 0.6 * math.log(3), abs=1e-9)
    assert video_mos(480, 5, source_fps=10) == pytest.approx(3.7 - 0.6 * math.log(3) - 1.9 * math.log(2))
    assert video_mos(480, 10) == pytest.approx(3.7 - 1.9 * math.log(3))  # unknown source: 30 expected
    assert video_mos(480, 30, source_fps=60) == video_mos(480, 30) == pytest.approx(3.7)  # no gain above 30
    # a lower delivered rate never raises the score, whatever the source
    for source in (None, 10.0, 15.0, 30.0):
        values = [video_mos(480, f, source_fps=source) for f in (30, 24, 15, 10, 5, 2)]
        assert all(b <= a for a, b in zip(values, values[1:], strict=False)), (source, values)


def test_chrome144_video_is_fair_not_bad():
    # Raw data: 640x480 for 32 of 50 s (240p 10 s, 360p 8 s during the bandwidth ramp-up); the webcam
    # captured 10 fps (media-source SV2 framesPerSecond 10, frames +10/s) and 9.96-9.98 fps were sent and
    # decoded on all four streams; 0 packets lost, totalFreezesDuration 0, ~1.4 Mbps. Nothing was lost in
    # the call: 480p base 3.7 - 0.66 for a 10 fps source = 3.04 (processor 1.0.0 said 1.61, charging the
    # camera's rate as 20 lost frames a second).
    for name in (
        "internals_chrome144_p2p_audio_video.txt",
        "rtcstatsv3_chrome144_native_p2p_audio_video.txt",
    ):
        assert video_score(fixture_metrics(name)) == 3.04


def test_kurento_video_is_bad_because_it_is_144p():
    # Raw data: getUserMedia asked {height: {ideal: 144}}; sent 192x144 at 14.97 fps from a 15 fps capture
    # (RTCVideoSource_6), 230 kbps, 0 lost -> 1.79 - 0.6 ln 2 = 1.37 over 246 intervals; received 192x144
    # at 19.73 fps (its own 95th percentile 20), 0 lost, 0 s frozen -> 1.52 over 165 intervals; the
    # 18084-8 inbound slot never received a byte and does not count. (1.37 x 246 + 1.52 x 165) / 411.
    m = fixture_metrics("internals_chrome86_sfu_kurento_h264_relay.json")
    out = m.streams["18084-8/RTCOutboundRTPVideoStream_1519538442"]
    inbound = m.streams["18084-9/RTCInboundRTPVideoStream_2617442739"]
    assert round(video_stream_score(out), 2) == 1.37 and round(video_stream_score(inbound), 2) == 1.52
    assert video_score(m) == 1.43


def test_screen_share_is_judged_on_freezes_and_loss_only():
    # Three shares of 2752x1152, 1920x1080 and 2752x970 at 1.1-4.6 fps (capture 2-6 fps), 0 lost: the
    # camera formula gave 1.0-1.43 (videoScore 1.07); as screen shares they score the unknown-size base 4.0.
    m = fixture_metrics("jitsi_legacy_google-legacy-screenshare-msessions.jsonl")
    assert video_score(m) == 4.0
    share = stream("video", "outbound", frame_height=1152, fps=series([1.0] * 5), screenshare=True)
    assert video_score(make_call(pc(), share)) == 4.0
    frozen = stream("video", "inbound", fps=series([1.0] * 5), screenshare=True, total_freezes_duration_s=6.0)
    assert video_score(make_call(pc(), frozen)) == pytest.approx(4.0 - 6 * 0.1)


def test_video_streams_without_a_picture_do_not_count():
    # google-legacy-stats-p2p: jitsi's receive-only 'mixedlabelvideo0' slot (ssrc 498582879) received
    # 1,827 packets of 57 bytes but never a frame (framesDecoded 0, googFrameHeightReceived 0); it used to
    # count as a 1.0 stream over 27 intervals.
    m = fixture_metrics("jitsi_legacy_google-legacy-stats-p2p.jsonl")
    slot = m.streams["PC_0/ssrc_498582879_recv"]
    assert slot.bytes == 103337 and slot.frames_decoded == 0 and not shows_frames(slot)
    assert video_score(m) == 2.72
    # padding-only probes (packets, 0 payload bytes) are not media for either score
    assert not has_media(stream("video", packets=961, bytes=0))
    assert has_media(stream("video", packets=961, bytes=None))


def test_values_at_list_checks_its_inputs_in_one_pass():
    """values_at_list walks the keys only where values_at's searchsorted gives the same (floats, finite,
    in order); any other input takes values_at: compared by repr on inputs at the edge of each check."""
    times = [1000.0, 2000.0, 2500.0, 1200.0, 4000.0, -0.0]
    cases = [
        [0.0, 1000.0, 2000.0, 3000.0],
        [-0.0, 0.0, 0.0, 1999.999999, 2000.000001],
        [0.0, 1e308, 1e308],  # a sum that overflows: still finite floats in order
        [0.0, math.inf],
        [math.nan, 1.0],
        [2000.0, 1000.0],
        [0.0, np.float64(1000.0)],  # a float subclass
        [0, 1000.0],
    ]
    for keys in cases:
        series = Series(list(keys), [float(i) + 0.5 for i in range(len(keys))])
        assert repr(values_at_list(series, times)) == repr(values_at(series, times).tolist()), keys
    assert _finite_floats([0.0, -0.0, 1.0], True) and not _finite_floats([1.0, 0.0], True)
    assert _finite_floats([1.0, 0.0], False) and not _finite_floats([1.0, -math.inf], False)
    assert not _finite_floats([1.0, np.float64(2.0)], False) and _finite_floats([], True)
