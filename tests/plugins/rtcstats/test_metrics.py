"""compute_metrics (plugins/rtcstats/analysis/metrics*.py) against the independent facts and by hand.

* Every fixture of facts.json (webrtc-internals, rtcstats-v3 and legacy alike) is compared with the
  whole-call figures of dump-facts.md: call and PC spans (D3), states and connection outcome (D4),
  selected candidate pairs final and seen with normalised candidates and relay protocol (D6), mean RTT
  within 0.01 ms with its source and sample count (D7), every inbound stream's packets / lost / loss %
  and the per-PC inbound totals (D8), every outbound stream's bytes / packets / active span / average
  bitrate within 0.1 % and remote loss (D9), codecs (D10).
  No fact was found wrong: every comparison is with the fact as written. One fact needed a closer look
  (test_stale_selected_pair_is_not_seen_after_its_report_was_removed).
* Interval math on hand-built dumps: counter resets, negative and decreasing packetsLost, missing
  samples and gaps, equal timestamps, the D9 active span, remote loss, the MOS E-model, user agents.
* Values recomputed from raw lines of a fixture with json alone.
"""

from __future__ import annotations

import functools
import json

import pytest

from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics, Series
from plugins.rtcstats.analysis.metrics_values import (
    address_family,
    parse_candidate_line,
    relay_protocol_from_url,
)
from plugins.rtcstats.analysis.mos import audio_mos, bpl_for, interval_mos, r_to_mos
from plugins.rtcstats.analysis.useragent import parse_ua_data, parse_ua_string, parse_user_agent
from plugins.rtcstats.parsed_dump import Dump, Event
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import (
    dump_bytes,
    fixture_names,
    require_shared_facts,
    truth,
    with_configuration,
)

ALL = fixture_names()


def test_every_format_is_covered():
    formats = {truth(name)["format"] for name in ALL}
    assert formats == {"webrtc-internals", "rtcstats-v3", "rtcstats-legacy"}  # also in a fresh clone
    require_shared_facts()
    assert len(ALL) == 20


@functools.cache
def metrics_of(name: str) -> CallMetrics:
    """Computed once per session; tests must not modify the result."""
    return compute_metrics(parse(dump_bytes(name)))


def _approx(value, expected, tol):
    if expected is None:
        return value is None
    return value is not None and abs(value - expected) <= tol


# -- D3 spans, D2 peer connections ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_call_and_pc_spans(name):
    fact, m = truth(name), metrics_of(name)
    assert _approx(m.start_ms, fact["call"]["start_ms"], 1e-3)
    assert _approx(m.end_ms, fact["call"]["end_ms"], 1e-3)
    assert _approx(m.duration_ms, fact["call"]["duration_ms"], 1e-3)
    span = m.extra["pc_span"]
    assert _approx(span["start_ms"], fact["pc_span"]["start_ms"], 1e-3)
    assert _approx(span["end_ms"], fact["pc_span"]["end_ms"], 1e-3)
    assert sorted(m.pcs) == sorted(fact["pcs"])
    assert len(m.pcs) == fact["pc_count"]
    for pc_id, pc_fact in fact["pcs"].items():
        pcm = m.pcs[pc_id]
        assert _approx(pcm.first_event_ms, pc_fact["first_event_ms"], 1e-3), pc_id
        assert _approx(pcm.last_event_ms, pc_fact["last_event_ms"], 1e-3), pc_id
        assert pcm.stats_snapshots == pc_fact["stats_snapshots"], pc_id


# -- D4 states ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_states_and_outcome(name):
    fact, m = truth(name), metrics_of(name)
    for pc_id, pc_fact in fact["pcs"].items():
        pcm = m.pcs[pc_id]
        assert [s for _, s in pcm.ice_states] == pc_fact["ice_states"], pc_id
        assert [s for _, s in pcm.ice_states_legacy] == pc_fact["ice_states_legacy"], pc_id
        assert [s for _, s in pcm.connection_states] == pc_fact["connection_states"], pc_id
        assert pcm.reached_connected is pc_fact["reached_connected"], pc_id
        assert pcm.failed is pc_fact["failure_seen"], pc_id
        connected = sum(1 for _, s in pcm.connection_states if s == "connected")
        assert connected == pc_fact["connection_connected_count"], pc_id
        assert sum(1 for _, s in pcm.ice_states if s == "disconnected") == pc_fact["ice_disconnected_count"]


# -- D6 selected pairs ----------------------------------------------------------------------------


def _candidate_fact(c) -> dict:
    return {
        "id": c.id,
        "candidateType": c.type,
        "protocol": c.protocol,
        "relayProtocol": c.relay_protocol,
        "relay_protocol_source": c.relay_protocol_source,
        "port": c.port,
        "networkType": c.network_type,
    }


def _pair_fact(p, with_times: bool) -> dict:
    out = {
        "pair_id": p.pair_id,
        "selection": p.selection,
        "local": _candidate_fact(p.local),
        "remote": _candidate_fact(p.remote),
        "uses_relay": p.uses_relay,
    }
    if with_times:
        out["first_seen_ms"] = p.first_seen_ms
        out["last_seen_ms"] = p.last_seen_ms
    return out


@pytest.mark.parametrize("name", ALL)
def test_selected_pairs(name):
    fact, m = truth(name), metrics_of(name)
    for pc_id, pc_fact in fact["pcs"].items():
        pcm = m.pcs[pc_id]
        seen = sorted((_pair_fact(p, True) for p in pcm.selected_pairs), key=lambda p: p["pair_id"])
        assert seen == sorted(pc_fact["selected_pairs_seen"], key=lambda p: p["pair_id"]), pc_id
        final = [_pair_fact(p, False) for p in pcm.final_selected_pairs]
        assert final == pc_fact["final_selected_pairs"], pc_id
        if pc_fact["relay_used_any"] is None:  # the facts say null when no pair was ever selected
            assert not pcm.selected_pairs and pc_fact["relay_used_final"] is None
        else:
            assert any(p.uses_relay for p in pcm.selected_pairs) is pc_fact["relay_used_any"]
            assert any(p.uses_relay for p in pcm.final_selected_pairs) is pc_fact["relay_used_final"]
        if pcm.final_selected_pairs:  # the contract's final_pair agrees with D6's final pair
            assert pcm.final_pair.pair_id == pcm.final_selected_pairs[-1].pair_id


def test_stale_selected_pair_is_not_seen_after_its_report_was_removed():
    """jitsi_legacy_undefined-ice-candidate, PC_0: the 3rd getstats line (line 94) sends the transport
    with `selectedCandidatePairChanges: 2` and bytesSent back to 0 but no `selectedCandidatePairId`, and
    no longer sends the candidate pair (v2 semantics: the pair report was removed). Delta compression
    cannot express a removed property, so the decompressed transport still names the old pair; the
    fact (last_seen at line 92's time) is right to ignore it, and so does the analyzer."""
    name = "jitsi_legacy_undefined-ice-candidate.jsonl"
    lines = dump_bytes(name).split(b"\n")
    line94 = json.loads(lines[93])
    assert line94[0] == "getstats" and "RTCIceCandidatePair_Gt7VfjdU_/Jy8tOtG" not in line94[2]
    assert line94[2]["RTCTransport_0_1"]["selectedCandidatePairChanges"] == 2
    pair = metrics_of(name).pcs["PC_0"].selected_pairs[0]
    assert pair.last_seen_ms == json.loads(lines[91])[3] == 1646901914003


def test_legacy_goog_pair_keeps_its_slot_while_the_remote_candidate_changes():
    """google-legacy-screenshare-msessions, PC_0: the goog pair `Conn-audio-1-0` is named by its slot,
    not by its candidates. In the first getstats line it names the peer-reflexive remote candidate
    Cand-pvFfhqxY (not yet active); from the second line on the host candidate Cand-GGaiPN2b (signaling
    caught up) and it is active. Marked active already in the first line (one value changed), the pair is
    selected while its remote candidate changes, and the final candidate is the last sample's (host)."""
    name = "jitsi_legacy_google-legacy-screenshare-msessions.jsonl"
    lines = dump_bytes(name).split(b"\n")
    number = next(i for i, line in enumerate(lines) if line.startswith(b'["getstats","PC_0"'))
    first = json.loads(lines[number])
    pair = first[2]["Conn-audio-1-0"]
    assert (pair["googActiveConnection"], pair["remoteCandidateId"]) == ("false", "Cand-pvFfhqxY")
    assert (pair["googRemoteCandidateType"], first[2]["Cand-pvFfhqxY"]["candidateType"]) == (
        "prflx",
        "peerreflexive",
    )
    pair["googActiveConnection"] = "true"
    lines[number] = json.dumps(first).encode()
    pcm = compute_metrics(parse(b"\n".join(lines))).pcs["PC_0"]
    [selected] = pcm.selected_pairs
    assert selected.pair_id == "Conn-audio-1-0" and selected.first_seen_ms == first[3]
    assert (selected.remote.id, selected.remote.type, selected.remote.port) == (
        "Cand-GGaiPN2b",
        "host",
        65267,
    )
    assert pcm.final_selected_pairs == [selected]
    # the unchanged file selects the pair only once the host candidate is known: the same final answer
    assert metrics_of(name).pcs["PC_0"].final_selected_pairs[0].remote == selected.remote


def test_standard_pair_that_stays_selected_takes_the_candidates_of_its_last_sample():
    """google-standard-stats-p2p, PC_0 selects RTCIceCandidatePair_RTKTApnA_wcpOWLrv (remote peer-reflexive
    RTCIceCandidate_wcpOWLrv, getstats lines 94-97), then RTCIceCandidatePair_RTKTApnA_WfUa5C2W (the same
    port as a host candidate, from line 112). Browsers whose pair ids do not spell the candidates (Firefox,
    Safari) keep one pair id instead: the second pair renamed to the first gives a pair that stays
    selected while its remoteCandidateId changes from the prflx to the host candidate."""
    name = "jitsi_legacy_google-standard-stats-p2p.jsonl"
    first, second = "RTCIceCandidatePair_RTKTApnA_wcpOWLrv", "RTCIceCandidatePair_RTKTApnA_WfUa5C2W"
    original = metrics_of(name).pcs["PC_0"]
    assert [p.pair_id for p in original.selected_pairs] == [first, second]
    assert [p.remote.type for p in original.selected_pairs] == ["prflx", "host"]
    pcm = compute_metrics(parse(dump_bytes(name).replace(second.encode(), first.encode()))).pcs["PC_0"]
    [selected] = pcm.selected_pairs
    assert selected.pair_id == first and pcm.selected_pair_switches == 0
    assert (selected.first_seen_ms, selected.last_seen_ms) == (
        original.selected_pairs[0].first_seen_ms,
        original.selected_pairs[1].last_seen_ms,
    )
    assert (selected.local, selected.remote) == (
        original.selected_pairs[1].local,
        original.selected_pairs[1].remote,
    )
    assert (selected.remote.id, selected.remote.type) == ("RTCIceCandidate_WfUa5C2W", "host")
    assert pcm.final_selected_pairs == [selected]


# -- D7 RTT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_rtt(name):
    fact, m = truth(name), metrics_of(name)
    for pc_id, pc_fact in fact["pcs"].items():
        pcm = m.pcs[pc_id]
        assert _approx(pcm.rtt_mean_ms, pc_fact["rtt_mean_ms"], 0.01), pc_id
        assert _approx(pcm.rtt_mean_nonzero_ms, pc_fact["rtt_mean_nonzero_ms"], 0.01), pc_id
        assert pcm.rtt_source == pc_fact["rtt_source"], pc_id
        assert pcm.rtt_samples == pc_fact["rtt_samples"], pc_id


# -- D8 inbound, D9 outbound, D10 codec ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_inbound_streams(name):
    fact, m = truth(name), metrics_of(name)
    for pc_id, pc_fact in fact["pcs"].items():
        streams = {s.stat_id: s for s in m.streams_of(direction="inbound") if s.pc_id == pc_id}
        assert sorted(streams) == sorted(i["id"] for i in pc_fact["inbound"]), pc_id
        for item in pc_fact["inbound"]:
            s = streams[item["id"]]
            assert (s.kind, s.ssrc, s.codec) == (item["kind"], item["ssrc"], item["codec"]), item["id"]
            assert s.packets == item["packetsReceived"], item["id"]
            assert s.negative_packets_lost is item["negative_packets_lost"]
            assert s.packets_lost == max(item["packetsLost"], 0), item["id"]
            assert _approx(s.loss_pct, item["loss_pct"], 0.001), item["id"]
            assert s.counter_resets == item["counter_resets"]
            assert (s.first_seen_ms, s.last_seen_ms) == (item["first_seen_ms"], item["last_seen_ms"])
        for kind, total in pc_fact["inbound_totals"].items():
            chosen = [s for s in streams.values() if kind == "all" or s.kind == kind]
            assert len(chosen) == total["tracks"]
            assert sum(s.packets or 0 for s in chosen) == total["packetsReceived"]
            assert sum(s.packets_lost or 0 for s in chosen) == total["packetsLost"]


@pytest.mark.parametrize("name", ALL)
def test_outbound_streams(name):
    fact, m = truth(name), metrics_of(name)
    for pc_id, pc_fact in fact["pcs"].items():
        streams = {s.stat_id: s for s in m.streams_of(direction="outbound") if s.pc_id == pc_id}
        assert sorted(streams) == sorted(o["id"] for o in pc_fact["outbound"]), pc_id
        for item in pc_fact["outbound"]:
            s = streams[item["id"]]
            assert (s.kind, s.ssrc, s.codec, s.rid) == (
                item["kind"],
                item["ssrc"],
                item["codec"],
                item["rid"],
            )
            assert (s.bytes, s.packets) == (item["bytesSent"], item["packetsSent"]), item["id"]
            assert s.counter_resets == item["counter_resets"]
            assert _approx(s.active_start_ms, item["active_start_ms"], 1e-3)
            assert _approx(s.active_end_ms, item["active_end_ms"], 1e-3)
            if item["avg_bitrate_kbps"] is None:
                assert s.avg_bitrate_kbps is None
            else:
                assert s.avg_bitrate_kbps == pytest.approx(item["avg_bitrate_kbps"], rel=1e-3)
            assert s.packets_lost == item["remote_packets_lost"], item["id"]
            assert _approx(s.loss_pct, item["remote_loss_pct"], 0.001), item["id"]


# -- values recomputed from raw lines ---------------------------------------------------------------


def test_interval_bitrate_and_loss_recomputed_from_raw_lines():
    """jitsi_legacy_chrome-relay (v2 semantics): intervals of IT01V3475661459 recomputed with json alone.
    Each getstats line carries the report with `timestamp: 0` (= the line's top-level timestamp T) and
    only the properties that changed, so values are accumulated line by line here."""
    name = "jitsi_legacy_chrome-relay.jsonl"
    lines = [json.loads(line) for line in dump_bytes(name).split(b"\n") if line.startswith(b'["getstats"')]
    merged: dict = {}
    snapshots = []
    for line in lines:
        report = line[2]["IT01V3475661459"]
        assert report["timestamp"] == 0
        merged.update(report)
        snapshots.append((line[2]["timestamp"], dict(merged)))
    stream = metrics_of(name).streams["PC_0/IT01V3475661459"]
    assert len(stream.bitrate_kbps.values) == len(snapshots) - 1
    for (t0, r0), (t1, r1) in zip(snapshots, snapshots[1:], strict=False):
        kbps = (r1["bytesReceived"] - r0["bytesReceived"]) * 8 / (t1 - t0)
        assert stream.bitrate_kbps.values[stream.bitrate_kbps.times.index(t1)] == pytest.approx(kbps)
        lost = r1["packetsLost"] - r0["packetsLost"]
        received = r1["packetsReceived"] - r0["packetsReceived"]
        loss = stream.loss_pct_series.values[stream.loss_pct_series.times.index(t1)]
        assert loss == pytest.approx(max(lost, 0) / (max(lost, 0) + received) * 100)
        jitter = stream.jitter_ms.values[stream.jitter_ms.times.index(t1)]
        assert jitter == pytest.approx(r1["jitter"] * 1000)


def test_padding_only_probe_stream_is_not_media():
    """IT01V1680749614 in jitsi_legacy_chrome-relay counts 961 packets but 0 payload bytes (jitsi's
    bandwidth probing): no bitrate, fps or jitter intervals, and no active span."""
    stream = metrics_of("jitsi_legacy_chrome-relay.jsonl").streams["PC_0/IT01V1680749614"]
    assert stream.packets == 961 and stream.bytes == 0
    assert not stream.bitrate_kbps and not stream.jitter_ms and not stream.fps
    assert stream.active_start_ms is None and stream.avg_bitrate_kbps is None


def test_legacy_goog_stats_are_converted():
    """google-legacy-stats-p2p: string numbers, googRtt (ms) on the pair, googJitterReceived (ms),
    packetsLost on `_send` as the remote loss, googCodecName, googFrameHeightReceived."""
    m = metrics_of("jitsi_legacy_google-legacy-stats-p2p.jsonl")
    send = m.streams["PC_0/ssrc_876450406_send"]
    assert send.codec == "audio/opus" and send.packets_lost == 0 and send.rtt_ms
    assert all(40 <= v <= 80 for v in send.rtt_ms.values)  # googRtt is already in ms
    recv = m.streams["PC_0/ssrc_4051566705_recv"]
    assert recv.jitter_ms and max(recv.jitter_ms.values) < 100  # ms, not seconds * 1000
    video = m.streams["PC_0/ssrc_891790093_recv"]
    assert (video.frame_width, video.frame_height) == (320, 180)
    assert m.pcs["PC_0"].selected_pairs[0].selection == "googActiveConnection"


def test_firefox_remote_inbound_is_not_incoming_media():
    """firefox-standard-stats-sfu: the remote-inbound-rtp reports (about our two outgoing streams) feed
    the outbound streams' loss and RTT and are never inbound streams."""
    m = metrics_of("jitsi_legacy_firefox-standard-stats-sfu.jsonl")
    inbound_ids = {s.stat_id for s in m.streams_of(direction="inbound")}
    assert not inbound_ids & {"2adfa4f4", "16fc8931"}
    out = m.streams["PC_0/ca51c4b6"]
    assert out.rtt_ms and out.loss_pct_series and out.packets_lost == 0


def test_safari_video_uses_the_linked_track_report():
    stream = metrics_of("jitsi_legacy_safari-standard-stats.jsonl").streams[
        "PC_0/RTCInboundRTPVideoStream_2403718901"
    ]
    assert (stream.frame_width, stream.frame_height) == (320, 180)
    assert stream.freeze_count == 2 and stream.frames_dropped == 5


def test_client_media_requests():
    m = metrics_of("jitsi_legacy_chrome-standard-pc-failed.jsonl")
    failed = [r for r in m.client.media_requests if r["success"] is False]
    assert [r["error"] for r in failed] == ["NotReadableError"]
    assert failed[0]["constraints"]["video"]
    m = metrics_of("internals_chrome144_p2p_audio_video.txt")
    kinds = [(r["kind"], r["success"], [t["kind"] for t in r["tracks"]]) for r in m.client.media_requests]
    assert kinds == [
        ("getUserMedia", True, ["audio", "video"]),
        ("getUserMedia", True, ["audio", "video"]),
        ("getDisplayMedia", True, ["video"]),
    ]
    m = metrics_of("rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl")
    assert [(r["success"], r["tracks"][0]["kind"]) for r in m.client.media_requests] == [(True, "video")]
    m = metrics_of("internals_chrome86_sfu_kurento_h264_relay.json")  # requests only, no responses
    assert m.client.media_requests and all(r["success"] is None for r in m.client.media_requests)


def test_candidates_and_errors():
    pcm = metrics_of("internals_chrome86_sfu_kurento_h264_relay.json").pcs["18084-8"]
    assert {c.type for c in pcm.local_candidates} >= {"host", "srflx", "relay"}
    assert any(e["errorCode"] == 701 and e["url"] for e in pcm.candidate_errors)
    relay = [c for c in pcm.local_candidates if c.type == "relay"]
    assert relay and all(c.relay_protocol == "udp" for c in relay)
    assert pcm.ice_servers == ["stun:stun.l.google.com:19302", "turn:18.132.95.233:3478"]
    pcm = metrics_of("jitsi_legacy_chrome-relay.jsonl").pcs["PC_0"]
    assert pcm.gathering_start_ms == 1697705722179
    assert [d["label"] for d in pcm.data_channels] == ["JVB data channel"]


def test_old_chrome_has_no_event_times():
    """internals M86: updateLog `time` strings are never used (D3), so state times are None."""
    pcm = metrics_of("internals_chrome86_sfu_kurento_h264_relay.json").pcs["18084-8"]
    assert pcm.ice_states and all(t is None for t, _ in pcm.ice_states)
    assert pcm.connection_time_ms is None and pcm.gathering_start_ms is None


def test_user_agent_of_fixtures():
    assert (
        metrics_of("internals_chrome149_recvonly_h265.txt").client.browser,
        metrics_of("internals_chrome149_recvonly_h265.txt").client.os,
    ) == ("Chrome", "Windows")
    client = metrics_of("rtcstatsv3_chrome144_native_p2p_audio_video.txt").client  # hints only, no UA
    assert (client.browser, client.browser_version, client.os) == ("Chrome", "144", "Linux")
    client = metrics_of("internals_headlesschrome108_empty.gz").client
    assert (client.browser, client.browser_version) == ("HeadlessChrome", "108")
    client = metrics_of("jitsi_legacy_safari-standard-stats.jsonl").client
    assert (client.browser, client.browser_version, client.os) == ("Safari", "17", "macOS")


# -- hand-built dumps: interval math -------------------------------------------------------------------


def _dump(reports_by_time: list[tuple[float, dict]], pc_id: str = "PC_0") -> Dump:
    """A v3-like dump: each (time, {stat id: report}) is one snapshot; report timestamps default to it."""
    dump = Dump(format="rtcstats-v3")
    pc = dump.pc(pc_id)
    pc.events.append(
        Event(
            time=reports_by_time[0][0] - 10,
            name="connectionstatechange",
            raw_name="onconnectionstatechange",
            value="connected",
        )
    )
    for time, reports in reports_by_time:
        pc.snapshot_times.append(time)
        for stat_id, report in reports.items():
            report = {"timestamp": time, **report}
            pc.track(stat_id, report.get("type")).append(time, report)
    return dump


def _inbound(**values) -> dict:
    return {"type": "inbound-rtp", "kind": "audio", "ssrc": 1, **values}


def test_inbound_counter_reset_is_not_negative_traffic():
    snaps = [
        (1000.0, {"I": _inbound(packetsReceived=100, packetsLost=0, bytesReceived=10000)}),
        (2000.0, {"I": _inbound(packetsReceived=200, packetsLost=2, bytesReceived=20000)}),
        (3000.0, {"I": _inbound(packetsReceived=50, packetsLost=1, bytesReceived=5000)}),  # recreated
        (4000.0, {"I": _inbound(packetsReceived=150, packetsLost=3, bytesReceived=15000)}),
    ]
    s = compute_metrics(_dump(snaps)).streams["PC_0/I"]
    assert s.counter_resets == 1
    assert (s.packets, s.packets_lost) == (150, 3)  # D8: values of the last snapshot
    assert (s.packets_across_resets, s.packets_lost_across_resets) == (350, 5)
    assert s.bytes_across_resets == 35000
    assert s.loss_pct == pytest.approx(3 / 153 * 100)
    # intervals: +100/+2, reset (new counter: 50 received, 1 lost), +100/+2
    assert s.bitrate_kbps.values == pytest.approx([80.0, 40.0, 80.0])
    assert s.loss_pct_series.values == pytest.approx([2 / 102 * 100, 1 / 51 * 100, 2 / 102 * 100])
    assert min(s.bitrate_kbps.values) > 0


def test_negative_and_decreasing_packets_lost():
    snaps = [
        (1000.0, {"I": _inbound(packetsReceived=100, packetsLost=5, bytesReceived=1000)}),
        (2000.0, {"I": _inbound(packetsReceived=200, packetsLost=3, bytesReceived=2000)}),  # 2 late packets
        (3000.0, {"I": _inbound(packetsReceived=300, packetsLost=-4, bytesReceived=3000)}),
    ]
    s = compute_metrics(_dump(snaps)).streams["PC_0/I"]
    assert s.counter_resets == 0  # packetsLost going down is not a reset
    assert s.negative_packets_lost is True and s.min_packets_lost == -4
    assert s.packets_lost == 0 and s.loss_pct == 0.0  # negative counted as 0 (D8)
    assert s.loss_pct_series.values == [0.0, 0.0]  # negative deltas clamp to 0, never a fake loss


def test_missing_samples_and_gaps():
    snaps = [
        (1000.0, {"I": _inbound(packetsReceived=10, packetsLost=0, bytesReceived=1000, jitter=0.01)}),
        (2000.0, {"I": _inbound(packetsReceived=20, packetsLost=0, jitter=0.02)}),  # no bytesReceived
        (3000.0, {"I": _inbound(packetsReceived=30, packetsLost=0, bytesReceived=3000, jitter=0.03)}),
        (4000.0, {}),  # the report is absent from this snapshot
        (6000.0, {"I": _inbound(packetsReceived=50, packetsLost=10, bytesReceived=5000, jitter=0.04)}),
    ]
    s = compute_metrics(_dump(snaps)).streams["PC_0/I"]
    # byte intervals need both ends: only 3000 -> 6000 (3 s, 2000 bytes) has them
    assert list(zip(s.bitrate_kbps.times, s.bitrate_kbps.values, strict=True)) == [
        (6000.0, pytest.approx(16000 / 3000))
    ]
    assert s.loss_pct_series.values == pytest.approx([0.0, 0.0, 10 / 30 * 100])
    assert s.loss_pct_series.times == [2000.0, 3000.0, 6000.0]
    # jitter only for intervals that carried payload (bytes known and grown)
    assert s.jitter_ms.times == [6000.0] and s.jitter_ms.values == pytest.approx([40.0])


def test_equal_report_timestamps_collapse():
    """A report carried forward unchanged (same own timestamp) is one sample, not a zero interval."""
    base = 1.7e12

    def out(bytes_sent: int, packets: int, stamp: float) -> dict:
        return {
            "type": "outbound-rtp",
            "kind": "video",
            "ssrc": 2,
            "bytesSent": bytes_sent,
            "packetsSent": packets,
            "timestamp": base + stamp,
        }

    snaps = [
        (base + 1000.0, {"O": out(0, 0, 1000.0)}),
        (base + 2000.0, {"O": out(125000, 100, 2000.0)}),
        (base + 3000.0, {"O": out(125000, 100, 2000.0)}),  # carried forward with its old timestamp
        (base + 4000.0, {"O": out(375000, 300, 4000.0)}),
    ]
    s = compute_metrics(_dump(snaps)).streams["PC_0/O"]
    assert s.bitrate_kbps.times == [base + 2000.0, base + 4000.0]
    assert s.bitrate_kbps.values == pytest.approx([1000.0, 1000.0])
    assert s.avg_bitrate_kbps == pytest.approx(375000 * 8 / 3000)
    assert s.idle_intervals == 0


def test_outbound_active_span_reset_and_remote_loss():
    base = 1.7e12
    sent = [(0, 0), (0, 0), (10000, 10), (20000, 20), (5000, 5), (15000, 15), (15000, 15)]
    snaps = []
    for i, (b, p) in enumerate(sent):
        t = base + i * 1000.0
        reports = {
            "O": {"type": "outbound-rtp", "kind": "audio", "ssrc": 7, "bytesSent": b, "packetsSent": p}
        }
        if i >= 2:
            reports["R"] = {
                "type": "remote-inbound-rtp",
                "kind": "audio",
                "ssrc": 7,
                "localId": "O",
                "packetsLost": 1,
                "fractionLost": 0.1,
                "jitter": 0.004,
                "roundTripTime": 0.08,
                "roundTripTimeMeasurements": i,
                "timestamp": t - 50,
            }
        snaps.append((t, reports))
    s = compute_metrics(_dump(snaps)).streams["PC_0/O"]
    assert s.counter_resets == 1
    # active span: from the sample before the first increase (i=1) to the last increase (i=5)
    assert (s.active_start_ms, s.active_end_ms) == (base + 1000.0, base + 5000.0)
    assert s.avg_bitrate_kbps == pytest.approx((10000 + 10000 + 5000 + 10000) * 8 / 4000)
    assert s.bytes == 15000 and s.bytes_across_resets == 35000
    assert s.packets_lost == 1 and s.loss_pct == pytest.approx(1 / 15 * 100)
    assert s.loss_pct_series.values == pytest.approx([10.0] * 5)  # fractionLost 0.1, one per report
    assert s.rtt_ms.values == pytest.approx([80.0] * 5) and s.jitter_ms.values == pytest.approx([4.0] * 5)
    assert s.mos and all(0 < v <= 4.5 for v in s.mos.values)


def test_idle_intervals_are_counted_not_averaged():
    base = 1.7e12
    values = [0, 4000, 8000, 8000, 8000, 12000]
    snaps = [
        (base + i * 1000.0, {"I": _inbound(packetsReceived=v // 100, packetsLost=0, bytesReceived=v)})
        for i, v in enumerate(values)
    ]
    s = compute_metrics(_dump(snaps)).streams["PC_0/I"]
    assert s.bitrate_kbps.values == pytest.approx([32.0, 32.0, 32.0])
    assert (s.idle_intervals, s.idle_ms) == (2, 2000.0)
    assert s.avg_bitrate_kbps == pytest.approx(12000 * 8 / 5000)  # D9 still spans the pause


def test_selected_pair_firefox_and_relay_protocol_from_url():
    base = 1.7e12
    snap = {
        "P1": {
            "type": "candidate-pair",
            "selected": True,
            "localCandidateId": "L",
            "remoteCandidateId": "R",
            "currentRoundTripTime": 0.1,
        },
        "P2": {
            "type": "candidate-pair",
            "selected": False,
            "localCandidateId": "L2",
            "remoteCandidateId": "R",
        },
        "L": {
            "type": "local-candidate",
            "candidateType": "relayed",
            "protocol": "udp",
            "url": "turn:turn.example.org:3478?transport=tcp",
            "address": "2001:db8::1",
            "port": 5,
        },
        "L2": {"type": "local-candidate", "candidateType": "host", "protocol": "udp", "port": 6},
        "R": {"type": "remote-candidate", "candidateType": "serverreflexive", "protocol": "udp", "port": 7},
    }
    pcm = compute_metrics(_dump([(base, snap), (base + 1000, snap)])).pcs["PC_0"]
    (pair,) = pcm.selected_pairs
    assert pair.selection == "candidate-pair.selected"
    assert (pair.local.type, pair.remote.type) == ("relay", "srflx")
    assert (pair.local.relay_protocol, pair.local.relay_protocol_source) == ("tcp", "url")
    assert pair.local.address_family == "IPv6"
    assert pcm.rtt_mean_ms == pytest.approx(100.0) and pcm.rtt_samples == 2


# -- small pure functions ------------------------------------------------------------------------------


def test_candidate_helpers():
    line = "candidate:1 1 UDP 2013266431 35.179.76.65 53003 typ host"
    assert {"protocol": "udp", "port": 53003, "type": "host"}.items() <= parse_candidate_line(line).items()
    assert (
        parse_candidate_line("a=candidate:2 1 tcp 1 ::1 9 typ srflx raddr 0.0.0.0 rport 0 tcptype active")[
            "tcptype"
        ]
        == "active"
    )
    assert parse_candidate_line("not a candidate") is None
    assert relay_protocol_from_url("turns:t.example.org:443?transport=tcp") == "tls"
    assert relay_protocol_from_url("turn:t.example.org:443?transport=tcp") == "tcp"
    assert relay_protocol_from_url("turn:t.example.org") == "udp"
    assert relay_protocol_from_url("stun:s.example.org") is None
    assert address_family("x.x.x.x") == "IPv4" and address_family("[0:0:0:x:x:x:x:x]") == "IPv6"
    assert address_family("6b1a.local") is None and address_family("") is None


def test_interval_mos_is_the_audio_score_e_model():
    # One formula for the per-interval `mos` series and audioScore (mos.py); the series only differs in
    # scoring an interval that lost every packet 0, the contract's "unusable transport".
    assert interval_mos(100.0) == 0.0 and audio_mos(100.0) == 1.0
    for args in ((0.0, 50, 10, None), (2.0, 100, 5, 60), (20.0, 400, 80, None), (None, None, None, None)):
        assert interval_mos(*args) == audio_mos(args[0] or 0.0, *args[1:])
    # hand computation: 2 % loss with FEC (Bpl 20), RTT 100, buffer 60 -> d = 20 + 60 + 50 = 130 ms
    r = 93.2 - 95 * 2 / (2 + 20) - 0.024 * 130
    assert interval_mos(2.0, 100, None, 60) == pytest.approx(1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))
    # Opus without in-band FEC (fmtp useinbandfec=0) is as fragile as G.711
    assert bpl_for("audio/opus", fec=False) == bpl_for("audio/PCMU") == 10.0 == 20.0 / 2
    assert interval_mos(5.0, bpl=bpl_for("audio/opus")) > interval_mos(5.0, bpl=bpl_for("audio/opus", False))
    assert r_to_mos(-5) == 1.0 and r_to_mos(120) == 4.5 and r_to_mos(93.2) == pytest.approx(4.41, abs=0.01)


def test_mos_series_of_a_fixture_agrees_with_the_audio_score():
    # internals_chrome144: both tabs on one LAN (selected-pair RTT ~1 ms), no audio loss, jitter-buffer
    # delay ~40-50 ms: the per-interval E-model gives 4.36-4.38 and audioScore 4.38.
    from plugins.rtcstats.analysis.response import aggregated_stats
    from plugins.rtcstats.analysis.scores import audio_score

    m = metrics_of("internals_chrome144_p2p_audio_video.txt")
    stats = aggregated_stats(m)
    assert round(stats["mos_in_audio_avg_score"], 2) == audio_score(m) == 4.38
    assert round(stats["mos_in_audio_min_score"], 2) == 4.36


def test_series_summary_nearest_rank():
    series = Series(list(range(20)), [float(v) for v in range(1, 21)])
    summary = series.summary()
    assert (summary["p5"], summary["p95"], summary["min"], summary["max"]) == (1.0, 19.0, 1.0, 20.0)
    assert summary["avg"] == 10.5


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/142.0.0.0 Safari/537.36",
            ("Chrome", "142", "Windows", "10"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            ("Edge", "131", "Windows", "10"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            ("Opera", "106", "macOS", "10.15.7"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/118.0",
            ("Firefox", "118", "macOS", "10.15"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Safari/605.1.15",
            ("Safari", "17", "macOS", "10.15.7"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Mobile/15E148 Safari/604.1",
            ("Safari", "17", "iPhone", "17.1"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "CriOS/119.0.6045.109 Mobile/15E148 Safari/604.1",
            ("Chrome", "119", "iPad", "16.6"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            ("Chrome", "120", "Android", "14"),
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "120", "ChromeOS", "14541.0.0"),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/108.0.5359.124 Safari/537.36",
            ("HeadlessChrome", "108", "Linux", None),
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 "
            "Safari/537.36",
            ("Chrome", "99", "Windows", "7"),
        ),
        ("", (None, None, None, None)),
    ],
)
def test_user_agent_string(ua, expected):
    info = parse_ua_string(ua)
    assert (info.browser, info.browser_version, info.os, info.os_version) == expected


def test_user_agent_client_hints_win():
    hints = {
        "brands": [
            {"brand": "Not(A:Brand", "version": "8"},
            {"brand": "Chromium", "version": "144"},
            {"brand": "Microsoft Edge", "version": "144"},
        ],
        "mobile": False,
        "platform": "Windows",
        "platformVersion": "15.0.0",
    }
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/144.0.0.0"
    info = parse_user_agent(ua, hints)
    assert (info.browser, info.browser_version, info.os, info.os_version) == ("Edge", "144", "Windows", "11")
    # the array form of M138 internals dumps has no platform: the OS comes from the string
    array = [
        {"brand": "Chromium", "version": "142.0.7426.0"},
        {"brand": "Google Chrome", "version": "142.0.7426.0"},
    ]
    info = parse_user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/142.0.0.0", array)
    assert (info.browser, info.browser_version, info.os) == ("Chrome", "142", "Linux")
    assert (
        parse_ua_data({"brands": [{"brand": "Chromium", "version": "1"}], "platform": "Chrome OS"}).os
        == "ChromeOS"
    )
    assert parse_ua_data(None).browser is None


def test_metrics_are_linear_in_samples():
    """A long synthetic call (2 PCs, 8 streams each, 3000 snapshots) is analysed quickly."""
    import time

    base = 1.7e12
    dump = Dump(format="rtcstats-v3")
    for p in range(2):
        pc = dump.pc(f"PC_{p}")
        for i in range(3000):
            t = base + i * 1000.0
            pc.snapshot_times.append(t)
            pc.track("T", "transport").append(t, {"timestamp": t, "selectedCandidatePairId": "CP"})
            pc.track("CP", "candidate-pair").append(
                t,
                {
                    "timestamp": t,
                    "currentRoundTripTime": 0.05,
                    "localCandidateId": "L",
                    "remoteCandidateId": "R",
                },
            )
            for s in range(8):
                kind = "audio" if s % 2 else "video"
                stat_type = "inbound-rtp" if s < 4 else "outbound-rtp"
                counters = (
                    {
                        "packetsReceived": i * 50,
                        "packetsLost": i // 20,
                        "bytesReceived": i * 5000,
                        "jitter": 0.01,
                    }
                    if s < 4
                    else {"packetsSent": i * 50, "bytesSent": i * 5000}
                )
                pc.track(f"S{s}", stat_type).append(t, {"timestamp": t, "kind": kind, "ssrc": s, **counters})
    start = time.perf_counter()
    m = compute_metrics(dump)
    elapsed = time.perf_counter() - start
    assert len(m.streams) == 16 and all(len(s.bitrate_kbps.values) == 2999 for s in m.streams.values())
    assert elapsed < 5.0


def _event(name: str, value, time: float | None, raw: str | None = None, extra: list | None = None) -> Event:
    return Event(time=time, name=name.lower(), raw_name=raw or name, value=value, extra=extra or [])


def test_media_requests_matching_and_errors():
    dump = Dump(format="rtcstats-legacy")
    gum = "navigator.mediadevices.getusermedia"
    dump.client_events = [
        _event(gum, {"audio": True, "video": False}, 1.0),
        _event(gum, {"audio": False, "video": {"width": 1280}}, 2.0),
        # responses in the opposite order: matched by the kinds of the returned tracks
        _event(
            gum + "onsuccess", {"id": "s", "tracks": [{"kind": "video", "id": "v1", "label": "Cam"}]}, 3.0
        ),
        _event(gum + "onfailure", "NotAllowedError: Permission denied", 4.0),
        _event("navigator.mediadevices.getdisplaymedia", {"video": True}, 5.0, extra=["63-1"]),
        _event(
            "navigator.mediadevices.getdisplaymediaonfailure",
            {"name": "AbortError", "message": "x"},
            6.0,
            extra=["63-1"],
        ),
    ]
    requests = compute_metrics(dump).client.media_requests
    assert [(r["time"], r["success"], r["error"]) for r in requests] == [
        (1.0, False, "NotAllowedError"),
        (2.0, True, None),
        (5.0, False, "AbortError"),
    ]
    assert requests[0]["error_message"] == "Permission denied"
    assert requests[1]["tracks"] == [{"kind": "video", "id": "v1", "label": "Cam"}]


def test_compute_pressure_samples():
    base = 1.7e12
    snaps = [
        (base + i * 1000, {"rtcStatsComputePressure": {"type": "compute-pressure", "cpuState": state}})
        for i, state in enumerate(["nominal", 2, "critical"])
    ]
    client = compute_metrics(_dump(snaps)).client
    assert client.compute_pressure == [(base, "nominal"), (base + 1000, "serious"), (base + 2000, "critical")]


def test_ice_restart_from_local_ufrag_change_and_failures():
    dump = Dump(format="rtcstats-v3")
    pc = dump.pc("PC_0")
    sdp = "v=0\r\na=ice-ufrag:{}\r\n"
    pc.events = [
        _event("setlocaldescription", {"type": "offer", "sdp": sdp.format("aaaa")}, 1.0),
        _event("setlocaldescription", {"type": "offer", "sdp": sdp.format("aaaa")}, 2.0),
        _event("setlocaldescription", {"type": "offer", "sdp": sdp.format("bbbb")}, 3.0),
        _event(
            "setremotedescriptiononfailure",
            "OperationError: bad m-line",
            4.0,
            raw="setRemoteDescriptionOnFailure",
        ),
        _event(
            "icecandidateerror",
            {
                "url": "turn:t.example.org",
                "errorCode": 403,
                "errorText": "Forbidden",
                "address": "10.0.0.x",
                "port": 5000,
            },
            5.0,
            raw="onicecandidateerror",
        ),
    ]
    pcm = compute_metrics(dump).pcs["PC_0"]
    assert pcm.ice_restarts == 1
    assert pcm.call_failures == [
        {"time": 4.0, "method": "setRemoteDescription", "error": "OperationError: bad m-line"}
    ]
    assert pcm.candidate_errors[0] | {} == {
        "time": 5.0,
        "url": "turn:t.example.org",
        "errorCode": 403,
        "errorText": "Forbidden",
        "address": "10.0.0.x",
        "port": 5000,
    }


def test_event_candidates_are_merged_with_candidate_reports():
    base = 1.7e12
    dump = _dump(
        [
            (
                base,
                {
                    "IL1": {
                        "type": "local-candidate",
                        "candidateType": "host",
                        "protocol": "udp",
                        "port": 5000,
                        "foundation": "11",
                        "networkType": "wifi",
                        "address": "192.168.1.2",
                    },
                    "IL2": {
                        "type": "local-candidate",
                        "candidateType": "relay",
                        "protocol": "udp",
                        "port": 6000,
                        "relayProtocol": "tls",
                        "url": "turns:t.example.org:443",
                    },
                },
            )
        ]
    )
    pc = dump.peer_connections["PC_0"]
    line = "candidate:11 1 udp 2122260223 192.168.1.2 5000 typ host generation 0"
    pc.events += [
        _event("icecandidate", {"candidate": line, "sdpMid": "0"}, base - 5, raw="onicecandidate"),
        _event(
            "icecandidate", {"candidate": line, "sdpMid": "0"}, base - 4, raw="onicecandidate"
        ),  # duplicate
        _event("icecandidate", None, base - 3, raw="onicecandidate"),  # end of candidates
        _event("icegatheringstatechange", "gathering", base - 6, raw="onicegatheringstatechange"),
    ]
    pcm = compute_metrics(dump).pcs["PC_0"]
    assert [(c.id, c.type, c.network_type, c.address_family, c.time) for c in pcm.local_candidates] == [
        ("IL1", "host", "wifi", "IPv4", base - 5),
        ("IL2", "relay", None, None, None),
    ]
    assert pcm.local_candidates[1].relay_protocol == "tls"
    assert pcm.gathering_start_ms == base - 6


# -- concealment, ICE configuration, screen share, source frame rate (issue 4) ---------------------------


@pytest.mark.parametrize(
    "name,key,expected",
    [
        # concealed 2,165,527 of 2,235,520 samples, 2,154,883 of them while the sender was silent
        # (a muted participant): 10,644 audible -> 0.48 %, not 96.87 %
        ("jitsi_legacy_google-standard-stats-p2p.jsonl", "PC_1/RTCInboundRTPAudioStream_2566963332", 0.476),
        # 1,016,553 - 730,132 silent = 286,421 of 2,158,720 -> 13.27 % (was 47.09 %)
        ("jitsi_legacy_google-standard-stats-p2p.jsonl", "PC_1/RTCInboundRTPAudioStream_3489317734", 13.268),
        # 873,256 - 695,572 = 177,684 of 3,131,200 -> 5.67 % (was 27.89 %)
        ("jitsi_legacy_google-standard-stats-sfu.jsonl", "PC_0/RTCInboundRTPAudioStream_757648711", 5.675),
        # old Chrome: the counters live on the linked `track` report too; 39,627 - 15,800 of 7,913,760
        (
            "internals_chrome86_sfu_kurento_h264_relay.json",
            "18084-9/RTCInboundRTPAudioStream_3337647417",
            0.301,
        ),
        # no silent concealment: unchanged, 2,532 of 2,370,240
        ("internals_chrome144_p2p_audio_video.txt", "92-1/IT01A2631453875", 0.107),
    ],
)
def test_concealment_leaves_out_silent_concealed_samples(name, key, expected):
    assert metrics_of(name).streams[key].concealed_pct == pytest.approx(expected, abs=0.001)


def test_ice_servers_recorded_empty_or_unknown():
    name = "jitsi_legacy_chrome-standard-pc-failed.jsonl"
    recorded = metrics_of(name).pcs
    assert recorded["PC_0"].ice_servers == ["turns:all-turnrelay.jitsi.net:443?transport=tcp"]
    assert recorded["PC_1"].ice_servers == ["stun:taas-oci.callstats.io:443", "stun:taas-oci.callstats.io:80"]
    unknown = compute_metrics(parse(with_configuration(name, None))).pcs
    assert [unknown[p].ice_servers for p in ("PC_0", "PC_1", "PC_2")] == [None, None, None]
    empty = compute_metrics(
        parse(with_configuration(name, {"iceServers": [], "bundlePolicy": "max-bundle"}))
    ).pcs
    assert [empty[p].ice_servers for p in ("PC_0", "PC_1", "PC_2")] == [[], [], []]
    # a configuration that leaves iceServers out says nothing about them either
    other = compute_metrics(parse(with_configuration(name, {"bundlePolicy": "max-bundle"}))).pcs
    assert other["PC_0"].ice_servers is None and other["PC_0"].bundle_policy == "max-bundle"


def test_old_chrome_configuration_text_without_servers_is_unknown():
    from plugins.rtcstats.analysis.metrics_model import PcMetrics
    from plugins.rtcstats.analysis.metrics_pc import apply_configuration

    known, empty, unknown = PcMetrics("a"), PcMetrics("b"), PcMetrics("c")
    apply_configuration(known, "{ iceServers: [stun:stun.l.google.com:19302], iceTransportPolicy: all }")
    apply_configuration(empty, "{ iceServers: [], iceTransportPolicy: all }")
    apply_configuration(unknown, "{ iceTransportPolicy: relay }")
    assert known.ice_servers == ["stun:stun.l.google.com:19302"]
    assert empty.ice_servers == [] and unknown.ice_servers is None
    assert unknown.ice_transport_policy == "relay"


def test_screen_share_streams_of_the_legacy_screenshare_fixture():
    # Three getDisplayMedia tracks (labels screen:0:0, screen:1:0, web-contents-media-stream://14553:1)
    # were sent one after the other; their `_send` reports say googContentType "screen" and carry the
    # getDisplayMedia track id as googTrackId. The receive slot and the audio are not screen shares.
    m = metrics_of("jitsi_legacy_google-legacy-screenshare-msessions.jsonl")
    shares = {s.key: (s.frame_width, s.frame_height) for s in m.streams.values() if s.screenshare}
    assert shares == {
        "PC_1/ssrc_1914090050_send": (2752, 1152),
        "PC_1/ssrc_894431151_send": (1920, 1080),
        "PC_1/ssrc_3509213716_send": (2752, 970),
    }
    # capture rate (googFrameRateInput, median while sending) against what was sent
    assert [m.streams[k].source_fps for k in shares] == [5.0, 6.0, 2.0]
    # the chrome144 tab also called getDisplayMedia, but never sent that track: its video is the camera
    chrome = metrics_of("internals_chrome144_p2p_audio_video.txt")
    assert not any(s.screenshare for s in chrome.streams.values())


def test_screen_share_from_content_type_and_from_the_display_track():
    def video(**values) -> dict:
        return {
            "type": "outbound-rtp",
            "kind": "video",
            "ssrc": 7,
            "packetsSent": 10,
            "bytesSent": 9000,
            **values,
        }

    def share_of(report: dict, requests: list | None = None) -> bool:
        dump = _dump([(1000.0, {"O": report}), (2000.0, {"O": {**report, "packetsSent": 20}})])
        m = compute_metrics(dump)
        if requests is not None:
            from plugins.rtcstats.analysis.metrics import _mark_screen_captures

            m.client.media_requests = requests
            _mark_screen_captures(m)
        return m.streams["PC_0/O"].screenshare

    assert share_of(video(contentType="screenshare"))
    assert share_of(video(googContentType="screen"))
    assert share_of(video(mediaSourceId="screen-source-1"))
    assert not share_of(video(contentType="realtime"))
    display = [{"kind": "getDisplayMedia", "success": True, "tracks": [{"kind": "video", "id": "T1"}]}]
    camera = [
        {"kind": "getUserMedia", "success": True, "tracks": [{"kind": "video", "id": "T1", "label": "cam"}]}
    ]
    desktop = [{"kind": "getUserMedia", "tracks": [{"kind": "video", "id": "T1", "label": "window:42:0"}]}]
    assert share_of(video(trackIdentifier="T1"), display)
    assert share_of(video(trackIdentifier="T1"), desktop)
    assert not share_of(video(trackIdentifier="T1"), camera)


def test_source_frame_rate_of_the_camera():
    # chrome144: the media-source SV2 reports framesPerSecond 0 (before the first frame), then 10
    m = metrics_of("internals_chrome144_p2p_audio_video.txt")
    assert m.streams["92-1/OT01V322562611"].source_fps == 10.0
    assert m.streams["92-1/IT01V1544958365"].source_fps is None  # a receiver never sees the camera
    # kurento: RTCVideoSource_6 reports 14-16 fps around a median of 15
    kurento = metrics_of("internals_chrome86_sfu_kurento_h264_relay.json")
    assert kurento.streams["18084-8/RTCOutboundRTPVideoStream_1519538442"].source_fps == 15.0
