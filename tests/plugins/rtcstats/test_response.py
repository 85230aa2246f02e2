"""build_response (plugins/rtcstats/analysis/response.py): the AnalyzeResponseData of every fixture.

Every fixture's response must serialise as strict JSON (allow_nan=False), carry every documented key
with the documented types, and agree with the metrics and with facts.json where the facts say the same
thing (connectivity of the main PC's final pair, relay use, PC count, call span).
"""

from __future__ import annotations

import functools
import json
import math
import re

import pytest

from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics, ClientMetrics, Series, StreamMetrics
from plugins.rtcstats.analysis.response import (
    aggregated_stats,
    build_response,
    iso_ms,
    make_title,
    observation_counts,
    tag_clouds,
)
from plugins.rtcstats.parsed_dump import Dump
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names, truth

ALL = fixture_names()
NOW = 1767225600000.0  # 2026-01-01T00:00:00.000Z
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
AGG_KEY = re.compile(
    r"^(jitter|rtt|bitrate|packetLoss|mos)_(in|out)_(audio|video)_(avg|min|max|p5|p95|stddev)_(ms|kbps|percent|score)$"
)
UNITS = {"jitter": "ms", "rtt": "ms", "bitrate": "kbps", "packetLoss": "percent", "mos": "score"}
OBSERVATIONS = [
    {
        "type": "highRtt",
        "severity": "high",
        "category": "pairs",
        "tags": ["network", "connectivity"],
        "averageInMs": float("nan"),
        "firstSeenAt": 1697705722481,
    },
    {"type": "lowFps", "severity": "medium", "category": "streams", "tags": ["video", "network"]},
    {"type": "info", "severity": "info", "category": "connections", "tags": ["network"]},
]
SCORES = {
    "experienceScore": 71.456,
    "audioScore": 4.123,
    "videoScore": None,
    "connectivityScore": float("inf"),
    "observationsScore": 31,
}
DOCUMENTED = (
    "callStart callEnd durationMs userAgentData pConnectionsNumber pConnections streams transports "
    "aggregatedStats metadata connectivity uploadTimestamp title fileName fileSize experienceScore "
    "audioScore videoScore connectivityScore observationsScore tagClouds id created_at uploaded_by "
    "uploaded_by_email public_link description tags observations features observationsCount aiSummary"
).split()


@functools.cache
def parsed(name: str) -> tuple[Dump, CallMetrics]:
    dump = parse(dump_bytes(name))
    return dump, compute_metrics(dump)


@functools.cache
def response_of(name: str) -> dict:
    dump, metrics = parsed(name)
    return build_response(
        dump, metrics, OBSERVATIONS, SCORES, None, file_name=name, file_size=len(dump_bytes(name)), now_ms=NOW
    )


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    else:
        yield path, value


@pytest.mark.parametrize("name", ALL)
def test_strict_json_and_documented_keys(name):
    data = response_of(name)
    text = json.dumps(data, allow_nan=False)  # raises on NaN / inf anywhere
    assert json.loads(text) == data
    for key in DOCUMENTED:
        assert key in data, key
    for path, value in _walk(data):
        if isinstance(value, float):
            assert math.isfinite(value), path
            assert round(value, 2) == value, path  # every non-epoch number has at most 2 decimals
        if path.endswith("Ms") and path.split(".")[-1] in (
            "firstSeenMs",
            "lastSeenMs",
            "timestampMs",
            "firstEventMs",
            "lastEventMs",
            "activeStartMs",
            "activeEndMs",
            "gatheringStartMs",
        ):
            assert value is None or isinstance(value, int), path  # epoch values are whole ms


@pytest.mark.parametrize("name", ALL)
def test_call_fields(name):
    data, fact = response_of(name), truth(name)
    start, end = fact["call"]["start_ms"], fact["call"]["end_ms"]
    if start is None:
        # No event: the vendor schema still wants date-time strings and an integer, so the call is
        # dated at the upload (here, the analysis time NOW) and lasts 0 ms.
        assert data["callStart"] == data["callEnd"] == "2026-01-01T00:00:00.000Z"
        assert data["durationMs"] == 0 and data["metadata"]["callSpanSource"] == "upload"
    else:
        assert data["metadata"]["callSpanSource"] == "events"
        assert ISO.match(data["callStart"]) and ISO.match(data["callEnd"])
        assert data["callStart"] == iso_ms(start) and data["callEnd"] == iso_ms(end)
        assert data["durationMs"] == round(end - start)
    assert data["pConnectionsNumber"] == fact["pc_count"] == len(data["pConnections"])
    assert sorted(data["transports"]) == sorted(fact["pcs"])
    assert data["uploadTimestamp"] == "2026-01-01T00:00:00.000Z"
    assert data["fileName"] == name and data["fileSize"] == len(dump_bytes(name))
    assert data["observations"][0]["averageInMs"] is None  # NaN from a rule never breaks the JSON
    assert data["observationsCount"] == {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 1}
    assert data["tagClouds"][0] == {"tag": "network", "total": 3, "severity": "high"}
    assert (data["experienceScore"], data["audioScore"], data["videoScore"]) == (71.46, 4.12, None)
    assert data["connectivityScore"] is None and data["observationsScore"] == 31
    assert data["tags"] == [] and data["id"] is None and data["created_at"] is None
    assert data["aiSummary"] is None and data["ruleSummary"] is None  # summarize() was given None here
    assert data["metadata"]["format"] == fact["format"] and data["metadata"]["gzip"] is fact["gzip"]


def _expected_connectivity(fact: dict) -> tuple[str | None, bool | None]:
    """From the facts alone: the final pair of the PC whose selected pairs were seen longest."""
    best, best_span = None, -1.0
    for pc_fact in fact["pcs"].values():
        seen = pc_fact["selected_pairs_seen"]
        if not seen:
            continue
        span = sum(p["last_seen_ms"] - p["first_seen_ms"] for p in seen)
        if span >= best_span:
            best, best_span = pc_fact, span
    if best is None:
        return None, None
    pair = best["final_selected_pairs"][0]
    local = pair["local"]
    if pair["uses_relay"]:
        relay = local["relayProtocol"] if local["candidateType"] == "relay" else None
        return f"RELAY/{(relay or local['protocol']).upper()}", True
    return f"DIRECT/{local['protocol'].upper()}", False


@pytest.mark.parametrize("name", ALL)
def test_connectivity_agrees_with_facts(name):
    data = response_of(name)
    expected, relay = _expected_connectivity(truth(name))
    # A string in the vendor schema, never null: NONE without a peer connection, UNKNOWN with connections
    # but no selected pair.
    assert data["connectivity"] == expected or (
        expected is None and data["connectivity"] == ("UNKNOWN" if truth(name)["pcs"] else "NONE")
    )
    if expected is None:
        assert "connectionIPType" not in data  # absent when it could not be resolved
    else:
        assert data["connectionIPType"] in ("IPv4", "IPv6")
        if relay:
            assert data["features"]["usedTurnFinal"] is True
    for pc_id, pc_fact in truth(name)["pcs"].items():
        pc = data["pConnections"][pc_id]
        assert pc["connected"] is pc_fact["reached_connected"] and pc["failed"] is pc_fact["failure_seen"]
        assert [p["pairId"] for p in data["transports"][pc_id]["selectedPairs"]] == [
            p["pair_id"]
            for p in sorted(
                pc_fact["selected_pairs_seen"], key=lambda p: (p["last_seen_ms"], p["first_seen_ms"])
            )
        ]


def test_relay_fixtures():
    for name in ("jitsi_legacy_chrome-relay.jsonl", "jitsi_legacy_firefox-relay.jsonl"):
        data = response_of(name)
        assert data["connectivity"] == "RELAY/TLS"
        assert data["features"]["usedTurn"] is True and data["features"]["relayProtocols"] == ["tls"]


@pytest.mark.parametrize("name", ALL)
def test_aggregated_stats(name):
    data = response_of(name)
    _, metrics = parsed(name)
    stats = data["aggregatedStats"]
    for key in stats:
        if key in ("jitter_avg_ms", "rtt_avg_ms") or key.endswith("_count"):
            continue
        match = AGG_KEY.match(key)
        assert match, key
        assert match.group(5) == UNITS[match.group(1)], key
        assert not (match.group(1) == "mos" and match.group(3) == "video"), key
    for scope in ("in_audio", "out_audio", "in_video", "out_video"):
        assert isinstance(stats[f"{scope}_count"], int)
    # recompute one scope by pooling the per-interval values of its streams
    streams = [s for s in metrics.streams_of("audio", "inbound") if (s.bytes or 0) > 0]
    values = [v for s in streams for v in s.bitrate_kbps.values]
    if values:
        ordered = sorted(values)
        assert stats["bitrate_in_audio_avg_kbps"] == round(sum(values) / len(values), 2)
        assert stats["bitrate_in_audio_p95_kbps"] == round(ordered[math.ceil(0.95 * len(ordered)) - 1], 2)
        assert stats["bitrate_in_audio_min_kbps"] == round(ordered[0], 2)
    else:
        assert "bitrate_in_audio_avg_kbps" not in stats
    for key, value in stats.items():
        if key.startswith("mos_"):
            assert 0 <= value <= 4.5, key


def test_aggregation_pools_intervals_across_streams():
    def stream(key: str, kind: str, direction: str, jitter: list[float], mos: list[float] | None = None):
        s = StreamMetrics(pc_id="P", stat_id=key, kind=kind, direction=direction, packets=10, bytes=100)
        s.jitter_ms = Series(list(range(len(jitter))), jitter)
        if mos is not None:
            s.mos = Series(list(range(len(mos))), mos)
        return s

    metrics = CallMetrics(start_ms=0.0, end_ms=1.0, client=ClientMetrics())
    for s in (
        stream("a", "audio", "inbound", [10.0, 20.0], mos=[4.0, 0.0]),
        stream("b", "audio", "inbound", [30.0]),
        stream("v", "video", "outbound", [1.0, 1.0, 1.0], mos=[3.0]),
    ):
        metrics.streams[s.key] = s
    idle = StreamMetrics(pc_id="P", stat_id="idle", kind="video", direction="inbound", packets=0, bytes=0)
    metrics.streams[idle.key] = idle
    stats = aggregated_stats(metrics)
    assert stats["jitter_in_audio_avg_ms"] == 20.0
    assert (stats["jitter_in_audio_min_ms"], stats["jitter_in_audio_max_ms"]) == (10.0, 30.0)
    assert (stats["jitter_in_audio_p5_ms"], stats["jitter_in_audio_p95_ms"]) == (10.0, 30.0)
    assert stats["jitter_in_audio_stddev_ms"] == pytest.approx(math.sqrt(200 / 3))
    assert stats["mos_in_audio_min_score"] == 0.0 and stats["mos_in_audio_avg_score"] == 2.0
    assert "mos_out_video_avg_score" not in stats  # the E-model is for audio only
    assert (stats["in_audio_count"], stats["out_video_count"], stats["in_video_count"]) == (2, 1, 0)
    assert stats["jitter_avg_ms"] == pytest.approx(63 / 6)
    assert "bitrate_in_audio_avg_kbps" not in stats


def test_streams_and_pcs_content():
    data = response_of("internals_chrome144_p2p_audio_video.txt")
    stream = data["streams"]["92-1/OT01V322562611"]
    assert (stream["kind"], stream["direction"], stream["codec"], stream["ssrc"]) == (
        "video",
        "outbound",
        "video/VP8",
        322562611,
    )
    assert stream["avgBitrateKbps"] == 1400.11 and stream["frameHeight"] == 480
    assert set(stream["bitrateKbps"]) == {"avg", "min", "max", "p5", "p95", "stddev"}
    channels = [s for s in data["streams"].values() if s["kind"] == "data"]
    assert [(c["pid"], c["label"]) for c in channels] == [("92-1", "messages"), ("94-1", "messages")]
    pc = data["pConnections"]["94-1"]
    assert pc["connectivity"]["type"] == "DIRECT/UDP" and pc["connectivity"]["networkType"] == "wifi"
    assert pc["states"]["connection"][-1]["state"] == "connected"
    assert ISO.match(pc["states"]["connection"][-1]["time"])
    assert pc["candidates"]["local"]["host"] == 2 and pc["configuration"]["turnServers"] == 1
    assert data["features"]["screenShare"] is True and data["features"]["dataChannel"] is True
    assert data["features"]["codecs"] == ["audio/opus", "video/VP8"]
    assert data["title"] == "localhost:3002"


def test_screen_share_flag_per_stream():
    # AnalyzeResponseData.streams is free-form per stream (vendor OpenAPI): the flag lives there, and
    # features.screenShare also tells a session that only received one.
    data = response_of("jitsi_legacy_google-legacy-screenshare-msessions.jsonl")
    flagged = sorted(k for k, s in data["streams"].items() if s.get("screenshare"))
    assert flagged == ["PC_1/ssrc_1914090050_send", "PC_1/ssrc_3509213716_send", "PC_1/ssrc_894431151_send"]
    assert data["streams"]["PC_1/ssrc_1914090050_send"]["sourceFps"] == 5.0
    assert data["features"]["screenShare"] is True
    chrome = response_of("internals_chrome144_p2p_audio_video.txt")["streams"]
    assert chrome["92-1/OT01V322562611"]["screenshare"] is False
    assert chrome["92-1/OT01V322562611"]["sourceFps"] == 10.0
    assert chrome["92-1/IT01V1544958365"]["sourceFps"] is None


def test_ice_configuration_not_recorded_is_null_not_empty():
    from tests.plugins.rtcstats.fixtures import with_configuration

    name = "jitsi_legacy_chrome-standard-pc-failed.jsonl"

    def response(data: bytes) -> dict:
        dump = parse(data)
        return build_response(dump, compute_metrics(dump), [], SCORES, None, file_name=name, file_size=1)

    unknown = response(with_configuration(name, None))
    config = unknown["pConnections"]["PC_1"]["configuration"]
    assert (config["iceServers"], config["stunServers"], config["turnServers"]) == (None, None, None)
    assert unknown["features"]["stunConfigured"] is None and unknown["features"]["turnConfigured"] is None
    empty = response(with_configuration(name, {"iceServers": []}))
    config = empty["pConnections"]["PC_1"]["configuration"]
    assert (config["iceServers"], config["stunServers"], config["turnServers"]) == ([], 0, 0)
    assert empty["features"]["stunConfigured"] is False and empty["features"]["turnConfigured"] is False
    recorded = response_of(name)["pConnections"]["PC_1"]["configuration"]
    assert (recorded["stunServers"], recorded["turnServers"]) == (2, 0)


def test_candidate_addresses_are_not_output():
    data = response_of("internals_chrome144_p2p_audio_video.txt")
    text = json.dumps(data)
    assert "192.168.1.217" not in text  # a host candidate address of this dump
    data = response_of("internals_chrome149_recvonly_h265.txt")
    assert "81.217.27.201" not in json.dumps(data)  # its srflx (public) address


def test_features_of_failures():
    data = response_of("jitsi_legacy_chrome-standard-pc-failed.jsonl")
    features = data["features"]
    assert features["getUserMediaErrors"] == 1 and features["getUserMediaErrorNames"] == ["NotReadableError"]
    assert features["iceFailed"] is True and features["connected"] is True
    data = response_of("internals_chrome86_sfu_kurento_h264_relay.json")
    assert data["features"]["candidateErrors"] >= 1 and data["features"]["turnConfigured"] is True


def test_empty_and_gum_only_dumps():
    data = response_of("internals_headlesschrome108_empty.gz")
    assert data["pConnectionsNumber"] == 0 and data["connectivity"] == "NONE"
    assert data["title"] == "internals_headlesschrome108_empty.gz"
    assert data["userAgentData"]["browser"] == "HeadlessChrome"
    assert all(
        data["aggregatedStats"][f"{s}_count"] == 0 for s in ("in_audio", "out_audio", "in_video", "out_video")
    )
    data = response_of("rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl")
    assert data["title"] == "webrtc.github.io/samples/src/content/getusermedia/gum"
    assert data["metadata"]["clientProtocol"] == "rtcstats#4.0"
    assert data["features"]["getUserMediaCalls"] == 1 and data["durationMs"] == 5546


def test_metadata_ids_and_title():
    data = response_of("jitsi_legacy_chrome-relay.jsonl")
    meta = data["metadata"]
    assert meta["conferenceId"] == "meet.jit.si/absentbreakdownspicturesame"
    assert meta["clientProtocol"] == "3.1_STANDARD" and meta["origin"] == "https://meet.jit.si"
    assert data["title"] == "meet.jit.si/absentbreakdownspicturesame"
    assert (
        make_title("https://a.example.org/room/x?rtcstats-token=secret#frag", None, "f")
        == "a.example.org/room/x"
    )
    assert make_title("/samples/gum/", "https://webrtc.github.io", "f") == "webrtc.github.io/samples/gum"
    assert make_title(None, None, "dump.txt") == "dump.txt"


def test_iso_and_counts_helpers():
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1697705722042.4) == "2023-10-19T08:55:22.042Z"
    assert iso_ms(1697705722999.6) == "2023-10-19T08:55:23.000Z"
    assert iso_ms(None) is None and iso_ms(float("nan")) is None and iso_ms(1e20) is None
    assert observation_counts([{"severity": "low"}, {"severity": "bogus"}, "x"]) == {
        "critical": 0,
        "high": 0,
        "medium": 0,
        "low": 1,
        "info": 0,
    }
    assert tag_clouds([{"severity": "low", "tags": ["a"]}, {"severity": "critical", "tags": ["a", "b"]}]) == [
        {"tag": "a", "total": 2, "severity": "critical"},
        {"tag": "b", "total": 1, "severity": "critical"},
    ]


def test_snake_case_scores_are_accepted():
    dump, metrics = parsed("jitsi_legacy_chrome-relay.jsonl")
    data = build_response(
        dump,
        metrics,
        [],
        {"experience_score": 50, "audio_score": 3.3333},
        "rule summary",
        file_name="f",
        file_size=1,
        now_ms=NOW,
    )
    assert (data["experienceScore"], data["audioScore"]) == (50, 3.33)
    assert (data["aiSummary"], data["ruleSummary"]) == (None, "rule summary")
    assert data["observationsCount"] == dict.fromkeys(("critical", "high", "medium", "low", "info"), 0)
    assert data["tagClouds"] == []


def test_pasted_connection_info_does_not_name_the_call():
    """firefox-standard-stats-sfu: its connectionInfo line (meet.jit.si, 2023) lies 1071 days away from
    the 2020 events (the parser warns); the call's own identity line names
    192.168.1.234:8080/closeoutfitsusefast."""
    data = response_of("jitsi_legacy_firefox-standard-stats-sfu.jsonl")
    assert data["metadata"]["connectionInfoFromAnotherSession"] is True
    assert data["title"] == "192.168.1.234:8080/closeoutfitsusefast"
    assert data["metadata"]["url"] is None
    assert (
        response_of("jitsi_legacy_chrome-relay.jsonl")["metadata"]["connectionInfoFromAnotherSession"]
        is False
    )
