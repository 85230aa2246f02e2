"""apply_events dispatches each event by one lookup of its name (_EVENT_KINDS) and reads the other fields
of the events it uses only: the same PcMetrics and candidate lists as the chain of name comparisons it
replaced, on the fixtures and on random events of every handled name, failures and unknown names."""

from __future__ import annotations

import random
from typing import Any

from plugins.rtcstats.analysis.metrics_model import PcMetrics
from plugins.rtcstats.analysis.metrics_pc import (
    _candidate_error,
    _channel_event,
    _error_text,
    _sdp_candidates,
    _transition_time,
    apply_events,
    state_value,
)
from plugins.rtcstats.analysis.metrics_values import sdp_of, sdp_ufrag, truthy
from plugins.rtcstats.parsed_dump import Event
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names

_STATES = {
    "iceconnectionstatechange": "ice_states",
    "legacyiceconnectionstatechange": "ice_states_legacy",
    "connectionstatechange": "connection_states",
    "signalingstatechange": "signaling_states",
    "icegatheringstatechange": "gathering_states",
    "dtlsstatechange": "dtls_states",
}


def _one_candidate(event: Event, side: str) -> list[dict]:
    # the candidate parse itself is not what changed: taken from apply_events on the event alone
    return apply_events(PcMetrics("one"), [event])[side]


def _reference(pcm: PcMetrics, events: list[Event]) -> dict:
    """apply_events as a chain of name comparisons (before _EVENT_KINDS)."""
    local: list[dict] = []
    remote: list[dict] = []
    ufrags: list[str] = []
    restarts = 0
    channels: list[dict] = []
    for event in events:
        name, value, time = event.name, event.value, event.time
        if name in _STATES:
            state = state_value(value)
            if state is not None:
                getattr(pcm, _STATES[name]).append((time, state))
            continue
        if name.endswith("onfailure"):
            raw = event.raw_name
            method = raw[: -len("OnFailure")] if raw.endswith("OnFailure") else raw
            pcm.call_failures.append({"time": time, "method": method, "error": _error_text(value)})
        elif name == "icecandidate":
            local += _one_candidate(event, "local")
        elif name == "addicecandidate":
            remote += _one_candidate(event, "remote")
        elif name == "setremotedescription":
            for cand in _sdp_candidates(sdp_of(value)):
                cand["time"] = time
                remote.append(cand)
        elif name in ("setlocaldescription", "setlocaldescriptiononsuccess"):
            ufrag = sdp_ufrag(sdp_of(value))
            if ufrag and (not ufrags or ufrags[-1] != ufrag):
                ufrags.append(ufrag)
        elif name == "icecandidateerror":
            pcm.candidate_errors.append(_candidate_error(value, time))
        elif name == "restartice":
            restarts += 1
        elif name == "createoffer" and isinstance(value, dict) and truthy(value.get("iceRestart")):
            restarts += 1
        elif name in ("createdatachannel", "datachannel"):
            channels.append(_channel_event(name, value, time))
        elif name == "close":
            pcm.closed = True
    pcm.ice_restarts = max(restarts, len(ufrags) - 1 if ufrags else 0)
    if any(s == "closed" for _, s in pcm.signaling_states + pcm.connection_states + pcm.ice_states):
        pcm.closed = True
    pcm.gathering_start_ms = next(
        (t for t, s in pcm.gathering_states if s == "gathering" and t is not None), None
    )
    pcm.connection_time_ms = _transition_time(pcm.connection_states, ("connecting",), ("connected",))
    ice = pcm.ice_states or pcm.ice_states_legacy
    pcm.ice_connection_time_ms = _transition_time(ice, ("checking",), ("connected", "completed"))
    return {"local": local, "remote": remote, "channels": channels}


def _same(events: list[Event]) -> None:
    ours, theirs = PcMetrics("pc"), PcMetrics("pc")
    got, expected = apply_events(ours, events), _reference(theirs, events)
    assert repr(got) == repr(expected)
    assert repr(ours) == repr(theirs)


def test_apply_events_as_the_chain_on_the_fixtures():
    pcs = 0
    for name in fixture_names():
        for pc in parse(dump_bytes(name)).peer_connections.values():
            _same(pc.events)
            pcs += 1
    assert pcs > 20


_LINE = "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0"
_SDP = "v=0\r\na=ice-ufrag:{u}\r\na=" + _LINE + "\r\n"
_NAMES = [*_STATES, "icecandidate", "addicecandidate", "setremotedescription", "setlocaldescription"]
_NAMES += [
    "setlocaldescriptiononsuccess",
    "icecandidateerror",
    "restartice",
    "createoffer",
    "createdatachannel",
]
_NAMES += [
    "datachannel",
    "close",
    "track",
    "addstream",
    "createofferonfailure",
    "setremotedescriptiononfailure",
]
_NAMES += ["createofferonsuccess", "negotiationneeded", "onfailure", "closed", ""]
_VALUES: list[Any] = [
    None,
    "connected",
    "checking",
    "connecting",
    "closed",
    "gathering",
    {"state": "completed"},
    {"iceRestart": True},
    {"iceRestart": "false"},
    {"candidate": _LINE, "url": "turn:x", "relayProtocol": "UDP"},
    _LINE,
    {"name": "OperationError", "message": "m"},
    "errorCode: 701, url: stun:x, address: 1.2.3.4, port: 9",
    ["label", {"ordered": True}],
    {"label": "chat", "id": 3},
]


def test_apply_events_as_the_chain_on_random_events():
    rng = random.Random(5)
    for _ in range(600):
        events = []
        for _ in range(rng.randint(0, 12)):
            name = rng.choice(_NAMES)
            raw = name.replace("onfailure", "OnFailure") if rng.random() < 0.5 else name
            value = rng.choice(
                _VALUES + [_SDP.format(u=rng.choice("ab")), {"sdp": _SDP.format(u=rng.choice("ab"))}]
            )
            time = rng.choice([None, float(rng.randint(0, 9))])
            events.append(Event(time, name, raw, value))
        _same(events)
