"""The stored state LiveKit's webhooks update (service.record_*): mapped to the account, idempotent,
tolerant of LiveKit's unordered delivery; and the reads other plugins use (interface)."""

from __future__ import annotations

import pytest

from core.db import db
from plugins.room import interface, service


@pytest.fixture
def ctx(room_app):
    """Inside the app, as LiveKit's webhook receiver is (peewee connects on the first query)."""
    with room_app.app_context():
        yield room_app
        if not db.is_closed():
            db.close()


@pytest.fixture
def acme(ctx, new_key):
    from core.models import Account

    new_key("room:admin", account="acme")
    new_key("room:admin", account="globex")
    return Account.get(Account.name == "acme").id


def test_resolve_livekit_room(ctx, acme):
    assert service.resolve_livekit_room(f"mp{acme}_standup") == (acme, "standup")
    assert service.resolve_livekit_room(f"mp{acme}_with_underscores_") == (acme, "with_underscores_")
    assert interface.resolve_livekit_room(f"mp{acme}_x") == (acme, "x")
    for foreign in (
        "standup",
        f"mp{acme}",
        f"mp{acme}_",
        "mp_standup",
        f"mp0{acme}_x",
        "mp99999_x",
        f"xx{acme}_r",
    ):
        assert service.resolve_livekit_room(foreign) is None, foreign
    assert interface.livekit_name(acme, "standup") == f"mp{acme}_standup"


def test_resolve_with_another_prefix(make_app, livekit, new_key):
    app = make_app({"plugins": {"room": {**livekit.settings(), "livekit_room_prefix": "prod-a"}}})
    new_key("room:admin", account="acme")
    with app.app_context():
        from core.models import Account

        acme = Account.get(Account.name == "acme").id
        assert interface.livekit_name(acme, "r") == f"prod-a{acme}_r"
        assert interface.resolve_livekit_room(f"prod-a{acme}_r") == (acme, "r")
        assert interface.resolve_livekit_room(f"mp{acme}_r") is None


def test_room_sessions_are_recorded_once_and_in_any_order(ctx, acme):
    name = f"mp{acme}_standup"
    first = service.record_room_started(name, "RM_1", 100.0)
    assert first == {
        "account_id": acme,
        "room_name": "standup",
        "sid": "RM_1",
        "started_at": 100.0,
        "changed": True,
    }
    assert service.record_room_started(name, "RM_1", 100.0)["changed"] is False  # LiveKit's retry
    [room] = interface.rooms(acme)
    assert (room["sid"], room["active"], room["started_at"], room["finished_at"]) == (
        "RM_1",
        True,
        100.0,
        None,
    )

    service.record_participant_joined(name, "RM_1", "PA_a", "alice", "Alice", 101.0)
    finished = service.record_room_finished(name, "RM_1", 200.0)
    assert finished["changed"] is True and finished["room_name"] == "standup"
    assert service.record_room_finished(name, "RM_1", 200.0)["changed"] is False
    [room] = interface.rooms(acme)
    assert (room["active"], room["finished_at"]) == (False, 200.0)
    # The room's end closes its participants whose participant_left was lost.
    assert interface.participants(acme, "standup")[0]["left_at"] == 200.0

    # A new session of the same name; then the old session's late room_finished changes nothing.
    assert service.record_room_started(name, "RM_2", 300.0)["changed"] is True
    assert service.record_room_finished(name, "RM_1", 200.0)["changed"] is False
    [room] = interface.rooms(acme, active_only=True)
    assert (room["sid"], room["started_at"], room["finished_at"]) == ("RM_2", 300.0, None)

    # room_finished before room_started (no ordering guarantee): the session stays finished.
    assert service.record_room_finished(name, "RM_3", 500.0)["changed"] is True
    assert service.record_room_started(name, "RM_3", 400.0)["changed"] is True
    [room] = interface.rooms(acme)
    assert (room["sid"], room["active"], room["finished_at"]) == ("RM_3", False, 500.0)


def test_api_calls_do_not_swallow_the_webhook_news(room_app, ctx, acme, livekit, new_key):
    """Our POST /v1/rooms records the session too; LiveKit's room_started for it is still news."""
    headers = {"X-API-Key": new_key("room:admin", account="acme")}
    room = room_app.test_client().post("/v1/rooms", json={"name": "r"}, headers=headers).get_json()
    assert service.record_room_started(f"mp{acme}_r", room["sid"], 1.0)["changed"] is True
    assert room_app.test_client().delete("/v1/rooms/r", headers=headers).status_code == 204
    assert service.record_room_finished(f"mp{acme}_r", room["sid"], 2.0)["changed"] is True


def test_participant_sessions(ctx, acme):
    name = f"mp{acme}_standup"
    joined = service.record_participant_joined(name, "RM_1", "PA_a", "alice", "Alice", 10.0)
    assert joined == {
        "account_id": acme,
        "room_name": "standup",
        "identity": "alice",
        "name": "Alice",
        "sid": "PA_a",
        "joined_at": 10.0,
        "changed": True,
    }
    assert service.record_participant_joined(name, "RM_1", "PA_a", "alice", "Alice", 10.0)["changed"] is False
    # Bob's participant_left arrives before his participant_joined.
    left = service.record_participant_left(name, "RM_1", "PA_b", "bob", 30.0)
    assert left["changed"] is True and left["left_at"] == 30.0
    assert service.record_participant_joined(name, "RM_1", "PA_b", "bob", "Bob", 20.0)["changed"] is True
    assert service.record_participant_left(name, "RM_1", "PA_b", "bob", 30.0)["changed"] is False
    # Alice rejoins: a new participant session (new sid).
    service.record_participant_left(name, "RM_1", "PA_a", "alice", 40.0)
    service.record_participant_joined(name, "RM_1", "PA_a2", "alice", "Alice", 50.0)
    sessions = [
        (p["identity"], p["sid"], p["joined_at"], p["left_at"], p["name"])
        for p in interface.participants(acme, "standup")
    ]
    assert sessions == [
        ("alice", "PA_a", 10.0, 40.0, "Alice"),
        ("bob", "PA_b", 20.0, 30.0, "Bob"),
        ("alice", "PA_a2", 50.0, None, "Alice"),
    ]
    with pytest.raises(interface.NotFound):
        interface.participants(acme, "nope")


def test_events_of_rooms_that_are_not_ours_are_ignored(ctx, acme):
    assert service.record_room_started("another-tools-room", "RM_x", 1.0) is None
    assert service.record_room_finished("another-tools-room", "RM_x", 1.0) is None
    assert service.record_participant_joined("another-tools-room", "RM_x", "PA_x", "i", "n", 1.0) is None
    assert service.record_participant_left("mp99999_x", "RM_x", "PA_x", "i", 1.0) is None
    assert service.record_ingress_started("IN_x", "another-tools-room", 1.0) is None
    assert service.record_ingress_stopped("IN_x", "mp99999_x", 1.0) is None
    assert interface.rooms(acme) == []


def test_ingress_sessions(ctx, acme):
    name = f"mp{acme}_stage"
    started = service.record_ingress_started("IN_1", name, 10.0, input_type="RTMP_INPUT")
    assert started == {
        "account_id": acme,
        "room_name": "stage",
        "ingress_id": "IN_1",
        "started_at": 10.0,
        "changed": True,
    }
    assert service.record_ingress_started("IN_1", name, 10.0)["changed"] is False
    stopped = service.record_ingress_stopped("IN_1", name, 20.0)
    assert stopped == {
        "account_id": acme,
        "room_name": "stage",
        "ingress_id": "IN_1",
        "stopped_at": 20.0,
        "changed": True,
    }
    assert service.record_ingress_stopped("IN_1", name, 20.0)["changed"] is False
    # Ingresses are reusable: the next stream is a new start.
    assert service.record_ingress_started("IN_1", name, 30.0)["changed"] is True
    # An ingress id cannot move to another account's room.
    from core.models import Account

    globex = Account.get(Account.name == "globex").id
    assert service.record_ingress_started("IN_1", f"mp{globex}_stage", 40.0) is None


def test_resolve_room(room_app, ctx, acme, livekit):
    with pytest.raises(interface.NotFound):
        interface.resolve_room(acme, "nowhere")
    # Open in LiveKit (a token's join) though never stored: found, and stored from now on.
    livekit.join(f"mp{acme}_adhoc", "u")
    assert interface.resolve_room(acme, "adhoc") == f"mp{acme}_adhoc"
    assert [r["name"] for r in interface.rooms(acme)] == ["adhoc"]
    livekit.down()
    assert interface.resolve_room(acme, "adhoc") == f"mp{acme}_adhoc"  # stored: no call needed
    with pytest.raises(interface.LiveKitUnavailable):
        interface.resolve_room(acme, "other")


def test_interface_client(room_app, ctx, livekit):
    assert interface.livekit_configured() is True
    assert interface.livekit_client().list_rooms() == []


def test_a_list_does_not_close_a_room_created_while_it_asked(ctx, acme):
    """GET /v1/rooms asked LiveKit before another request created a room: that room stays open."""
    name = f"mp{acme}_new"
    service.record_room_started(name, "RM_new", 1000.0)
    service._reconcile(acme, f"mp{acme}_", [], asked_at=999.0)
    assert [r["name"] for r in interface.rooms(acme, active_only=True)] == ["new"]
    service._reconcile(acme, f"mp{acme}_", [], asked_at=1001.0)
    assert interface.rooms(acme, active_only=True) == []
