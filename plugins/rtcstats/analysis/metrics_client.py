"""Client-level metrics: browser/OS, device, getUserMedia/getDisplayMedia requests, compute pressure."""

from __future__ import annotations

import json
from typing import Any

from plugins.rtcstats.analysis.metrics_model import ClientMetrics
from plugins.rtcstats.analysis.metrics_values import as_int, column, num
from plugins.rtcstats.analysis.useragent import parse_user_agent
from plugins.rtcstats.parsed_dump import Dump, Event

_REQUEST_KINDS = {"getusermedia": "getUserMedia", "getdisplaymedia": "getDisplayMedia"}
# rtcstats-js compresses cpuState (rtcstats-dumps.md section 2.2): nominal 4, fair 3, serious 2, critical 1.
_PRESSURE_STATES = {4: "nominal", 3: "fair", 2: "serious", 1: "critical"}


def client_metrics(dump: Dump) -> ClientMetrics:
    info = parse_user_agent(dump.user_agent, dump.user_agent_data)
    client = ClientMetrics(
        user_agent=dump.user_agent,
        browser=info.browser,
        browser_version=info.browser_version,
        os=info.os,
        os_version=info.os_version,
        hardware_concurrency=as_int(dump.device.get("hardwareConcurrency")),
        device_memory=num(dump.device.get("deviceMemory")),
        mobile=info.mobile,
        platform=info.platform,
    )
    client.media_requests = media_requests(dump.client_events)
    client.compute_pressure = compute_pressure(dump)
    return client


def _request_method(event: Event) -> tuple[str, str] | None:
    """(request kind, phase "request"|"success"|"failure") of a getUserMedia-family event."""
    name = event.name
    if type(name) is str:  # every client event passes here: one lookup instead of the loops below
        return _REQUEST_NAMES.get(name)
    return _request_method_by_parts(name)


def _request_method_by_parts(name: str) -> tuple[str, str] | None:
    """_request_method's matching, prefix by prefix and kind by kind: the first match wins."""
    for prefix in ("navigator.mediadevices.", ""):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        for key, kind in _REQUEST_KINDS.items():
            if rest == key:
                return kind, "request"
            if rest == key + "onsuccess":
                return kind, "success"
            if rest == key + "onfailure":
                return kind, "failure"
    return None


def _request_names() -> dict[str, tuple[str, str]]:
    """Every event name _request_method_by_parts matches, with its answer (the first one, in its order)."""
    names: dict[str, tuple[str, str]] = {}
    for prefix in ("navigator.mediadevices.", ""):
        for key in _REQUEST_KINDS:
            for suffix in ("", "onsuccess", "onfailure"):
                name = prefix + key + suffix
                names.setdefault(name, _request_method_by_parts(name))  # type: ignore[arg-type]
    return names


_REQUEST_NAMES = _request_names()


def _correlation(event: Event) -> Any:
    """A request/response correlation key: v3 `extra` id ("60-0"), internals {rid, request_id}."""
    for item in event.extra:
        if isinstance(item, str) and "://" not in item:
            return ("id", item)
        if isinstance(item, dict) and item.get("request_id") is not None:
            return ("internals", item.get("pid"), item.get("rid"), item.get("request_id"))
    return None


def _tracks(value: Any) -> list[dict]:
    """Tracks of a success event: [[kind, id, label, streamId]...] or {id, tracks: [{kind, id, label}]}."""
    tracks: list[dict] = []
    items = value.get("tracks") if isinstance(value, dict) else value
    if not isinstance(items, list):
        return tracks
    for item in items:
        if isinstance(item, dict):
            tracks.append({"kind": item.get("kind"), "id": item.get("id"), "label": item.get("label")})
        elif isinstance(item, list) and item:
            # internals / Chrome's writer: [kind, id, label, streamId]; rtcstats-js: [kind, id, streamId]
            tracks.append(
                {
                    "kind": item[0],
                    "id": item[1] if len(item) > 1 else None,
                    "label": item[2] if len(item) > 3 else None,
                }
            )
    return tracks


def _error(value: Any) -> tuple[str | None, str | None]:
    """(error name, message) of a failure value ("NotAllowedError", "NotAllowedError: Permission denied",
    {name, message})."""
    if isinstance(value, dict):
        name = value.get("name")
        message = value.get("message")
        return (name if isinstance(name, str) else None, message if isinstance(message, str) else None)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                return _error(json.loads(text))
            except ValueError:
                pass
        head, sep, tail = text.partition(":")
        if sep and head and " " not in head.strip():
            return head.strip(), tail.strip() or None
        return (text or None), None
    return None, None


def _requested_kinds(constraints: Any) -> set[str]:
    if not isinstance(constraints, dict):
        return set()
    return {k for k in ("audio", "video") if constraints.get(k) not in (None, False)}


def media_requests(events: list[Event]) -> list[dict]:
    """getUserMedia/getDisplayMedia calls with their outcome, in call order.

    A response is matched to its request by correlation id when the format has one (v3 extra id,
    internals rid/request_id), else to the oldest pending request of the same kind whose requested
    media kinds fit the returned tracks, else to the oldest pending request of that kind. A response
    with no request (an older dump without request records) becomes an entry of its own.
    """
    out: list[dict] = []
    pending: list[tuple[dict, Any]] = []
    for event in events:
        method = _request_method(event)
        if method is None:
            continue
        kind, phase = method
        if phase == "request":
            constraints = event.value
            entry = {
                "time": event.time,
                "kind": kind,
                "constraints": constraints,
                "success": None,
                "error": None,
                "error_message": None,
                "tracks": [],
                "response_time": None,
            }
            out.append(entry)
            pending.append((entry, _correlation(event)))
            continue
        key = _correlation(event)
        tracks = _tracks(event.value) if phase == "success" else []
        entry = _match(pending, kind, key, tracks)
        if entry is None:
            entry = {
                "time": event.time,
                "kind": kind,
                "constraints": None,
                "success": None,
                "error": None,
                "error_message": None,
                "tracks": [],
                "response_time": None,
            }
            out.append(entry)
        entry["response_time"] = event.time
        if phase == "success":
            entry["success"] = True
            entry["tracks"] = tracks
        else:
            entry["success"] = False
            entry["error"], entry["error_message"] = _error(event.value)
            for item in event.extra:
                if isinstance(item, dict) and isinstance(item.get("error_message"), str):
                    entry["error_message"] = entry["error_message"] or item["error_message"]
    return out


def _match(pending: list[tuple[dict, Any]], kind: str, key: Any, tracks: list[dict]) -> dict | None:
    same_kind = [(i, item) for i, item in enumerate(pending) if item[0]["kind"] == kind]
    if key is not None:
        for i, (_entry, other) in same_kind:
            if other == key:
                return pending.pop(i)[0]
    if not same_kind:
        return None
    returned = {t.get("kind") for t in tracks if t.get("kind")}
    if returned:
        for test in (lambda asked: asked == returned, lambda asked: returned <= asked):
            for i, (entry, _) in same_kind:
                if test(_requested_kinds(entry["constraints"])):
                    return pending.pop(i)[0]
    return pending.pop(same_kind[0][0])[0]


def compute_pressure(dump: Dump) -> list[tuple[float, str]]:
    """Compute-pressure samples (stat type `compute-pressure`, id `rtcStatsComputePressure`) of every PC,
    and client events carrying a pressure state; one per time."""
    seen: dict[float, str] = {}
    for pc in dump.peer_connections.values():
        for track in pc.stats.values():
            # the raw type: stat_type only renames legacy spellings and remote RTP reports, never this one
            if track.type != "compute-pressure" and track.id != "rtcStatsComputePressure":
                continue
            for t, value in zip(track.times, column(track, "cpuState", "state"), strict=True):
                state = _pressure_state(value)
                if state is not None and t not in seen:
                    seen[t] = state
    for event in dump.client_events:
        if "pressure" in event.name and event.time is not None:
            value = event.value
            state = _pressure_state(
                value.get("cpuState", value.get("state")) if isinstance(value, dict) else value
            )
            if state is not None:
                seen.setdefault(event.time, state)
    return sorted(seen.items())


def _pressure_state(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() in ("nominal", "fair", "serious", "critical"):
        return value.strip().lower()
    number = as_int(value)
    return _PRESSURE_STATES.get(number) if number is not None else None
