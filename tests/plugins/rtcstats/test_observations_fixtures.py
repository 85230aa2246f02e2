"""Observation rules that misfired on real dumps (issue 13), each on a real fixture or on a real fixture
changed in the few values that make the case (named in each test): udpBlocked after a DNS failure while
media flowed over UDP, the stat named by highRTT, googExpandRate concealment of a silent remote, and
repeated identical observations merged into one with a count."""

from __future__ import annotations

import json

import pytest

from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import CallMetrics
from plugins.rtcstats.analysis.observations import detect
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes

H265 = "internals_chrome149_recvonly_h265.txt"
DNS_ERROR = "STUN host lookup received error."


def _types(metrics: CallMetrics, type: str) -> list[dict]:
    return [o for o in detect(metrics, strict=True) if o["type"] == type]


# --- udpBlocked ----------------------------------------------------------------------------------


def _stun_unanswered(error_text: str) -> CallMetrics:
    """internals_chrome149_recvonly_h265 (STUN-only configuration, one `onicecandidateerror` 701 "STUN
    binding request timed out." for the IPv6 host) as it looks when the STUN server never answered: its
    srflx `onicecandidate` event removed, the local candidate of the selected pair (IlxeW3X8o, sending
    over UDP) a host candidate without a STUN url, and the error text set to `error_text`."""
    dump = json.loads(dump_bytes(H265))
    pc = dump["PeerConnections"]["215-4"]
    pc["updateLog"] = [
        e for e in pc["updateLog"] if not (e["type"] == "onicecandidate" and "typ srflx" in e["value"])
    ]
    for entry in pc["updateLog"]:
        if entry["type"] == "onicecandidateerror":
            assert "STUN binding request timed out." in entry["value"]
            entry["value"] = entry["value"].replace("STUN binding request timed out.", error_text)
    stats = pc["stats"]
    stats["IlxeW3X8o-candidateType"]["values"] = stats["IlxeW3X8o-candidateType"]["values"].replace(
        "srflx", "host"
    )
    del stats["IlxeW3X8o-url"]
    metrics = compute_metrics(parse(json.dumps(dump).encode()))
    pcm = metrics.pcs["215-4"]
    assert pcm.ice_servers == ["stun:stun.l.google.com:19302"]
    assert {c.type for c in pcm.local_candidates} == {"host"}
    [pair] = pcm.selected_pairs
    assert (pair.local.type, pair.local.protocol) == ("host", "udp")
    return metrics


@pytest.mark.parametrize("error_text", [DNS_ERROR, "STUN binding request timed out."])
def test_udp_blocked_not_raised_when_media_flowed_over_udp(error_text):
    """No srflx candidate, but the selected pair sent over UDP from a host candidate: UDP was not blocked
    (the previous rule said it was, medium, for both error texts)."""
    assert _types(_stun_unanswered(error_text), "udpBlocked") == []


def test_udp_blocked_not_raised_for_a_stun_server_whose_name_did_not_resolve():
    """Without the UDP pair (as if the call had connected otherwise), the DNS failure alone keeps the rule
    silent: the server was never asked. A timeout (the server was asked, nothing came back) still fires."""
    dns, timeout = _stun_unanswered(DNS_ERROR), _stun_unanswered("STUN binding request timed out.")
    for metrics in (dns, timeout):
        metrics.pcs["215-4"].selected_pairs = []
    assert _types(dns, "udpBlocked") == []
    [found] = _types(timeout, "udpBlocked")
    assert (found["severity"], found["url"], found["source"]) == (
        "medium",
        "stun:stun.l.google.com:19302",
        {"pid": "215-4"},
    )


# --- highRTT: the property names the stat the RTT came from ---------------------------------------


def _scaled(name: str, pc_id: str, stat_ids: set[str], prop: str, factor: float) -> bytes:
    """The fixture with `prop` of the given stats reports of `pc_id` multiplied by `factor` in every
    getstats line (legacy goog values are numeric strings and stay strings)."""
    out = []
    for line in dump_bytes(name).split(b"\n"):
        if line.startswith(b'["getstats"'):
            item = json.loads(line)
            for stat_id, report in item[2].items() if item[1] == pc_id else ():
                if stat_id in stat_ids and isinstance(report, dict) and prop in report:
                    value = report[prop]
                    report[prop] = (
                        str(round(float(value) * factor)) if isinstance(value, str) else value * factor
                    )
            line = json.dumps(item).encode()
        out.append(line)
    return b"\n".join(out)


def _high_rtt(data: bytes) -> list[tuple]:
    metrics = compute_metrics(parse(data))
    return [
        (o["source"]["pid"], o["severity"], o["property"], o["averageInMs"])
        for o in _types(metrics, "highRTT")
    ]


def test_high_rtt_from_remote_inbound_names_round_trip_time():
    """firefox-relay: Firefox's candidate pairs report no RTT, so PC_0's RTT (50.75 ms) is the
    remote-inbound-rtp roundTripTime of its two reports (7d28a875, cc6933ab). Multiplied by 4 (203 ms),
    it is a high RTT whose stat is roundTripTime, not currentRoundTripTime."""
    name = "jitsi_legacy_firefox-relay.jsonl"
    assert compute_metrics(parse(dump_bytes(name))).pcs["PC_0"].rtt_source == "remote-inbound-rtp"
    assert _high_rtt(_scaled(name, "PC_0", {"7d28a875", "cc6933ab"}, "roundTripTime", 4)) == [
        ("PC_0", "medium", "roundTripTime", 203)
    ]


def test_high_rtt_from_a_legacy_goog_pair_names_goog_rtt():
    """google-legacy-screenshare-msessions PC_1: RTT 48.3 ms from googRtt of the active goog pair
    Conn-audio-1-0; multiplied by 4, a high RTT read from googRtt."""
    name = "jitsi_legacy_google-legacy-screenshare-msessions.jsonl"
    [(pid, severity, prop, average)] = _high_rtt(_scaled(name, "PC_1", {"Conn-audio-1-0"}, "googRtt", 4))
    assert (pid, severity, prop) == ("PC_1", "medium", "googRtt") and 193 <= average <= 194


def test_high_rtt_from_the_selected_pair_names_current_round_trip_time():
    """chrome-standard-multiple-p2p PC_3 (real, unchanged): 186 ms from the pair's currentRoundTripTime."""
    assert _high_rtt(dump_bytes("jitsi_legacy_chrome-standard-multiple-p2p.jsonl")) == [
        ("PC_3", "medium", "currentRoundTripTime", 186)
    ]


# --- audioConcealment from legacy googExpandRate ----------------------------------------------------

LEGACY_P2P = "jitsi_legacy_google-legacy-stats-p2p.jsonl"
SILENT_SLOT = "ssrc_1291750480_recv"  # PC_0; line 233 holds its 0.973145 expand rate at output level 0


def _with_output_level(level: str, *, speech_rate: bool = True) -> bytes:
    """google-legacy-stats-p2p with the audioOutputLevel of SILENT_SLOT on line 233 set to `level`;
    without `speech_rate`, googSpeechExpandRate removed everywhere (Chrome before it had that stat)."""
    lines = dump_bytes(LEGACY_P2P).split(b"\n")
    item = json.loads(lines[232])
    report = item[2][SILENT_SLOT]
    assert (item[1], report["googExpandRate"], report["audioOutputLevel"]) == ("PC_0", "0.973145", "0")
    assert report["googSpeechExpandRate"] == "0.196228"
    report["audioOutputLevel"] = level
    lines[232] = json.dumps(item).encode()
    if not speech_rate:
        lines = [_without_speech_rate(line) for line in lines]
    return b"\n".join(lines)


def _without_speech_rate(line: bytes) -> bytes:
    if b"googSpeechExpandRate" not in line:
        return line
    item = json.loads(line)
    for report in item[2].values():
        if isinstance(report, dict):
            report.pop("googSpeechExpandRate", None)
    return json.dumps(item).encode()


def _concealment(data: bytes) -> list[tuple]:
    metrics = compute_metrics(parse(data))
    return [
        (o["source"]["sid"], o["severity"], o["valueInPercent"]) for o in _types(metrics, "audioConcealment")
    ]


def _slot_concealment(data: bytes) -> float | None:
    streams = compute_metrics(parse(data)).streams.values()
    return next(s.concealed_pct for s in streams if s.stat_id == SILENT_SLOT)


def test_goog_expand_rate_of_a_silent_remote_is_not_an_interruption():
    """google-legacy-stats-p2p PC_0, SILENT_SLOT: the remote stopped talking (output level 379, 553, 41,
    then 0 and 2-8 of comfort noise); the one large googExpandRate (97.3 %, line 233) was played out at
    level 0, the only other one (5.4 %) at level 4. The mean over its 26 intervals used to be 3.95 %:
    medium audioConcealment. Concealed silence is not heard: nothing is raised, the concealment is 0 %,
    also without googSpeechExpandRate (older Chrome), where only the output level tells."""
    assert _concealment(dump_bytes(LEGACY_P2P)) == []
    assert _slot_concealment(dump_bytes(LEGACY_P2P)) == 0
    assert _concealment(_with_output_level("0", speech_rate=False)) == []


def test_goog_concealment_while_sound_is_played_out_still_counts():
    """Line 233 at a speech level (1000 of 32767): without googSpeechExpandRate the 97.3 % expansion is
    heard, 3.74 % over 26 intervals: medium (the 5.4 % at level 4 is still left out). With it, only the
    speech part (19.6 %) is an interruption: 0.75 %, below the 3 % threshold."""
    assert _concealment(_with_output_level("1000", speech_rate=False)) == [(SILENT_SLOT, "medium", 3.74)]
    assert round(_slot_concealment(_with_output_level("1000")), 2) == round(19.6228 / 26, 2)


# --- identical observations merged into one with a count --------------------------------------------

MULTIPLE_P2P = "jitsi_legacy_chrome-standard-multiple-p2p.jsonl"


def test_identical_observations_are_one_with_a_count():
    """chrome-standard-multiple-p2p: four P2P connections (PC_1, PC_2, PC_5, PC_6, STUN only) failed.
    The rules find "Connection failed to establish" and "No TURN server configured" once per connection;
    the analysis lists each once, with valueInCount 4 (the contract's count field), the first source, the
    earliest time and the connections named in the meaning. The scores still count every occurrence."""
    from plugins.rtcstats.analysis import analyze
    from plugins.rtcstats.analysis.scores import observations_score

    dump = parse(dump_bytes(MULTIPLE_P2P))
    occurrences = detect(compute_metrics(dump), strict=True)
    assert [o["source"]["pid"] for o in occurrences if o["type"] == "iceFailure"] == [
        "PC_1",
        "PC_2",
        "PC_5",
        "PC_6",
    ]
    data = analyze(dump, file_name=MULTIPLE_P2P, uploaded_ms=1.7e12)
    listed = data["observations"]
    [failure] = [o for o in listed if o["type"] == "iceFailure"]
    [no_turn] = [o for o in listed if o["type"] == "turnNoConfig"]
    for merged, type in ((failure, "iceFailure"), (no_turn, "turnNoConfig")):
        repeats = [o for o in occurrences if o["type"] == type]
        assert merged["valueInCount"] == 4 and merged["source"] == {"pid": "PC_1"}
        assert merged["firstSeenAt"] == min(o["firstSeenAt"] for o in repeats)
        assert merged["meaning"] == repeats[0]["meaning"] + " Seen 4 times (PC_1, PC_2, PC_5, PC_6)."
        assert {k: v for k, v in merged.items() if k not in ("valueInCount", "meaning", "firstSeenAt")} == {
            k: v for k, v in repeats[0].items() if k not in ("meaning", "firstSeenAt")
        }
    # the three qualityLimitationBandwidth of PC_3's simulcast layers carry their own valueInCount: kept
    assert (
        len([o for o in listed if o["type"] == "qualityLimitationBandwidth" and o["severity"] == "high"]) == 3
    )
    assert len(listed) == len(occurrences) - 6
    assert data["observationsCount"] == {"critical": 1, "high": 4, "medium": 3, "low": 0, "info": 0}
    assert data["observationsScore"] == observations_score(occurrences) == 0


def test_merged_observations_cost_the_same_as_their_occurrences():
    """internals_chrome144_p2p_audio_video: "Can't establish connection to TURN" on both tabs' connections
    (92-1, 94-1, the same TURN url) is listed once with valueInCount 2; observationsScore stays 28 (the
    second occurrence still costs half), not the 30 the merged list alone would give."""
    from plugins.rtcstats.analysis import analyze
    from plugins.rtcstats.analysis.scores import observations_score

    name = "internals_chrome144_p2p_audio_video.txt"
    dump = parse(dump_bytes(name))
    occurrences = detect(compute_metrics(dump), strict=True)
    data = analyze(dump, file_name=name, uploaded_ms=1.7e12)
    [unreachable] = [o for o in data["observations"] if o["type"] == "turnUnreachable"]
    assert (unreachable["valueInCount"], unreachable["source"]) == (2, {"pid": "92-1"})
    assert unreachable["meaning"].endswith(" Seen 2 times (92-1, 94-1).")
    assert data["observationsScore"] == observations_score(occurrences) == 28
    assert observations_score(data["observations"]) == 30
