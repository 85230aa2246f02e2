"""The dump explorer's data (no Flask): every event in time order by category, the state changes of each
peer connection, its ICE candidates and candidate pairs, and every stat of every report id as series.

Read from the parsed dump (parsed_dump.Dump), the same one the analysis reads, so the explorer shows what the
analysis saw, as webrtc-internals and the rtcstats dump-importer do.
"""

from __future__ import annotations

import json
import math
from typing import Any

from plugins.rtcstats.analysis.metrics_values import candidate_type
from plugins.rtcstats.parsed_dump import Dump, Event, PeerConnection, StatTrack

MAX_VALUE_CHARS = 4000  # an event's value (an SDP, a configuration) as shown, at most
MAX_POINTS = 2000  # per stat series: more points than pixels only make the answer heavier
CATEGORIES = ("signaling", "ice", "connection", "media", "error", "other")
STATE_EVENTS = {
    "signalingstatechange": "signaling",
    "iceconnectionstatechange": "ice",
    "connectionstatechange": "connection",
    "icegatheringstatechange": "gathering",
}
SIGNALING = (
    "createoffer",
    "createanswer",
    "setlocaldescription",
    "setremotedescription",
    "signalingstatechange",
    "negotiationneeded",
    "create",
    "constraints",
    "close",
    "addtransceiver",
    "addtrack",
    "removetrack",
    "addstream",
    "removestream",
    "track",
    "createdatachannel",
    "datachannel",
    "setconfiguration",
)
CANDIDATE_TYPES = {"local-candidate": "local", "localcandidate": "local", "remote-candidate": "remote"}
CANDIDATE_TYPES["remotecandidate"] = "remote"
PAIR_TYPES = ("candidate-pair", "googCandidatePair", "candidatepair")


def category_of(name: str) -> str:
    """signaling, ice, connection, media (getUserMedia & co), error or other, from a normalised name."""
    if "failure" in name or "error" in name or name.endswith("onfailure"):
        return "error"
    if name.startswith(("navigator.", "mediastreamtrack.", "getusermedia", "getdisplaymedia")):
        return "media"
    if name == "connectionstatechange":
        return "connection"
    if "ice" in name:
        return "ice"
    if name in SIGNALING or name.startswith(("createoffer", "createanswer", "setlocal", "setremote")):
        return "signaling"
    return "other"


def value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " …"


def _event(event: Event, pc_id: str | None, start: float | None) -> dict:
    at = event.time
    return {
        "at": at,
        "offset": (at - start) if at is not None and start is not None else None,
        "pc": pc_id or event.pc_id,
        "name": event.raw_name or event.name,
        "category": category_of(event.name),
        "value": value_text(event.value),
    }


def events_of(dump: Dump) -> list[dict]:
    """Every client and peer-connection event, in time order (events without a time last)."""
    start = dump.start_ms
    rows = [_event(e, None, start) for e in dump.client_events]
    for pc in dump.peer_connections.values():
        rows += [_event(e, pc.id, start) for e in pc.events]
    return sorted(rows, key=lambda r: (r["at"] is None, r["at"] or 0))


def states_of(pc: PeerConnection) -> dict[str, list[str]]:
    """Per state kind (signaling, ice, connection, gathering), the states in order: the state timeline."""
    out: dict[str, list[str]] = {}
    for event in pc.events:
        kind = STATE_EVENTS.get(event.name)
        if kind and isinstance(event.value, str) and event.value:
            states = out.setdefault(kind, [])
            if not states or states[-1] != event.value:
                states.append(event.value)
    return out


def _candidate(track: StatTrack, side: str) -> dict:
    address = track.last("address") or track.last("ip") or track.last("ipAddress")
    return {
        "id": track.id,
        "side": side,
        "type": candidate_type(track.last("candidateType")) or track.last("candidateType"),
        "address": address,
        "port": _port(track.last("port") or track.last("portNumber")),
        "protocol": track.last("protocol") or track.last("transport"),
        "relayProtocol": track.last("relayProtocol"),
        "networkType": track.last("networkType"),
        "url": track.last("url"),
    }


def _port(value):
    """A port as a number (legacy dumps write it as text); anything else as it is."""
    number = _number(value)
    return int(number) if number is not None and number == int(number) else value


def _selected_pairs(pc: PeerConnection) -> set[str]:
    selected = {t.last("selectedCandidatePairId") for t in pc.tracks_of_type("transport")}
    for track in pc.stats.values():
        if track.type in PAIR_TYPES and (
            track.last("selected") is True or str(track.last("googActiveConnection")).lower() == "true"
        ):
            selected.add(track.id)
    return {s for s in selected if s}


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def ice_of(pc: PeerConnection) -> dict:
    """The peer connection's candidates and candidate pairs (last values), selected pairs marked."""
    candidates = {
        t.id: _candidate(t, CANDIDATE_TYPES[t.type]) for t in pc.stats.values() if t.type in CANDIDATE_TYPES
    }
    selected = _selected_pairs(pc)
    pairs = []
    for track in pc.stats.values():
        if track.type not in PAIR_TYPES:
            continue
        rtt = _number(track.last("currentRoundTripTime"))
        legacy_rtt = _number(track.last("googRtt"))
        pairs.append(
            {
                "id": track.id,
                "local": candidates.get(track.last("localCandidateId")),
                "remote": candidates.get(track.last("remoteCandidateId")),
                "localId": track.last("localCandidateId"),
                "remoteId": track.last("remoteCandidateId"),
                "state": track.last("state"),
                "nominated": track.last("nominated"),
                "selected": track.id in selected,
                "bytesSent": _number(track.last("bytesSent")),
                "bytesReceived": _number(track.last("bytesReceived")),
                "rttMs": rtt * 1000 if rtt is not None else legacy_rtt,
                "requestsSent": track.last("requestsSent"),
                "responsesReceived": track.last("responsesReceived"),
            }
        )
    pairs.sort(key=lambda p: (not p["selected"], not p["nominated"], p["id"]))
    return {"candidates": list(candidates.values()), "pairs": pairs}


def numeric_props(track: StatTrack) -> list[str]:
    """The properties of a stat that hold numbers (so can be charted), sorted."""
    out = []
    for prop, column in track.props.items():
        if any(_number(v) is not None for v in column[:50]) or any(
            _number(v) is not None for v in column[-50:]
        ):
            out.append(prop)
    return sorted(out)


def stats_index(pc: PeerConnection) -> list[dict]:
    """Every report id of the peer connection: {id, type, samples, props (chartable)}, by type then id."""
    rows = [
        {"id": t.id, "type": t.type or "?", "samples": len(t), "props": numeric_props(t)}
        for t in pc.stats.values()
    ]
    return sorted(rows, key=lambda r: (r["type"], r["id"]))


def stat_series(track: StatTrack) -> dict:
    """{t: [epoch ms], props: {name: [number or null]}} of a stat's chartable properties, at most
    MAX_POINTS samples (every n-th beyond that)."""
    step = max(1, math.ceil(len(track) / MAX_POINTS))
    indexes = range(0, len(track), step)
    props = {}
    for prop in numeric_props(track):
        column = track._column(prop) or []
        props[prop] = [_number(column[i]) for i in indexes]
    return {"t": [track.times[i] for i in indexes], "props": props}


def explore(dump: Dump) -> dict:
    """Everything the explorer page shows except the series (fetched per stat)."""
    pcs = []
    for pc in dump.peer_connections.values():
        pcs.append(
            {
                "id": pc.id,
                "url": pc.url,
                "states": states_of(pc),
                **ice_of(pc),
                "stats": stats_index(pc),
            }
        )
    return {"format": dump.format, "startMs": dump.start_ms, "events": events_of(dump), "pcs": pcs}
