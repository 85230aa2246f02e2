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
