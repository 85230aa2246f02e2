"""The candidate code of metrics_pc that reads columns directly gives what the StatTrack-based code it
replaced gives: candidate reports of every spelling (missing, empty, zero and None-tailed values), their
matching with event candidates, and the SDP candidate lines found by search instead of splitlines()."""

from __future__ import annotations

import random
from typing import Any

from plugins.rtcstats.analysis.metrics_model import Candidate
from plugins.rtcstats.analysis.metrics_pc import _sdp_candidates, candidate_from_track, merge_candidates
from plugins.rtcstats.analysis.metrics_values import (
    address_family,
    as_int,
    candidate_type,
    parse_candidate_line,
    relay_protocol_from_url,
    sdp_of,
    text,
    truthy,
)
from plugins.rtcstats.parsed_dump import StatTrack
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names

# -- the reference: candidates read through StatTrack.last, as before --------------------------------


def _last(track: StatTrack, *props: str) -> Any:
    for prop in props:
        value = track.last(prop)
        if value is not None and value != "":
            return value
    return None


def _lower(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _reference_candidate(track: StatTrack) -> Candidate:
    ctype = candidate_type(_last(track, "candidateType"))
    url = text(_last(track, "url"))
    relay = _lower(_last(track, "relayProtocol"))
    source = "relayProtocol" if relay else None
    if relay is None and ctype == "relay":
        relay = relay_protocol_from_url(url)
        source = "url" if relay else None
    values = (_last(track, "address"), _last(track, "ip"), _last(track, "ipAddress"))
    address = next((v for v in values if isinstance(v, str) and v), None)
    network = text(_last(track, "networkType"))
    if network is None and truthy(track.last("vpn")):
        network = "vpn"
    return Candidate(
        id=track.id,
        type=ctype,
        protocol=_lower(_last(track, "protocol", "transport")),
        relay_protocol=relay,
        relay_protocol_source=source,
        port=as_int(_last(track, "port", "portNumber")),
        network_type=network,
        address_family=address_family(address),
        url=url,
    )


def _reference_same(parsed: dict, track: StatTrack, stat: Candidate) -> bool:
    if parsed.get("type") != stat.type or parsed.get("port") != stat.port:
        return False
    if parsed.get("protocol") and stat.protocol and parsed["protocol"] != stat.protocol:
        return False
    foundation = track.last("foundation")
    if foundation is not None and parsed.get("foundation") is not None:
        return str(foundation) == str(parsed["foundation"])
    address = _last(track, "address", "ip", "ipAddress")
    theirs = parsed.get("address")
    if isinstance(address, str) and isinstance(theirs, str) and "x" not in address + theirs.lower():
        if not theirs.endswith(".local") and not address.endswith(".local"):
            return address == theirs
    return True


def _reference_matches(events: list[dict], tracks: list[StatTrack]) -> list[str]:
    """The report id each kept event candidate is merged with ("" for none), in merge order."""
    kept = [e for e in events if e.get("component") in (None, "1")]
    matched: dict[int, str] = {}
    for track in tracks:
        stat = _reference_candidate(track)
        for i, parsed in enumerate(kept):
            if i not in matched and _reference_same(parsed, track, stat):
                matched[i] = track.id
                break
    return [matched.get(i, "") for i in range(len(kept))]


# -- random candidate reports ---------------------------------------------------------------------

_VALUES = {
    "candidateType": ["host", "srflx", "relay", "serverreflexive", "local", "", " Relay ", 0, None],
    "protocol": ["udp", "TCP", "", " ", None, 0],
    "transport": ["udp", "tcp", "", None],
    "url": ["turn:a.example:3478?transport=tcp", "turns:b.example", "stun:c", "", None, 7],
    "relayProtocol": ["udp", " TLS ", "", None],
    "address": ["10.0.0.1", "", "x.x.x.x", "host.local", "[::1]", None, 5],
    "ip": ["192.168.1.2", "", None, "fe80::1"],
    "ipAddress": ["172.16.0.3", "", None],
    "networkType": ["wifi", "", None, "ethernet"],
    "vpn": [True, False, "true", 1, 0, None],
    "port": [0, 5000, "5000", "", None, 1.5],
    "portNumber": [0, 6000, "6001", "", None],
    "foundation": ["1", 1, "2", "", None],
}


def _random_track(rng: random.Random, index: int) -> StatTrack:
    track = StatTrack(f"cand-{index}", rng.choice(["local-candidate", "localcandidate"]))
    size = rng.randint(1, 4)
    track.times = [float(t) for t in range(size)]
    for prop, choices in _VALUES.items():
        if rng.random() < 0.3:
            continue  # never reported
        # a column may be shorter than times, and may end with None (a value absent later)
        track.props[prop] = [rng.choice(choices) for _ in range(rng.randint(0, size))]
    return track


def _random_event(rng: random.Random) -> dict:
    return {
        "type": rng.choice(["host", "srflx", "relay", "local", None]),
        "protocol": rng.choice(["udp", "tcp", None, ""]),
        "port": rng.choice([0, 5000, 6000, 6001, None]),
        "address": rng.choice(["10.0.0.1", "192.168.1.2", "x.x.x.x", "a.local", None, 3]),
        "foundation": rng.choice(["1", "2", None]),
        "component": rng.choice(["1", "1", "1", "2", None]),
    }


def test_candidate_from_track_reads_as_stat_track_last():
    rng = random.Random(13)
    for index in range(3000):
        track = _random_track(rng, index)
        assert repr(candidate_from_track(track)) == repr(_reference_candidate(track)), track.props


def test_merge_candidates_matches_as_before():
    rng = random.Random(7)
    matches = 0
    for _ in range(600):
        tracks = [_random_track(rng, i) for i in range(rng.randint(0, 6))]
        events = [_random_event(rng) for _ in range(rng.randint(0, 8))]
        # duplicates are dropped before matching: keep the reference's input free of them
        unique = list({repr(sorted(e.items(), key=str)): e for e in events}.values())
        merged = merge_candidates([dict(e) for e in unique], tracks, "local")
        kept = [e for e in unique if e.get("component") in (None, "1")]
        ids = [c.id for c in merged[: len(kept)]]
        expected = [hit or f"local-{i}" for i, hit in enumerate(_reference_matches(unique, tracks))]
        assert ids == expected, (unique, [t.props for t in tracks])
        hits = {hit for hit in _reference_matches(unique, tracks) if hit}
        assert [c.id for c in merged[len(kept) :]] == [t.id for t in tracks if t.id not in hits]
        matches += len(hits)
    assert matches > 50  # the random reports and events do match (135 with this seed)


# -- SDP candidate lines --------------------------------------------------------------------------

_LINE = "a=candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0"
_SEPARATORS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
_PIECES = [
    _LINE,
    "v=0",
    "",
    "a=candidate:bad",
    "xa=candidate:1 1 udp 1 1.1.1.1 1 typ host",  # not at a line start
    _LINE + " a=candidate:2 1 udp 1 2.2.2.2 2 typ relay",  # a second one inside a line
    "a=candidate:3 2 tcp 1 3.3.3.3 9 typ srflx raddr 0.0.0.0 rport 0",
]


def sdp_candidates(sdp: Any) -> list[dict]:
    """The reference for _sdp_candidates: metrics_values' former sdp_candidates, line by line."""
    if not isinstance(sdp, str) or "a=candidate:" not in sdp:
        return []
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parsed = parse_candidate_line(line)
            if parsed is not None:
                out.append(parsed)
    return out


def test_sdp_candidates_found_by_search_as_by_splitlines():
    rng = random.Random(3)
    seen = 0
    for _ in range(4000):
        pieces = [rng.choice(_PIECES) for _ in range(rng.randint(0, 6))]
        sdp = "".join(piece + rng.choice(_SEPARATORS + [" ", "\t", "x"]) for piece in pieces)
        if sdp and rng.random() < 0.5:
            sdp = sdp[:-1]  # the last line without its line break
        expected = sdp_candidates(sdp)
        assert repr(_sdp_candidates(sdp)) == repr(expected), repr(sdp)
        seen += len(expected)
    assert seen > 1000
    for value in (None, 3, "", "a=candidate:", _LINE):
        assert repr(_sdp_candidates(value)) == repr(sdp_candidates(value))


def test_sdp_candidates_of_the_fixtures():
    descriptions = 0
    for name in fixture_names():
        for pc in parse(dump_bytes(name)).peer_connections.values():
            for event in pc.events:
                sdp = sdp_of(event.value)
                if sdp is not None and "a=candidate:" in sdp:
                    assert repr(_sdp_candidates(sdp)) == repr(sdp_candidates(sdp)), name
                    descriptions += 1
    assert descriptions > 50
    assert parse_candidate_line(_LINE) is not None
