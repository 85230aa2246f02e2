"""webrtc-internals parser: the shared real dumps against facts.json (dump-facts.md D1-D10), values read
by hand from the raw files, corrupted variants of the real files, and D5 snapshot rules on small dumps."""

from __future__ import annotations

import gzip
import json
import math
import re
from datetime import UTC, datetime

import pytest

from plugins.rtcstats.parsed_dump import Dump, PeerConnection
from plugins.rtcstats.parsing import DumpFormatError, parse
from plugins.rtcstats.parsing import internals as internals_module
from plugins.rtcstats.parsing.internals import parse_internals
from plugins.rtcstats.parsing.internals_stats import split_key, type_from_id
from plugins.rtcstats.parsing.internals_values import (
    normalize_state,
    parse_configuration,
    parse_constraint,
    parse_event_value,
)

from .fixtures import dump_bytes, fixture_names, require_shared_facts, truth

INTERNALS = fixture_names("internals_")
M144 = "internals_chrome144_p2p_audio_video.txt"
M149 = "internals_chrome149_recvonly_h265.txt"
M86 = "internals_chrome86_sfu_kurento_h264_relay.json"
GUM = "internals_chrome142_getusermedia_only.gz"
EMPTY = "internals_headlesschrome108_empty.gz"


def test_every_internals_fixture_is_covered():
    require_shared_facts()
    assert INTERNALS == sorted([M144, M149, M86, GUM, EMPTY])


_parsed: dict[str, Dump] = {}


def parsed(name: str) -> Dump:
    if name not in _parsed:
        _parsed[name] = parse(dump_bytes(name))
    return _parsed[name]


def uncompressed(name: str) -> bytes:
    data = dump_bytes(name)
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def d4_states(pc: PeerConnection) -> dict[str, list[str]]:
    """dump-facts D4, applied to the parsed events: method lower-cased without a leading "on";
    values unquoted, lower-cased, stripped of prefixes like ICEConnectionState."""
    out: dict[str, list[str]] = {"ice_states": [], "ice_states_legacy": [], "connection_states": []}
    targets = {
        "iceconnectionstatechange": "ice_states",
        "legacyiceconnectionstatechange": "ice_states_legacy",
        "connectionstatechange": "connection_states",
    }
    for event in pc.events:
        method = event.raw_name.lower()
        method = method[2:] if method.startswith("on") else method
        if method in targets:
            value = str(event.value).strip('"').lower()
            value = re.sub(r"^(k?iceconnectionstate|k?peerconnectionstate|connectionstate)", "", value)
            out[targets[method]].append(value)
    return out


def last_sample(pc: PeerConnection, stat_id: str, prop: str):
    """The value at the last snapshot in which the report is present (D8)."""
    return pc.stats[stat_id].props[prop][-1]


# --- every fixture against facts.json -------------------------------------------------------------


@pytest.mark.parametrize("name", INTERNALS)
def test_format_and_top_level(name):
    dump, facts = parsed(name), truth(name)
    assert dump.format == facts["format"] == "webrtc-internals"
    assert dump.gzip is facts["gzip"]
    assert dump.bytes_uncompressed == facts["bytes_uncompressed"]
    assert dump.user_agent == facts["format_detail"]["user_agent"]
    assert dump.format_detail["top_level_keys"] == facts["format_detail"]["top_level_keys"]
    assert dump.stats_truncated is facts["format_detail"]["stats_truncated"] is False
    assert (
        dump.format_detail["updatelog_locale_time_entries_ignored"]
        == facts["format_detail"]["updatelog_locale_time_entries_ignored"]
    )
    assert dump.dump_created_ms == facts.get("dump_created_ms")
    assert dump.warnings == facts["warnings"] == []


@pytest.mark.parametrize("name", INTERNALS)
def test_peer_connections_and_call_span(name):
    dump, facts = parsed(name), truth(name)
    assert len(dump.peer_connections) == facts["pc_count"]
    assert sorted(dump.peer_connections) == sorted(facts["pcs"])
    # D3: the same events on both sides (numeric updateLog/getUserMedia timestamps + snapshot times),
    # so no difference is expected; an empty dump has no times at all.
    assert dump.start_ms == facts["call"]["start_ms"]
    assert dump.end_ms == facts["call"]["end_ms"]
    pc_times = [t for pc in dump.peer_connections.values() for t in (pc.first_time, pc.last_time) if t]
    assert (min(pc_times) if pc_times else None) == facts["pc_span"]["start_ms"]
    assert (max(pc_times) if pc_times else None) == facts["pc_span"]["end_ms"]


@pytest.mark.parametrize("name", INTERNALS)
def test_states_snapshots_and_pc_times(name):
    dump, facts = parsed(name), truth(name)
    for pc_id, expected in facts["pcs"].items():
        pc = dump.peer_connections[pc_id]
        states = d4_states(pc)
        assert states["ice_states"] == expected["ice_states"]
        assert states["ice_states_legacy"] == expected["ice_states_legacy"]
        assert states["connection_states"] == expected["connection_states"]
        assert len(pc.snapshot_times) == expected["stats_snapshots"]
        assert pc.snapshot_times == sorted(pc.snapshot_times)
        assert pc.first_time == expected["first_event_ms"]
        assert pc.last_time == expected["last_event_ms"]


@pytest.mark.parametrize("name", INTERNALS)
def test_inbound_and_outbound_totals_match_facts(name):
    dump, facts = parsed(name), truth(name)
    for pc_id, expected in facts["pcs"].items():
        pc = dump.peer_connections[pc_id]
        inbound = sorted(t.id for t in pc.tracks_of_type("inbound-rtp"))
        assert inbound == sorted(track["id"] for track in expected["inbound"])
        for track in expected["inbound"]:
            assert last_sample(pc, track["id"], "packetsReceived") == track["packetsReceived"]
            assert last_sample(pc, track["id"], "packetsLost") == track["packetsLost"]
            assert pc.stats[track["id"]].times[0] == track["first_seen_ms"]
            assert pc.stats[track["id"]].times[-1] == track["last_seen_ms"]
        for track in expected["outbound"]:
            assert last_sample(pc, track["id"], "bytesSent") == track["bytesSent"]
            assert last_sample(pc, track["id"], "packetsSent") == track["packetsSent"]


@pytest.mark.parametrize("name", INTERNALS)
def test_tracks_are_consistent_columns(name):
    strings: dict[str, str] = {}
    for pc in parsed(name).peer_connections.values():
        snapshots = set(pc.snapshot_times)
        for track in pc.stats.values():
            assert track.type is not None, track.id
            assert len(track.times) == len(track.report_times) > 0
            assert set(track.times) <= snapshots
            assert track.times == sorted(set(track.times))
            for column in track.props.values():
                assert len(column) == len(track.times)
                assert column.__class__ is list  # no helper type of the parser leaks into the model
                if column.count(column[0]) == len(column) and len(set(map(type, column))) == 1:
                    assert all(value is column[0] for value in column)  # a constant column: one object
                for value in column:  # equal strings are one object in the whole dump
                    if value.__class__ is str:
                        assert strings.setdefault(value, value) is value
            assert not {"timestamp", "type", "id"} & set(track.props)


@pytest.mark.parametrize("name", INTERNALS)
def test_streaming_and_plain_decoding_give_the_same_dump(name):
    raw = uncompressed(name)

    def shape(dump: Dump):
        return (
            {k: v for k, v in vars(dump).items() if k != "peer_connections"},
            [vars(e) for e in dump.client_events],
            {
                pc_id: (
                    pc.configuration,
                    pc.url,
                    pc.snapshot_times,
                    [vars(e) for e in pc.events],
                    {s: (t.type, t.times, t.report_times, t.props) for s, t in pc.stats.items()},
                )
                for pc_id, pc in dump.peer_connections.items()
            },
        )

    plain = shape(parse_internals(raw, stream=False))
    assert shape(parse_internals(raw, stream=True)) == plain
    assert shape(parse_internals(raw)) == plain  # orjson and the constant-series shortcut


def _count_streaming(monkeypatch) -> list:
    calls: list = []
    original = internals_module._open_streaming
    monkeypatch.setattr(internals_module, "_open_streaming", lambda b: calls.append(1) or original(b))
    return calls


def test_big_dumps_are_decoded_by_orjson(monkeypatch):
    raw = uncompressed(M149)
    calls = _count_streaming(monkeypatch)
    monkeypatch.setattr(internals_module, "STREAM_MIN_BYTES", len(raw))
    assert len(parse(raw).peer_connections["215-4"].snapshot_times) == 78
    assert calls == []


def test_big_dumps_that_orjson_refuses_are_streamed(monkeypatch):
    raw = uncompressed(M149)
    calls = _count_streaming(monkeypatch)
    monkeypatch.setattr(internals_module, "STREAM_MIN_BYTES", len(raw))
    monkeypatch.setattr(internals_module, "_load_fast", lambda b: None)
    assert len(parse(raw).peer_connections["215-4"].snapshot_times) == 78
    assert calls == [1]


@pytest.mark.parametrize("stream", [False, True])
def test_what_only_json_accepts_parses_as_before(stream):
    # orjson refuses NaN (JSON.stringify never writes it, json reads it) and a UTF-8 BOM: such dumps take
    # the stdlib way
    raw = _sub(uncompressed(M144), rb'("P-dataChannelsOpened": \{[^}]*"values": )"\[0,', rb'\1"[NaN,')
    raw = b"\xef\xbb\xbf" + raw.replace(b'"getUserMedia"', b'"x": NaN, "getUserMedia"', 1)
    default, other = parse_internals(raw), parse_internals(raw, stream=stream)
    column = default.peer_connections["92-1"].stats["P"].props["dataChannelsOpened"]
    assert math.isnan(column[0])
    assert repr(column) == repr(other.peer_connections["92-1"].stats["P"].props["dataChannelsOpened"])
    assert default.warnings == other.warnings


# --- values read by hand from the raw files -------------------------------------------------------


def test_m144_known_values():
    dump = parsed(M144)
    pc = dump.peer_connections["92-1"]
    assert pc.configuration == {"iceServers": [{"urls": ["turn:192.168.1.118:3478"]}]}
    assert pc.url == "http://localhost:3002/"
    assert dump.user_agent_data["platform"] == "Linux"  # object form
    assert dump.user_agent_data["fullVersionList"][1] == {"brand": "Chromium", "version": "144.0.7559.109"}
    # "CIT01_96-mimeType" values end in "video/VP8"; "II1XOmtb9-port" holds 49094
    assert pc.stats["CIT01_96"].last("mimeType") == "video/VP8"
    assert pc.stats["II1XOmtb9"].type == "local-candidate"
    assert pc.stats["II1XOmtb9"].last("candidateType") == "host"
    assert pc.stats["II1XOmtb9"].last("port") == 49094
    assert pc.stats["T01"].last("selectedCandidatePairId") == "CPI1XOmtb9_Cs2s8Hj9"
    outbound = pc.stats["OT01V322562611"]
    assert outbound.last("qualityLimitationReason") == "none"
    assert outbound.last("qualityLimitationDurations") == {
        "bandwidth": 16.122,
        "cpu": 0,
        "none": 33.287,
        "other": 0,
    }
    assert outbound.last("[codec]") == "VP8 (96)"  # bracketed key: the property is the bracket
    # P-timestamp starts at 1770110090620.319 (startTime 09:14:50.620Z) with 59 points
    assert pc.snapshot_times[0] == 1770110090620.319
    assert pc.stats["P"].report_times[0] == 1770110090620.319
    # events: JSON-quoted state unquoted, candidate JSON decoded, name normalised
    names = [e.name for e in pc.events]
    assert names[:3] == ["transceiveradded", "transceiveradded", "negotiationneeded"]
    assert pc.events[2].value is None and pc.events[2].time == 1770110092822.95
    signaling = [e.value for e in pc.events if e.name == "signalingstatechange"]
    assert signaling == ["have-remote-offer", "stable", "have-remote-offer", "stable"]
    candidate = next(e for e in pc.events if e.name == "addicecandidate")
    assert candidate.value["sdpMid"] == "0" and candidate.value["sdpMLineIndex"] == 0
    assert candidate.value["candidate"].startswith("candidate:3149858075 1 udp")
    assert next(e for e in pc.events if e.name == "datachannel").value == {
        "label": "messages",
        "ordered": True,
    }


def test_m144_late_properties_are_aligned_from_the_end():
    pc = parsed(M144).peer_connections["92-1"]
    raw = json.loads(uncompressed(M144))["PeerConnections"]["92-1"]["stats"]
    # "RIA3649547636-[totalRoundTripTime/roundTripTimeMeasurements]" has 8 values for 48 timestamps
    key = "RIA3649547636-[totalRoundTripTime/roundTripTimeMeasurements]"
    values = json.loads(raw[key]["values"])
    column = pc.stats["RIA3649547636"].props["[totalRoundTripTime/roundTripTimeMeasurements]"]
    assert len(column) == 48 and column[-8:] == values and column[:-8] == [None] * 40
    # a property present from the first timestamp is aligned at the start
    bytes_sent = json.loads(raw["OT01V322562611-bytesSent"]["values"])
    assert pc.stats["OT01V322562611"].props["bytesSent"] == bytes_sent


def test_m144_remote_reports_are_attached_by_order_not_by_their_own_time():
    pc = parsed(M144).peer_connections["92-1"]
    remote = pc.stats["RIA3649547636"]
    assert remote.type == "remote-inbound-rtp"
    # 48 reports, present in the last 48 of the 59 snapshots (its local OT01A3649547636 lasts to the end)
    assert remote.times == pc.snapshot_times[11:]
    # its own timestamps (RTCP arrival) are stale and kept as report times
    assert remote.report_times[:3] == [1770110101010.467] * 3
    assert remote.report_times[0] < remote.times[0]
    assert remote.last("localId") == "OT01A3649547636"
    assert remote.last("packetsLost") == 0


def test_m149_known_values():
    dump = parsed(M149)
    assert dump.device == {"hardwareConcurrency": 32, "deviceMemory": 32}
    assert dump.dump_created_ms == 1780477820645.0
    assert dump.client_events == []
    pc = dump.peer_connections["215-4"]
    assert pc.configuration == {
        "iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}],
        "bundlePolicy": "max-bundle",
        "alwaysNegotiateDataChannels": False,
    }
    codec = pc.stats["CIT01_49_level-id=186;profile-id=1;tier-flag=0;tx-mode=SRST"]
    assert codec.type == "codec" and codec.last("mimeType") == "video/H265"
    assert pc.stats["IlxeW3X8o"].last("candidateType") == "srflx"
    assert pc.stats["IlxeW3X8o"].last("port") == 49880
    assert last_sample(pc, "IT01V1375092232", "packetsReceived") == 4215
    # a candidate pair that was pruned after 16 of the 78 getStats calls
    pruned = pc.stats["CPAemyN96c_8YJZXNiR"]
    assert pruned.times == pc.snapshot_times[:16]
    error = next(e for e in pc.events if e.name == "icecandidateerror")
    assert error.value["error_code"] == 701 and error.value["url"] == "stun:stun.l.google.com:19302"


def test_m86_old_chrome_values():
    dump = parsed(M86)
    assert dump.user_agent_data is None and dump.device == {}
    pc = dump.peer_connections["18084-8"]
    # rtcConfiguration is '{ iceServers: [stun:..., turn:...], iceTransportPolicy: all, ... }'
    assert pc.configuration == {
        "iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}, {"urls": ["turn:18.132.95.233:3478"]}],
        "iceTransportPolicy": "all",
        "bundlePolicy": "balanced",
        "rtcpMuxPolicy": "require",
        "iceCandidatePoolSize": 0,
        "sdpSemantics": "unified-plan",
    }
    # no numeric timestamps in the updateLog: times are None, the locale strings stay in extra
    assert all(e.time is None for e in pc.events)
    assert pc.events[0].extra == [{"time": "11/5/2020, 9:34:11 PM"}]
    by_name = {}
    for event in pc.events:
        by_name.setdefault(event.name, event)
    assert by_name["negotiationneeded"].raw_name == "onRenegotiationNeeded"
    assert by_name["signalingstatechange"].value == "have-local-offer"  # SignalingStateHaveLocalOffer
    assert by_name["createoffer"].value == {
        "offerToReceiveVideo": 0,
        "offerToReceiveAudio": 0,
        "voiceActivityDetection": True,
        "iceRestart": False,
    }
    assert by_name["createofferonsuccess"].value["type"] == "offer"
    assert by_name["createofferonsuccess"].value["sdp"].startswith("v=0\r\no=- 7147843833440274696")
    assert by_name["icecandidate"].value == {
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "candidate": "candidate:4098827264 1 udp 2122260223 10.1.10.121 56890 typ host generation 0 "
        "ufrag 7U7V network-id 1",
    }
    assert by_name["icecandidateerror"].value == {
        "url": "stun:18.132.95.233:3478",
        "address": "192.168.195.x",
        "port": 56891,
        "host_candidate": "192.168.195.x:56891",
        "error_text": "STUN allocate request timed out.",
        "error_code": 701,
    }
    transceiver = by_name["transceiveradded"].value
    assert transceiver["reason"] == "addTrack" and transceiver["transceiverIndex"] == 0
    assert transceiver["sender"]["track"] == "7f445f58-6d08-444e-b9cc-e34f667e0bab"
    assert transceiver["direction"] == "sendrecv" and transceiver["currentDirection"] is None
    # stats without statsType/type series: type from the id prefix (+ isRemote for candidates)
    assert pc.stats["RTCIceCandidate_frv/SrN8"].type == "local-candidate"
    assert pc.stats["RTCIceCandidate_frv/SrN8"].last("candidateType") == "srflx"
    assert pc.stats["RTCIceCandidate_WEp1m6Tw"].type == "remote-candidate"
    assert (
        pc.stats["RTCTransport_0_1"].last("selectedCandidatePairId")
        == "RTCIceCandidatePair_frv/SrN8_WEp1m6Tw"
    )
    assert pc.stats["RTCRemoteInboundRtpAudioStream_1642969377"].type == "remote-inbound-rtp"
    assert pc.stats["RTCPeerConnection"].type == "peer-connection"
    # Chrome 86 wrote ssrc as a string and counters as numbers: kept as written
    outbound = pc.stats["RTCOutboundRTPAudioStream_1642969377"]
    assert outbound.last("ssrc") == "1642969377"
    assert outbound.last("packetsSent") == 12342  # the series ends [..., 12242, 12292, 12342]
    # interpolated times: 247 points from 18:34:12.741Z to 18:38:19.741Z
    assert pc.snapshot_times[0] == 1604601252741.0 and pc.snapshot_times[-1] == 1604601499741.0
    assert dump.format_detail["stats_time_source"] == "interpolated"
    # getUserMedia records without request_type, JS-ish constraints
    first = dump.client_events[0]
    assert first.name == "navigator.mediadevices.getusermedia" and first.time == 1604593070444.461
    assert first.value == {
        "audio": True,
        "video": {
            "deviceId": {"ideal": ["f8885717f78e178aad92cc7d6d030ebeb9cda31f744b436f4df55e0a5b79520e"]}
        },
    }


def test_getusermedia_only_dump():
    dump = parsed(GUM)
    assert dump.peer_connections == {}
    assert dump.user_agent_data[0] == {"brand": "Chromium", "version": "142.0.7426.0"}  # array form
    request, response = dump.client_events
    assert request.name == "navigator.mediadevices.getusermedia"
    assert request.raw_name == "navigator.mediaDevices.getUserMedia"
    assert request.time == 1758566123065.025
    assert request.value == {"video": True}  # "video": "" and no audio key
    assert request.extra == [{"origin": "https://webrtc.github.io", "pid": 6411, "request_id": 0, "rid": 21}]
    assert response.name == "navigator.mediadevices.getusermediaonsuccess"
    assert response.time == 1758566127725.673
    assert response.value == [
        [
            "video",
            "409643ba-ce22-4581-98b3-27c3ced1d518",
            "Logitech BRIO (046d:085e)",
            "60d260ee-469a-424b-87ce-37065c044485",
        ]
    ]
    assert response.extra[0]["stream_id"] == "60d260ee-469a-424b-87ce-37065c044485"


def test_getdisplaymedia_and_failure_records():
    dump = parsed(M144)
    display = [e for e in dump.client_events if "getdisplaymedia" in e.name]
    assert [e.name for e in display] == [
        "navigator.mediadevices.getdisplaymedia",
        "navigator.mediadevices.getdisplaymediaonsuccess",
    ]
    assert display[0].value == {"video": True}
    raw = json.dumps(
        {
            "PeerConnections": {},
            "getUserMedia": [
                {"request_type": "getUserMedia", "rid": 1, "request_id": 0, "timestamp": 5.5, "audio": ""},
                {
                    "request_type": "getUserMedia",
                    "rid": 1,
                    "request_id": 0,
                    "error": "NotAllowedError",
                    "error_message": "Permission denied",
                },
            ],
        }
    ).encode()
    failure = parse(raw).client_events[1]
    assert failure.name == "navigator.mediadevices.getusermediaonfailure"
    assert failure.value == "NotAllowedError" and failure.time is None
    assert failure.extra[0]["error_message"] == "Permission denied"


def test_empty_dump():
    dump = parsed(EMPTY)
    assert dump.peer_connections == {} and dump.client_events == []
    assert dump.start_ms is None and dump.end_ms is None
    assert dump.user_agent.startswith("Mozilla/5.0 (X11; Linux x86_64)")


# --- corrupted real files -------------------------------------------------------------------------


def _sub(raw: bytes, pattern: bytes, replacement: bytes) -> bytes:
    out, count = re.subn(pattern, replacement, raw, count=1)
    assert count == 1, pattern
    return out


def _json_error_line(raw: bytes) -> int:
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(raw)
    return info.value.lineno


@pytest.mark.parametrize("stream", [None, False, True])
def test_truncated_file_names_the_json_line(stream):
    raw = uncompressed(M144)
    broken = raw[: len(raw) // 2]
    with pytest.raises(DumpFormatError) as info:
        parse_internals(broken, stream=stream)
    assert info.value.line == _json_error_line(broken) > 1
    assert f"(line {info.value.line})" in str(info.value)


@pytest.mark.parametrize("stream", [None, False, True])
@pytest.mark.parametrize(
    "pattern, replacement",
    [
        (rb'"statsType": "peer-connection"', rb'"statsType": peer-connection'),  # inside a series
        (rb'"type": "onnegotiationneeded"', rb'"type": onnegotiationneeded'),  # inside an updateLog
        (rb'"request_type": "getUserMedia"', rb'"request_type": getUserMedia'),  # top level
        (rb'(\n    \}),(\n    "P-dataChannelsOpened")', rb"\1\2"),  # missing comma between series
        (rb'(\n    \},)(\n    "P-dataChannelsOpened")', rb"\1 xx \2"),  # garbage between series
    ],
)
def test_syntax_errors_name_the_line(stream, pattern, replacement):
    broken = _sub(uncompressed(M144), pattern, replacement)
    with pytest.raises(DumpFormatError) as info:
        parse_internals(broken, stream=stream)
    assert info.value.line == _json_error_line(broken)


@pytest.mark.parametrize("stream", [None, False, True])
@pytest.mark.parametrize("garbage", [rb"[0,1,zz", rb"{}", rb"", rb"[1,2"])
def test_unparseable_values_name_the_stats_key(stream, garbage):
    broken = _sub(
        uncompressed(M144), rb'("P-dataChannelsOpened": \{[^}]*"values": )"[^"]*"', rb'\1"' + garbage + rb'"'
    )
    with pytest.raises(DumpFormatError) as info:
        parse_internals(broken, stream=stream)
    assert info.value.key == "PeerConnections.92-1.stats"
    assert "P-dataChannelsOpened" in str(info.value)


def _mutated(name: str, mutate) -> bytes:
    doc = json.loads(uncompressed(name))
    mutate(doc)
    return json.dumps(doc, indent=1).encode()


@pytest.mark.parametrize("stream", [None, False, True])
@pytest.mark.parametrize(
    "name, mutate, key",
    [
        (M144, lambda d: d.update(PeerConnections=list(d["PeerConnections"].values())), "PeerConnections"),
        (M144, lambda d: d.update(PeerConnections="none"), "PeerConnections"),
        (M144, lambda d: d.pop("PeerConnections"), "PeerConnections"),
        (M144, lambda d: d["PeerConnections"].update({"92-1": [1, 2]}), "PeerConnections.92-1"),
        (M144, lambda d: d["PeerConnections"]["94-1"].update(stats=[]), "PeerConnections.94-1.stats"),
        (M144, lambda d: d["PeerConnections"]["94-1"].update(updateLog={}), "PeerConnections.94-1.updateLog"),
        (
            M144,
            lambda d: d["PeerConnections"]["92-1"]["stats"].update({"P-type": 3}),
            "PeerConnections.92-1.stats",
        ),
        (M144, lambda d: d.update(getUserMedia={"a": 1}), "getUserMedia"),
        (
            M86,
            lambda d: d["PeerConnections"]["18084-9"]["stats"]["RTCPeerConnection-dataChannelsOpened"].update(
                startTime="yesterday"
            ),
            "PeerConnections.18084-9.stats",
        ),
        (
            M149,
            lambda d: d["PeerConnections"]["215-4"]["stats"]["P-timestamp"].pop("values"),
            "PeerConnections.215-4.stats",
        ),
    ],
)
def test_wrong_shapes_name_the_key(stream, name, mutate, key):
    with pytest.raises(DumpFormatError) as info:
        parse_internals(_mutated(name, mutate), stream=stream)
    assert info.value.key == key


@pytest.mark.parametrize(
    "raw",
    [
        b"[1, 2]",
        b"{",
        b'{"PeerConnections": {}} trailing',
        b'{"PeerConnections": {}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"PeerConnections": {"1-1": {"stats": {"a-b": {"values": "' + b"[" * 100_000 + b'"}}}}}',
        # Read when the test runs, not at collection: the dump may be absent (then only this case skips).
        lambda: uncompressed(M144)[:1000] + b"\xff\xfe" + uncompressed(M144)[1002:],
    ],
)
@pytest.mark.parametrize("stream", [None, False, True])
def test_other_garbage_is_a_format_error(raw, stream):
    raw = raw() if callable(raw) else raw
    with pytest.raises(DumpFormatError):
        parse_internals(raw, stream=stream)


def test_non_numeric_timestamps_fall_back_to_interpolation_with_a_warning():
    broken = _mutated(
        M144, lambda d: d["PeerConnections"]["92-1"]["stats"]["P-timestamp"].update(values='["a"]')
    )
    dump = parse(broken)
    assert any("'P-timestamp'" in w for w in dump.warnings)
    assert len(dump.peer_connections["92-1"].snapshot_times) > 0


def test_skipped_entries_are_warned():
    def mutate(doc):
        doc["getUserMedia"].append("junk")
        doc["PeerConnections"]["92-1"]["updateLog"].append(7)
        doc["PeerConnections"]["92-1"]["stats"]["nodash"] = {"values": "[1]"}
        doc["Future"] = 1

    dump = parse(_mutated(M144, mutate))
    text = " | ".join(dump.warnings)
    assert "getUserMedia: 1 record" in text
    assert "PeerConnections.92-1.updateLog: 1 entr" in text
    assert "1 series key(s)" in text
    assert "Future" in text
    assert len(dump.peer_connections["92-1"].snapshot_times) == 59


# --- D5 on small hand-made dumps ------------------------------------------------------------------

T0 = 1_700_000_000_000


def _iso(ms: float) -> str:
    return (
        datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _series(values: list, start: float, end: float, stats_type: str | None = None) -> dict:
    out = {"startTime": _iso(start), "endTime": _iso(end), "values": json.dumps(values)}
    if stats_type:
        out["statsType"] = stats_type
    return out


def _stat(stat_id: str, stats_type: str | None, times: list[float], **props: list) -> dict:
    """Series of one stat: its -timestamp series (when times) and its properties, all ending with
    the last timestamp (a property with fewer values starts later)."""
    out = {}
    if times:
        out[f"{stat_id}-timestamp"] = _series(times, times[0], times[-1], stats_type)
    for prop, values in props.items():
        start = times[len(times) - len(values)] if times else T0
        out[f"{stat_id}-{prop}"] = _series(values, start, times[-1] if times else T0, stats_type)
    return out


def _dump(stats: dict, **top) -> Dump:
    doc = {"getUserMedia": [], "PeerConnections": {"1-1": {"updateLog": [], "stats": stats}}, **top}
    raw = json.dumps(doc).encode()
    plain, streamed = parse_internals(raw, stream=False), parse_internals(raw, stream=True)
    assert plain.peer_connections["1-1"].snapshot_times == streamed.peer_connections["1-1"].snapshot_times
    return plain


def test_clusters_and_snapshot_times():
    # two stats of the same getStats calls, 100 ms apart; a third call 400 ms after the second
    stats = {
        **_stat("P", "peer-connection", [T0, T0 + 1000, T0 + 1400], dataChannelsOpened=[0, 1, 1]),
        **_stat("T01", "transport", [T0 + 100, T0 + 1100, T0 + 1450], bytesSent=[1, 2, 3]),
    }
    pc = _dump(stats).peer_connections["1-1"]
    # clusters start at T0, T0+1000, T0+1400 (> 300 ms after T0+1000); time = the cluster's last point
    assert pc.snapshot_times == [T0 + 100, T0 + 1100, T0 + 1450]
    assert pc.stats["T01"].times == pc.snapshot_times
    assert pc.stats["T01"].report_times == [T0 + 100, T0 + 1100, T0 + 1450]
    assert pc.stats["P"].report_times == [T0, T0 + 1000, T0 + 1400]
    assert pc.stats["P"].sample(1) == {
        "dataChannelsOpened": 1,
        "type": "peer-connection",
        "timestamp": T0 + 1000,
    }


def test_alignment_start_end_and_carry_forward():
    times = [T0, T0 + 1000, T0 + 2000, T0 + 3000]
    stats = {
        **_stat("P", "peer-connection", times, dataChannelsOpened=[0, 0, 0, 0]),
        # frameWidth appears late (2 values for 4 timestamps): aligned from the end
        **_stat("IT1", "inbound-rtp", times, packetsReceived=[1, 2, 3, 4], frameWidth=[640, 1280]),
        # a stat absent from the third getStats call: carried forward
        **_stat("D1", "data-channel", [T0, T0 + 1000, T0 + 3000], messagesSent=[5, 6, 8]),
    }
    # a property that stopped early: its startTime is the first timestamp -> aligned at the start
    stats["IT1-pauseCount"] = _series([0, 1], T0, T0 + 1000, "inbound-rtp")
    pc = _dump(stats).peer_connections["1-1"]
    inbound = pc.stats["IT1"]
    assert inbound.props["frameWidth"] == [None, None, 640, 1280]
    assert inbound.props["pauseCount"] == [0, 1, None, None]
    assert inbound.props["packetsReceived"] == [1, 2, 3, 4]
    channel = pc.stats["D1"]
    assert channel.times == pc.snapshot_times
    assert channel.props["messagesSent"] == [5, 6, 6, 8]
    assert channel.report_times == [T0, T0 + 1000, T0 + 1000, T0 + 3000]


def test_interpolated_times_type_inference_and_600ms_clusters():
    start, end = T0, T0 + 2000
    stats = {
        "RTCPeerConnection-dataChannelsOpened": _series([0, 0, 1], start, end),
        # starts 500 ms later: same getStats calls with the 600 ms rule (not with 300 ms)
        "RTCInboundRTPVideoStream_1-packetsReceived": _series([10, 20, 30], start + 500, end + 500),
        "RTCIceCandidate_a-isRemote": _series([True, True, True], start, end),
        "RTCIceCandidate_b-isRemote": _series([False, False, False], start, end),
        "X1-type": _series(["codec"] * 3, start, end),
        "X1-[codec]": _series(["opus (111)"] * 3, start, end),
    }
    dump = _dump(stats)
    pc = dump.peer_connections["1-1"]
    assert pc.snapshot_times == [start + 500, start + 1500, end + 500]
    assert dump.format_detail["stats_time_source"] == "interpolated"
    assert pc.stats["RTCPeerConnection"].report_times == [start, start + 1000, end]
    assert pc.stats["RTCInboundRTPVideoStream_1"].type == "inbound-rtp"
    assert pc.stats["RTCIceCandidate_a"].type == "remote-candidate"
    assert pc.stats["RTCIceCandidate_b"].type == "local-candidate"
    assert pc.stats["X1"].type == "codec" and pc.stats["X1"].last("[codec]") == "opus (111)"


def test_remote_reports_do_not_make_snapshots():
    times = [T0 + 1000 * i for i in range(5)]
    stats = {
        **_stat("OT1", "outbound-rtp", times, packetsSent=[1, 2, 3, 4, 5]),
        # RTCP arrival times, 400 ms before the getStats calls, repeated while no new report came
        **_stat(
            "RI1",
            "remote-inbound-rtp",
            [T0 + 1600, T0 + 1600, T0 + 3600],
            packetsLost=[0, 1, 2],
            localId=["OT1"] * 3,
        ),
    }
    pc = _dump(stats).peer_connections["1-1"]
    assert pc.snapshot_times == times
    remote = pc.stats["RI1"]
    assert remote.times == times[2:]
    assert remote.props["packetsLost"] == [0, 1, 2]
    assert remote.report_times == [T0 + 1600, T0 + 1600, T0 + 3600]


def test_the_1000_point_cap_is_reported():
    times = [T0 + 1000 * i for i in range(1000)]
    dump = _dump(_stat("P", "peer-connection", times, dataChannelsOpened=[0] * 1000))
    assert dump.stats_truncated is True and dump.format_detail["stats_truncated"] is True
    assert len(dump.peer_connections["1-1"].snapshot_times) == 1000
    assert any("1000 points" in w for w in dump.warnings)


def test_json_numbers_stay_numbers_and_top_level_device_fields():
    stats = _stat("P", "peer-connection", [T0], a=[1.5], b=["1.5"], c=[{"x": 1}], d=[True])
    dump = _dump(stats, UserAgent="UA", timestamp=T0 + 5, hardwareConcurrency=8, cpuPerformance=3)
    sample = dump.peer_connections["1-1"].stats["P"].sample(0)
    assert sample["a"] == 1.5 and sample["b"] == "1.5" and sample["c"] == {"x": 1} and sample["d"] is True
    assert dump.device == {"hardwareConcurrency": 8, "cpuPerformance": 3}
    assert dump.dump_created_ms == T0 + 5
    assert dump.start_ms == T0  # the dump creation time is not an event (D3)


# --- value helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [
        ("IT01A1-packetsReceived", ("IT01A1", "packetsReceived")),
        ("IT01A1-[bytesReceived_in_bits/s]", ("IT01A1", "[bytesReceived_in_bits/s]")),
        (
            "IT01V1-[framesReceived-framesDecoded-framesDropped]",
            ("IT01V1", "[framesReceived-framesDecoded-framesDropped]"),
        ),
        ("CF38:AB:01-fingerprint", ("CF38:AB:01", "fingerprint")),
        ("Conn-audio-1-0-googRtt", ("Conn-audio-1-0", "googRtt")),
        ("RTCIceCandidatePair_frv/SrN8_WEp1m6Tw-state", ("RTCIceCandidatePair_frv/SrN8_WEp1m6Tw", "state")),
        ("nodash", None),
        ("-x", None),
        ("x-", None),
    ],
)
def test_split_key(key, expected):
    assert split_key(key) == expected


def test_type_from_id():
    assert type_from_id("RTCInboundRTPAudioStream_1") == "inbound-rtp"
    assert type_from_id("RTCRemoteInboundRtpVideoStream_1") == "remote-inbound-rtp"
    assert type_from_id("RTCIceCandidate_x", "true") == "remote-candidate"
    assert type_from_id("RTCIceCandidate_x") is None
    assert type_from_id("ssrc_123_recv") == "ssrc"
    assert type_from_id("IT01A1") is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("SignalingStateHaveLocalOffer", "have-local-offer"),
        ("SignalingStateHaveRemotePrAnswer", "have-remote-pranswer"),
        ("ICEConnectionStateConnected", "connected"),
        ("kIceConnectionChecking", "checking"),
        ("Stable", "stable"),
        ("checking", "checking"),
        ("have-local-offer", "have-local-offer"),
    ],
)
def test_normalize_state(raw, expected):
    assert normalize_state(raw) == expected


def test_event_values():
    assert parse_event_value("iceconnectionstatechange", '"connected"') == "connected"
    assert parse_event_value("signalingstatechange", "SignalingStateStable") == "stable"
    assert parse_event_value("negotiationneeded", "") is None
    assert parse_event_value("createofferonfailure", "OperationError: bad") == "OperationError: bad"
    assert parse_event_value(
        "addicecandidate", "sdpMid: audio, sdpMLineIndex: 0, candidate: candidate:1 1 udp"
    ) == {
        "sdpMid": "audio",
        "sdpMLineIndex": 0,
        "candidate": "candidate:1 1 udp",
    }
    assert (
        parse_event_value("icecandidate", '{"candidate":"c","sdpMid":"0","url":"stun:x"}')["url"] == "stun:x"
    )


def test_configuration_and_constraints():
    assert parse_configuration("{ servers: [stun:a:1], bundlePolicy: max-bundle }") == {
        "servers": [{"urls": ["stun:a:1"]}],
        "bundlePolicy": "max-bundle",
    }
    assert parse_configuration("not a config") == "not a config"
    assert parse_configuration('{"iceServers":[]}') == {"iceServers": []}
    assert parse_constraint("") is True
    assert parse_constraint('{"width":{"ideal":640}}') == {"width": {"ideal": 640}}
    assert parse_constraint("{width: {min: 320, ideal: 640.5}, facingMode: 'user'}") == {
        "width": {"min": 320, "ideal": 640.5},
        "facingMode": "user",
    }
    assert parse_constraint("{broken") == "{broken"
