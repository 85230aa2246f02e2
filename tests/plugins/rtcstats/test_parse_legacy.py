"""The legacy rtcstats parser (plugins/rtcstats/parsing/legacy.py) on the 13 real jitsi_legacy fixtures.

Three kinds of tests:

* every fixture against the independent facts (facts.json, definitions in dump-facts.md D1-D8): format and
  delta semantics, peer connections, call and PC spans, ICE/connection states (derived here with the D4
  rule from the parsed events), number of stats snapshots, last packetsReceived/packetsLost of every inbound
  track (D8) with its first/last snapshot time;
* per fixture, values read by hand in the raw lines (line numbers given), which pin the decompression;
* corrupted and re-encoded variants of real fixtures: every bad input is a DumpFormatError naming the line.

No fact in facts.json was found to disagree with the raw files for the legacy fixtures: every comparison
below is an exact equality with the facts.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import gzip
import json
import random
import weakref

import pytest

from plugins.rtcstats.parsed_dump import (
    CLIENT_EVENT_PREFIXES,
    Dump,
    Event,
    PeerConnection,
    normalize_event_name,
)
from plugins.rtcstats.parsing import DumpFormatError, detect, parse
from plugins.rtcstats.parsing.legacy import detect_delta_semantics, parse_legacy
from plugins.rtcstats.parsing.lines import (
    STATE_EVENTS,
    _parse_configuration,
    add_event,
    as_number,
    event_name,
    is_client_method,
    make_event,
    normalize_state,
)
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names, require_shared_facts, truth

LEGACY = fixture_names("jitsi_legacy_")
SMALL = "jitsi_legacy_chrome-relay.jsonl"  # 55 lines, 13 getstats, v2, connectionInfo: base of the variants


def test_all_thirteen_legacy_fixtures_are_covered():
    require_shared_facts()
    assert len(LEGACY) == 13


@functools.cache
def parsed(name: str) -> Dump:
    """Parsed once per session; tests must not modify the result."""
    return parse_legacy(dump_bytes(name))


def raw_lines(name: str) -> list[bytes]:
    return dump_bytes(name).split(b"\n")


def raw_line(name: str, number: int) -> list:
    """Line `number` (1-based) of the fixture, parsed by json alone (independent of the parser)."""
    return json.loads(raw_lines(name)[number - 1])


def sample_at(pc: PeerConnection, stat_id: str, time: float) -> dict:
    track = pc.stats[stat_id]
    return track.sample(track.times.index(time))


def as_int(value):
    """facts.json converts numeric strings (legacy goog stats); the parser keeps them as written."""
    return int(float(value)) if isinstance(value, str) else value


# -- D4, derived here from the parsed events -------------------------------------------------------------


def d4_value(value) -> str:
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = json.loads(text)
    text = text.lower()
    for prefix in ("iceconnectionstate", "peerconnectionstate", "connectionstate"):
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
    return text


def d4_states(pc: PeerConnection) -> dict:
    out = {"ice_states": [], "ice_states_legacy": [], "connection_states": []}
    target = {
        "iceconnectionstatechange": "ice_states",
        "legacyiceconnectionstatechange": "ice_states_legacy",
        "connectionstatechange": "connection_states",
    }
    for event in pc.events:
        method = event.raw_name.lower()
        method = method[2:] if method.startswith("on") else method
        if method in target:
            out[target[method]].append(d4_value(event.value))
    ice_all = out["ice_states"] + out["ice_states_legacy"]
    out["ice_connected"] = "connected" in ice_all or "completed" in ice_all
    out["connection_connected"] = "connected" in out["connection_states"]
    out["reached_connected"] = out["ice_connected"] or out["connection_connected"]
    out["ice_failed"] = "failed" in ice_all
    out["connection_failed"] = "failed" in out["connection_states"]
    out["failure_seen"] = out["ice_failed"] or out["connection_failed"]
    out["connection_connected_count"] = out["connection_states"].count("connected")
    out["ice_disconnected_count"] = out["ice_states"].count("disconnected")
    return out


def inbound_tracks(pc: PeerConnection) -> dict:
    """D8: inbound-rtp reports with isRemote != true, and legacy `ssrc_*_recv` reports."""
    found = {}
    for track in pc.stats.values():
        standard = track.type == "inbound-rtp" and track.last("isRemote") is not True
        goog = track.id.startswith("ssrc_") and track.id.endswith("_recv")
        if standard or goog:
            found[track.id] = track
    return found


# -- every fixture against facts.json --------------------------------------------------------------------


@pytest.mark.parametrize("name", LEGACY)
def test_format_and_delta_semantics(name):
    dump = parsed(name)
    facts = truth(name)
    assert dump.format == facts["format"] == "rtcstats-legacy"
    assert dump.format_detail == facts["format_detail"]
    assert detect_delta_semantics(dump_bytes(name)) == facts["format_detail"]["legacy_delta_semantics"]


@pytest.mark.parametrize("name", LEGACY)
def test_peer_connections(name):
    dump = parsed(name)
    facts = truth(name)
    assert len(dump.peer_connections) == facts["pc_count"]
    assert set(dump.peer_connections) == set(facts["pcs"])


@pytest.mark.parametrize("name", LEGACY)
def test_call_and_pc_spans(name):
    dump = parsed(name)
    facts = truth(name)
    assert (dump.start_ms, dump.end_ms) == (facts["call"]["start_ms"], facts["call"]["end_ms"])
    pc_times = [t for pc in dump.peer_connections.values() for t in (pc.first_time, pc.last_time)]
    assert (min(pc_times), max(pc_times)) == (facts["pc_span"]["start_ms"], facts["pc_span"]["end_ms"])
    for pc_id, pc_facts in facts["pcs"].items():
        pc = dump.peer_connections[pc_id]
        assert (pc.first_time, pc.last_time) == (pc_facts["first_event_ms"], pc_facts["last_event_ms"]), pc_id


@pytest.mark.parametrize("name", LEGACY)
def test_states_per_d4(name):
    dump = parsed(name)
    for pc_id, pc_facts in truth(name)["pcs"].items():
        derived = d4_states(dump.peer_connections[pc_id])
        for key, value in derived.items():
            assert value == pc_facts[key], (pc_id, key)


@pytest.mark.parametrize("name", LEGACY)
def test_state_values_are_normalised(name):
    for pc in parsed(name).peer_connections.values():
        for event in pc.events:
            if event.name.endswith("statechange"):
                assert event.value == d4_value(event.value), (pc.id, event)
                assert event.name == event.raw_name.lower().removeprefix("on")


@pytest.mark.parametrize("name", LEGACY)
def test_stats_snapshots(name):
    dump = parsed(name)
    for pc_id, pc_facts in truth(name)["pcs"].items():
        pc = dump.peer_connections[pc_id]
        assert len(pc.snapshot_times) == pc_facts["stats_snapshots"], pc_id
        assert pc.snapshot_times == sorted(pc.snapshot_times)
        for track in pc.stats.values():
            assert len(track.report_times) == len(track.times)
            assert set(track.times) <= set(pc.snapshot_times)


@pytest.mark.parametrize("name", LEGACY)
def test_snapshot_count_is_the_number_of_getstats_lines(name):
    counts: dict[str, int] = {}
    for line in raw_lines(name):
        if line.strip():
            item = json.loads(line)
            if item[0] == "getstats":
                counts[item[1]] = counts.get(item[1], 0) + 1
    dump = parsed(name)
    assert {pc_id: len(pc.snapshot_times) for pc_id, pc in dump.peer_connections.items()} == {
        pc_id: counts.get(pc_id, 0) for pc_id in dump.peer_connections
    }


@pytest.mark.parametrize("name", LEGACY)
def test_inbound_tracks_last_values(name):
    dump = parsed(name)
    for pc_id, pc_facts in truth(name)["pcs"].items():
        found = inbound_tracks(dump.peer_connections[pc_id])
        assert set(found) == {entry["id"] for entry in pc_facts["inbound"]}, pc_id
        for entry in pc_facts["inbound"]:
            track = found[entry["id"]]
            last = track.sample(len(track) - 1)  # the last snapshot in which the report is present
            assert as_int(last.get("packetsReceived")) == entry["packetsReceived"], entry["id"]
            assert as_int(last.get("packetsLost")) == entry["packetsLost"], entry["id"]
            assert (track.times[0], track.times[-1]) == (entry["first_seen_ms"], entry["last_seen_ms"])


@pytest.mark.parametrize("name", LEGACY)
def test_connection_info_is_metadata_not_an_event(name):
    dump = parsed(name)
    first = raw_line(name, 1)
    all_events = dump.client_events + [e for pc in dump.peer_connections.values() for e in pc.events]
    assert not any(e.raw_name == "connectionInfo" for e in all_events)
    if first[0] == "connectionInfo":
        info = first[2]
        assert dump.format_detail["has_connectionInfo"] is True
        for key in ("url", "origin", "userAgent", "clientProtocol", "statsFormat"):
            assert dump.metadata[key] == info[key]
        assert dump.user_agent == info["userAgent"]  # no client-sent user agent in these files
    else:
        assert dump.format_detail["has_connectionInfo"] is False
        assert dump.user_agent is None


@pytest.mark.parametrize("name", LEGACY)
def test_client_events_are_the_pc_less_lines(name):
    expected = []
    for line in raw_lines(name):
        if line.strip():
            item = json.loads(line)
            if item[1] is None and item[0] != "connectionInfo":
                expected.append((item[0], item[3]))
    dump = parsed(name)
    assert [(e.raw_name, e.time) for e in dump.client_events] == expected


# -- values checked by hand in the raw lines -------------------------------------------------------------


def test_hand_59c86272_vp9_codec_and_carried_frame_width():
    name = "jitsi_legacy_59c86272-03ea-42e9-a62d-1c8a272e8ab0.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    inbound = "RTCInboundRTPVideoStream_3155040392"
    assert raw_line(name, 110)[3] == 1651144308170
    # line 110: codecId, frameWidth 640 and timestamp 0 -> the line's top-level timestamp 1651144308167
    first = sample_at(pc, inbound, 1651144308170)
    assert first["codecId"] == "RTCCodec_1_Inbound_98"
    assert first["frameWidth"] == 640
    assert first["timestamp"] == 1651144308167
    # the codec report was written in full only at line 69, later as {"timestamp": 0}
    assert pc.stats["RTCCodec_1_Inbound_98"].last("mimeType") == "video/VP9"
    # line 112 changes frameWidth to 1280; lines 114/116 omit it: carried, with packetsReceived 4551 at 116
    last = sample_at(pc, inbound, 1651144338319)
    assert (last["frameWidth"], last["packetsReceived"]) == (1280, 4551)
    assert dump.metadata["meetingUniqueId"] == "9402252c-132d-4c9d-8f87-dcd8ae4def9d"
    assert dump.metadata["endpointId"] == "78a1c829"
    assert dump.metadata["conferenceId"] == "george.jitsi.net/thrilledfirmstellimmensely"
    video_type = [e for e in dump.client_events if e.name == "setvideotype"]
    assert [(e.time, e.value) for e in video_type] == [
        (1651144303791, {"ssrc": 3155040392, "videoType": "camera"})
    ]
    closes = [e.time for e in pc.events if e.name == "close"]
    assert closes == [1651144339983]


def test_hand_chrome_relay_turn_tls_candidate_and_late_codec():
    name = "jitsi_legacy_chrome-relay.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    # line 41 (first getstats, 1697705722481): the local relay candidate over TURN/TLS
    local = sample_at(pc, "IfJfiL0UU", 1697705722481)
    assert (local["candidateType"], local["relayProtocol"], local["port"]) == ("relay", "tls", 57514)
    assert local["url"] == "turns:meet-jit-si-turnrelay.jitsi.net:443?transport=tcp"
    assert sample_at(pc, "T01", 1697705722481)["selectedCandidatePairId"] == "CPfJfiL0UU_pjplYfUx"
    # unchanged afterwards ({"timestamp": 0}): still complete in the last snapshot
    assert pc.stats["IfJfiL0UU"].sample(12)["relayProtocol"] == "tls"
    # the codec CIT01_101 is first written at line 42, then in the 11 later getstats lines
    codec = pc.stats["CIT01_101"]
    assert codec.times[0] == raw_line(name, 42)[3] == 1697705732114
    assert len(codec) == 12 and codec.type == "codec" and codec.last("mimeType") == "video/VP9"
    assert (
        pc.configuration["iceServers"][0]["urls"] == "turns:meet-jit-si-turnrelay.jitsi.net:443?transport=tcp"
    )
    assert pc.configuration["bundlePolicy"] == "max-bundle"
    start = [e for e in dump.client_events if e.name == "conferencestarttimestamp"]
    assert [(e.time, e.value) for e in start] == [(1697705722081, 1697705600000)]
    assert (
        dump.metadata["statsFormat"] == "chrome_standard" and dump.metadata["clientType"] == "RTCSTATS_CLIENT"
    )
    assert "Chrome/117.0.0.0" in dump.user_agent
    assert dump.warnings == []


def test_hand_multiple_p2p_precall_lines_are_client_events():
    name = "jitsi_legacy_chrome-standard-multiple-p2p.jsonl"
    dump = parsed(name)
    # line 4: jitsi's pre-call test PC is logged with a null pcId -> client event, not a PC
    assert raw_line(name, 4) == [
        "createDataChannel",
        None,
        {"0": "precalltest", "1": {"ordered": False, "maxRetransmits": 0}},
        1647251288845,
    ]
    precall = [e for e in dump.client_events if e.name == "createdatachannel"]
    assert precall[0].time == 1647251288845 and precall[0].value["0"] == "precalltest"
    assert len(dump.client_events) == 100  # 101 null-pcId lines minus connectionInfo
    assert [e.time for e in dump.peer_connections["PC_0"].events if e.name == "close"] == [1647251475146]
    speaker = [e for e in dump.client_events if e.name == "dominantspeaker"]
    assert speaker[0].value["dominantSpeakerEndpoint"] == "372c0a27" and speaker[0].time == 1647251293497
    # the file has no newline after its last line, which is still read (it is the call end)
    assert not dump_bytes(name).endswith(b"\n")
    assert dump.peer_connections["PC_3"].events[-1].raw_name == "createAnswer"
    assert dump.end_ms == 1647251616982


def test_hand_pc_failed_gum_error_and_late_failed_line():
    name = "jitsi_legacy_chrome-standard-pc-failed.jsonl"
    dump = parsed(name)
    failure = [e for e in dump.client_events if e.name == "navigator.mediadevices.getusermediaonfailure"]
    assert [(e.time, e.value) for e in failure] == [(1647265165074, "NotReadableError")]
    # line 223 (the last) logs PC_0 "failed" at 1647265227269, after PC_2's getstats (line 222)
    # at 1647265272659
    assert raw_line(name, 223) == ["onconnectionstatechange", "PC_0", "failed", 1647265227269]
    assert dump.peer_connections["PC_0"].events[-1].value == "failed"
    assert dump.peer_connections["PC_2"].snapshot_times[-1] == dump.end_ms == 1647265272659


def test_hand_pc_reconnect_flapping_connection_state():
    name = "jitsi_legacy_chrome-standard-pc-reconnect.jsonl"
    pc = parsed(name).peer_connections["PC_0"]
    flaps = [(e.time, e.value) for e in pc.events if e.name == "connectionstatechange"][-5:]
    assert flaps == [
        (1647265416870, "disconnected"),
        (1647265426870, "connected"),
        (1647265429870, "disconnected"),
        (1647265439870, "connected"),
        (1647265496870, "failed"),
    ]
    failures = [e for e in parsed(name).client_events if e.raw_name.endswith("getUserMediaOnFailure")]
    assert [e.time for e in failures] == [1647265403602, 1647265405597]


def test_hand_firefox_relay_selected_pair_and_own_report_timestamp():
    name = "jitsi_legacy_firefox-relay.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    pair = pc.stats["8295c0df"]
    # line 45: selected pair, local a2ac4810 = relay over TLS, port 53054
    first = pair.sample(0)
    assert (first["selected"], first["localCandidateId"], first["state"]) == (True, "a2ac4810", "succeeded")
    local = pc.stats["a2ac4810"].sample(0)
    assert (local["candidateType"], local["relayProtocol"], local["port"]) == ("relay", "tls", 53054)
    # line 46: the pair has its own timestamp 1697705964978 (the line's T is 1697705964979) and new
    # byte counters; "selected" is not repeated, it is carried from line 45
    written = raw_line(name, 46)[2]
    assert written["timestamp"] == 1697705964979
    assert written["8295c0df"]["timestamp"] == 1697705964978 and "selected" not in written["8295c0df"]
    second = pair.sample(1)
    assert pair.report_times[1] == 1697705964978
    assert (second["bytesReceived"], second["selected"]) == (949951, True)
    # inbound 8365f4 appears at line 47 with 60 packets
    late = pc.stats["8365f4"]
    assert late.times[0] == raw_line(name, 47)[3] and late.sample(0)["packetsReceived"] == 60
    assert dump.metadata["statsFormat"] == "firefox"


def test_hand_firefox_sfu_pasted_connection_info_and_remote_reports():
    name = "jitsi_legacy_firefox-standard-stats-sfu.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    # line 155 (last): 969e0f00 packetsReceived 8408, own timestamp 1605199514547 (T is 1605199514548)
    last = raw_line(name, 155)
    assert last[2]["timestamp"] == 1605199514548
    sample = sample_at(pc, "969e0f00", last[3])
    assert (sample["packetsReceived"], sample["timestamp"]) == (8408, 1605199514547)
    # remote-outbound-rtp reports (the far side's view) are kept but are not inbound tracks
    assert len(pc.tracks_of_type("remote-outbound-rtp")) == 9
    assert not set(t.id for t in pc.tracks_of_type("remote-outbound-rtp")) & set(inbound_tracks(pc))
    # the connectionInfo line (2023, Firefox 118) was pasted into a 2020 dump: kept, but flagged
    assert raw_line(name, 1)[3] == 1697705955011
    assert dump.start_ms == 1605199353071
    assert any("connectionInfo is dated 1071 day(s) away" in w for w in dump.warnings)


def test_hand_screenshare_v1_carries_absent_reports_forward():
    """v1 file: a report omitted from a getstats line is unchanged, not removed (D1, D5)."""
    name = "jitsi_legacy_google-legacy-screenshare-msessions.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_1"]
    assert dump.format_detail == {"legacy_delta_semantics": "v1", "has_connectionInfo": False}
    # ssrc_203774566_recv is written only at line 59 (PC_1's first getstats) and never again ...
    written = [i for i, line in enumerate(raw_lines(name), 1) if b'"ssrc_203774566_recv"' in line]
    assert written == [59]
    track = pc.stats["ssrc_203774566_recv"]
    assert len(track) == len(pc.snapshot_times) == 119  # ... yet present in every snapshot
    assert track.last("packetsReceived") == "0" and track.last("mediaType") == "audio"
    assert track.report_times[-1] == raw_line(name, 59)[2]["timestamp"]
    # ssrc_1914090050_send is last written at line 215 (own timestamp 1608042249768, packetsSent "2263")
    sender = pc.stats["ssrc_1914090050_send"]
    assert sender.times[-1] == pc.snapshot_times[-1] == 1608042356367
    assert (sender.report_times[-1], sender.last("packetsSent")) == (1608042249768, "2263")
    display = [e.time for e in dump.client_events if e.name == "navigator.mediadevices.getdisplaymedia"]
    assert display == [1608042143621, 1608042262239, 1608042300226]
    assert dump.user_agent is None


def test_hand_legacy_goog_stats_keep_strings():
    name = "jitsi_legacy_google-legacy-stats-p2p.jsonl"
    pc = parsed(name).peer_connections["PC_1"]
    first_time = raw_line(name, 92)[3]
    assert pc.snapshot_times[0] == first_time == 1605199266256
    conn = sample_at(pc, "Conn-audio-1-0", first_time)
    assert pc.stats["Conn-audio-1-0"].type == "googCandidatePair"
    assert (conn["googActiveConnection"], conn["googRtt"]) == ("true", "1")
    video = pc.stats["ssrc_852864162_recv"]
    assert video.type == "ssrc" and video.sample(0)["mediaType"] == "video"
    assert video.sample(0)["googCodecName"] == ""  # line 92; "H264" from line 105
    assert sample_at(pc, "ssrc_852864162_recv", raw_line(name, 105)[3])["googCodecName"] == "H264"
    assert video.last("packetsReceived") == "16094"  # line 189, a string as written
    assert pc.stats["bweforvideo"].type == "VideoBwe"
    assert pc.configuration["sdpSemantics"] == "plan-b"


def test_hand_google_standard_p2p_codec_appears_and_pair_switches():
    name = "jitsi_legacy_google-standard-stats-p2p.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    video = "RTCInboundRTPVideoStream_2864088180"
    assert "codecId" not in sample_at(pc, video, raw_line(name, 94)[3])
    assert sample_at(pc, video, raw_line(name, 97)[3])["codecId"] == "RTCCodec_video_Inbound_102"
    assert pc.stats["RTCCodec_video_Inbound_102"].last("mimeType") == "video/H264"
    transport = "RTCTransport_audio_1"
    assert sample_at(pc, transport, raw_line(name, 94)[3])["selectedCandidatePairId"] == (
        "RTCIceCandidatePair_RTKTApnA_wcpOWLrv"
    )
    assert sample_at(pc, transport, raw_line(name, 112)[3])["selectedCandidatePairId"] == (
        "RTCIceCandidatePair_RTKTApnA_WfUa5C2W"
    )
    # identity lines 6, 8, 9, 10 merge (line 9's customerId too); none erases the others
    assert dump.metadata["meetingUniqueId"] == "171e34f9-73c4-4bb7-acc7-9ddd2b7fa172"
    assert dump.metadata["confName"] == "fullmechanismslastimpolitely"
    assert dump.metadata["customerId"] == "123kda000111asdasd"
    assert dump.metadata["confID"] == "192.168.1.234:8080/fullmechanismslastimpolitely"


def test_hand_google_standard_sfu_candidates_written_once():
    name = "jitsi_legacy_google-standard-stats-sfu.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    # the candidates are written in full at line 50 only, then as {"timestamp": 0}
    local = pc.stats["RTCIceCandidate_MNOmV7yc"]
    assert local.times[0] == raw_line(name, 50)[3] == 1605198591775
    assert len(local) == 34
    last = local.sample(len(local) - 1)
    assert (last["candidateType"], last["port"], last["protocol"]) == ("prflx", 54943, "udp")
    assert pc.stats["RTCIceCandidate_CQYo4xR6"].last("candidateType") == "srflx"
    assert pc.stats["RTCTransport_audio_1"].last("selectedCandidatePairId") == (
        "RTCIceCandidatePair_MNOmV7yc_CQYo4xR6"
    )
    # conferenceStartTimestamp's value is a time in the value, not an event time
    values = [e.value for e in dump.client_events if e.name == "conferencestarttimestamp"]
    assert values == [1605178370713, 0]
    assert dump.start_ms == 1605198580016


def test_hand_safari_track_reports_and_opus():
    name = "jitsi_legacy_safari-standard-stats.jsonl"
    dump = parsed(name)
    pc = dump.peer_connections["PC_0"]
    audio = pc.stats["RTCInboundRTPAudioStream_4051566705"]
    assert audio.times[0] == raw_line(name, 48)[3] == 1605199380468
    first = audio.sample(0)
    assert (first["codecId"], first["trackId"], first["packetsReceived"]) == (
        "RTCCodec_1_Inbound_111",
        "RTCMediaStreamTrack_receiver_23",
        1,
    )
    assert pc.stats["RTCCodec_1_Inbound_111"].last("mimeType") == "audio/opus"
    track = pc.stats["RTCMediaStreamTrack_receiver_23"]
    assert track.type == "track" and track.last("trackIdentifier") == "58599102-4250-4e82-9961-c38b37a0a553-2"
    assert len(pc.tracks_of_type("track")) == 14
    assert (
        pc.stats["RTCTransport_0_1"].last("selectedCandidatePairId")
        == "RTCIceCandidatePair_9xo/S95y_r8mj4mBN"
    )
    assert pc.stats["RTCIceCandidate_9xo/S95y"].last("candidateType") == "prflx"
    assert dump.metadata["statsFormat"] == "safari"


def test_hand_undefined_ice_candidate_removed_pair_and_stale_transport():
    """v2 file: the selected pair and its candidates are absent from the last getstats line (94), so they
    are removed; the transport, which only sends changed fields, still names the removed pair."""
    name = "jitsi_legacy_undefined-ice-candidate.jsonl"
    pc = parsed(name).peer_connections["PC_0"]
    pair_id = "RTCIceCandidatePair_Gt7VfjdU_/Jy8tOtG"
    last_line = raw_line(name, 94)
    assert pair_id not in last_line[2] and "RTCIceCandidate_Gt7VfjdU" not in last_line[2]
    assert pc.stats[pair_id].times == [raw_line(name, 77)[3], raw_line(name, 92)[3]]
    assert pc.stats["RTCIceCandidate_Gt7VfjdU"].times[-1] == raw_line(name, 92)[3]
    transport = sample_at(pc, "RTCTransport_0_1", last_line[3])
    assert transport["selectedCandidatePairId"] == pair_id
    assert (transport["bytesSent"], transport["selectedCandidatePairChanges"]) == (0, 2)
    local = pc.stats["RTCIceCandidate_Gt7VfjdU"].sample(0)
    assert (local["candidateType"], local["port"], local["address"]) == ("prflx", 64615, "x.x.x.x")
    end_of_candidates = [e for e in pc.events if e.name == "icecandidate" and e.value is None]
    assert [e.time for e in end_of_candidates] == [1646901906087]


# -- semantics, dispatch, metadata (synthetic lines around real ones) ------------------------------------


def lines_to_bytes(items: list) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def test_v2_removes_and_v1_carries_absent_reports():
    v2 = [
        [
            "getstats",
            "PC_0",
            {"a": {"timestamp": 0, "type": "x", "n": 1}, "b": {"timestamp": 0, "n": 5}, "timestamp": 10},
            11,
        ],
        ["getstats", "PC_0", {"a": {"timestamp": 0}, "timestamp": 20}, 21],
        [
            "getstats",
            "PC_0",
            {"a": {"timestamp": 0, "n": 2}, "b": {"timestamp": 0, "m": 1}, "timestamp": 30},
            31,
        ],
    ]
    dump = parse_legacy(lines_to_bytes(v2))
    pc = dump.peer_connections["PC_0"]
    assert dump.format_detail["legacy_delta_semantics"] == "v2"
    assert pc.stats["b"].times == [11, 31]
    assert pc.stats["b"].sample(1) == {"m": 1, "timestamp": 30, "type": None}  # re-created, not merged
    assert [pc.stats["a"].sample(i)["n"] for i in range(3)] == [1, 1, 2]
    assert pc.stats["a"].report_times == [10, 20, 30]

    v1 = [[m, p, {k: r for k, r in v.items() if r != {"timestamp": 0}}, t] for m, p, v, t in v2]
    dump = parse_legacy(lines_to_bytes(v1))
    pc = dump.peer_connections["PC_0"]
    assert dump.format_detail["legacy_delta_semantics"] == "v1"
    assert pc.stats["b"].times == [11, 21, 31]
    assert pc.stats["b"].sample(1) == {"n": 5, "timestamp": 10, "type": None}  # carried, with its old time
    assert pc.stats["b"].sample(2) == {"n": 5, "m": 1, "timestamp": 30, "type": None}


def test_v1_early_iso_timestamp_and_reports_without_timestamp():
    """fippo's early v1: no report timestamps, top-level ISO date. New report -> T; known keeps its time."""
    items = [
        [
            "getstats",
            "pc1",
            {"r": {"type": "t", "v": 1}, "timestamp": "2016-03-01T10:00:00.000Z"},
            1456826400005,
        ],
        ["getstats", "pc1", {"r": {"v": 2}, "timestamp": "2016-03-01T10:00:01.000Z"}, 1456826401005],
        [
            "getstats",
            "pc1",
            {"s": {"v": 3}, "timestamp": "2016-03-01T10:00:02"},
            1456826402005,
        ],  # naive = UTC
    ]
    pc = parse_legacy(lines_to_bytes(items)).peer_connections["pc1"]
    assert pc.stats["r"].report_times == [1456826400000.0, 1456826400000.0, 1456826400000.0]
    assert pc.stats["r"].values("v") == [(1456826400005, 1), (1456826401005, 2), (1456826402005, 2)]
    assert pc.stats["s"].report_times == [1456826402000.0]


def test_detection_ignores_timestamp_only_reports_in_a_pcs_first_line():
    items = [
        ["getstats", "PC_0", {"a": {"timestamp": 5}, "timestamp": 5}, 6],
        ["getstats", "PC_1", {"a": {"timestamp": 5}, "timestamp": 5}, 6],
        ["getstats", "PC_0", {"b": {"timestamp": 0, "x": 1}, "timestamp": 9}, 9],
    ]
    assert detect_delta_semantics(lines_to_bytes(items)) == "v1"
    # a quoted '{"timestamp":0}' inside a string value is not structure
    items[2][2]["b"]["note"] = '{"timestamp":0}'
    assert detect_delta_semantics(lines_to_bytes(items)) == "v1"
    items[2][2]["c"] = {"timestamp": 0}
    assert detect_delta_semantics(lines_to_bytes(items)) == "v2"
    # an integer pcId (accepted as its decimal string) is tracked too
    numeric = [[m, 7, v, t] for m, _pc, v, t in items]
    assert detect_delta_semantics(lines_to_bytes(numeric)) == "v2"
    assert list(parse_legacy(lines_to_bytes(numeric)).peer_connections) == ["7"]


def test_detection_reads_a_candidate_line_orjson_refuses_with_the_stdlib_decoder():
    # NaN is not JSON (orjson refuses it, so does the main pass) but the pre-scan decided with
    # json.loads, which reads it: the candidate line still decides, as it did
    items = [
        ["getstats", "PC_0", {"a": {"timestamp": 5, "x": 1}, "timestamp": 5}, 6],
        ["getstats", "PC_0", {"a": {"timestamp": 9}, "b": {"x": 2}, "timestamp": 9}, 9],
    ]
    line = lines_to_bytes(items).replace(b'"x": 2', b'"x": NaN')
    assert b"NaN" in line
    assert detect_delta_semantics(line) == "v2"
    with pytest.raises(DumpFormatError) as err:  # the main pass refuses it
        parse_legacy(line)
    assert err.value.line == 2


def test_the_parsed_dump_is_freed_by_reference_counting():
    # The parser and its per-PC track builders referred to each other, through the dump: it was freed
    # only by a full collection (all of its tracks kept meanwhile). Now dropping it frees it at once.
    raw = dump_bytes(SMALL)
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        dump = parse_legacy(raw)
        assert dump.peer_connections
        gone = weakref.ref(dump)
        del dump
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()


def test_client_level_methods_with_a_pc_id_do_not_make_a_peer_connection():
    items = [
        ["navigator.mediaDevices.getUserMedia", "1-0", {"audio": True}, 100],
        ["getUserMediaOnSuccess", "PC_9", {"tracks": []}, 101],  # jitsi's bare naming
        ["MediaStreamTrack.stop", "PC_9", None, 102],
        ["create", "PC_0", '{"iceServers": []}', 103],
        ["getStats", None, {"timestamp": 1}, 104],
    ]
    dump = parse_legacy(lines_to_bytes(items))
    assert list(dump.peer_connections) == ["PC_0"]
    assert dump.peer_connections["PC_0"].configuration == {"iceServers": []}
    assert [e.name for e in dump.client_events] == [
        "navigator.mediadevices.getusermedia",
        "getusermediaonsuccess",
        "mediastreamtrack.stop",
    ]
    assert dump.client_events[0].extra == [{"pcId": "1-0"}]
    assert any("getstats without a pcId" in w for w in dump.warnings)
    assert dump.start_ms == 100 and dump.end_ms == 103  # the ignored getStats line has no snapshot


def test_client_user_agent_wins_over_connection_info():
    base = dump_bytes(SMALL)
    extra = lines_to_bytes(
        [["create", None, {"userAgent": "Client/1.0", "hardwareConcurrency": 8}, 1697705722050]]
    )
    dump = parse_legacy(base + extra)
    assert dump.user_agent == "Client/1.0"
    assert dump.device["hardwareConcurrency"] == 8
    assert dump.metadata["userAgent"].startswith("Mozilla/5.0 (Macintosh")  # connectionInfo kept as metadata
    dump = parse_legacy(base + lines_to_bytes([["userAgent", None, "Fippo/2.0", 1697705722060]]))
    assert dump.user_agent == "Fippo/2.0"


def test_connection_info_time_never_sets_call_start_or_end():
    lines = raw_lines(SMALL)
    first = json.loads(lines[0])
    facts = truth(SMALL)
    for moved in (1, 9_999_999_999_999):
        first[3] = moved
        dump = parse_legacy(b"\n".join([json.dumps(first).encode(), *lines[1:]]))
        assert (dump.start_ms, dump.end_ms) == (facts["call"]["start_ms"], facts["call"]["end_ms"])
        assert any("connectionInfo is dated" in w for w in dump.warnings)


# -- re-encoded variants of real fixtures parse the same -------------------------------------------------


def summary(dump: Dump) -> dict:
    return {
        "format_detail": dump.format_detail,
        "span": (dump.start_ms, dump.end_ms),
        "client": [(e.name, e.time, e.value) for e in dump.client_events],
        "pcs": {
            pc_id: (
                [(e.name, e.time, e.value) for e in pc.events],
                pc.snapshot_times,
                {s: (t.type, t.times, t.report_times, t.props) for s, t in pc.stats.items()},
                pc.configuration,
            )
            for pc_id, pc in dump.peer_connections.items()
        },
        "metadata": dump.metadata,
        "user_agent": dump.user_agent,
    }


@pytest.mark.parametrize("name", [SMALL, "jitsi_legacy_google-legacy-screenshare-msessions.jsonl"])
def test_sequence_number_as_fifth_element(name):
    lines = [json.loads(line) for line in raw_lines(name) if line.strip()]
    with_seq = lines_to_bytes([[*item, number] for number, item in enumerate(lines)])
    dump = parse_legacy(with_seq)
    assert summary(dump) == summary(parsed(name))
    pc_events = [e for pc in dump.peer_connections.values() for e in pc.events]
    assert all(len(e.extra) == 1 and isinstance(e.extra[0], int) for e in pc_events + dump.client_events)


@pytest.mark.parametrize("name", [SMALL, "jitsi_legacy_firefox-relay.jsonl"])
def test_camel_case_getstats_crlf_and_bom(name):
    raw = dump_bytes(name).replace(b'["getstats",', b'["getStats",').replace(b"\n", b"\r\n")
    dump = parse_legacy(b"\xef\xbb\xbf" + raw)
    assert summary(dump) == summary(parsed(name))


def test_gzip_through_the_dispatcher():
    raw = dump_bytes(SMALL)
    assert detect(raw) == "rtcstats-legacy"
    dump = parse(gzip.compress(raw))
    assert (dump.format, dump.gzip, dump.bytes_uncompressed) == ("rtcstats-legacy", True, len(raw))
    assert summary(dump) == summary(parsed(SMALL))


# -- corrupted variants: DumpFormatError naming the line, never another exception ------------------------


def replace_line(name: str, number: int, new: bytes) -> bytes:
    lines = raw_lines(name)
    lines[number - 1] = new
    return b"\n".join(lines)


BAD_LINES = {
    "not JSON": b"hello world",
    "cut in the middle of the file": b'["getstats","PC_0",{"AP":{"timestamp":0}',
    "not an array": b'{"method": "create", "pcId": "PC_0"}',
    "a string": b'"getstats"',
    "too short": b'["getstats","PC_0"]',
    "empty array": b"[]",
    "timestamp a string": b'["create","PC_0",{},"1697705722108"]',
    "timestamp boolean": b'["create","PC_0",{},true]',
    "timestamp NaN": b'["create","PC_0",{},NaN]',
    # beyond the float range: orjson refuses them, the stdlib decoder reads an infinity / a huge integer
    "timestamp infinite": b'["create","PC_0",{},1e400]',
    "timestamp minus infinite": b'["create","PC_0",{},-1e400]',
    "timestamp a huge integer": b'["create","PC_0",{},' + b"9" * 400 + b"]",
    "timestamp object": b'["create","PC_0",{},{"t":1}]',
    "method not a string": b'[7,"PC_0",{},1697705722108]',
    "pcId an object": b'["create",{"id":1},{},1697705722108]',
    "getstats value a list": b'["getstats","PC_0",[{"id":"a"}],1697705722108]',
    "getstats value a string": b'["getstats","PC_0","{}",1697705722108]',
    "getstats value null": b'["getstats","PC_0",null,1697705722108]',
    "not UTF-8": b'["create","PC_0","\xff\xfe",1697705722108]',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
@pytest.mark.parametrize("number", [1, 20, 41, 54])
def test_bad_line_names_its_number(kind, number):
    raw = replace_line(SMALL, number, BAD_LINES[kind])
    with pytest.raises(DumpFormatError) as caught:
        parse_legacy(raw)
    assert caught.value.line == number
    assert f"(line {number})" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        b"1697705722108",
        b"1697705722108.25",
        b"1.697705722108e12",
        b"-5",
        b"0",
        b"-0",
        b"18446744073709551616",
        b"18446744073709551615",
        b"9007199254740993",  # 2**53 + 1: rounded to a float the same way
        b"-9007199254740993",
        b"1" + b"0" * 300,
    ],
)
def test_every_kind_of_number_is_the_time_as_number_gives(text):
    # a float or an integer timestamp skips the as_number call (an integer is float()'ed, as as_number
    # does); the reference is as_number of every decoded time, as the parser took it before
    raw = replace_line(SMALL, 20, b'["createOffer","PC_9",null,' + text + b"]")
    event = parse_legacy(raw).peer_connections["PC_9"].events[-1]
    assert repr(event.time) == repr(as_number(json.loads(text)))


@pytest.mark.parametrize("text", [b"1" + b"0" * 400, b"-1" + b"0" * 400, b"true", b"false", b'"5"', b"{}"])
def test_a_time_as_number_refuses_is_refused_the_same(text):
    # beyond the float range (an integer the stdlib decoder reads), a boolean, a string, an object
    assert as_number(json.loads(text)) is None
    raw = replace_line(SMALL, 20, b'["createOffer","PC_9",null,' + text + b"]")
    with pytest.raises(DumpFormatError) as caught:
        parse_legacy(raw)
    assert caught.value.line == 20
    assert "the timestamp (4th element) is not a number" in str(caught.value)


def test_a_method_is_sorted_the_same_on_every_line():
    # the kind of a method is worked out once per file: the same method with and without a pcId, in
    # another case, and a getstats line without a pcId are each what their own line makes them
    lines = [
        b'["getStats","PC_0",{"AP":{"timestamp":0,"a":1}},1697705722100]',
        b'["getstats",null,{"AP":{"timestamp":0,"a":1}},1697705722101]',
        b'["getStats",null,{"AP":{"timestamp":0,"a":2}},1697705722102]',
        b'["getUserMedia","PC_0",{"audio":true},1697705722103]',
        b'["getUserMedia",null,{"audio":true},1697705722104]',
        b'["createOffer","PC_0",null,1697705722105]',
        b'["createOffer",null,null,1697705722106]',
        b'["navigator.mediaDevices.getUserMedia","PC_1",{},1697705722107]',
        b'["getStats","PC_0",{"AP":{"timestamp":0,"a":3}},1697705722108]',
    ]
    dump = parse_legacy(b"\n".join(lines))
    pc = dump.peer_connections["PC_0"]
    assert pc.snapshot_times == [1697705722100.0, 1697705722108.0]
    assert pc.stats["AP"].props["a"] == [1, 3]
    assert [e.raw_name for e in pc.events] == ["createOffer"]
    client = [(e.raw_name, e.extra) for e in dump.client_events]
    assert client == [
        ("getUserMedia", [{"pcId": "PC_0"}]),
        ("getUserMedia", []),
        ("createOffer", []),
        ("navigator.mediaDevices.getUserMedia", [{"pcId": "PC_1"}]),
    ]
    assert "PC_1" not in dump.peer_connections
    assert any("getstats without a pcId was ignored (2 lines)" in w for w in dump.warnings)


EVENT_NAMES = [
    "onicecandidate",
    "onIceConnectionStateChange",
    "onSuccess",
    "onsuccessful",
    "onrenegotiationneeded",
    "navigator.mediaDevices.getUserMedia",
    "MediaStreamTrack.onended",
    "HTMLMediaElement.play",
    "getstats",
    "on",
    "",
    "x" * 101,
    "On" + "Y" * 150,
    "navigator." + "z" * 120,
]


def test_cached_event_names_and_client_methods_are_the_functions():
    for _ in range(2):  # the first round fills the caches, the second reads them
        for name in EVENT_NAMES:
            assert repr(event_name(name)) == repr(normalize_event_name(name))
            assert is_client_method(name) is name.lower().startswith(CLIENT_EVENT_PREFIXES)
            assert repr(make_event(name, None, (), 1.0).name) == repr(normalize_event_name(name))


def test_the_events_own_init_is_the_generated_one():
    @dataclasses.dataclass
    class Generated:  # what @dataclass writes for Event's fields
        time: float | None
        name: str
        raw_name: str
        value: object = None
        extra: list = dataclasses.field(default_factory=list)
        pc_id: str | None = None

    calls = [
        ((1.0, "create", "create"), {}),
        ((None, "a", "A", {"v": 1}, [2], "PC_0"), {}),
        ((), {"time": 2.0, "name": "n", "raw_name": "N", "extra": None}),
        ((3.0, "n"), {"raw_name": "N", "pc_id": "PC_1"}),
    ]
    for args, kwargs in calls:
        event, reference = Event(*args, **kwargs), Generated(*args, **kwargs)
        assert repr(dataclasses.astuple(event)) == repr(dataclasses.astuple(reference))
    first, second = Event(1.0, "n", "N"), Event(1.0, "n", "N")
    assert first == second and first.extra == [] and first.extra is not second.extra
    for args in [(1.0, "n"), (1.0, "n", "N", None, [], None, "more")]:
        with pytest.raises(TypeError):
            Generated(*args)
        with pytest.raises(TypeError):
            Event(*args)


def _event_by_init(raw_name, value, extra, time):
    """The reference make_event replaces: the Event made by calling the class."""
    name = normalize_event_name(raw_name)
    if name in STATE_EVENTS:
        value = normalize_state(value)
    return Event(time, name, raw_name, value, list(extra))


def test_make_event_is_the_event_its_init_makes():
    extra = [{"k": 1}, "x"]
    calls = [
        ("onIceConnectionStateChange", '"connected"', (), 1.0),
        ("createOffer", {"offerToReceiveAudio": True}, extra, None),
        ("navigator.mediaDevices.getUserMedia", None, [], 2.5),
        ("setLocalDescription", "v=0", ("a", 1), 3.0),
    ]
    for args in calls:
        event, reference = make_event(*args), _event_by_init(*args)
        assert repr(event) == repr(reference)
        assert event == reference and type(event) is Event
        # the same attributes in the same order (what vars(), pickling and the dataclass helpers read)
        assert repr(vars(event)) == repr(vars(reference))
        assert event.extra is not args[2]  # a list of its own, as Event(..., list(extra)) gave
    first, second = make_event("a", None, extra, 1.0), make_event("a", None, extra, 1.0)
    first.extra.append(3)
    assert second.extra == extra


def _add_event_by_pc(dump, pc_id, event):
    """The reference of add_event's PC branch: every event's PC through Dump.pc."""
    pc = dump.pc(pc_id)
    pc.events.append(event)
    if event.name == "create" and pc.configuration is None:
        pc.configuration = _parse_configuration(event.value)


def test_add_event_files_pc_events_as_dump_pc_does():
    events = [
        ("PC_1", make_event("create", '{"iceServers": []}', (), 1.0)),
        ("PC_0", make_event("createOffer", None, (), 2.0)),
        ("PC_1", make_event("create", "{}", (), 3.0)),
        ("PC_1", make_event("onicecandidate", {"candidate": "x"}, (), 4.0)),
        ("PC_0", make_event("create", "not json", (), 5.0)),
    ]
    ours, reference = Dump(format="rtcstats-legacy"), Dump(format="rtcstats-legacy")
    for pc_id, event in events:
        add_event(ours, pc_id, event)
        _add_event_by_pc(reference, pc_id, event)
    assert repr(ours) == repr(reference)
    assert list(ours.peer_connections) == ["PC_1", "PC_0"]


# jitsi clients write client-level entries such as e2eRtt ({remoteEndpointId, remoteRegion, rtt}); a line
# of them without its timestamp made a whole unseen dump a 415 (issue 13).
UNTIMED_LINES = [
    b'["e2eRtt",null,{"remoteEndpointId":"3e4a1c9b","remoteRegion":"eu-west-1","rtt":54.3}]',
    b'["getstats","PC_0",{"AP":{"timestamp":0}}]',
    b'["create","PC_0",{},null]',
]


def test_lines_without_a_timestamp_are_skipped_and_counted():
    lines = raw_lines(SMALL)
    # one after the header, one amid the getstats lines, one at the very end (where the truncation policy
    # looks): nothing else of the file may change
    raw = b"\n".join(
        [lines[0], UNTIMED_LINES[0], *lines[1:20], UNTIMED_LINES[1], *lines[20:], UNTIMED_LINES[2]]
    )
    dump = parse_legacy(raw)
    assert dump.format_detail == {**parsed(SMALL).format_detail, "lines_without_time": 3}
    assert dump.warnings == ["line 2: a line without a timestamp was skipped (3 lines)"]
    assert {**summary(dump), "format_detail": None} == {**summary(parsed(SMALL)), "format_detail": None}
    assert not any(e.name == "e2ertt" for e in dump.client_events)
    assert (
        "lines_without_time" not in parsed(SMALL).format_detail
    )  # the report names it only when it happened


def test_connection_info_without_a_timestamp_still_fills_the_metadata():
    lines = raw_lines(SMALL)
    header = json.loads(lines[0])
    assert header[0] == "connectionInfo"
    dump = parse_legacy(b"\n".join([json.dumps(header[:3]).encode(), *lines[1:]]))
    assert dump.metadata == parsed(SMALL).metadata
    assert dump.format_detail["has_connectionInfo"] is True and "lines_without_time" not in dump.format_detail
    assert summary(dump) == summary(parsed(SMALL))


def test_bad_getstats_line_in_other_fixtures():
    for name in LEGACY:
        number = next(i for i, line in enumerate(raw_lines(name), 1) if line.startswith(b'["getstats"'))
        with pytest.raises(DumpFormatError) as caught:
            parse_legacy(replace_line(name, number, b'["getstats","PC_0",[],1605199264670]'))
        assert caught.value.line == number, name


def test_truncated_final_line_is_skipped_with_a_warning():
    lines = raw_lines(SMALL)[:53]  # lines 1-53; line 53 is the 13th getstats
    cut = b"\n".join(lines[:52] + [lines[52][: len(lines[52]) // 2]])
    dump = parse_legacy(cut)
    assert dump.warnings == ["line 53: the last line is cut off (incomplete JSON); it was skipped"]
    pc = dump.peer_connections["PC_0"]
    assert len(pc.snapshot_times) == truth(SMALL)["pcs"]["PC_0"]["stats_snapshots"] - 1
    assert dump.end_ms == json.loads(lines[51])[3]  # line 52's time
    whole = parse_legacy(b"\n".join(lines[:52]))
    assert summary(dump) == summary(whole)


def test_complete_but_corrupt_final_line_is_an_error():
    raw = dump_bytes(SMALL).rstrip(b"\n") + b'\n["getstats","PC_0"}, 5]'
    with pytest.raises(DumpFormatError) as caught:
        parse_legacy(raw)
    assert caught.value.line == 56


@pytest.mark.parametrize("raw", [b"", b"\n\n  \n", b'["getstats","PC_0",{"a":'])
def test_nothing_to_parse_is_an_error(raw):
    with pytest.raises(DumpFormatError):
        parse_legacy(raw)


def test_report_that_is_not_an_object_is_skipped_with_a_warning():
    line = json.loads(raw_lines(SMALL)[41])
    line[2]["AP"] = 42
    dump = parse_legacy(replace_line(SMALL, 42, json.dumps(line).encode()))
    assert dump.warnings == ["line 42: a getstats report that is not an object was skipped"]
    assert len(dump.peer_connections["PC_0"].snapshot_times) == 13


def test_random_corruption_raises_only_dump_format_error():
    """Cuts, byte flips and line swaps of a real fixture: parse either succeeds or says which line broke."""
    raw = dump_bytes(SMALL)
    rng = random.Random(20261125)
    for _ in range(300):
        data = bytearray(raw)
        action = rng.choice(("cut", "flip", "insert", "drop"))
        position = rng.randrange(len(data))
        if action == "cut":
            data = data[:position]
        elif action == "flip":
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.choice(b'[]{}",:0\n\xff x')
        elif action == "insert":
            data[position:position] = rng.choice([b"\n", b"[", b"null,", b'"', b"\n[1,2,3,4]\n"])
        else:
            data[position : position + rng.randint(1, 200)] = b""
        try:
            dump = parse_legacy(bytes(data))
        except DumpFormatError as err:
            assert err.line is not None or "no rtcstats lines" in str(err)
        else:
            assert dump.format == "rtcstats-legacy"
