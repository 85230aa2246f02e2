"""The rule-built summary: length and client, how each connection connected, media numbers, scores, the
top finding with its meaning, what to do next; deterministic; None when there is nothing to tell."""

from __future__ import annotations

from plugins.rtcstats.analysis.metrics_model import CallMetrics, ClientMetrics
from plugins.rtcstats.analysis.observations import detect, observation_types
from plugins.rtcstats.analysis.scores import score
from plugins.rtcstats.analysis.summary import summarize
from tests.plugins.rtcstats.test_observations import T0, cand, failed_pc, pair, pc, series, stream
from tests.plugins.rtcstats.test_observations import call as make_call


def analysed(metrics: CallMetrics) -> tuple[list[dict], dict, str | None]:
    observations = detect(metrics, strict=True)
    scores = score(metrics, observations)
    return observations, scores, summarize(metrics, observations, scores)


def relayed_lossy_call() -> CallMetrics:
    relay = pc(
        selected_pairs=[pair(cand("relay", relay_protocol="tcp", url="turn:t.example.org?transport=tcp"))],
        connection_time_ms=420.0,
        rtt_mean_ms=80.0,
    )
    audio = stream("audio", "inbound", loss_pct=12.0, jitter_ms=series([18, 22]))
    video = stream("video", "inbound", frame_height=720, fps=series([24, 24]), loss_pct=0.5)
    client = ClientMetrics(browser="Chrome", browser_version="142", os="macOS", os_version="15.1")
    return make_call(relay, audio, video, client=client, end=T0 + 125_000)


def test_summary_tells_length_path_numbers_and_top_finding():
    observations, scores, text = analysed(relayed_lossy_call())
    assert text is not None
    assert text.startswith("The session lasted 2 min 5 s on Chrome 142 (macOS 15.1) with 1 peer connection.")
    assert "Connection PC_0 connected through a TURN relay over TCP in 420 ms." in text
    assert f"Audio scored {scores['audioScore']:.1f}/5" in text
    assert "incoming loss 12 %" in text and "jitter 20 ms" in text and "round trip 80 ms" in text
    assert "received 720p at 24 fps, 0.5 % loss" in text
    assert f"Overall experience score {scores['experienceScore']}/100" in text

    top = observations[0]
    assert top["type"] == "highAudioLossIn" and top["severity"] == "high"
    title = observation_types()["highAudioLossIn"].title
    assert f"Main findings: {title} (high): {top['meaning'].rstrip('.')}" in text
    assert "12 % of the incoming audio packets were lost" in text
    assert "Connection relayed over TCP (medium)" in text
    advice = observation_types()["highAudioLossIn"].advice
    assert "What to do next: " + advice in text


def test_summary_is_deterministic():
    _, _, first = analysed(relayed_lossy_call())
    _, _, second = analysed(relayed_lossy_call())
    assert first == second


def test_summary_of_a_clean_call():
    m = make_call(
        pc(selected_pairs=[pair(cand("srflx"), cand("host"))]),
        stream("audio", "inbound", loss_pct=0.0, jitter_ms=series([5])),
    )
    _, scores, text = analysed(m)
    assert "connected directly (srflx/host over UDP) in 90 ms" in text
    assert "No problems were detected." in text
    assert text.endswith("Nothing needs attention.")
    assert scores["observationsScore"] == 40


def test_summary_of_a_failed_call_without_media():
    m = make_call(failed_pc(ice_servers=["stun:s.example.org"]))
    observations, scores, text = analysed(m)
    assert "Connection PC_0 failed to connect (ICE failed)." in text
    assert "No audio or video was exchanged." in text
    # Nothing to score is not a score of 0: the summary says so instead of "0/100".
    assert "No experience score (no audio or video to score), connectivity 1/5" in text
    assert scores["experienceScore"] == 0 and "0/100" not in text
    assert "Connection failed to establish (critical)" in text
    assert observation_types()["iceFailure"].advice in text


def test_summary_groups_many_connections():
    pcs = [pc(f"PC_{i}") for i in range(4)] + [
        pc("PC_4", selected_pairs=[pair(cand("relay", relay_protocol="udp"))]),
        failed_pc("PC_5"),
    ]
    _, _, text = analysed(make_call(*pcs))
    assert "5 of 6 connections connected (1 through a TURN relay) and 1 failed to connect." in text


def test_summary_mentions_drops_and_restarts():
    m = make_call(
        pc(
            ice_states=[
                (T0, "checking"),
                (T0 + 100, "connected"),
                (T0 + 5000, "failed"),
                (T0 + 8000, "connected"),
            ],
            ice_restarts=1,
        )
    )
    _, _, text = analysed(m)
    assert "then dropped and reconnected (1 ICE restart)" in text


def test_summary_none_when_nothing_to_tell():
    empty = CallMetrics(start_ms=None, end_ms=None, client=ClientMetrics())
    assert summarize(empty, [], score(empty, [])) is None


def test_summary_of_a_getusermedia_only_session():
    client = ClientMetrics(
        media_requests=[
            {
                "time": T0,
                "kind": "getUserMedia",
                "constraints": {"audio": True},
                "success": False,
                "error": "NotAllowedError: Permission denied",
                "tracks": [],
            },
        ]
    )
    m = CallMetrics(start_ms=T0, end_ms=T0 + 4700, client=client)
    _, _, text = analysed(m)
    assert text.startswith("The session lasted 4.7 s with no peer connection.")
    assert "getUserMedia error (high): getUserMedia for audio failed with NotAllowedError" in text


def test_summary_names_a_screen_share_and_prefers_the_camera():
    share = stream(
        "video", "outbound", stat_id="S", frame_height=1152, fps=series([2.0] * 5), screenshare=True
    )
    camera = stream("video", "outbound", stat_id="C", frame_height=360, fps=series([30.0] * 5))
    _, _, text = analysed(make_call(pc(), share))
    assert "sent a screen share 1152p at 2 fps" in text
    _, _, text = analysed(make_call(pc(), share, camera))
    assert "sent 360p at 30 fps" in text and "screen share" not in text
