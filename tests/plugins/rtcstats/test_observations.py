"""Observation rules on hand-built CallMetrics: every rule fires above its threshold (exact severity and
values) and stays silent just below it; the catalogue covers every emitted type with valid vocabulary;
the output is sorted, clean (no None/NaN) and in the contract shape.

The builders here (call, pc, stream, ...) are shared with test_scores.py and test_summary.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from plugins.rtcstats.analysis import observations as obs_module
from plugins.rtcstats.analysis.metrics_model import (
    CallMetrics,
    Candidate,
    ClientMetrics,
    PcMetrics,
    SelectedPair,
    Series,
    StreamMetrics,
)
from plugins.rtcstats.analysis.observations import (
    CATEGORIES,
    SEVERITIES,
    SEVERITY_RANK,
    TAGS,
    VALUE_FIELDS,
    catalogue,
    detect,
    observation_types,
)

T0 = 1_700_000_000_000.0


# --- builders ------------------------------------------------------------------------------------


def series(values: list[float], start: float = T0 + 1000, step: float = 1000) -> Series:
    s = Series()
    for i, v in enumerate(values):
        s.add(start + i * step, v)
    return s


def cand(
    type: str = "host",
    time: float | None = None,
    *,
    protocol: str = "udp",
    relay_protocol: str | None = None,
    url: str | None = None,
    network_type: str | None = None,
    id: str | None = None,
) -> Candidate:
    return Candidate(
        id=id or f"I-{type}-{time}",
        type=type,
        protocol=protocol,
        relay_protocol=relay_protocol,
        url=url,
        network_type=network_type,
        time=time,
    )


def pair(
    local: Candidate | None = None, remote: Candidate | None = None, pair_id: str = "CP1"
) -> SelectedPair:
    return SelectedPair(
        pair_id=pair_id,
        selection="transport.selectedCandidatePairId",
        local=local or cand("host"),
        remote=remote or cand("host"),
        first_seen_ms=T0 + 200,
        last_seen_ms=T0 + 60_000,
    )


def pc(pc_id: str = "PC_0", *, connected: bool = True, **kw) -> PcMetrics:
    """A peer connection; connected=True gives ICE checking -> connected, a direct pair and stats."""
    p = PcMetrics(pc_id=pc_id, first_event_ms=T0, last_event_ms=T0 + 60_000)
    if connected:
        p.ice_states = [(T0 + 10, "checking"), (T0 + 100, "connected")]
        p.connection_states = [(T0 + 10, "connecting"), (T0 + 100, "connected")]
        p.selected_pairs = [pair()]
        p.stats_snapshots = 60
        p.connection_time_ms = 90
    for key, value in kw.items():
        setattr(p, key, value)
    return p


def stream(kind: str = "audio", direction: str = "inbound", pc_id: str = "PC_0", **kw) -> StreamMetrics:
    s = StreamMetrics(
        pc_id=pc_id,
        stat_id=kw.pop("stat_id", f"{'IT' if direction == 'inbound' else 'OT'}{kind[0].upper()}1"),
        kind=kind,
        direction=direction,
        ssrc=kw.pop("ssrc", 1234),
        codec=kw.pop("codec", "audio/opus" if kind == "audio" else "video/VP8"),
        first_seen_ms=T0 + 1000,
        last_seen_ms=T0 + 61_000,
        packets=kw.pop("packets", 3000),
        bytes=kw.pop("bytes", 300_000),
    )
    for key, value in kw.items():
        setattr(s, key, value)
    return s


def call(
    *items, client: ClientMetrics | None = None, start: float = T0, end: float = T0 + 60_000
) -> CallMetrics:
    """A call from PcMetrics and StreamMetrics (streams get their PC created when missing)."""
    m = CallMetrics(start_ms=start, end_ms=end, client=client or ClientMetrics())
    for item in items:
        if isinstance(item, PcMetrics):
            m.pcs[item.pc_id] = item
    for item in items:
        if isinstance(item, StreamMetrics):
            m.streams[item.key] = item
            owner = m.pcs.setdefault(item.pc_id, pc(item.pc_id))
            owner.stream_keys.append(item.key)
    return m


def only(metrics: CallMetrics, type: str) -> list[dict]:
    return [o for o in detect(metrics, strict=True) if o["type"] == type]


def one(metrics: CallMetrics, type: str) -> dict:
    found = only(metrics, type)
    assert len(found) == 1, found
    return found[0]


def gathering(pc_: PcMetrics, *cands: Candidate, complete: float | None = T0 + 3000) -> PcMetrics:
    pc_.gathering_start_ms = T0
    pc_.gathering_states = [(T0, "gathering")] + ([(complete, "complete")] if complete else [])
    pc_.local_candidates = list(cands)
    return pc_


def failed_pc(pc_id: str = "PC_0", **kw) -> PcMetrics:
    return pc(
        pc_id,
        connected=False,
        ice_states=[(T0 + 10, "checking"), (T0 + 30_000, "failed")],
        connection_states=[(T0 + 10, "connecting"), (T0 + 30_000, "failed")],
        **kw,
    )


# --- the rule table: (case id, type, firing metrics, expected subset, silent metrics) --------------
#
# Each firing case asserts the exact severity and values; each silent case sits just below the
# threshold (or lacks the one condition that makes the rule fire).

Build = Callable[[], CallMetrics]
CASES: list[tuple[str, str, Build, dict, Build | None]] = []


def case(id: str, type: str, fire: Build, expected: dict, silent: Build | None) -> None:
    CASES.append((id, type, fire, expected, silent))


# Connectivity: gathering.
case(
    "stun-delay-low",
    "highSTUNDelay",
    lambda: call(gathering(pc(), cand("host", T0 + 5), cand("srflx", T0 + 600, url="stun:s.example.org"))),
    {
        "severity": "low",
        "durationInMs": 600,
        "firstSeenAt": int(T0 + 600),
        "url": "stun:s.example.org",
        "source": {"pid": "PC_0"},
        "category": "connections",
        "tags": ["connectivity", "network"],
    },
    lambda: call(gathering(pc(), cand("host", T0 + 5), cand("srflx", T0 + 500))),
)
case(
    "stun-delay-medium",
    "highSTUNDelay",
    lambda: call(gathering(pc(), cand("srflx", T0 + 2500))),
    {"severity": "medium", "durationInMs": 2500},
    None,  # 2000 ms is still low severity (see stun-delay-low for the silent case)
)
case(
    "turn-delay-udp",
    "highTURNDelay",
    lambda: call(gathering(pc(), cand("relay", T0 + 700, relay_protocol="udp", url="turn:t.example.org"))),
    {"severity": "low", "durationInMs": 700, "property": "relayProtocol=udp", "url": "turn:t.example.org"},
    lambda: call(gathering(pc(), cand("relay", T0 + 500, relay_protocol="udp"))),
)
case(
    "turn-delay-tls-from-url",
    "highTURNDelay",
    lambda: call(gathering(pc(), cand("relay", T0 + 3000, url="turns:t.example.org:443?transport=tcp"))),
    {"severity": "medium", "durationInMs": 3000, "property": "relayProtocol=tls"},
    lambda: call(gathering(pc(), cand("relay", T0 + 499, url="turns:t.example.org:443?transport=tcp"))),
)
# Connected over ICE-TCP (a host candidate over TCP): what a network without UDP leaves.
TCP_PAIR = [pair(cand("host", protocol="tcp"), cand("host", protocol="tcp"))]
STUN_LOOKUP_ERROR = {
    "time": T0 + 40,
    "url": "stun:s.example.org:3478",
    "errorCode": 701,
    "errorText": "STUN host lookup received error.",
}
case(
    "udp-blocked-stun-only",
    "udpBlocked",
    lambda: call(
        gathering(pc(ice_servers=["stun:s.example.org:3478"], selected_pairs=TCP_PAIR), cand("host", T0 + 5))
    ),
    {"severity": "medium", "firstSeenAt": int(T0 + 3000), "url": "stun:s.example.org:3478"},
    lambda: call(
        gathering(
            pc(ice_servers=["stun:s.example.org:3478"], selected_pairs=TCP_PAIR),
            cand("host", T0 + 5),
            cand("srflx", T0 + 50),
        )
    ),
)
case(
    "udp-blocked-unless-media-went-over-udp",
    "udpBlocked",
    lambda: call(
        gathering(pc(ice_servers=["stun:s.example.org:3478"], selected_pairs=TCP_PAIR), cand("host", T0 + 5))
    ),
    {"severity": "medium"},
    # the default pair sends from a host candidate over UDP: UDP was not blocked, whatever kept the
    # srflx candidate back
    lambda: call(gathering(pc(ice_servers=["stun:s.example.org:3478"]), cand("host", T0 + 5))),
)
case(
    "udp-blocked-unless-the-server-name-did-not-resolve",
    "udpBlocked",
    lambda: call(
        gathering(
            pc(
                ice_servers=["stun:s.example.org:3478", "stun:other.example.org:3478"],
                selected_pairs=TCP_PAIR,
                candidate_errors=[STUN_LOOKUP_ERROR],
            ),
            cand("host", T0 + 5),
        )
    ),
    {"severity": "medium", "url": "stun:other.example.org:3478"},  # the server that was asked
    # a DNS failure (701 host lookup) for the only server: it was never asked, nothing is known of UDP
    lambda: call(
        gathering(
            pc(
                ice_servers=["stun:S.example.org:19302"],
                selected_pairs=TCP_PAIR,
                candidate_errors=[STUN_LOOKUP_ERROR],
            ),
            cand("host", T0 + 5),
        )
    ),
)
case(
    "udp-blocked-tls-relay-failed",
    "udpBlocked",
    lambda: call(
        gathering(
            failed_pc(ice_servers=["turn:t.example.org:3478", "turns:t.example.org:443"]),
            cand("host", T0 + 5),
            cand("relay", T0 + 90, relay_protocol="tls"),
        )
    ),
    {"severity": "high", "url": "turn:t.example.org:3478"},
    # TURN configured but nothing at all came back: that is turnUnreachable, not proof of a UDP block.
    lambda: call(gathering(failed_pc(ice_servers=["turn:t.example.org:3478"]), cand("host", T0 + 5))),
)
case(
    "turn-client-error-high",
    "turnClientError",
    lambda: call(
        pc(
            candidate_errors=[
                {"time": T0 + 50, "url": "turn:t.example.org", "errorCode": 403, "errorText": "Forbidden IP"},
                {
                    "time": T0 + 80,
                    "url": "turn:t.example.org",
                    "errorCode": "403",
                    "errorText": "Forbidden IP",
                },
            ]
        )
    ),
    {
        "severity": "high",
        "valueInCount": 2,
        "url": "turn:t.example.org",
        "firstSeenAt": int(T0 + 50),
        "indicators": {"errorCode": 403},
        "property": "errorCode",
        "tags": ["connectivity", "configuration", "bug"],
    },
    lambda: call(pc(candidate_errors=[{"time": T0 + 50, "url": "turn:t.example.org", "errorCode": 401}])),
)
case(
    "turn-client-error-medium",
    "turnClientError",
    lambda: call(
        gathering(
            pc(candidate_errors=[{"time": T0 + 50, "url": "turn:t.example.org", "errorCode": 437}]),
            cand("relay", T0 + 300, relay_protocol="udp", url="turn:t.example.org"),
        )
    ),
    {"severity": "medium", "valueInCount": 1},
    lambda: call(pc(candidate_errors=[{"time": T0 + 50, "url": "turn:t.example.org", "errorCode": 701}])),
)
case(
    "turn-unreachable-medium",
    "turnUnreachable",
    lambda: call(
        gathering(
            pc(
                ice_servers=["turn:t.example.org:3478"],
                candidate_errors=[{"time": T0 + 900, "url": "turn:t.example.org:3478", "errorCode": 701}],
            ),
            cand("host", T0 + 5),
        )
    ),
    {
        "severity": "medium",
        "url": "turn:t.example.org:3478",
        "valueInCount": 1,
        "firstSeenAt": int(T0 + 3000),
    },
    lambda: call(
        gathering(pc(ice_servers=["turn:t.example.org:3478"]), cand("host", T0 + 5), cand("relay", T0 + 90))
    ),
)
case(
    "turn-unreachable-high",
    "turnUnreachable",
    lambda: call(gathering(failed_pc(ice_servers=["turns:t.example.org:443"]), cand("host", T0 + 5))),
    {"severity": "high"},
    lambda: call(gathering(failed_pc(ice_servers=["stun:s.example.org"]), cand("host", T0 + 5))),
)
case(
    "turn-no-config-failed",
    "turnNoConfig",
    lambda: call(failed_pc(ice_servers=["stun:s.example.org"])),
    {"severity": "high", "firstSeenAt": int(T0 + 30_000), "tags": ["connectivity", "configuration"]},
    lambda: call(failed_pc(ice_servers=["stun:s.example.org", "turn:t.example.org"])),
)
case(
    "turn-no-config-remote-relay",
    "turnNoConfig",
    lambda: call(pc(ice_servers=[], selected_pairs=[pair(cand("srflx"), cand("relay"))])),
    {"severity": "low", "firstSeenAt": int(T0 + 200)},
    lambda: call(pc(ice_servers=[], selected_pairs=[pair(cand("srflx"), cand("srflx"))])),
)
# A recorded empty iceServers list is "no TURN configured"; a configuration the dump did not record
# (ice_servers None) is unknown and says nothing about TURN.
case(
    "turn-no-config-recorded-empty",
    "turnNoConfig",
    lambda: call(failed_pc(ice_servers=[])),
    {"severity": "high"},
    lambda: call(failed_pc(ice_servers=None)),
)

# Connectivity: states.
case(
    "ice-failure",
    "iceFailure",
    lambda: call(failed_pc()),
    {"severity": "critical", "firstSeenAt": int(T0 + 30_000), "source": {"pid": "PC_0"}},
    lambda: call(pc()),
)
case(
    "connection-aborted",
    "connectionAborted",
    lambda: call(pc(connected=False, ice_states=[(T0 + 10, "checking"), (T0 + 900, "closed")])),
    {"severity": "low", "tags": ["connectivity", "behavior"]},
    lambda: call(pc(ice_states=[(T0 + 10, "checking"), (T0 + 100, "connected"), (T0 + 900, "closed")])),
)
case(
    "connection-dropped",
    "connectionDropped",
    lambda: call(
        pc(
            ice_states=[
                (T0 + 10, "checking"),
                (T0 + 100, "connected"),
                (T0 + 9000, "disconnected"),
                (T0 + 20_000, "failed"),
            ]
        )
    ),
    {"severity": "critical", "firstSeenAt": int(T0 + 20_000)},
    lambda: call(
        pc(
            ice_states=[
                (T0 + 10, "checking"),
                (T0 + 100, "connected"),
                (T0 + 9000, "disconnected"),
                (T0 + 12_000, "connected"),
            ]
        )
    ),
)
case(
    "connection-dropped-recovered-across-sequences",
    "connectionDropped",
    lambda: call(
        pc(
            ice_states=[(T0 + 10, "checking"), (T0 + 100, "connected"), (T0 + 30_000, "connected")],
            connection_states=[(T0 + 10, "connecting"), (T0 + 20_000, "failed")],
        )
    ),
    {"severity": "high", "firstSeenAt": int(T0 + 20_000)},
    lambda: call(
        pc(
            ice_states=[(T0 + 10, "checking"), (T0 + 100, "connected")],
            connection_states=[(T0 + 5, "failed"), (T0 + 100, "connected")],
        )
    ),
)
case(
    "ice-restart",
    "iceRestart",
    lambda: call(pc(ice_restarts=2, gathering_states=[(T0, "gathering"), (T0 + 40_000, "gathering")])),
    {"severity": "low", "valueInCount": 2, "firstSeenAt": int(T0 + 40_000)},
    lambda: call(pc(ice_restarts=0)),
)


def _cycles(n: int) -> list[tuple[float, str]]:
    states = [(T0 + 10, "checking"), (T0 + 100, "connected")]
    for i in range(n):
        states += [(T0 + 1000 * (i + 1), "disconnected"), (T0 + 1000 * (i + 1) + 500, "connected")]
    return states


case(
    "connection-churn",
    "connectionChurn",
    lambda: call(pc(ice_states=_cycles(3))),
    {"severity": "medium", "valueInCount": 3, "firstSeenAt": int(T0 + 1000)},
    lambda: call(pc(ice_states=_cycles(2))),
)
case(
    "dtls-failure",
    "dtlsFailure",
    lambda: call(pc(dtls_states=[(T0 + 50, "connecting"), (T0 + 150, "failed")])),
    {"severity": "critical", "firstSeenAt": int(T0 + 150), "tags": ["connectivity", "security"]},
    lambda: call(pc(dtls_states=[(T0 + 50, "connecting"), (T0 + 150, "connected")])),
)
case(
    "empty-connection",
    "emptyConnection",
    lambda: call(pc()),
    {"severity": "low", "firstSeenAt": int(T0 + 100), "tags": ["connectivity", "behavior"]},
    lambda: call(pc(data_channels=[{"id": 1, "label": "chat", "state": "open"}])),
)
case(
    "empty-connection-not-with-media",
    "emptyConnection",
    lambda: call(pc(), stream(packets=0, bytes=0)),
    {"severity": "low"},
    lambda: call(pc(), stream(packets=10)),
)

# Connectivity: pairs.
case(
    "relayed-tcp",
    "connectionRelayedOverTCP",
    lambda: call(
        pc(
            selected_pairs=[
                pair(cand("relay", relay_protocol="tcp", url="turn:t?transport=tcp"), pair_id="CPtcp")
            ]
        )
    ),
    {
        "severity": "medium",
        "category": "pairs",
        "source": {"pid": "PC_0", "cpid": "CPtcp"},
        "url": "turn:t?transport=tcp",
        "firstSeenAt": int(T0 + 200),
    },
    lambda: call(pc(selected_pairs=[pair(cand("relay", relay_protocol="udp"))])),
)
case(
    "relayed-tls",
    "connectionRelayedOverTLS",
    lambda: call(pc(selected_pairs=[pair(cand("relay", url="turns:t.example.org:443"))])),
    {"severity": "medium", "category": "pairs"},
    lambda: call(pc(selected_pairs=[pair(cand("relay", relay_protocol="tcp"))])),
)
case(
    "vpn",
    "usedVPN",
    lambda: call(pc(selected_pairs=[pair(cand("host", network_type="vpn"))])),
    {"severity": "low", "property": "networkType", "source": {"pid": "PC_0", "cpid": "CP1"}},
    lambda: call(pc(selected_pairs=[pair(cand("host", network_type="wifi"))])),
)
case(
    "relay-policy",
    "iceTransportPolicyRelay",
    lambda: call(pc(ice_transport_policy="relay")),
    {"severity": "info", "property": "iceTransportPolicy"},
    lambda: call(pc(ice_transport_policy="all")),
)

# Connectivity: RTT and timing.
case(
    "rtt-medium",
    "highRTT",
    lambda: call(pc(rtt_mean_ms=160.0, rtt_ms=series([140, 160, 180]))),
    {
        "severity": "medium",
        "averageInMs": 160,
        "maxInMs": 180,
        "durationInPercent": 66.67,
        "firstSeenAt": int(T0 + 2000),
    },
    lambda: call(pc(rtt_mean_ms=150.0, rtt_ms=series([150, 150]))),
)
case(
    "rtt-high",
    "highRTT",
    lambda: call(pc(rtt_ms=series([310, 320]))),
    {"severity": "high", "averageInMs": 315, "maxInMs": 320},
    lambda: call(pc(rtt_ms=series([149, 151]))),
)
case(
    "connection-time",
    "highConnectionTime",
    lambda: call(pc(connection_time_ms=5001.0)),
    {"severity": "medium", "durationInMs": 5001},
    lambda: call(pc(connection_time_ms=5000.0, ice_connection_time_ms=9000.0)),
)
case(
    "signaling-time",
    "highSignalingTime",
    lambda: call(pc(signaling_states=[(T0, "have-local-offer"), (T0 + 2500, "stable")])),
    {"severity": "low", "durationInMs": 2500, "firstSeenAt": int(T0)},
    lambda: call(
        pc(
            signaling_states=[
                (T0, "have-local-offer"),
                (T0 + 2000, "stable"),
                (T0 + 9000, "have-remote-offer"),
                (T0 + 19_000, "stable"),
            ]
        )
    ),
)
case(
    "negotiation-failure",
    "negotiationFailure",
    lambda: call(
        pc(
            call_failures=[
                {
                    "time": T0 + 20,
                    "method": "setRemoteDescription",
                    "error": "OperationError: Failed to parse SessionDescription",
                }
            ]
        )
    ),
    {
        "severity": "high",
        "property": "setRemoteDescription",
        "valueInCount": 1,
        "category": "logs",
        "firstSeenAt": int(T0 + 20),
    },
    lambda: call(pc(call_failures=[{"time": T0 + 20, "method": "addIceCandidate", "error": "x"}])),
)
case(
    "add-ice-candidate-failure",
    "addIceCandidateFailure",
    lambda: call(pc(call_failures=[{"time": T0 + 20, "method": "addIceCandidate", "error": "x"}])),
    {"severity": "low", "property": "addIceCandidate", "valueInCount": 1},
    lambda: call(pc(call_failures=[{"time": T0 + 20, "method": "createOffer", "error": "x"}])),
)

# Media: jitter.
for _direction, _type in (("inbound", "highJitterIn"), ("outbound", "highJitterOut")):
    case(
        f"{_type}-medium",
        _type,
        lambda d=_direction: call(stream("audio", d, jitter_ms=series([30, 52]))),
        {
            "severity": "medium",
            "averageInMs": 41,
            "maxInMs": 52,
            "durationInPercent": 50,
            "firstSeenAt": int(T0 + 2000),
            "source": {"pid": "PC_0", "sid": "ITA1" if _direction == "inbound" else "OTA1", "ssrcId": 1234},
            "tags": [_direction, "audio", "network"],
            "category": "streams",
        },
        lambda d=_direction: call(stream("audio", d, jitter_ms=series([40, 40]))),
    )
    case(
        f"{_type}-high",
        _type,
        lambda d=_direction: call(stream("video", d, jitter_ms=series([101]))),
        {"severity": "high", "averageInMs": 101, "tags": [_direction, "video", "network"]},
        None,
    )

# Media: loss.
for _direction, _type in (("inbound", "highAudioLossIn"), ("outbound", "highAudioLossOut")):
    case(
        f"{_type}-opus",
        _type,
        lambda d=_direction: call(stream("audio", d, loss_pct=4.1, loss_pct_series=series([0, 8.2]))),
        {
            "severity": "medium",
            "valueInPercent": 4.1,
            "durationInPercent": 50,
            "firstSeenAt": int(T0 + 2000),
            "property": "packetsLost",
        },
        lambda d=_direction: call(stream("audio", d, loss_pct=4.0)),
    )
    case(
        f"{_type}-opus-high",
        _type,
        lambda d=_direction: call(stream("audio", d, loss_pct=10.1)),
        {"severity": "high", "valueInPercent": 10.1},
        lambda d=_direction: call(stream("audio", d, loss_pct=50.0, packets=40, packets_lost=40)),
    )
    case(
        f"{_type}-pcmu",
        _type,
        lambda d=_direction: call(stream("audio", d, codec="audio/PCMU", loss_pct=1.1)),
        {"severity": "medium", "valueInPercent": 1.1},
        lambda d=_direction: call(stream("audio", d, codec="audio/PCMA", loss_pct=1.0)),
    )
for _direction, _type in (("inbound", "highVideoLossIn"), ("outbound", "highVideoLossOut")):
    case(
        f"{_type}-medium",
        _type,
        lambda d=_direction: call(stream("video", d, loss_pct=2.1)),
        {"severity": "medium", "valueInPercent": 2.1, "tags": [_direction, "video", "network"]},
        lambda d=_direction: call(stream("video", d, loss_pct=2.0)),
    )
    case(
        f"{_type}-high",
        _type,
        lambda d=_direction: call(stream("video", d, loss_pct=None, loss_pct_series=series([5.0, 5.2]))),
        {"severity": "high", "valueInPercent": 5.1},
        lambda d=_direction: call(stream("video", d, loss_pct=None, loss_pct_series=series([2.0, 2.0]))),
    )
case(
    "negative-lost-low",
    "negativePacketsLost",
    lambda: call(stream("video", "inbound", negative_packets_lost=True, min_packets_lost=-5)),
    {"severity": "low", "valueInCount": -5, "tags": ["inbound", "video", "bug"]},
    lambda: call(stream("video", "inbound", min_packets_lost=0)),
)
case(
    "negative-lost-medium",
    "negativePacketsLost",
    lambda: call(stream("audio", "outbound", negative_packets_lost=True, min_packets_lost=-2_000_000)),
    {"severity": "medium", "valueInCount": -2_000_000},
    lambda: call(stream("audio", "outbound", negative_packets_lost=False, min_packets_lost=None)),
)

# Media: audio playout.
case(
    "no-playout-medium",
    "noAudioPlayout",
    lambda: call(stream(emitted_stalled_intervals=1, bitrate_kbps=series([30] * 10))),
    {
        "severity": "medium",
        "valueInCount": 1,
        "durationInPercent": 10,
        "property": "jitterBufferEmittedCount",
    },
    lambda: call(stream(emitted_stalled_intervals=0, bitrate_kbps=series([30] * 10))),
)
case(
    "no-playout-high",
    "noAudioPlayout",
    lambda: call(stream(emitted_stalled_intervals=2, bitrate_kbps=series([30] * 10))),
    {"severity": "high", "valueInCount": 2, "durationInPercent": 20},
    None,
)
case(
    "concealment-medium",
    "audioConcealment",
    lambda: call(stream(concealed_pct=3.1)),
    {"severity": "medium", "valueInPercent": 3.1},
    lambda: call(stream(concealed_pct=3.0)),
)
case(
    "concealment-high",
    "audioConcealment",
    lambda: call(stream(concealed_pct=10.1)),
    {"severity": "high", "valueInPercent": 10.1},
    lambda: call(stream(concealed_pct=None)),
)
case(
    "jitter-buffer-delay",
    "highJitterBufferDelay",
    lambda: call(stream(jitter_buffer_delay_ms=series([480, 522]))),
    {"severity": "medium", "averageInMs": 501, "maxInMs": 522, "firstSeenAt": int(T0 + 2000)},
    lambda: call(stream(jitter_buffer_delay_ms=series([500, 500]))),
)

# Media: video playout.
case(
    "video-paused",
    "videoPaused",
    lambda: call(stream("video", total_pauses_duration_s=10.5, pause_count=2)),
    {"severity": "medium", "durationInSeconds": 10.5, "valueInCount": 2, "durationInPercent": 17.5},
    lambda: call(stream("video", total_pauses_duration_s=10.0, pause_count=2)),
)
case(
    "freeze-medium",
    "highFreezeDuration",
    lambda: call(stream("video", total_freezes_duration_s=3.1, freeze_count=4)),  # 60 s active
    {"severity": "medium", "durationInSeconds": 3.1, "durationInPercent": 5.17, "valueInCount": 4},
    lambda: call(stream("video", total_freezes_duration_s=3.0, freeze_count=4)),
)
case(
    "freeze-high",
    "highFreezeDuration",
    lambda: call(stream("video", total_freezes_duration_s=9.1)),
    {"severity": "high", "durationInPercent": 15.17},
    lambda: call(stream("video", "outbound", total_freezes_duration_s=9.1)),
)
case(
    "freeze-unknown-span",
    "highFreezeDuration",
    lambda: call(stream("video", total_freezes_duration_s=10.5, first_seen_ms=None, last_seen_ms=None)),
    {"severity": "medium", "durationInSeconds": 10.5},
    lambda: call(stream("video", total_freezes_duration_s=10.0, first_seen_ms=None, last_seen_ms=None)),
)
case(
    "frames-dropped-medium",
    "framesDropped",
    lambda: call(stream("video", frames_decoded=890, frames_dropped=110)),
    {"severity": "medium", "valueInPercent": 11, "valueInCount": 110, "tags": ["inbound", "video", "cpu"]},
    lambda: call(stream("video", frames_decoded=900, frames_dropped=100)),
)
case(
    "frames-dropped-high",
    "framesDropped",
    lambda: call(stream("video", frames_decoded=790, frames_dropped=210)),
    {"severity": "high", "valueInPercent": 21},
    lambda: call(stream("video", frames_decoded=40, frames_dropped=40)),
)

# Media: sending.
case(
    "send-delay-low",
    "delayedThroughput",
    lambda: call(stream("video", "outbound", packet_send_delay_ms=series([5] * 9 + [30]))),
    {
        "severity": "low",
        "averageInMs": 7.5,
        "maxInMs": 30,
        "durationInPercent": 10,
        "firstSeenAt": int(T0 + 10_000),
    },
    lambda: call(stream("video", "outbound", packet_send_delay_ms=series([5] * 10 + [30]))),
)
case(
    "send-delay-medium",
    "delayedThroughput",
    lambda: call(stream("audio", "outbound", packet_send_delay_ms=series([25, 25]))),
    {
        "severity": "medium",
        "averageInMs": 25,
        "durationInPercent": 100,
        "tags": ["outbound", "audio", "network"],
    },
    lambda: call(stream("audio", "outbound", packet_send_delay_ms=series([20, 20]))),
)
for _reason, _type, _tag in (
    ("cpu", "qualityLimitationCpu", "cpu"),
    ("bandwidth", "qualityLimitationBandwidth", "network"),
):
    case(
        f"{_type}-medium",
        _type,
        lambda r=_reason: call(
            stream(
                "video",
                "outbound",
                quality_limitation_pct={r: 20.5, "other": 0.0},
                quality_limitation_resolution_changes=3,
            )
        ),
        {
            "severity": "medium",
            "valueInPercent": 20.5,
            "valueInCount": 3,
            "tags": ["outbound", "video", _tag],
        },
        lambda r=_reason: call(stream("video", "outbound", quality_limitation_pct={r: 20.0})),
    )
    case(
        f"{_type}-high",
        _type,
        lambda r=_reason: call(stream("video", "outbound", quality_limitation_pct={r: 50.5})),
        {"severity": "high", "valueInPercent": 50.5},
        lambda r=_reason: call(stream("video", "outbound", quality_limitation_pct=None)),
    )
for _direction, _type, _attr in (
    ("outbound", "highEncodeTime", "avg_encode_time_ms"),
    ("inbound", "highDecodeTime", "avg_decode_time_ms"),
):
    case(
        f"{_type}-medium",
        _type,
        lambda d=_direction, a=_attr: call(stream("video", d, fps=series([30, 30]), **{a: 11.2})),
        {
            "severity": "medium",
            "averageInMs": 11.2,
            "valueInPercent": 33.6,
            "tags": [_direction, "video", "cpu"],
        },
        lambda d=_direction, a=_attr: call(stream("video", d, fps=series([30, 30]), **{a: 11.1})),
    )
    case(
        f"{_type}-high-default-fps",
        _type,
        lambda d=_direction, a=_attr: call(stream("video", d, **{a: 22.3})),
        {"severity": "high", "averageInMs": 22.3, "valueInPercent": 66.9},
        lambda d=_direction, a=_attr: call(stream("video", d, fps=series([15]), **{a: 22.2})),
    )

# A screen share at under 1 fps has its own (long) frame interval, capped at 1 s, not a camera's 33 ms.
case(
    "highEncodeTime-screenshare",
    "highEncodeTime",
    lambda: call(
        stream("video", "outbound", screenshare=True, fps=series([0.5, 0.5]), avg_encode_time_ms=334)
    ),
    {"severity": "medium", "valueInPercent": 33.4},
    lambda: call(
        stream("video", "outbound", screenshare=True, fps=series([0.5, 0.5]), avg_encode_time_ms=300)
    ),
)

# Media: unused / silent.
case(
    "unused-stream",
    "unusedStream",
    lambda: call(stream("video", "outbound", packets=0, bytes=0)),
    {
        "severity": "low",
        "valueInCount": 0,
        "property": "packetsSent",
        "tags": ["outbound", "video", "behavior"],
    },
    lambda: call(
        stream("video", "outbound", packets=0, bytes=0),
        stream("video", "outbound", stat_id="OTV2", packets=500),
    ),
)
case(
    "unused-stream-needs-connection",
    "unusedStream",
    lambda: call(pc(), stream("audio", "outbound", packets=0, bytes=0)),
    {"severity": "low"},
    lambda: call(failed_pc(), stream("audio", "outbound", packets=0, bytes=0)),
)
case(
    "constant-mic",
    "constantMicrophoneVolume",
    lambda: call(stream("audio", "outbound", audio_level_flat=True)),
    {"severity": "medium", "property": "audioLevel", "tags": ["outbound", "audio", "peripheral"]},
    lambda: call(stream("audio", "outbound", audio_level_flat=False)),
)


# Client.
def _gum(constraints, *, success=True, error=None, time=T0 - 5000, kind="getUserMedia", tracks=None) -> dict:
    return {
        "time": time,
        "kind": kind,
        "constraints": constraints,
        "success": success,
        "error": error,
        "tracks": tracks or [],
    }


def _client(*requests, pressure=()) -> ClientMetrics:
    return ClientMetrics(media_requests=list(requests), compute_pressure=list(pressure))


case(
    "aec-disabled",
    "aecDisabled",
    lambda: call(
        client=_client(
            _gum(
                {"audio": {"echoCancellation": False}, "video": True},
                tracks=[{"kind": "audio", "id": "a1", "label": "USB Mic"}],
            )
        )
    ),
    {
        "severity": "medium",
        "category": "devices",
        "valueInCount": 1,
        "firstSeenAt": int(T0 - 5000),
        "source": {"rid": "0", "timestamp": "2023-11-14T22:13:15.000Z", "labelId": "USB Mic"},
        "tags": ["audio", "outbound", "peripheral", "configuration"],
    },
    lambda: call(
        client=_client(
            _gum({"audio": {"echoCancellation": True}}),
            _gum({"audio": {"echoCancellation": False}}, kind="getDisplayMedia"),
        )
    ),
)
case(
    "aec-disabled-jsish-text",
    "aecDisabled",
    lambda: call(
        client=_client(_gum({"audio": "{echoCancellation: {exact: false}, autoGainControl: true}"}))
    ),
    {"severity": "medium"},
    lambda: call(client=_client(_gum({"audio": "{echoCancellation: {ideal: true}}"}))),
)
case(
    "gum-error-high",
    "getUserMediaError",
    lambda: call(
        client=_client(_gum({"audio": True}, success=False, error="NotAllowedError: Permission denied"))
    ),
    {
        "severity": "high",
        "property": "NotAllowedError",
        "tags": ["audio", "peripheral", "behavior"],
        "source": {"rid": "0", "timestamp": "2023-11-14T22:13:15.000Z"},
    },
    lambda: call(client=_client(_gum({"audio": True}))),
)
case(
    "gum-error-name-and-message",
    "getUserMediaError",
    lambda: call(
        client=_client(
            {
                **_gum({"audio": True, "video": True}, success=False, error="NotFoundError"),
                "error_message": "Requested device not found",
            }
        )
    ),
    {"severity": "high", "property": "NotFoundError", "tags": ["audio", "video", "peripheral"]},
    None,
)
case(
    "gum-error-recovered",
    "getUserMediaError",
    lambda: call(
        client=_client(
            _gum({"video": True}, success=False, error="NotReadableError: busy"),
            _gum({"video": True}, time=T0 - 4000),
        )
    ),
    {"severity": "low", "property": "NotReadableError", "tags": ["video", "peripheral"]},
    None,
)
case(
    "cpu-pressure-medium",
    "cpuPressure",
    lambda: call(client=_client(pressure=[(T0, "nominal"), (T0 + 1000, "serious")])),
    {
        "severity": "medium",
        "valueInCount": 1,
        "durationInPercent": 50,
        "firstSeenAt": int(T0 + 1000),
        "tags": ["cpu"],
    },
    lambda: call(client=_client(pressure=[(T0, "nominal"), (T0 + 1000, "fair")])),
)
case(
    "cpu-pressure-high",
    "cpuPressure",
    lambda: call(client=_client(pressure=[(T0, "serious"), (T0 + 1000, "critical")])),
    {"severity": "high", "valueInCount": 2, "durationInPercent": 100},
    None,
)


def assert_subset(actual: dict, expected: dict) -> None:
    for key, want in expected.items():
        assert key in actual, f"{key} missing from {actual}"
        got = actual[key]
        if isinstance(want, float | int) and not isinstance(want, bool) and key != "firstSeenAt":
            assert got == pytest.approx(want, abs=0.01), (key, got, want)
        elif key == "tags":
            assert sorted(got) == sorted(want), (got, want)
        else:
            assert got == want, (key, got, want)


@pytest.mark.parametrize("case_id,type,fire,expected,silent", CASES, ids=[c[0] for c in CASES])
def test_rule_fires_above_threshold(case_id, type, fire, expected, silent):
    observation = one(fire(), type)
    assert_subset(observation, expected)
    assert observation["meaning"]


SILENT = [c for c in CASES if c[4] is not None]


@pytest.mark.parametrize("case_id,type,fire,expected,silent", SILENT, ids=[c[0] for c in SILENT])
def test_rule_silent_just_below_threshold(case_id, type, fire, expected, silent):
    assert only(silent(), type) == []


# --- catalogue and contract shape ----------------------------------------------------------------


def test_at_least_24_rules_and_every_rule_has_a_firing_case():
    types = set(observation_types())
    assert len(types) >= 24
    assert types == {c[1] for c in CASES}, "each rule needs a firing and a silent test case"
    assert all(any(c[1] == t and c[4] is not None for c in CASES) for t in types)


def test_catalogue_shape_and_vocabulary():
    entries = catalogue()
    assert [e["type"] for e in entries] == sorted(e["type"] for e in entries)
    assert len({e["type"] for e in entries}) == len(entries)
    for e in entries:
        assert set(e) == {"type", "title", "severity", "tags", "category", "meaning"}
        assert e["title"] and e["meaning"]
        assert e["severity"] and set(e["severity"]) <= set(SEVERITIES)
        assert e["severity"] == sorted(e["severity"], key=SEVERITY_RANK.__getitem__)
        assert e["tags"] and set(e["tags"]) <= set(TAGS)
        assert e["category"] in CATEGORIES
    for kind in observation_types().values():
        assert kind.threshold and kind.advice and kind.reason


def test_every_emitted_observation_matches_its_catalogue_entry_and_the_contract():
    kinds = {e["type"]: e for e in catalogue()}
    for case_id, _type, fire, _, _ in CASES:
        for o in detect(fire(), strict=True):
            entry = kinds[o["type"]]
            assert o["severity"] in entry["severity"], case_id
            assert set(o["tags"]) <= set(entry["tags"]), case_id
            assert o["category"] == entry["category"], case_id
            allowed = {
                "type",
                "severity",
                "category",
                "source",
                "tags",
                "url",
                "firstSeenAt",
                "indicators",
                "meaning",
                "property",
                *VALUE_FIELDS,
            }
            assert set(o) <= allowed, (case_id, set(o) - allowed)
            assert set(o["source"]) <= {"pid", "sid", "cpid", "did", "rid", "timestamp", "ssrcId", "labelId"}
            if "firstSeenAt" in o:
                assert isinstance(o["firstSeenAt"], int)
            if "ssrcId" in o["source"]:
                assert isinstance(o["source"]["ssrcId"], int)
            _assert_clean(o, case_id)


def _assert_clean(value, where):
    if isinstance(value, dict):
        for v in value.values():
            _assert_clean(v, where)
    elif isinstance(value, list):
        for v in value:
            _assert_clean(v, where)
    else:
        assert value is not None, where
        assert not (isinstance(value, float) and not math.isfinite(value)), where


def test_absent_and_non_finite_values_are_omitted():
    m = call(stream("audio", "inbound", jitter_ms=series([50, 60]), ssrc=None))
    o = one(m, "highJitterIn")
    assert "ssrcId" not in o["source"]
    nan_stream = stream("video", "inbound", loss_pct=float("nan"), loss_pct_series=series([3.0, 3.0]))
    o = one(call(nan_stream), "highVideoLossIn")
    assert o["valueInPercent"] == 3.0


def test_sorted_by_severity_then_time():
    m = call(
        failed_pc("PC_9"),
        pc("PC_1", ice_restarts=1, gathering_states=[(T0, "gathering"), (T0 + 50_000, "gathering")]),
        pc("PC_2", rtt_ms=series([400, 400], start=T0 + 5000)),
        pc("PC_3", rtt_ms=series([200, 200], start=T0 + 3000)),
        pc("PC_4", rtt_ms=series([200, 200], start=T0 + 1000)),
        stream("audio", "inbound", pc_id="PC_1", loss_pct=30.0),
    )
    found = detect(m, strict=True)
    ranks = [SEVERITY_RANK[o["severity"]] for o in found]
    assert ranks == sorted(ranks)
    mediums = [
        (o["type"], o["source"]["pid"]) for o in found if o["type"] == "highRTT" and o["severity"] == "medium"
    ]
    assert mediums == [("highRTT", "PC_4"), ("highRTT", "PC_3")]
    assert found[0]["type"] == "iceFailure"


def test_detect_is_deterministic():
    m = call(failed_pc("PC_1"), pc("PC_2", rtt_ms=series([400])), stream("video", loss_pct=9.0, pc_id="PC_2"))
    assert detect(m, strict=True) == detect(m, strict=True)


def test_empty_call_has_no_observation():
    assert detect(CallMetrics(start_ms=None, end_ms=None, client=ClientMetrics()), strict=True) == []


def test_a_failing_rule_is_skipped_unless_strict(monkeypatch):
    def broken(metrics):
        raise RuntimeError("boom")

    rules = dict(obs_module._load_rules())
    rules["iceFailure"] = obs_module.Rule(rules["iceFailure"].kind, broken)
    monkeypatch.setattr(obs_module, "_RULES", rules)
    m = call(failed_pc(ice_servers=[]))
    assert [o["type"] for o in detect(m)] == ["turnNoConfig"]
    with pytest.raises(RuntimeError):
        detect(m, strict=True)


def test_merge_repeats_merges_identical_observations_only():
    from plugins.rtcstats.analysis.observations import merge_repeats

    many = []
    for i in range(10):  # failed at different times: PC_9 first
        many.append(failed_pc(f"PC_{i}"))
        many[-1].ice_states = [(T0 + 10, "checking"), (T0 + 900 - i, "failed")]
    found = detect(call(*many, pc("PC_X", ice_restarts=1), pc("PC_Y", ice_restarts=2)), strict=True)
    merged = merge_repeats(found)
    [failure] = [o for o in merged if o["type"] == "iceFailure"]
    assert failure["valueInCount"] == 10 and failure["firstSeenAt"] == int(T0 + 891)
    assert failure["source"] == found[0]["source"] == {"pid": "PC_9"}  # the earliest comes first
    assert failure["meaning"].endswith(
        " Seen 10 times (PC_9, PC_8, PC_7, PC_6, PC_5, PC_4, PC_3, PC_2 and 2 more)."
    )
    # iceRestart carries its own valueInCount (the number of restarts): never merged
    assert [o["valueInCount"] for o in merged if o["type"] == "iceRestart"] == [1, 2]
    # one place twice: the count without a list of places; a different value: not merged
    twice = merge_repeats([found[0], dict(found[0])])
    assert len(twice) == 1 and twice[0]["meaning"].endswith(" Seen 2 times.")
    other = dict(found[0], url="turn:elsewhere.example.org")
    assert merge_repeats([found[0], other]) == [found[0], other]
    assert merge_repeats([]) == []


def test_make_rejects_severity_or_tag_outside_the_catalogue():
    observation_types()
    with pytest.raises(ValueError):
        obs_module.make("iceFailure", "low", source={"pid": "x"}, tags=["connectivity"])
    with pytest.raises(ValueError):
        obs_module.make("iceFailure", "critical", source={"pid": "x"}, tags=["video"])
    with pytest.raises(ValueError):
        obs_module.make("iceFailure", "critical", source={"pid": "x"}, tags=["not-a-tag"])


def test_meaning_states_the_numbers():
    gum = _gum({"video": True}, success=False, error="NotFoundError")
    o = one(call(client=_client({**gum, "error_message": "Requested device not found"})), "getUserMediaError")
    assert "failed with NotFoundError: Requested device not found" in o["meaning"]
    o = one(call(stream("audio", "inbound", codec="audio/PCMU", loss_pct=2.5)), "highAudioLossIn")
    assert "2.5 %" in o["meaning"] and "1 %" in o["meaning"] and "audio/PCMU" in o["meaning"]
    o = one(call(pc(connection_time_ms=7200.0)), "highConnectionTime")
    assert "7.2 s" in o["meaning"]


def test_scoring_doc_lists_every_rule_with_its_threshold_and_severities():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "rtcstats-scoring.md").read_text()
    for kind in observation_types().values():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{kind.type}` ")), None)
        assert row is not None, f"docs/rtcstats-scoring.md has no row for {kind.type}"
        assert kind.threshold.replace("|", "\\|") in row, kind.type
        assert ", ".join(kind.severities) in row, kind.type


# --- on real fixtures (issue 4) ------------------------------------------------------------------


def _fixture_observations(data: bytes) -> list[tuple[str, str, str | None, str | None]]:
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.parsing import parse

    found = detect(compute_metrics(parse(data)), strict=True)
    return [(o["type"], o["severity"], o["source"].get("pid"), o["source"].get("sid")) for o in found]


def test_audio_concealment_of_silent_senders_is_not_an_interruption():
    from tests.plugins.rtcstats.fixtures import dump_bytes

    # google-standard-stats-p2p PC_1: 2566963332 (a muted participant, 0.48 % audible concealment) no
    # longer fires; 3489317734 still conceals 13.27 % while talking: high.
    p2p = _fixture_observations(dump_bytes("jitsi_legacy_google-standard-stats-p2p.jsonl"))
    assert [o for o in p2p if o[0] == "audioConcealment"] == [
        ("audioConcealment", "high", "PC_1", "RTCInboundRTPAudioStream_3489317734")
    ]
    # google-standard-stats-sfu: 27.89 % with silence, 5.67 % without: medium, not high
    sfu = _fixture_observations(dump_bytes("jitsi_legacy_google-standard-stats-sfu.jsonl"))
    assert [o for o in sfu if o[0] == "audioConcealment"] == [
        ("audioConcealment", "medium", "PC_0", "RTCInboundRTPAudioStream_757648711")
    ]


def test_turn_rules_with_recorded_empty_and_unknown_ice_configuration():
    from tests.plugins.rtcstats.fixtures import dump_bytes, with_configuration

    # chrome-standard-pc-failed: PC_1 and PC_2 were configured with STUN only and failed without ever
    # connecting; PC_0 (TURN/TLS configured) connected, then failed.
    name = "jitsi_legacy_chrome-standard-pc-failed.jsonl"
    turn_rules = ("turnNoConfig", "udpBlocked", "turnUnreachable")

    def turn(data: bytes) -> list[tuple]:
        return [o[:3] for o in _fixture_observations(data) if o[0] in turn_rules]

    expected = [("turnNoConfig", "high", "PC_1"), ("turnNoConfig", "high", "PC_2")]
    assert turn(dump_bytes(name)) == expected
    # recorded empty: "no TURN" is a fact, the failed connections still get it
    assert turn(with_configuration(name, {"iceServers": []})) == expected
    # not recorded: unknown, no rule claims anything about the servers
    assert turn(with_configuration(name, None)) == []
