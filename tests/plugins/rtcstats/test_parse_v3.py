"""RTCStatsDump v3 parsing: the two real v3 fixtures against facts.json, a synthetic rtcstats-js file that
exercises every decoding rule, the delta decoder on hand-made deltas, and corrupted variants of the real
files (which must only ever raise DumpFormatError naming the line)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import random

import pytest

from plugins.rtcstats.parsed_dump import Dump, PeerConnection
from plugins.rtcstats.parsing import parse
from plugins.rtcstats.parsing.compression import (
    StatsDeltaDecoder,
    StatsDeltaError,
    decode_method,
    decode_stats_type,
    decompress_stats,
    restore_description,
)
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.lines import as_number, is_client_method, normalize_state, read_json_lines
from plugins.rtcstats.parsing.rtcstats_v3 import parse_v3
from tests.plugins.rtcstats.fixtures import dump_bytes, truth

CHROME = "rtcstatsv3_chrome144_native_p2p_audio_video.txt"
GUM = "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl"
INTERNALS = "internals_chrome144_p2p_audio_video.txt"
FIXTURES = (CHROME, GUM)


class _ParsedOnUse(dict):
    """Each dump parsed when a test first asks for it: a test of the dump copied into the repository
    runs even where the shared one is absent."""

    def __missing__(self, name: str) -> Dump:
        self[name] = parse_v3(dump_bytes(name))
        return self[name]


@pytest.fixture(scope="module")
def parsed() -> dict[str, Dump]:
    return _ParsedOnUse()


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- helpers that apply dump-facts.md definitions to the parsed model (independently of the parser) ---


def d4_states(pc: PeerConnection, event: str) -> list[str]:
    """D4: values of the `event` events, unquoted, lower-cased, without ICEConnectionState-like prefixes."""
    out = []
    for e in pc.events:
        if e.raw_name.lower().removeprefix("on") != event:
            continue
        value = e.value
        if isinstance(value, str) and value.startswith('"'):
            value = json.loads(value)
        value = str(value).lower()
        for prefix in ("iceconnectionstate", "peerconnectionstate", "connectionstate"):
            value = value.removeprefix(prefix)
        out.append(value)
    return out


def sample_at(track, time: float, prop: str):
    """The value of `prop` in the sample of `track` taken at snapshot time `time` (None if absent)."""
    return track.props[prop][track.times.index(time)] if time in track.times else None


def selected_pair_rtts(pc: PeerConnection) -> list[float]:
    """D7: currentRoundTripTime * 1000 of the selected pair, per (snapshot, transport)."""
    rtts = []
    for transport in pc.tracks_of_type("transport"):
        for time, pair_id in transport.values("selectedCandidatePairId"):
            pair = pc.stats.get(pair_id)
            rtt = sample_at(pair, time, "currentRoundTripTime") if pair else None
            if isinstance(rtt, (int, float)):
                rtts.append(rtt * 1000)
    return rtts


# --- the real fixtures against facts.json ---


@pytest.mark.parametrize("name", FIXTURES)
def test_format_and_peer_connections(parsed, name):
    dump, facts = parsed[name], truth(name)
    assert dump.format == facts["format"] == "rtcstats-v3"
    assert dump.format_detail["file_format"] == facts["format_detail"]["file_format"] == 3
    assert dump.format_detail["metadata_keys"] == facts["format_detail"]["metadata_keys"]
    assert len(dump.peer_connections) == facts["pc_count"]
    assert sorted(dump.peer_connections) == sorted(facts["pcs"])
    assert dump.warnings == facts["warnings"] == []


def test_peer_connection_ids_of_chrome_writer(parsed):
    """D2: the "<rid>-0" getUserMedia pseudo ids carry only client events and are no PCs."""
    dump = parsed[CHROME]
    assert sorted(dump.peer_connections) == ["92-1", "94-1"]
    assert dump.format_detail["getstats_lines_complete"] == 117
    assert dump.format_detail["getstats_lines_delta"] == 0
    gum = [e for e in dump.client_events if e.name.startswith("navigator.mediadevices.")]
    assert [e.raw_name for e in gum] == [
        "navigator.mediaDevices.getUserMedia",
        "navigator.mediaDevices.getUserMediaOnSuccess",
        "navigator.mediaDevices.getUserMedia",
        "navigator.mediaDevices.getUserMediaOnSuccess",
        "navigator.mediaDevices.getDisplayMedia",
        "navigator.mediaDevices.getDisplayMediaOnSuccess",
    ]
    # line 5: ["navigator.mediaDevices.getUserMedia","92-0",{"audio":true,"video":true},
    #          "getUserMedia-92-649401-0","http://localhost:3002/",0.541015625]
    assert gum[0].value == {"audio": True, "video": True}
    assert gum[0].extra == ["getUserMedia-92-649401-0", "http://localhost:3002/"]
    assert gum[0].time == pytest.approx(1770110090111.487, abs=1e-3)


@pytest.mark.parametrize("name", FIXTURES)
def test_call_and_pc_spans(parsed, name):
    """D3: every line time counts (client create, getStats, the server's close line); metadata does not."""
    dump, facts = parsed[name], truth(name)
    assert r3(dump.start_ms) == facts["call"]["start_ms"]
    assert r3(dump.end_ms) == facts["call"]["end_ms"]
    assert r3(dump.end_ms - dump.start_ms) == facts["call"]["duration_ms"]
    pcs = dump.peer_connections.values()
    assert r3(min((pc.first_time for pc in pcs), default=None)) == facts["pc_span"]["start_ms"]
    assert r3(max((pc.last_time for pc in pcs), default=None)) == facts["pc_span"]["end_ms"]
    for pc_id, pc in dump.peer_connections.items():
        assert r3(pc.first_time) == facts["pcs"][pc_id]["first_event_ms"]
        assert r3(pc.last_time) == facts["pcs"][pc_id]["last_event_ms"]


@pytest.mark.parametrize("name", FIXTURES)
def test_state_sequences(parsed, name):
    dump, facts = parsed[name], truth(name)
    for pc_id, pc in dump.peer_connections.items():
        assert d4_states(pc, "iceconnectionstatechange") == facts["pcs"][pc_id]["ice_states"]
        assert d4_states(pc, "legacyiceconnectionstatechange") == facts["pcs"][pc_id]["ice_states_legacy"]
        assert d4_states(pc, "connectionstatechange") == facts["pcs"][pc_id]["connection_states"]


def test_state_values_are_unquoted(parsed):
    """Chrome's writer JSON-quotes states.

    Line 52 is ["oniceconnectionstatechange","92-1","\\"checking\\"",1.19091796875]."""
    pc = parsed[CHROME].peer_connections["92-1"]
    first = next(e for e in pc.events if e.name == "iceconnectionstatechange")
    assert (first.raw_name, first.value) == ("oniceconnectionstatechange", "checking")
    assert first.time == pytest.approx(1770110098503.561, abs=1e-3)
    signaling = [e.value for e in pc.events if e.name == "signalingstatechange"]
    assert signaling == ["have-remote-offer", "stable", "have-remote-offer", "stable"]


@pytest.mark.parametrize("name", FIXTURES)
def test_snapshot_counts(parsed, name):
    dump, facts = parsed[name], truth(name)
    for pc_id, pc in dump.peer_connections.items():
        assert len(pc.snapshot_times) == facts["pcs"][pc_id]["stats_snapshots"]
        assert pc.snapshot_times == sorted(pc.snapshot_times)


@pytest.mark.parametrize("name", FIXTURES)
def test_inbound_outbound_last_values(parsed, name):
    dump, facts = parsed[name], truth(name)
    for pc_id, pc in dump.peer_connections.items():
        inbound = {t.id: t for t in pc.tracks_of_type("inbound-rtp")}
        assert sorted(inbound) == sorted(i["id"] for i in facts["pcs"][pc_id]["inbound"])
        for fact in facts["pcs"][pc_id]["inbound"]:
            track = inbound[fact["id"]]
            assert track.props["packetsReceived"][-1] == fact["packetsReceived"]
            assert track.props["packetsLost"][-1] == fact["packetsLost"]
            assert (track.last("kind"), track.last("ssrc")) == (fact["kind"], fact["ssrc"])
            assert r3(track.times[-1]) == fact["last_seen_ms"]
        outbound = {t.id: t for t in pc.tracks_of_type("outbound-rtp")}
        for fact in facts["pcs"][pc_id]["outbound"]:
            assert outbound[fact["id"]].props["bytesSent"][-1] == fact["bytesSent"]
            assert outbound[fact["id"]].props["packetsSent"][-1] == fact["packetsSent"]


def test_selected_pair_and_rtt_match_facts(parsed):
    """D6/D7 computed from the parsed tracks: reports of one snapshot line up by snapshot time."""
    dump, facts = parsed[CHROME], truth(CHROME)
    for pc_id, pc in dump.peer_connections.items():
        fact = facts["pcs"][pc_id]
        (transport,) = pc.tracks_of_type("transport")
        final = fact["final_selected_pairs"][0]
        assert transport.last("selectedCandidatePairId") == final["pair_id"]
        pair = pc.stats[final["pair_id"]]
        for side, key in (("local", "localCandidateId"), ("remote", "remoteCandidateId")):
            candidate = pc.stats[pair.last(key)]
            assert candidate.id == final[side]["id"]
            assert candidate.last("candidateType") == final[side]["candidateType"]
            assert candidate.last("port") == final[side]["port"]
            assert candidate.last("protocol") == final[side]["protocol"]
        rtts = selected_pair_rtts(pc)
        assert len(rtts) == fact["rtt_samples"]
        assert round(sum(rtts) / len(rtts), 3) == fact["rtt_mean_ms"]


def test_values_read_by_hand_from_the_last_line(parsed):
    """Line 195, the last line: ["getStats","92-1",{…,"T01":{…"selectedCandidatePairId":
    "CPI1XOmtb9_Cs2s8Hj9",…},"II1XOmtb9":{…"candidateType":"host",…"port":49094,…},"RIV322562611":
    {…"timestamp":1770110149854.254,…}},0.247802734375]"""
    pc = parsed[CHROME].peer_connections["92-1"]
    last = pc.snapshot_times[-1]
    assert last == pytest.approx(1770110149909.557, abs=1e-3)
    transport = pc.stats["T01"]
    assert transport.type == "transport"
    assert sample_at(transport, last, "selectedCandidatePairId") == "CPI1XOmtb9_Cs2s8Hj9"
    assert sample_at(transport, last, "bytesReceived") == 9428597
    assert sample_at(transport, last, "dtlsState") == "connected"
    local = pc.stats["II1XOmtb9"]
    assert (local.type, local.last("candidateType"), local.last("port")) == ("local-candidate", "host", 49094)
    assert local.last("networkType") == "unknown"
    # a remote-inbound-rtp report carries its own older RTCP timestamp: kept, with its own timestamp
    remote = pc.stats["RIV322562611"]
    assert remote.times[-1] == last
    assert remote.report_times[-1] == 1770110149854.254
    assert remote.last("localId") == "OT01V322562611"
    outbound = pc.stats["OT01V322562611"]
    assert outbound.last("qualityLimitationDurations") == {
        "bandwidth": 16.122,
        "cpu": 0,
        "none": 35.287,
        "other": 0,
    }
    assert len(pc.snapshot_times) == 61 and len(pc.stats["P"]) == 61


def test_chrome_client_and_pc_details(parsed):
    dump = parsed[CHROME]
    assert dump.metadata == {}  # Chrome's writer's metadata line is only {"fileFormat":3}
    assert dump.user_agent is None  # neither metadata nor the create event carry a userAgent
    assert dump.user_agent_data["platform"] == "Linux"
    assert dump.device == {
        "hardwareConcurrency": 8,
        "deviceMemory": 8,
        "screen": {"width": 1920, "height": 1080, "devicePixelRatio": 1},
        "window": {"width": 1896, "height": 943},
    }
    pc = dump.peer_connections["94-1"]
    assert pc.configuration == {"iceServers": [{"urls": ["turn:192.168.1.118:3478"]}]}
    assert pc.url == "http://localhost:3001/"
    assert pc.events[0].name == "create"
    names = [e.name for e in pc.events]
    assert names.count("createoffer") == 2 and "getstats" not in names
    assert "createdatachannel" in names and "transceiveradded" in names


def test_getusermedia_only_file(parsed):
    dump = parsed[GUM]
    assert dump.peer_connections == {}
    assert dump.metadata == {
        "url": "/samples/src/content/getusermedia/gum/",
        "origin": "https://webrtc.github.io",
        "userAgent": dump.user_agent,
        "startTime": 1758602115667,
        "clientProtocol": "rtcstats#4.0",
    }
    assert dump.user_agent.endswith("Chrome/140.0.0.0 Safari/537.36")
    assert dump.device["hardwareConcurrency"] == 16 and dump.device["window"] == {
        "width": 1280,
        "height": 720,
    }
    assert dump.user_agent_data["brands"][0] == {"brand": "Chromium", "version": "140"}
    events = [(e.raw_name, e.time, e.value, e.extra) for e in dump.client_events]
    assert events == [
        ("create", 1758602115670, events[0][2], []),
        ("navigator.mediaDevices.getUserMedia", 1758602117823, {"audio": False, "video": True}, ["60-0"]),
        (
            "navigator.mediaDevices.getUserMediaOnSuccess",
            1758602118863,
            [["video", "4e4f3d4b-687a-4f10-9994-9bb28748d063", "3352be13-e025-45ea-90d3-1e02a1aacd9b"]],
            ["60-0"],
        ),
        ("close", 1758602121216, 1001, []),
    ]
    assert [e.name for e in dump.client_events][1:3] == [
        "navigator.mediadevices.getusermedia",
        "navigator.mediadevices.getusermediaonsuccess",
    ]


def test_same_session_as_the_internals_dump(parsed):
    """The Chrome v3 file and internals_chrome144_p2p_audio_video.txt were written from the same tabs.

    Every internals point of IT01A2631453875 (92-1's inbound audio) is in the v3 file with the same report
    timestamp and the same value. The whole-call figures still differ: the internals dump ends with the
    getStats of 1770110147908.61, the v3 dump was written two polls (~2 s) later, so its last bytesReceived
    is 180027 instead of 173033, its last packetsReceived 2569 instead of 2469, and 92-1 has 61 snapshots
    instead of 59.
    """
    series = json.loads(dump_bytes(INTERNALS))["PeerConnections"]["92-1"]["stats"]
    stamps = json.loads(series["IT01A2631453875-timestamp"]["values"])
    received = json.loads(series["IT01A2631453875-bytesReceived"]["values"])
    pc = parsed[CHROME].peer_connections["92-1"]
    track = pc.stats["IT01A2631453875"]
    v3_by_stamp = dict(zip(track.report_times, track.props["bytesReceived"], strict=True))
    assert [v3_by_stamp[t] for t in stamps] == received
    assert received[-1] == 173033 and track.last("bytesReceived") == 180027
    internals = truth(INTERNALS)["pcs"]["92-1"]
    (fact,) = (i for i in internals["inbound"] if i["id"] == "IT01A2631453875")
    at_internals_end = track.report_times.index(internals["last_event_ms"])
    assert track.props["packetsReceived"][at_internals_end] == fact["packetsReceived"] == 2469
    assert track.last("packetsReceived") == 2569
    later = [t for t in pc.stats["P"].report_times if t > internals["last_event_ms"]]
    assert len(later) == 2
    assert len(pc.snapshot_times) - len(later) == internals["stats_snapshots"] == 59


def test_entry_point_with_gzip():
    raw = dump_bytes(CHROME)
    dump = parse(gzip.compress(raw))
    assert (dump.format, dump.gzip, dump.bytes_uncompressed) == ("rtcstats-v3", True, len(raw))
    assert sorted(dump.peer_connections) == ["92-1", "94-1"]


# --- a synthetic rtcstats-js file: numeric methods and keys, "t", null removal, carry-forward ---

T0 = 1_700_000_000_000
OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
)
ANSWER = OFFER.replace("o=- 1 2", "o=- 7 2")
ANSWER2 = ANSWER.replace("a=mid:0\r\n", "a=mid:0\r\na=recvonly\r\n")
# ANSWER2 as rtcstats-js writes it after ANSWER: unchanged sections become bare "v=" / "m=" lines
ANSWER2_COMPRESSED = "v=\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\nm=\r\n"


def jwt(claims: dict) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


SNAPSHOT_1 = {
    "0": {"type": 5, "125": "1", "41": 1000, "80": 2000, "123": "connected"},
    "1": {"type": 6, "148": "2", "149": "3", "152": 0.004, "150": True},
    "2": {"type": 7, "136": "host", "135": 50000, "116": "udp"},
    "3": {"type": 8, "136": "srflx", "135": 3478},
    "4": {"type": 1, "11": "audio", "10": 1111, "14": 100, "15": 2, "12": "6"},
    "5": {
        "type": 2,
        "11": "video",
        "80": 5000,
        "96": {"none": 1.0, "cpu": 0.0, "bandwidth": 0.0},
        "95": "none",
    },
    "6": {"type": 14, "6": "audio/opus", "7": 48000},
    "7": {"type": 3, "74": "5", "15": 1, "75": 0.02, "t": T0 + 700.25},
    "8": {"type": "compute-pressure", "cpuState": 4},
    "t": T0 + 999.5,
}
DELTA_2 = {
    "0": {"41": 1600, "80": 2800},
    "4": {"14": 150},
    "5": {"96": {"none": 1.5, "bandwidth": 0.5}, "80": 9000, "95": "bandwidth"},
    "7": {"t": T0 + 1700.75, "75": 0.03},
    "9": {"type": 99, "custom": [1, 2]},
    "t": T0 + 1999.5,
}
DELTA_3 = {"2": None, "42": None, "1": {"152": 0.006}, "4": {"15": 3}, "9": {"custom": [3]}, "t": T0 + 2999.5}


def synthetic_lines() -> list:
    token = jwt({"rtcStats": {"user": "user-7", "session": "sess-3", "conference": "conf-9"}, "exp": 1})
    meta = {
        "url": f"/stats?rtcstats-token={token}&room=r1",
        "origin": "https://app.example",
        "userAgent": "UA/1",
        "startTime": T0 - 5,
        "remoteAddresses": ["10.0.0.1"],
        "clientProtocol": "rtcstats#4.0",
        "authData": True,
        "fileFormat": 3,
    }
    device = {
        "hardwareConcurrency": 4,
        "deviceMemory": 2,
        "cpuPerformance": 0.5,
        "userAgentData": {"mobile": False},
    }
    return [
        "RTCStatsDump",
        meta,
        [39, None, device, T0],  # line 3
        ["websocket", None, {"connectionTime": 12}, 3],
        [39, "PC_0", {"iceServers": [], "bundlePolicy": "max-bundle"}, 7],  # line 5, T0 + 10
        [2, "PC_0", {"offerToReceiveAudio": True}, "2-0", 1],
        [3, "PC_0", {"type": "offer", "sdp": OFFER}, "2-0", 2],
        [6, "PC_0", {"type": "offer", "sdp": "v=\r\nm=\r\nm=\r\n"}, "6-0", 1],
        [7, "PC_0", None, "6-0", 1],
        [23, "PC_0", "have-local-offer", 0.5],  # line 10, T0 + 15.5
        [8, "PC_0", {"type": "answer", "sdp": ANSWER}, "8-0", 20],
        [9, "PC_0", None, "8-0", 1],
        [24, "PC_0", "checking", 1],
        [25, "PC_0", "connecting", 0],
        [24, "PC_0", "connected", 2.5],  # line 15, T0 + 40
        [25, "PC_0", "connected", 0],
        ["g", "PC_0", SNAPSHOT_1, "connected-0", 960],  # T0 + 1000
        ["g", "PC_0", DELTA_2, 1000],  # T0 + 2000
        [80, "PC_0", {"width": 640, "height": 480}, "video-1", 10],  # client method despite its pcId
        [1, "PC_0", DELTA_3, 990],  # line 20, T0 + 3000: getStats as method id 1
        [8, "PC_0", {"type": "answer", "sdp": ANSWER2_COMPRESSED}, "8-1", 5],
        [99, "PC_0", "x", 1],  # unknown method id passes through
        [36, "PC_0", None, 4],
        ["close", None, 1000, 100],  # T0 + 3110
    ]  # fmt: skip


def encode(lines: list) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()


@pytest.fixture(scope="module")
def synthetic() -> Dump:
    return parse_v3(encode(synthetic_lines()))


def test_synthetic_stats_decoding(synthetic):
    pc = synthetic.peer_connections["PC_0"]
    times = [T0 + 1000, T0 + 2000, T0 + 3000]
    t1, t2, t3 = T0 + 999.5, T0 + 1999.5, T0 + 2999.5
    assert pc.snapshot_times == times
    assert {i: t.type for i, t in pc.stats.items()} == {
        "0": "transport",
        "1": "candidate-pair",
        "2": "local-candidate",
        "3": "remote-candidate",
        "4": "inbound-rtp",
        "5": "outbound-rtp",
        "6": "codec",
        "7": "remote-inbound-rtp",
        "8": "compute-pressure",
        "9": "99",  # type 99 is not in the table: passed through, kept as the string "99"
    }
    transport = pc.stats["0"]
    assert transport.props["bytesReceived"] == [1000, 1600, 1600]  # changed, then carried forward
    assert transport.props["bytesSent"] == [2000, 2800, 2800]
    assert transport.props["selectedCandidatePairId"] == ["1", "1", "1"]
    assert transport.report_times == [t1, t2, t3]  # each snapshot's collapsed "t"
    pair = pc.stats["1"]
    assert pair.props["currentRoundTripTime"] == [0.004, 0.004, 0.006]
    assert pair.props["nominated"] == [True, True, True]
    assert (pair.last("localCandidateId"), pair.last("remoteCandidateId")) == ("2", "3")
    local = pc.stats["2"]  # removed by null in the third snapshot
    assert local.times == times[:2]
    assert (local.last("candidateType"), local.last("port"), local.last("protocol")) == ("host", 50000, "udp")
    inbound = pc.stats["4"]
    assert inbound.props["packetsReceived"] == [100, 150, 150]
    assert inbound.props["packetsLost"] == [2, 2, 3]
    assert inbound.props["codecId"] == ["6", "6", "6"] and inbound.last("ssrc") == 1111
    outbound = pc.stats["5"]
    assert outbound.props["qualityLimitationDurations"] == [
        {"none": 1.0, "cpu": 0.0, "bandwidth": 0.0},
        {"none": 1.5, "cpu": 0.0, "bandwidth": 0.5},  # nested objects merge key by key
        {"none": 1.5, "cpu": 0.0, "bandwidth": 0.5},
    ]
    assert outbound.props["qualityLimitationReason"] == ["none", "bandwidth", "bandwidth"]
    assert pc.stats["6"].props["mimeType"] == ["audio/opus"] * 3 and pc.stats["6"].last("clockRate") == 48000
    remote = pc.stats["7"]  # own timestamps win over "t"; carried into snapshot 3, it gets "t"
    assert remote.report_times == [T0 + 700.25, T0 + 1700.75, t3]
    assert remote.props["roundTripTime"] == [0.02, 0.03, 0.03]
    assert remote.props["localId"] == ["5", "5", "5"]
    assert pc.stats["8"].props["cpuState"] == [4, 4, 4]
    unknown = pc.stats["9"]
    assert unknown.times == times[1:] and unknown.props["custom"] == [[1, 2], [3]]  # arrays are replaced
    assert "42" not in pc.stats  # a null for an id never seen removes nothing


def test_synthetic_events_metadata_and_sdp(synthetic):
    dump = synthetic
    assert list(dump.peer_connections) == ["PC_0"]
    assert dump.metadata == {
        "url": "/stats?rtcstats-token=redacted&room=r1",
        "origin": "https://app.example",
        "userAgent": "UA/1",
        "startTime": T0 - 5,
        "clientProtocol": "rtcstats#4.0",
        "userId": "user-7",
        "sessionId": "sess-3",
        "conferenceId": "conf-9",
    }
    assert "remoteAddresses" in dump.format_detail["metadata_keys"]
    assert (
        dump.format_detail["getstats_lines_delta"] == 3 and dump.format_detail["getstats_lines_complete"] == 0
    )
    assert dump.user_agent == "UA/1"
    assert dump.device == {"hardwareConcurrency": 4, "deviceMemory": 2, "cpuPerformance": 0.5}
    assert dump.user_agent_data == {"mobile": False}
    assert [(e.name, e.time) for e in dump.client_events] == [
        ("create", T0),
        ("websocket", T0 + 3),
        ("htmlmediaelement.resize", T0 + 2010),
        ("close", T0 + 3110),
    ]
    pc = dump.peer_connections["PC_0"]
    assert pc.configuration == {"iceServers": [], "bundlePolicy": "max-bundle"}
    assert [e.raw_name for e in pc.events] == [
        "create",
        "createOffer",
        "createOfferOnSuccess",
        "setLocalDescription",
        "setLocalDescriptionOnSuccess",
        "onsignalingstatechange",
        "setRemoteDescription",
        "setRemoteDescriptionOnSuccess",
        "oniceconnectionstatechange",
        "onconnectionstatechange",
        "oniceconnectionstatechange",
        "onconnectionstatechange",
        "setRemoteDescription",
        "99",
        "close",
    ]
    assert pc.events[5].name == "signalingstatechange" and pc.events[5].value == "have-local-offer"
    assert pc.events[5].time == T0 + 15.5
    assert d4_states(pc, "iceconnectionstatechange") == ["checking", "connected"]
    assert pc.events[1].extra == ["2-0"] and pc.events[3].extra == ["6-0"]
    # compressed SDP restored: SLD against the created offer, the second SRD against the first answer
    assert pc.events[3].value == {"type": "offer", "sdp": OFFER}
    assert pc.events[12].value == {"type": "answer", "sdp": ANSWER2}
    assert dump.warnings == []
    assert (dump.start_ms, dump.end_ms) == (T0, T0 + 3110)


def test_identity_from_stored_auth_data():
    meta = {"fileFormat": 3, "authData": {"rtcStats": {"user": "u1", "conference": 42}}, "session": "s9"}
    dump = parse_v3(encode(["RTCStatsDump", meta, ["close", None, 1000, T0]]))
    assert dump.metadata == {"userId": "u1", "conferenceId": "42", "sessionId": "s9"}
    assert [e.name for e in dump.client_events] == ["close"] and dump.peer_connections == {}


def test_header_and_metadata_alone():
    dump = parse_v3(b'\n  \nRTCStatsDump\r\n{"fileFormat":3}\r\n')
    assert dump.format == "rtcstats-v3" and dump.start_ms is None and dump.warnings == []


# --- the decoder on hand-made deltas ---


def test_decode_tables():
    assert decode_method(60) == decode_method("60") == "navigator.mediaDevices.getUserMedia"
    assert decode_method("g") == decode_method(1) == "getStats"
    assert decode_method(65) == "navigator.mediaDevices.getUserMediaOnFailure"
    assert decode_method(68) == "navigator.mediaDevices.getDisplayMediaOnFailure"
    assert (
        decode_method(62) == 62 and decode_method("websocket") == "websocket" and decode_method(None) is None
    )
    assert decode_method(True) is True
    assert decode_stats_type(1) == decode_stats_type("1") == "inbound-rtp"
    assert decode_stats_type(14) == "codec" and decode_stats_type(15) == 15
    assert decode_stats_type("transport") == "transport"


def test_decompress_first_snapshot():
    delta = {"0": {"type": 1, "14": 5, "t": 10}, "1": {"type": "codec", "6": "video/VP8"}, "t": 20}
    assert decompress_stats({}, delta) == {
        "0": {"type": "inbound-rtp", "packetsReceived": 5, "timestamp": 10},
        "1": {"type": "codec", "mimeType": "video/VP8", "timestamp": 20},
    }


def test_decompress_removal_carry_forward_and_merge():
    base = {
        "a": {"type": "outbound-rtp", "bytesSent": 1, "qualityLimitationDurations": {"none": 1, "cpu": 0},
              "list": [1, 2], "timestamp": 10},
        "b": {"type": "codec", "mimeType": "audio/opus", "timestamp": 10},
        "c": {"type": "transport", "timestamp": 10},
    }  # fmt: skip
    frozen = copy.deepcopy(base)
    delta = {"a": {"80": 5, "96": {"cpu": 2}, "list": [3]}, "c": None, "zz": None, "t": 20}
    full = decompress_stats(base, delta)
    assert full == {
        "a": {
            "type": "outbound-rtp",
            "bytesSent": 5,
            "qualityLimitationDurations": {"none": 1, "cpu": 2},
            "list": [3],
            "timestamp": 20,
        },
        "b": {"type": "codec", "mimeType": "audio/opus", "timestamp": 20},
    }
    assert base == frozen  # the base is not modified
    # an own timestamp in the delta is kept although "t" is present
    assert decompress_stats(full, {"b": {"t": 15}, "t": 30})["b"]["timestamp"] == 15
    # without "t", carried reports keep their timestamps (reference semantics)
    assert decompress_stats(full, {"a": {"80": 6}})["b"]["timestamp"] == 20
    # a value that changes from an object to a scalar takes the scalar
    assert decompress_stats(full, {"a": {"96": None}, "t": 40})["a"]["qualityLimitationDurations"] is None


def test_decoder_takes_complete_reports_as_they_are():
    decoder = StatsDeltaDecoder()
    first = decoder.decode(
        "pc", {"A": {"type": "codec", "timestamp": 1, "x": 1}, "B": {"type": "codec", "timestamp": 1}}
    )
    assert sorted(first) == ["A", "B"]
    # B missing and A without x: nothing is carried forward from a complete line
    second = decoder.decode("pc", {"A": {"id": "A", "type": "codec", "timestamp": 2}})
    assert second == {"A": {"id": "A", "type": "codec", "timestamp": 2}}
    # a delta line after it is decoded against it; other PCs have their own base
    assert decoder.decode("pc", {"A": {"x": 5}, "t": 3}) == {
        "A": {"id": "A", "type": "codec", "timestamp": 3, "x": 5}
    }
    assert decoder.decode("other", {"0": {"14": 1}, "t": 9}) == {"0": {"packetsReceived": 1, "timestamp": 9}}
    assert (decoder.complete_lines, decoder.delta_lines) == (2, 2)
    # an empty value carries everything (it is no complete line)
    assert decoder.decode("pc", {})["A"]["x"] == 5


@pytest.mark.parametrize(
    "value",
    [[1, 2], "stats", None, {"A": 5}, {"A": [1]}, {"A": "x"}, {"t": "20"}, {"t": True}],
)
def test_decoder_rejects_bad_values(value):
    with pytest.raises(StatsDeltaError):
        StatsDeltaDecoder().decode("pc", value)


def test_restore_description():
    compressed = {"type": "offer", "sdp": "v=\r\nm=\r\nm=\r\n"}
    assert restore_description({"type": "offer", "sdp": OFFER}, compressed) == (
        {"type": "offer", "sdp": OFFER},
        True,
    )
    assert restore_description(None, compressed) == (compressed, False)
    assert restore_description({"type": "answer", "sdp": ANSWER}, compressed) == (compressed, False)
    full = {"type": "offer", "sdp": OFFER}
    assert restore_description(None, full) == (full, True)  # nothing compressed: unchanged
    assert restore_description(None, None) == (None, True)


# --- lines.py ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"connected"', "connected"),
        ('"have-local-offer"', "have-local-offer"),
        ("checking", "checking"),
        ("Connected", "connected"),
        ("ICEConnectionStateConnected", "connected"),
        ("kICEConnectionStateCompleted", "completed"),
        ("SignalingStateHaveLocalOffer", "have-local-offer"),
        ("PeerConnectionStateFailed", "failed"),
        ("HAVE_REMOTE_PRANSWER", "have-remote-pranswer"),
        ('"weird"', '"weird"'),
        ("", ""),
        (None, None),
        (3, 3),
    ],
)
def test_normalize_state(raw, expected):
    assert normalize_state(raw) == expected


def test_small_line_helpers():
    assert is_client_method("navigator.mediaDevices.getUserMedia") and is_client_method(
        "MediaStreamTrack.onmute"
    )
    assert is_client_method("HTMLMediaElement.resize") and not is_client_method("getStats")
    assert as_number(5) == 5.0 and as_number(1.5) == 1.5
    assert as_number(True) is None and as_number("5") is None and as_number(None) is None
    assert as_number(10**400) is None


def test_read_json_lines_numbers_and_truncation():
    warnings: list[str] = []
    raw = b'[1]\n\n  \r\n{"a": 2}\r\n[3, "x'
    assert list(read_json_lines(raw, warnings)) == [(1, [1]), (4, {"a": 2})]
    assert warnings == ["line 5: the last line is cut off (incomplete JSON); it was skipped"]
    assert list(read_json_lines(b"xx\n[1]\n[2]", [], start=3, first_line_no=2)) == [(2, [1]), (3, [2])]
    with pytest.raises(DumpFormatError) as err:  # complete but corrupt last line
        list(read_json_lines(b"[1]\n[2]]", []))
    assert err.value.line == 2


# --- corrupted variants of the real files ---


def variant(name: str, line: int, replacement: bytes) -> bytes:
    lines = dump_bytes(name).split(b"\n")
    lines[line - 1] = replacement
    return b"\n".join(lines)


BAD_GUM_LINES = [
    (1, b"RTCStatsDumpX", "first line"),
    (1, b'{"fileFormat":3}', "first line"),
    (2, b"{fileFormat: 3}", "not valid JSON"),
    (2, b"[3]", "must be a JSON object"),
    (2, b'{"url": "/x"}', "no integer fileFormat"),
    (2, b'{"fileFormat": "3"}', "no integer fileFormat"),
    (2, b'{"fileFormat": true}', "no integer fileFormat"),
    (2, b'{"fileFormat": 2}', "unsupported fileFormat 2"),
    (2, b'{"fileFormat": 3', "not valid JSON"),
    (4, b"hello", "not valid JSON"),
    (4, b'{"method": 60}', "JSON array"),
    (4, b"[60, null, 5]", "needs 4"),
    (4, b'[60,null,{"audio":false},"60-0","2153"]', "time delta"),
    (4, b'[60,null,{"audio":false},"60-0",true]', "time delta"),
    (4, b'[60,null,{"audio":false},"60-0",NaN]', "not valid JSON"),
    (4, b'[60,null,{"audio":false},"60-0",1e999]', "time delta"),
    (4, b'[{"m":1},null,{},2153]', "method"),
    (4, b'[60,{"pc":1},{},2153]', "pcId"),
    (4, b'[60,null,"\xff\xfe",2153]', "UTF-8"),
    (4, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (4, b"[60,null,1" + b"1" * 5000 + b",2153]", "not valid JSON"),
    (6, b'["close",null,1001,2353]]', "not valid JSON"),  # complete but corrupt last line
    (6, b"garbage", "not valid JSON"),
]


@pytest.mark.parametrize(("line", "replacement", "message"), BAD_GUM_LINES)
def test_bad_lines_name_their_line(line, replacement, message):
    with pytest.raises(DumpFormatError) as err:
        parse_v3(variant(GUM, line, replacement))
    assert err.value.line == line
    assert message in str(err.value) and f"(line {line})" in str(err.value)


BAD_STATS = [
    b'["getStats","92-1",[1,2],509.155029296875]',
    b'["getStats","92-1","stats",509.155029296875]',
    b'["getStats","92-1",null,509.155029296875]',
    b'["getStats","92-1",{"P":5},509.155029296875]',
    b'["g","92-1",{"P":{"14":1},"t":"soon"},509.155029296875]',
    b'["getStats","92-1",{"P":{"type":"peer-connection","timestamp":1' + b"0" * 400 + b"}},509.1]",
]


@pytest.mark.parametrize("replacement", BAD_STATS)
def test_bad_getstats_values_name_their_line(replacement):
    """Line 6 is the first getStats line of the Chrome file."""
    with pytest.raises(DumpFormatError) as err:
        parse_v3(variant(CHROME, 6, replacement))
    assert err.value.line == 6


@pytest.mark.parametrize("raw", [b"", b"   \n", b"RTCStatsDump", b"RTCStatsDump\n", b"RTCStatsDump\n\n[1]"])
def test_missing_header_or_metadata(raw):
    with pytest.raises(DumpFormatError) as err:
        parse_v3(raw)
    assert err.value.line in (1, 2, 3)


def test_cut_off_last_line_is_skipped_with_a_warning():
    raw = dump_bytes(CHROME)
    last_start = raw.rindex(b"\n") + 1
    for cut in (last_start + 1, last_start + 40, len(raw) - 1):
        for tail in (b"", b"\n"):
            dump = parse_v3(raw[:cut] + tail)
            assert dump.warnings == ["line 195: the last line is cut off (incomplete JSON); it was skipped"]
            assert len(dump.peer_connections["92-1"].snapshot_times) == 60
            assert len(dump.peer_connections["94-1"].snapshot_times) == 56
            assert r3(dump.end_ms) == 1770110149909.309  # line 194, the last complete line
    dump = parse_v3(dump_bytes(GUM)[:-5])
    assert [e.name for e in dump.client_events][-1] == "navigator.mediadevices.getusermediaonsuccess"
    assert dump.warnings == ["line 6: the last line is cut off (incomplete JSON); it was skipped"]


def test_lines_without_a_time_are_skipped_and_counted():
    """The GUM file with client-level lines that carry no time delta (3 elements whose last is the value,
    or a null delta) inserted: each is skipped and counted, the running time and every event unchanged."""
    lines = dump_bytes(GUM).split(b"\n")
    untimed = [
        b'["e2eRtt",null,{"remoteEndpointId":"3e4a1c9b","rtt":54.3}]',
        b'[60,null,{"audio":true},null]',
    ]
    raw = b"\n".join([*lines[:4], untimed[0], *lines[4:], untimed[1]])
    dump = parse_v3(raw)
    reference = parse_v3(dump_bytes(GUM))
    assert [(e.name, e.time, e.value) for e in dump.client_events] == [
        (e.name, e.time, e.value) for e in reference.client_events
    ]
    assert dump.format_detail == {**reference.format_detail, "lines_without_time": 2}
    assert dump.warnings == ["line 5: a line without a timestamp was skipped (2 lines)"]
    assert "lines_without_time" not in reference.format_detail


def test_line_ends_and_trailing_newline_do_not_matter():
    raw = dump_bytes(GUM)
    reference = [(e.name, e.time, e.value) for e in parse_v3(raw).client_events]
    for variant_raw in (raw + b"\n", raw.replace(b"\n", b"\r\n"), raw + b"\n\n  \n", raw.rstrip(b"\n")):
        dump = parse_v3(variant_raw)
        assert [(e.name, e.time, e.value) for e in dump.client_events] == reference
        assert dump.warnings == []


def test_time_warnings_and_overflow():
    lines = [
        b"RTCStatsDump",
        b'{"fileFormat":3}',
        b'["create",null,{},5000]',
        b'["x",null,1,-10]',
        b'["y",null,1,-1]',
    ]
    dump = parse_v3(b"\n".join(lines))
    assert [e.time for e in dump.client_events] == [5000, 4990, 4989]
    assert dump.warnings == [
        "line 3: the first time (5000.0) is not an epoch time in ms",
        "line 4: the time goes backwards (-10.0 ms)",
    ]
    lines[3:] = [b'["x",null,1,1e308]', b'["y",null,1,1.7e308]']
    with pytest.raises(DumpFormatError) as err:
        parse_v3(b"\n".join(lines))
    assert err.value.line == 5


def test_blank_lines_count_in_line_numbers():
    lines = dump_bytes(GUM).split(b"\n")
    raw = b"\n".join(lines[:3] + [b""] + [b"hello"] + lines[4:])
    with pytest.raises(DumpFormatError) as err:
        parse_v3(raw)
    assert err.value.line == 5


def test_any_prefix_or_mutation_is_parsed_or_rejected_cleanly():
    """Robustness: no exception but DumpFormatError, whatever the damage."""
    raw = dump_bytes(GUM)
    for cut in range(len(raw) + 1):
        try:
            parse_v3(raw[:cut])
        except DumpFormatError:
            pass
    rng = random.Random(20260203)
    alphabet = b'[]{}",:0-9.tnfe\\\n \xff'
    big = dump_bytes(CHROME)
    for _ in range(300):
        data = bytearray(raw if rng.random() < 0.8 else big[:20000] + big[-3000:])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice(alphabet)
        try:
            parse_v3(bytes(data))
        except DumpFormatError:
            pass
