"""Calls, peers and tracks from the other plugins' events (quick writes) and analysed dumps (a job)."""

from __future__ import annotations

import datetime as dt
import json
import logging

from core.db import write_atomic
from core.plugins import plugin_settings
from plugins.analytics import metrics, service
from plugins.analytics.models import Call, Peer, Track

log = logging.getLogger(__name__)

# LiveKit track sources that are screen captures (core.events.track_published `source`).
SCREEN_SOURCES = ("screen_share", "screen_share_audio")


def report_room_started(account_id: int, room_id: str, started_at: float) -> None:
    service.open_call(account_id, room_id, started_at, "report")


def report_room_idle(account_id: int, room_id: str) -> int | None:
    """The room went quiet: its call's newest samples are rolled up now (the idle gap ends it later)."""
    call = service.running_call(account_id, room_id)
    return call.id if call is not None else None


def room_started(account_id: int, room_name: str, started_at: float) -> None:
    call = service.open_call(account_id, room_name, started_at, "room")
    service.set_livekit_active(call, True)


def room_finished(account_id: int, room_name: str, finished_at: float) -> int | None:
    call = service.running_call(account_id, room_name)
    if call is None:
        return None
    service.finish_call(call, max(finished_at, call.started_at))
    return call.id


def participant_joined(account_id: int, room_name: str, identity: str, joined_at: float) -> None:
    call = service.open_call(account_id, room_name, joined_at, "room")
    service.peer_joined(call, identity, joined_at, "room")


def participant_left(account_id: int, room_name: str, identity: str, left_at: float) -> None:
    call = service.running_call(account_id, room_name)
    if call is None:
        # Webhooks may arrive out of order: a leave after room_finished belongs to the call that just
        # ended, and must not open a new one.
        call = service.latest_call(account_id, room_name, ended_since=left_at - 3600)
        if call is None:
            return
    service.peer_left(call, identity, left_at, "room")


def track_published(
    account_id: int,
    room_name: str,
    identity: str,
    track_sid: str,
    kind: str,
    source: str,
    published_at: float,
) -> None:
    if kind not in ("audio", "video"):
        return
    call = service.open_call(account_id, room_name, published_at, "room")
    with write_atomic():
        peer = service.peer_of(call, identity, "room")
        service.track_of(
            peer,
            "room",
            track_sid[:300],
            kind,
            "publish",
            type_="screen" if source in SCREEN_SOURCES else "regular",
            public_id=track_sid[:64],
        )


# -- analysed dumps (rtcstats) --------------------------------------------------------------------


def _epoch(iso) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _pick(mapping, *keys):
    if not isinstance(mapping, dict):
        return None
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


NETWORK_NAMES = {"wifi": "Wi-Fi", "ethernet": "LAN", "cellular": "Cellular", "wimax": "WiMAX", "vpn": "VPN"}


def _network(data: dict) -> str | None:
    """The network type of the local candidate of the newest selected pair (Chrome's networkType)."""
    for transport in (data.get("transports") or {}).values():
        pairs = transport.get("selectedPairs") if isinstance(transport, dict) else None
        for pair in reversed(pairs or []):
            local = pair.get("local") if isinstance(pair, dict) else None
            kind = local.get("networkType") if isinstance(local, dict) else None
            if isinstance(kind, str) and kind:
                return NETWORK_NAMES.get(kind.lower(), kind[:32])
    return None


def _joined_at(data: dict) -> float | None:
    """When the first PeerConnection reached connected (connectionState, else iceConnectionState): the
    join completed. None when none connected: the join failed."""
    connected = []
    for pc in (data.get("pConnections") or {}).values():
        states = pc.get("states") if isinstance(pc, dict) else None
        if not isinstance(states, dict):
            continue
        for name, done in (("connection", ("connected",)), ("iceConnection", ("connected", "completed"))):
            times = [
                item["timestampMs"]
                for item in states.get(name) or []
                if isinstance(item, dict)
                and item.get("state") in done
                and isinstance(item.get("timestampMs"), int | float)
            ]
            if times:
                connected.append(min(times) / 1000.0)
                break
    return min(connected) if connected else None


STREAM_SUMMARY = (
    "firstSeenMs",
    "lastSeenMs",
    "durationMs",
    "avgBitrateKbps",
    "loss",
    "freezeCount",
    "totalFreezesDurationS",
    "pauseCount",
    "totalPausesDurationS",
    "concealedPercent",
    "frameWidth",
    "frameHeight",
    "codec",
)


def ingest_dump(account_id: int, rtcstats_id: str, now: float) -> str:
    """Attach an analysed dump to its call and peer (matched by conferenceId = room, userId = user).

    The dump gives the join start (its first event), the join end (first PeerConnection connected),
    platform, browser, network type and whole-session stream totals (freezes, concealment). Returns
    the outcome: "attached", "unmatched" (no conference or user id in the dump) or "missing".
    """
    from plugins.rtcstats import interface as rtcstats

    try:
        session = rtcstats.get_session(account_id, rtcstats_id)
    except rtcstats.NotFound:
        metrics.dump_ingested("missing")
        return "missing"
    data = session.get("data") or {}
    meta = data.get("metadata") or {}
    room = _pick(meta, "conferenceId", "conference", "roomId", "room")
    user = _pick(meta, "userId", "user", "displayName")
    if room is None or user is None:
        metrics.dump_ingested("unmatched")
        return "unmatched"
    room, user = room[:255], user[:255]
    started, ended = _epoch(data.get("callStart")), _epoch(data.get("callEnd"))
    started = started if started is not None else now
    ended = ended if ended is not None else started
    cfg = plugin_settings("analytics")
    slack = cfg["call_match_slack_seconds"]
    with write_atomic():
        call = (
            Call.select()
            .where(
                Call.account_id == account_id,
                Call.room_name == room,
                Call.started_at <= ended + slack,
                (Call.ended_at.is_null()) | (Call.ended_at >= started - slack),
            )
            .order_by(Call.started_at.desc())
            .first()
        )
        if call is None:
            if now - ended < cfg["session_idle_gap_seconds"]:
                call = service.open_call(account_id, room, started, "rtcstats")
            else:  # a dump of a call nothing else saw, uploaded after it ended
                pk = Call.insert(
                    account_id=account_id,
                    call_id=service.new_call_id(),
                    room_name=room,
                    open_key=None,
                    started_at=started,
                    ended_at=ended,
                    last_activity_at=ended,
                    finished=True,
                    sources="rtcstats",
                ).execute()
                call = Call.get_by_id(pk)
                metrics.call_opened("rtcstats")
        elif "rtcstats" not in call.sources.split(","):
            Call.update(sources=service._add_source(call.sources, "rtcstats")).where(
                Call.id == call.id
            ).execute()
        peer = service.peer_of(call, user, "rtcstats")
        agent = data.get("userAgentData") or {}
        browser = " ".join(str(v) for v in (agent.get("browser"), agent.get("browserVersion")) if v) or None
        device = " ".join(str(v) for v in (agent.get("os"), agent.get("osVersion")) if v) or None
        joined = _joined_at(data)
        changes = {
            "rtcstats_id": str(rtcstats_id),
            "join_started_at": started
            if peer.join_started_at is None
            else min(peer.join_started_at, started),
            "platform": peer.platform or _pick(agent, "platform", "os"),
            "os": peer.os or _pick(agent, "os"),
            "browser": peer.browser or (browser[:128] if browser else None),
            "device_type": peer.device_type or (device[:128] if device else None),
            "network": peer.network or _network(data),
            "last_seen_at": ended if peer.last_seen_at is None else max(peer.last_seen_at, ended),
        }
        if joined is not None:
            changes["joined_at"] = joined if peer.joined_at is None else min(peer.joined_at, joined)
        Peer.update(**changes).where(Peer.id == peer.id).execute()
        peer = Peer.get_by_id(peer.id)
        for key, stream in (data.get("streams") or {}).items():
            if not isinstance(stream, dict) or stream.get("kind") not in ("audio", "video"):
                continue
            direction = "publish" if stream.get("direction") == "outbound" else "subscribe"
            rid = stream.get("rid") if stream.get("rid") in ("h", "m", "l") else None
            track = service.track_of(
                peer,
                "rtcstats",
                str(key)[:300],
                stream["kind"],
                direction,
                type_="screen" if stream.get("screenshare") else "regular",
                rid=rid,
                public_id=_pick(stream, "trackIdentifier"),
            )
            summary = {name: stream.get(name) for name in STREAM_SUMMARY}
            Track.update(summary=json.dumps(summary)).where(Track.id == track.id).execute()
        # An ended call's rollups are redone with what the dump added (join times, peer, tracks).
        Call.update(
            last_activity_at=max(call.last_activity_at, min(ended, now)), final_roll_due=call.finished
        ).where(Call.id == call.id).execute()
    metrics.dump_ingested("attached")
    return "attached"
