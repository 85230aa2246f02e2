"""Calls from LiveKit events (fired as the room plugin fires them) and from an rtcstats upload of a real
fixture dump, matched to the call by conferenceId and to the peer by userId."""

from __future__ import annotations

from pathlib import Path

from core.events import fire
from plugins.analytics import service
from plugins.analytics.models import Call, Peer, Track
from tests.plugins.analytics.helpers import CONFIG, in_db, rollup, run_worker

DUMP = Path(__file__).parents[2] / "fixtures" / "dumps" / "jitsi_legacy_chrome-relay.jsonl"
# What the dump says of itself (checked by hand in the file and in the analysis):
ROOM = "meet.jit.si/absentbreakdownspicturesame"  # metadata conferenceId
USER = "59e48073"  # metadata userId
DUMP_START = 1697705722.042  # callStart 2023-10-19T08:55:22.042Z: the client began to join
CONNECTED = 1697705722.479  # PC_0 connectionState "connected"
DUMP_END = 1697705844.030  # callEnd
T0 = 1697705700  # a minute boundary (28295095 x 60) before the dump


def fire_in(app, name: str, **kwargs) -> None:
    from core.db import db

    with app.app_context(), db.connection_context():
        fire(name, **kwargs)


def account_id(app, key: str) -> int:
    from core.auth import _from_token

    with app.test_request_context():
        from core.db import db

        with db.connection_context():
            return _from_token(key).account_id


def livekit_call(app, account: int) -> None:
    """A LiveKit room with USER and another participant, as the room plugin fires its events."""
    fire_in(app, "room_started", account_id=account, room_name=ROOM, started_at=T0)
    fire_in(app, "participant_joined", account_id=account, room_name=ROOM, identity=USER, joined_at=T0 + 22.5)
    fire_in(
        app, "participant_joined", account_id=account, room_name=ROOM, identity="other", joined_at=T0 + 30
    )
    fire_in(
        app,
        "track_published",
        account_id=account,
        room_name=ROOM,
        identity=USER,
        track_sid="TR_VIDEO1",
        kind="video",
        source="camera",
        published_at=T0 + 23,
    )
    fire_in(
        app,
        "track_published",
        account_id=account,
        room_name=ROOM,
        identity="other",
        track_sid="TR_SCREEN",
        kind="video",
        source="screen_share",
        published_at=T0 + 40,
    )
    fire_in(app, "participant_left", account_id=account, room_name=ROOM, identity="other", left_at=T0 + 100)


def test_livekit_events_make_a_call_that_room_finished_ends(make_app, new_key):
    app = make_app(CONFIG)
    key = new_key("analytics:read")
    account = account_id(app, key)
    livekit_call(app, account)
    call = in_db(app, lambda: Call.get())
    assert (call.room_name, call.started_at, call.finished, call.livekit_active) == (ROOM, T0, False, True)
    # a running LiveKit room is not ended by the idle gap
    rollup(app, now=T0 + 10_000)
    assert not in_db(app, lambda: Call.get()).finished
    fire_in(app, "room_finished", account_id=account, room_name=ROOM, finished_at=T0 + 200)
    call = in_db(app, lambda: Call.get())
    assert call.finished and call.ended_at == T0 + 200 and call.open_key is None
    peers = {p["user_id"]: p for p in in_db(app, service.call_peers, account, call.id)}
    assert (peers[USER]["joined_at"], peers[USER]["left_at"]) == (T0 + 22.5, T0 + 200)
    assert (peers["other"]["joined_at"], peers["other"]["left_at"]) == (T0 + 30, T0 + 100)
    tracks = in_db(app, service.peer_tracks, account, [peers["other"]["pk"]])
    assert [(t["track_id"], t["kind"], t["direction"], t["type"]) for t in tracks] == [
        ("TR_SCREEN", "video", "publish", "screen")
    ]
    rollup(app, now=T0 + 10_000)
    minutes = {m["minute"]: m for m in in_db(app, service.account_minutes, account, T0, T0 + 300)}
    # the room ran 200 s from T0: minutes T0 .. T0+180; "other" was there from T0+30 to T0+100
    assert sorted(minutes) == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert [minutes[m]["channels"] for m in sorted(minutes)] == [1, 1, 1, 1]
    assert [minutes[m]["users"] for m in sorted(minutes)] == [2, 2, 1, 1]
    # two joins, both succeeded; no join start is known from LiveKit alone
    assert (minutes[T0]["join_attempts"], minutes[T0]["join_success"], minutes[T0]["join_measured"]) == (
        2,
        2,
        0,
    )
    days = in_db(app, service.account_days, account, T0 - 86400, T0 + 86400)
    assert days == [{"day": T0 // 86400 * 86400, "user_count": 2, "session_count": 2, "channel_count": 1}]


def test_an_uploaded_dump_joins_its_call_and_peer(make_app, new_key):
    app = make_app(CONFIG)
    key = new_key("analytics:read", "rtcstats:write", "rtcstats:read")
    account = account_id(app, key)
    livekit_call(app, account)
    fire_in(app, "room_finished", account_id=account, room_name=ROOM, finished_at=T0 + 200)
    client = app.test_client()
    response = client.post(
        "/api/rtcstats/v1.0/analyze?save=true",
        data=DUMP.read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.get_json()
    rtcstats_id = response.get_json()["rtcstatsId"]
    run_worker(app)  # analytics.ingest_rtcstats, queued by rtcstats_session_analyzed
    assert in_db(app, lambda: Call.select().count()) == 1
    peer = in_db(app, lambda: Peer.get(Peer.user_id == USER))
    assert peer.rtcstats_id == rtcstats_id
    assert abs(peer.join_started_at - DUMP_START) < 1e-3
    assert abs(peer.joined_at - CONNECTED) < 1e-3  # earlier than LiveKit's T0 + 22.5
    assert peer.os == "macOS" and peer.platform == "macOS" and peer.browser.startswith("Chrome")
    rtc_tracks = in_db(
        app, lambda: list(Track.select().where(Track.peer == peer.id, Track.source == "rtcstats"))
    )
    kinds = sorted((t.kind, t.direction) for t in rtc_tracks)
    assert kinds == [("audio", "subscribe"), ("video", "publish")] + [("video", "subscribe")] * 3
    freezes = sorted(__import__("json").loads(t.summary)["freezeCount"] or 0 for t in rtc_tracks)
    assert freezes[-2:] == [22, 24]
    rollup(app, now=T0 + 10_000)
    first = in_db(app, service.account_minutes, account, T0, T0 + 60)[0]
    # USER's join is measured now: 0.437 s from its first event to connected, within 5 s
    assert (
        first["join_attempts"],
        first["join_success"],
        first["join_measured"],
        first["join_success_5s"],
    ) == (2, 2, 1, 1)
    # peer-stats lists LiveKit's published track and the dump's received tracks (no per-minute data)
    call = in_db(app, lambda: Call.get())
    body = client.get(
        "/v2/analytics/peer-stats",
        query_string={"peer_id": USER, "session_id": call.call_id},
        headers={"Authorization": f"Bearer {key}"},
    ).get_json()
    assert [v["track_id"] for v in body["publisher"]["video"]] == ["TR_VIDEO1"]
    assert body["publisher"]["video"][0]["time_series"]["timestamps"] == []
    assert len(body["subscriber"]["video"]) == 3 and len(body["subscriber"]["audio"]) == 1


def test_a_dump_of_a_call_nothing_else_saw_makes_an_ended_call(make_app, new_key):
    app = make_app(CONFIG)
    key = new_key("analytics:read", "rtcstats:write")
    response = app.test_client().post(
        "/api/rtcstats/v1.0/analyze?save=true",
        data=DUMP.read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    run_worker(app)
    call = in_db(app, lambda: Call.get())
    assert (call.room_name, call.finished, call.sources) == (ROOM, True, "rtcstats")
    assert abs(call.started_at - DUMP_START) < 1e-3 and abs(call.ended_at - DUMP_END) < 1e-3


def test_a_leave_that_arrives_after_room_finished_does_not_open_a_call(make_app, new_key):
    app = make_app(CONFIG)
    account = account_id(app, new_key("analytics:read"))
    livekit_call(app, account)
    fire_in(app, "room_finished", account_id=account, room_name=ROOM, finished_at=T0 + 200)
    fire_in(app, "participant_left", account_id=account, room_name=ROOM, identity=USER, left_at=T0 + 150)
    assert in_db(app, lambda: Call.select().count()) == 1
    assert in_db(app, lambda: Peer.get(Peer.user_id == USER)).left_at == T0 + 150
