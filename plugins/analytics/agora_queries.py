"""Reads behind the Agora-style endpoints: calls, users and per-minute/per-day rollups in Agora's shapes.

Everything here reads the analytics plugin's own tables (calls, peers, tracks and the rollups its jobs
build), never raw report samples: the endpoints stay cheap however long a call was. Every function
takes the caller's account id and filters by it. No Flask imports.

Units out are Agora's: Unix seconds, bitrates in Kbps, rates and loss in percent (0-100), freeze
time in ms. Values are rounded to two decimals (integers stay integers).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from plugins.analytics import service
from plugins.analytics.models import Call, Peer, Track, TrackMinute

MINUTE = 60
DAY = 86400
EXCELLENT_LOSS_PCT = 5.0  # reference §3.4: "excellent transmission" is loss <= 5 %

# Thresholds above which a minute's measurement is named as a cause of a freeze (docs/analytics.md).
CAUSE_LOSS_PCT = EXCELLENT_LOSS_PCT
CAUSE_RTT_MS = 300.0  # ObserveRTC's score drops a second level above 300 ms (reference §3.5)
CAUSE_JITTER_MS = 30.0
JOIN_DELAY_S = 5.0  # joinSuccess5SecsRate's bound: a slower join is a join-channel delay (exp_id 6)
MAX_CAUSE_TAGS = 3  # the contract: "cause_tags contains a maximum of three tags"

EXP_VIDEO_FREEZE, EXP_AUDIO_FREEZE, EXP_JOIN_DELAY = 4, 5, 6

# Agora factor ids (contract "Factor ID") by (measurement, media kind, leg).
F_CONNECTION_FAILURE = 3
F_DOWN_LATENCY = {"video": 8, "audio": 9}
F_HIGH_CPU = 10
F_UP_LOSS = {"video": 21, "audio": 22}
F_DOWN_LOSS = {"video": 23, "audio": 24}
F_JOIN_TIMEOUT = 36
F_RECONNECT = 37
F_UP_LATENCY = {"video": 42, "audio": 43}
F_UP_JITTER = {"video": 44, "audio": 45}
F_DOWN_JITTER = {"video": 46, "audio": 47}

# rtcstats observation types (plugins/rtcstats analysis rules) -> factor id; a dict value is per the
# media kind of the experience (video freeze: "video", audio freeze: "audio").
OBSERVATION_FACTORS: dict[str, int | dict[str, int]] = {
    "highVideoLossIn": F_DOWN_LOSS["video"],
    "highAudioLossIn": F_DOWN_LOSS["audio"],
    "highVideoLossOut": F_UP_LOSS["video"],
    "highAudioLossOut": F_UP_LOSS["audio"],
    "highJitterIn": F_DOWN_JITTER,
    "highJitterOut": F_UP_JITTER,
    "highRTT": F_DOWN_LATENCY,
    "cpuPressure": F_HIGH_CPU,
    "qualityLimitationCpu": F_HIGH_CPU,
    "iceFailure": F_CONNECTION_FAILURE,
    "dtlsFailure": F_CONNECTION_FAILURE,
    "connectionDropped": F_CONNECTION_FAILURE,
    "connectionAborted": F_CONNECTION_FAILURE,
    "udpBlocked": F_CONNECTION_FAILURE,
    "turnUnreachable": F_CONNECTION_FAILURE,
    "negotiationFailure": F_CONNECTION_FAILURE,
    "iceRestart": F_RECONNECT,
    "connectionChurn": F_RECONNECT,
    "highConnectionTime": F_JOIN_TIMEOUT,
    "highSignalingTime": F_JOIN_TIMEOUT,
    "highSTUNDelay": F_JOIN_TIMEOUT,
    "highTURNDelay": F_JOIN_TIMEOUT,
}
# What can delay a join; the setup-time ones among them name no cause of a freeze.
JOIN_ONLY_OBSERVATIONS = {"highConnectionTime", "highSignalingTime", "highSTUNDelay", "highTURNDelay"}
JOIN_OBSERVATIONS = JOIN_ONLY_OBSERVATIONS | {
    "iceFailure", "dtlsFailure", "udpBlocked", "turnUnreachable", "negotiationFailure",
}  # fmt: skip


class CallNotFound(Exception):
    """No call with this call_id in the caller's account (also when it is another account's)."""


def number(value: float | None) -> float | int | None:
    """Two decimals; a whole number as an int (215, not 215.0)."""
    if value is None:
        return None
    value = float(value)
    if value.is_integer():  # most values (fps, sizes, freeze ms, whole Kbps): round() would keep them
        return int(value)
    value = round(value, 2)
    return int(value) if value.is_integer() else value


def percent(part: float, whole: float) -> float | int | None:
    return number(100.0 * part / whole) if whole else None


# -- call search ----------------------------------------------------------------------------------


def call_list(
    account_id: int, start: int, end: int, cname: str | None, limit: int
) -> tuple[list[dict], bool]:
    """Calls of the account active at some time in [start, end), latest start first, at most `limit`;
    and whether more matched."""
    rows = service.calls_between(account_id, start, end, room_name=cname, limit=limit + 1)
    calls = [
        {
            "call_id": call["call_id"],
            "cname": call["room_name"],
            "created_ts": int(call["started_at"]),
            "destroyed_ts": int(call["ended_at"]) if call["finished"] and call["ended_at"] is not None else 0,
            "finished": bool(call["finished"]),
        }
        for call in rows[:limit]
    ]
    return calls, len(rows) > limit


# mid -> (kind, direction, column, how values of several tracks in one minute combine, scale)
PUBLISHED = {
    20003: ("audio", "publish", "bitrate_bps", "sum", 1 / 1000),
    20006: ("video", "publish", "bitrate_bps", "sum", 1 / 1000),
    20008: ("video", "publish", "fps", "max", 1),
    20015: ("audio", "publish", "packet_loss_pct", "mean", 1),
    20017: ("video", "publish", "packet_loss_pct", "mean", 1),
    20019: ("video", "publish", "width", "max", 1),
    20020: ("video", "publish", "height", "max", 1),
}
RECEIVED = {  # per remote sender: peer_uid is the sender's uid
    20004: ("audio", "subscribe", "bitrate_bps", "sum", 1 / 1000),
    20005: ("audio", "subscribe", "freeze_ms", "sum", 1),
    20009: ("video", "subscribe", "bitrate_bps", "sum", 1 / 1000),
    20010: ("video", "subscribe", "fps", "max", 1),
    20011: ("video", "subscribe", "freeze_ms", "sum", 1),
}
END_TO_END = {  # the user's sent media as each receiver got it: peer_uid is the receiver's uid
    20016: ("audio", "packet_loss_pct"),
    20018: ("video", "packet_loss_pct"),
}


def is_server_user(user_id: str, prefixes) -> bool:
    """A participant run by the server side (egress recorder, ingress, agent): an identity with one
    of the configured prefixes, our equivalent of Agora's "Linux (server) users"."""
    return any(user_id.startswith(prefix) for prefix in prefixes)


def _user_info(call: dict, peer: dict, speaker: bool) -> dict:
    finished = bool(peer["finished"])
    leave = peer["left_at"] if peer["left_at"] is not None else call["ended_at"]
    return {
        "sid": peer["sid"],
        "cname": call["room_name"],
        "uid": int(peer["uid"]),
        "user_account": peer["user_id"],
        "network": peer["network"] or "",
        "platform": peer["platform"] or peer["os"] or "",
        "speaker": speaker,
        "sdk_version": peer["sdk_version"] or "",
        "device_type": peer["device_type"] or peer["browser"] or "",
        "join_ts": int(peer["joined_at"]) if peer["joined_at"] is not None else 0,
        "leave_ts": int(leave) if finished and leave is not None else 0,
        "finished": finished,
    }


def _combine(values: list[tuple[float, int]], how: str) -> float:
    """One minute's value from those of several tracks: (value, media ms) pairs."""
    if how == "sum":
        return sum(v for v, _ in values)
    if how == "max":
        return max(v for v, _ in values)
    weight = sum(w for _, w in values)
    if weight <= 0:
        return sum(v for v, _ in values) / len(values)
    return sum(v * w for v, w in values) / weight


# Positions in the columns _track_columns returns.
MINUTE_AT, DURATION = 0, 1
MINUTE_COLUMNS = ("bitrate_bps", "fps", "packet_loss_pct", "width", "height", "freeze_ms")
COLUMN_AT = {name: 2 + i for i, name in enumerate(MINUTE_COLUMNS)}


def _track_columns(account_id: int, call_pk: int, track_pks: list[int], start: int, end: int) -> dict:
    """track pk -> its minutes in [start, end) as columns: (minutes, duration_ms, *MINUTE_COLUMNS), each
    a tuple oldest first. Only the tracks asked for (in a big call most received tracks are of users
    not shown), by the (track, minute) index.

    A 3-hour call of 10 shown users is some 7,000 rows: they are the driver's tuples, turned into
    columns by zip() and cut per track, so that no Python code runs per row (peewee's per-value
    conversion and a per-row loop cost several times the query)."""
    tm = TrackMinute
    out = {}
    for i in range(0, len(track_pks), 500):
        query = (
            tm.select(tm.track, tm.minute, tm.duration_ms, *(getattr(tm, c) for c in MINUTE_COLUMNS))
            .where(
                tm.account_id == account_id,
                tm.call == call_pk,
                tm.track.in_(track_pks[i : i + 500]),
                tm.minute >= start - start % MINUTE,
                tm.minute < end,
            )
            .order_by(tm.track, tm.minute)
        )
        rows = service.raw_rows(query)
        if not rows:
            continue
        track_column, *columns = zip(*rows, strict=True)
        first = 0
        for track, group in groupby(track_column):
            last = first + sum(1 for _ in group)
            out[track] = tuple(column[first:last] for column in columns)
            first = last
    return out


HOW = {mid: spec[3] for mid, spec in {**PUBLISHED, **RECEIVED}.items()} | dict.fromkeys(END_TO_END, "mean")
SCALE = {mid: spec[4] for mid, spec in {**PUBLISHED, **RECEIVED}.items()} | dict.fromkeys(END_TO_END, 1)


def _series_targets(track: dict, shown: dict, uid_of_user: dict, sender_of_user: dict, uid_of_peer: dict):
    """Which series one track's minutes feed: [(series key (peer pk, mid, peer_uid), column position)]."""
    targets = []
    if track["peer_pk"] in shown:
        if track["direction"] == "publish":
            table, peer_uid = PUBLISHED, 0
        else:
            table, peer_uid = RECEIVED, uid_of_user.get(track["remote_user_id"] or "", 0)
        for mid, (kind, direction, column, _how, _scale) in table.items():
            if kind == track["kind"] and direction == track["direction"]:
                targets.append(((track["peer_pk"], mid, peer_uid), COLUMN_AT[column]))
    if track["direction"] == "subscribe" and track["remote_user_id"] in sender_of_user:
        sender = sender_of_user[track["remote_user_id"]]
        receiver_uid = uid_of_peer.get(track["peer_pk"], 0)
        for mid, (kind, column) in END_TO_END.items():
            if kind == track["kind"]:
                targets.append(((sender, mid, receiver_uid), COLUMN_AT[column]))
    return targets


def _kvs(sources: list[tuple[tuple, int]], how: str, scale: float) -> list[list]:
    """[[minute, value], ...] oldest first of one series, from (track columns, column position) pairs:
    each minute's values of the tracks combined by `how`, then scaled and rounded (number)."""
    if len(sources) > 1:  # e.g. simulcast layers, or a camera and a screen of one sender
        merged: dict[int, list] = defaultdict(list)
        for columns, at in sources:
            for minute, weight, value in zip(columns[MINUTE_AT], columns[DURATION], columns[at], strict=True):
                if value is not None:
                    merged[minute].append((value, weight or 0))
        return [[minute, number(_combine(merged[minute], how) * scale)] for minute in sorted(merged)]
    # One track: _combine of one (value, weight), written out (the same arithmetic, so the same bytes).
    columns, at = sources[0]
    pairs = zip(columns[MINUTE_AT], columns[DURATION], columns[at], strict=True)
    if how == "mean":
        return [
            [minute, number((value * weight / weight if weight and weight > 0 else value / 1) * scale)]
            for minute, weight, value in pairs
            if value is not None
        ]
    return [[minute, number(value * scale)] for minute, _weight, value in pairs if value is not None]


def call_details(
    account_id: int,
    call_id: str,
    start: int,
    end: int,
    *,
    exclude_server_users: bool,
    with_metrics: bool,
    max_users: int,
    server_user_prefixes=(),
) -> dict:
    """{call_info, metrics?} of the call: its users (latest join first, at most `max_users`) and, per
    user, series by mid over the minutes of [start, end) (the mid table is in docs/analytics.md).

    :raises CallNotFound: no such call in the account.
    """
    try:
        call = service.get_call(account_id, call_id)
    except service.NotFound:
        raise CallNotFound(f"call '{call_id}' not found") from None
    everyone = service.call_peers(account_id, call["pk"])  # latest join first
    peers = [
        p
        for p in everyone
        if not (exclude_server_users and is_server_user(p["user_id"], server_user_prefixes))
    ][:max_users]
    tracks = {t["pk"]: t for t in service.peer_tracks(account_id, [p["pk"] for p in everyone])}
    speakers = {t["peer_pk"] for t in tracks.values() if t["kind"] == "audio" and t["direction"] == "publish"}
    info = [_user_info(call, p, p["pk"] in speakers) for p in peers]
    if not with_metrics:
        return {"call_info": info}

    shown = {p["pk"]: p for p in peers}
    sender_of_user = {p["user_id"]: p["pk"] for p in peers}
    uid_of_user = {p["user_id"]: int(p["uid"]) for p in everyone}
    uid_of_peer = {p["pk"]: int(p["uid"]) for p in everyone}
    # The shown users' own tracks, and those of anyone receiving a shown user (end-to-end loss of what
    # the shown user sent): which series each track feeds is worked out once per track.
    feeders: dict[tuple[int, int, int], list[tuple[int, int]]] = defaultdict(list)  # key -> (track, column)
    for pk, track in tracks.items():
        for key, at in _series_targets(track, shown, uid_of_user, sender_of_user, uid_of_peer):
            feeders[key].append((pk, at))
    wanted = sorted({pk for found in feeders.values() for pk, _at in found})
    columns = _track_columns(account_id, call["pk"], wanted, start, end)

    per_peer: dict[int, list[dict]] = defaultdict(list)
    for key in sorted(feeders):
        sources = [(columns[pk], at) for pk, at in feeders[key] if pk in columns]
        kvs = _kvs(sources, HOW[key[1]], SCALE[key[1]]) if sources else []
        if kvs:
            per_peer[key[0]].append({"mid": key[1], "peer_uid": key[2], "kvs": kvs})
    metrics = [{"sid": p["sid"], "data": per_peer.get(p["pk"], [])} for p in peers]
    return {"call_info": info, "metrics": metrics}


# -- data insight and realtime ------------------------------------------------------------------------


def usage_by_day(account_id: int, start: int, end: int, metrics: list[str]) -> list[dict]:
    """Per complete UTC day inside [start, end) that the daily rollup has counted: the requested
    metrics among userCount, sessionCount, channelCount. A window shorter than a day holds none."""
    first_day = -(-start // DAY) * DAY
    column = {"userCount": "user_count", "sessionCount": "session_count", "channelCount": "channel_count"}
    return [
        {"ts": row["day"], **{metric: row[column[metric]] for metric in metrics}}
        for row in service.account_days(account_id, first_day, end)
        if row["day"] + DAY <= end
    ]


def scale_by_minute(account_id: int, start: int, end: int, metrics: list[str]) -> list[dict]:
    """pcu (users present) and pcc (channels running) per rolled-up minute of [start, end); minutes
    without any call are absent."""
    column = {"pcu": "users", "pcc": "channels"}
    return [
        {"ts": row["minute"], **{metric: row[column[metric]] for metric in metrics}}
        for row in service.account_minutes(account_id, start, end)
    ]


EXPERIENCE = {
    "joinSuccessRate": ("join_success", "join_attempts"),
    "joinSuccess5SecsRate": ("join_success_5s", "join_measured"),
    "videoFreezeRate": ("video_freeze_ms", "video_play_ms"),
    "audioFreezeRate": ("audio_freeze_ms", "audio_play_ms"),
}
NET = {
    "videoUpstreamExcellentTransRate": ("video_up_excellent_ms", "video_up_known_ms"),
    "audioUpstreamExcellentTransRate": ("audio_up_excellent_ms", "audio_up_known_ms"),
    "videoEnd2EndExcellentTransRate": ("video_e2e_excellent_ms", "video_e2e_known_ms"),
    "audioEnd2EndExcellentTransRate": ("audio_e2e_excellent_ms", "audio_e2e_known_ms"),
}


def _rates(account_id: int, start: int, end: int, metrics: list[str], table: dict) -> list[dict]:
    out = []
    for row in service.account_minutes(account_id, start, end):
        point = {"ts": row["minute"]}
        for metric in metrics:
            part, whole = table[metric]
            point[metric] = percent(row[part], row[whole])
        if any(point[metric] is not None for metric in metrics):
            out.append(point)
    return out


def experience_by_minute(account_id: int, start: int, end: int, metrics: list[str]) -> list[dict]:
    """Per minute: join success (in 5 s) among the joins begun in it, and freeze time over playback
    time in percent; null where the minute measured nothing of that kind (minutes measuring none of
    the requested metrics are left out)."""
    return _rates(account_id, start, end, metrics, EXPERIENCE)


def net_by_minute(account_id: int, start: int, end: int, metrics: list[str]) -> list[dict]:
    """Per minute: the share of media time with packet loss <= 5 %, upstream (publisher's send side)
    and end to end (receivers), in percent; null as in experience_by_minute."""
    return _rates(account_id, start, end, metrics, NET)


# -- diagnosis --------------------------------------------------------------------------------------


def _observation_factors(account_id: int, peer: Peer, kind: str, *, join: bool) -> list[int]:
    """Factor ids from the rtcstats observations of the peer's analysed dump, if it has one."""
    if not peer.rtcstats_id:
        return []
    try:
        from plugins.rtcstats import interface as rtcstats
    except ImportError:  # pragma: no cover - rtcstats is part of the distribution
        return []
    try:
        observations = rtcstats.observations(account_id, peer.rtcstats_id)
    except Exception:  # noqa: BLE001 - a missing, pending or failed analysis just names no cause
        return []
    out = []
    for obs in observations:
        factor = OBSERVATION_FACTORS.get(obs.get("type"))
        if factor is None:
            continue
        if (join and obs.get("type") not in JOIN_OBSERVATIONS) or (
            not join and obs.get("type") in JOIN_ONLY_OBSERVATIONS
        ):
            continue
        out.append(factor[kind] if isinstance(factor, dict) else factor)
    return out


def diagnosis(
    account_id: int,
    start: int,
    end: int,
    limit: int,
    server_user_prefixes=(),
    *,
    join_window: float = JOIN_DELAY_S,
    loss_threshold: float = CAUSE_LOSS_PCT,
) -> list[dict]:
    """Users with a video freeze (exp_id 4), audio freeze (5) or a join slower than 5 s (6) in a minute
    of [start, end), newest first, at most `limit`; each with up to three causes (cause_tags):

    - from the minute's rollups: the user's own downstream loss, latency and jitter (host_user ""),
      and the upstream loss, latency and jitter of the remote user whose media froze (host_user =
      that user's uid), each when above loss_threshold / CAUSE_RTT_MS / CAUSE_JITTER_MS;
    - from the rtcstats observations of the user's analysed dump (OBSERVATION_FACTORS).
    """
    first_minute = start - start % MINUTE
    freezes = (
        TrackMinute.select(TrackMinute, Track.kind, Track.remote_user_id)
        .join(Track, on=(TrackMinute.track == Track.id))
        .where(
            TrackMinute.account_id == account_id,
            TrackMinute.minute >= first_minute,
            TrackMinute.minute < end,
            TrackMinute.freeze_ms > 0,
            Track.direction == "subscribe",
        )
        .order_by(TrackMinute.minute.desc())
    )
    events: dict[tuple[int, int, int], dict] = {}  # (minute, peer, exp) -> event
    for row in freezes:
        kind = row.track.kind
        exp = EXP_VIDEO_FREEZE if kind == "video" else EXP_AUDIO_FREEZE
        event = events.setdefault(
            (row.minute, row.peer, exp), {"minute": row.minute, "peer": row.peer, "exp": exp, "kind": kind,
                                          "rows": [], "senders": set()}
        )  # fmt: skip
        event["rows"].append(row)
        if row.track.remote_user_id:
            event["senders"].add(row.track.remote_user_id)

    joins = Peer.select().where(
        Peer.account_id == account_id,
        Peer.joined_at.is_null(False),
        Peer.join_started_at.is_null(False),
        Peer.joined_at >= first_minute,
        Peer.joined_at < end,
    )
    for peer in joins:
        if peer.joined_at - peer.join_started_at > join_window:
            minute = int(peer.joined_at) - int(peer.joined_at) % MINUTE
            events[(minute, peer.id, EXP_JOIN_DELAY)] = {
                "minute": minute, "peer": peer.id, "exp": EXP_JOIN_DELAY, "kind": None, "rows": [],
                "senders": set(),
            }  # fmt: skip

    chosen = sorted(events.values(), key=lambda e: (e["minute"], e["exp"], e["peer"]), reverse=True)
    peers = {p.id: p for p in Peer.select().where(Peer.id.in_({e["peer"] for e in chosen}))} if chosen else {}
    chosen = [e for e in chosen if e["peer"] in peers and not any(
        peers[e["peer"]].user_id.startswith(prefix) for prefix in server_user_prefixes)][:limit]  # fmt: skip
    calls = (
        {c.id: c for c in Call.select().where(Call.id.in_({p.call_id for p in peers.values()}))}
        if peers
        else {}
    )

    out = []
    for event in chosen:
        peer = peers[event["peer"]]
        call = calls[peer.call_id]
        tags = _cause_tags(account_id, call, peer, event, loss_threshold)
        out.append(
            {
                "ts": event["minute"],
                "user": str(peer.uid),
                "exp_id": event["exp"],
                "cname": call.room_name,
                "cause_tags": tags,
            }
        )
    return out


def _cause_tags(account_id: int, call: Call, peer: Peer, event: dict, loss_threshold: float) -> list[dict]:
    """Up to three {factor_id, host_user} for one abnormality, strongest first."""
    scored: list[tuple[float, int, str]] = []  # (how far past the threshold, factor, host_user)
    kind = event["kind"]
    if kind is not None:
        for row in event["rows"]:
            if row.packet_loss_pct is not None and row.packet_loss_pct > loss_threshold:
                scored.append((row.packet_loss_pct / loss_threshold, F_DOWN_LOSS[kind], ""))
            if row.rtt_ms is not None and row.rtt_ms > CAUSE_RTT_MS:
                scored.append((row.rtt_ms / CAUSE_RTT_MS, F_DOWN_LATENCY[kind], ""))
            if row.jitter_ms is not None and row.jitter_ms > CAUSE_JITTER_MS:
                scored.append((row.jitter_ms / CAUSE_JITTER_MS, F_DOWN_JITTER[kind], ""))
        if event["senders"]:
            senders = {
                p.id: p
                for p in Peer.select().where(Peer.call == call.id, Peer.user_id.in_(sorted(event["senders"])))
            }
            if senders:
                sent = (
                    TrackMinute.select(TrackMinute, Track.kind)
                    .join(Track, on=(TrackMinute.track == Track.id))
                    .where(
                        TrackMinute.call == call.id,
                        TrackMinute.peer.in_(list(senders)),
                        TrackMinute.minute == event["minute"],
                        Track.direction == "publish",
                        Track.kind == kind,
                    )
                )
                for row in sent:
                    host = str(senders[row.peer].uid)
                    if row.packet_loss_pct is not None and row.packet_loss_pct > loss_threshold:
                        scored.append((row.packet_loss_pct / loss_threshold, F_UP_LOSS[kind], host))
                    if row.rtt_ms is not None and row.rtt_ms > CAUSE_RTT_MS:
                        scored.append((row.rtt_ms / CAUSE_RTT_MS, F_UP_LATENCY[kind], host))
                    if row.jitter_ms is not None and row.jitter_ms > CAUSE_JITTER_MS:
                        scored.append((row.jitter_ms / CAUSE_JITTER_MS, F_UP_JITTER[kind], host))
    # Observations of a whole dump are weaker evidence for one minute than that minute's measurements.
    for factor in _observation_factors(account_id, peer, kind or "video", join=kind is None):
        scored.append((0.5, factor, ""))
    seen: set[tuple[int, str]] = set()
    tags = []
    for _score, factor, host in sorted(scored, key=lambda s: -s[0]):
        if (factor, host) in seen:
            continue
        seen.add((factor, host))
        tags.append({"factor_id": factor, "host_user": host})
        if len(tags) == MAX_CAUSE_TAGS:
            break
    return tags
