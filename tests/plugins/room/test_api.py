"""The /v1 rooms API against the LiveKit double (tests/livekit_double.py), on SQLite and PostgreSQL.

The double is a real HTTP server speaking LiveKit's Twirp wire format and checking its JWT grants, as
no LiveKit server can run here; tests/test_livekit_double.py shows it answers as LiveKit does.
"""

from __future__ import annotations

import json
import re
import time

import jwt
import pytest

from tests.plugins.room.conftest import account_id, livekit_room

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROBLEM = "https://rtcstack.dev/errors/"


def problem(response, status: int, slug: str) -> dict:
    """The answer is an RFC 9457 problem of the contract's type."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == PROBLEM + slug and body["status"] == status and body["title"], body
    return body


# -- health ---------------------------------------------------------------------------------------


def test_health_needs_no_key_and_reports_livekit(room_client, livekit):
    body = room_client.get("/v1/health").get_json()
    assert body["status"] == "ok" and body["version"]
    assert body["capabilities"] == {"transcriptionLive": False, "transcriptionPost": False, "livekit": True}


def test_health_is_degraded_without_livekit(make_app):
    app = make_app()
    response = app.test_client().get("/v1/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["capabilities"]["livekit"] is False


def test_health_notices_livekit_going_down_after_its_cache(make_app, livekit):
    app = make_app({"plugins": {"room": {**livekit.settings(), "health_cache_seconds": 0}}})
    client = app.test_client()
    assert client.get("/v1/health").get_json()["capabilities"]["livekit"] is True
    livekit.down()
    assert client.get("/v1/health").get_json() == {
        "status": "degraded",
        "version": client.get("/v1/health").get_json()["version"],
        "capabilities": {"transcriptionLive": False, "transcriptionPost": False, "livekit": False},
    }
    livekit.up()
    assert client.get("/v1/health").get_json()["status"] == "ok"


def test_health_is_cached(make_app, livekit):
    app = make_app({"plugins": {"room": {**livekit.settings(), "health_cache_seconds": 60}}})
    client = app.test_client()
    for _ in range(5):
        assert client.get("/v1/health").get_json()["status"] == "ok"
    assert sum(1 for c in livekit.calls if c["method"] == "ListRooms") == 1


def test_health_reports_bad_credentials_as_unusable(make_app, livekit):
    settings = {**livekit.settings(), "livekit_api_secret": "x" * 48}
    body = make_app({"plugins": {"room": settings}}).test_client().get("/v1/health").get_json()
    assert body["status"] == "degraded" and body["capabilities"]["livekit"] is False


# -- tokens ---------------------------------------------------------------------------------------

GRANTS = {  # the contract's table: publish, subscribe, room admin (+ data with publish)
    "host": {"canPublish": True, "canSubscribe": True, "canPublishData": True, "roomAdmin": True},
    "moderator": {"canPublish": True, "canSubscribe": True, "canPublishData": True, "roomAdmin": False},
    "participant": {"canPublish": True, "canSubscribe": True, "canPublishData": True, "roomAdmin": False},
    "viewer": {"canPublish": False, "canSubscribe": True, "canPublishData": False, "roomAdmin": False},
}


@pytest.mark.parametrize("path", ["/v1/token", "/v1/token/refresh"])
@pytest.mark.parametrize("role", sorted(GRANTS))
def test_token_grants_per_role(room_app, room_client, admin, livekit, role, path):
    body = {"roomId": "standup", "userId": "alice", "name": "Alice", "role": role, "metadata": {"team": "é"}}
    before = time.time()
    response = room_client.post(path, json=body, headers=admin)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"token", "url", "expiresAt"}
    assert answer["url"] == livekit.ws_url
    # Signed with LiveKit's secret, as LiveKit verifies it.
    claims = jwt.decode(answer["token"], livekit.api_secret, algorithms=["HS256"], issuer=livekit.api_key)
    assert claims["sub"] == "alice" and claims["name"] == "Alice"
    assert json.loads(claims["metadata"]) == {"team": "é"}
    assert claims["attributes"] == {"role": role}
    video = claims["video"]
    assert video["roomJoin"] is True
    assert video["room"] == livekit_room(room_app, "acme", "standup")
    # Explicit falses: LiveKit takes an absent canPublish as true.
    assert {k: video[k] for k in GRANTS[role]} == GRANTS[role]
    # expiresAt is the token's exp, ISO with milliseconds and Z, token_ttl_seconds (6 h) ahead.
    assert ISO_MS_Z.match(answer["expiresAt"])
    assert answer["expiresAt"] == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(claims["exp"]))
    assert before + 21600 - 2 <= claims["exp"] <= time.time() + 21600 + 1


def test_token_lifetime_public_url_and_no_metadata(make_app, livekit, new_key):
    settings = {
        **livekit.settings(),
        "token_ttl_seconds": 600,
        "livekit_public_url": "wss://media.example.com",
    }
    app = make_app({"plugins": {"room": settings}})
    headers = {"X-API-Key": new_key("room:admin")}
    body = {"roomId": "r", "userId": "u", "name": "U", "role": "viewer"}
    answer = app.test_client().post("/v1/token", json=body, headers=headers).get_json()
    assert answer["url"] == "wss://media.example.com"
    claims = jwt.decode(answer["token"], livekit.api_secret, algorithms=["HS256"])
    assert claims["exp"] - claims["nbf"] == 600
    assert "metadata" not in claims or claims["metadata"] == ""


def test_tokens_of_two_accounts_join_different_livekit_rooms(
    room_app, room_client, admin, other_admin, livekit
):
    body = {"roomId": "standup", "userId": "u", "name": "U", "role": "host"}
    rooms = set()
    for headers in (admin, other_admin):
        token = room_client.post("/v1/token", json=body, headers=headers).get_json()["token"]
        rooms.add(jwt.decode(token, options={"verify_signature": False})["video"]["room"])
    assert rooms == {livekit_room(room_app, "acme", "standup"), livekit_room(room_app, "globex", "standup")}


BAD_TOKEN_BODIES = [
    ({}, "roomId"),
    ({"userId": "u", "name": "U", "role": "host"}, "roomId"),
    ({"roomId": "r", "name": "U", "role": "host"}, "userId"),
    ({"roomId": "r", "userId": "u", "role": "host"}, "name"),
    ({"roomId": "r", "userId": "u", "name": "U"}, "role"),
    ({"roomId": "r", "userId": "u", "name": "U", "role": "admin"}, "role"),
    ({"roomId": "", "userId": "u", "name": "U", "role": "host"}, "roomId"),
    ({"roomId": "r" * 129, "userId": "u", "name": "U", "role": "host"}, "roomId"),
    ({"roomId": "a/b", "userId": "u", "name": "U", "role": "host"}, "roomId"),
    ({"roomId": 5, "userId": "u", "name": "U", "role": "host"}, "roomId"),
    ({"roomId": "r", "userId": "u\x00", "name": "U", "role": "host"}, "userId"),
    ({"roomId": "r", "userId": "u", "name": "", "role": "host"}, "name"),
    ({"roomId": "r", "userId": "u", "name": "U" * 257, "role": "host"}, "name"),
    ({"roomId": "r", "userId": "u", "name": "U", "role": "host", "metadata": "x"}, "metadata"),
    ({"roomId": "r", "userId": "u", "name": "U", "role": "host", "metadata": [1]}, "metadata"),
    ({"roomId": "r", "userId": "u", "name": "U", "role": "host", "metadata": {"x": "y" * 5000}}, "metadata"),
    ({"roomId": "r", "userId": "u", "name": "U", "role": "host", "displayName": "U"}, "displayName"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TOKEN_BODIES)
def test_token_bad_input_names_the_field(room_client, admin, body, field):
    body = problem(room_client.post("/v1/token", json=body, headers=admin), 400, "validation")
    assert body["title"] == "Validation Error"
    assert field in body["errors"] and body["detail"].startswith(field) or f"{field}:" in body["detail"]


def test_token_body_that_is_not_json(room_client, admin):
    body = problem(
        room_client.post("/v1/token", data="{nope", headers={**admin, "Content-Type": "application/json"}),
        400,
        "validation",
    )
    assert "JSON" in body["detail"]
    problem(
        room_client.post("/v1/token", data="<x/>", headers={**admin, "Content-Type": "application/xml"}),
        415,
        "unsupported-media-type",
    )
    # An empty body is no body: the required fields are named, no decoding error.
    body = problem(
        room_client.post("/v1/token", data="", headers={**admin, "Content-Type": "application/json"}),
        400,
        "validation",
    )
    assert "roomId" in body["errors"]


def test_token_without_livekit_is_503_naming_the_settings(make_app, new_key):
    app = make_app()
    body = {"roomId": "r", "userId": "u", "name": "U", "role": "host"}
    response = app.test_client().post("/v1/token", json=body, headers={"X-API-Key": new_key("room:admin")})
    answer = problem(response, 503, "unavailable")
    assert "livekit_url" in answer["detail"]
    assert int(response.headers["Retry-After"]) > 0


def test_scopes(room_client, new_key):
    body = {"roomId": "r", "userId": "u", "name": "U", "role": "host"}
    problem(room_client.post("/v1/token", json=body), 401, "unauthorized")
    problem(room_client.get("/v1/rooms"), 401, "unauthorized")
    other = {"X-API-Key": new_key("report:read")}
    problem(room_client.post("/v1/token", json=body, headers=other), 403, "forbidden")
    problem(room_client.get("/v1/rooms/x/participants", headers=other), 403, "forbidden")
    assert (
        room_client.post("/v1/token", json=body, headers={"X-API-Key": new_key("room:*")}).status_code == 200
    )


# -- rooms ----------------------------------------------------------------------------------------


def test_room_crud(room_app, room_client, admin, livekit):
    body = {"name": "standup", "maxParticipants": 10, "emptyTimeout": 120, "metadata": '{"topic":"x"}'}
    response = room_client.post("/v1/rooms", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    room = response.get_json()
    # The LiveKit Room object (camelCase, int64 as strings), named as the account knows it.
    assert room["name"] == "standup" and room["sid"].startswith("RM_")
    assert room["maxParticipants"] == 10 and room["emptyTimeout"] == 120
    assert room["metadata"] == '{"topic":"x"}'
    assert int(room["creationTime"]) > 0
    # In LiveKit it lives in the account's namespace.
    assert livekit_room(room_app, "acme", "standup") in livekit.rooms

    listed = room_client.get("/v1/rooms", headers=admin).get_json()
    assert [r["name"] for r in listed["rooms"]] == ["standup"]
    assert listed["rooms"][0]["sid"] == room["sid"]
    one = room_client.get("/v1/rooms/standup", headers=admin)
    assert one.status_code == 200 and one.get_json()["sid"] == room["sid"]

    assert room_client.delete("/v1/rooms/standup", headers=admin).status_code == 204
    assert livekit_room(room_app, "acme", "standup") not in livekit.rooms
    assert problem(room_client.get("/v1/rooms/standup", headers=admin), 404, "not-found")["detail"] == (
        "Room not found"
    )
    problem(room_client.delete("/v1/rooms/standup", headers=admin), 404, "not-found")
    assert room_client.get("/v1/rooms", headers=admin).get_json() == {"rooms": []}


def test_create_is_create_or_update_like_livekit(room_client, admin):
    first = room_client.post("/v1/rooms", json={"name": "r", "metadata": "a"}, headers=admin).get_json()
    second = room_client.post("/v1/rooms", json={"name": "r", "metadata": "b"}, headers=admin)
    assert second.status_code == 201
    assert second.get_json()["sid"] == first["sid"] and second.get_json()["metadata"] == "b"
    assert len(room_client.get("/v1/rooms", headers=admin).get_json()["rooms"]) == 1


def test_minimal_room_and_names_kept_exactly(room_client, admin):
    for name in ("a", "Ünïcødé room ☃", "x" * 128, "with space", "dots.and-dashes_1"):
        response = room_client.post("/v1/rooms", json={"name": name}, headers=admin)
        assert response.status_code == 201 and response.get_json()["name"] == name
    names = {r["name"] for r in room_client.get("/v1/rooms", headers=admin).get_json()["rooms"]}
    assert names == {"a", "Ünïcødé room ☃", "x" * 128, "with space", "dots.and-dashes_1"}
    assert room_client.get("/v1/rooms/Ünïcødé room ☃", headers=admin).get_json()["name"] == "Ünïcødé room ☃"


BAD_ROOM_BODIES = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 129}, "name"),
    ({"name": "a/b"}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"name": 7}, "name"),
    ({"name": "r", "maxParticipants": -1}, "maxParticipants"),
    ({"name": "r", "maxParticipants": "10"}, "maxParticipants"),
    ({"name": "r", "maxParticipants": 2**32}, "maxParticipants"),
    ({"name": "r", "maxParticipants": 1.5}, "maxParticipants"),
    ({"name": "r", "emptyTimeout": -5}, "emptyTimeout"),
    ({"name": "r", "emptyTimeout": True}, "emptyTimeout"),
    ({"name": "r", "metadata": {"a": 1}}, "metadata"),
    ({"name": "r", "metadata": "é" * 32001}, "metadata"),
    ({"name": "r", "departureTimeout": 5}, "departureTimeout"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ROOM_BODIES)
def test_room_bad_input_names_the_field(room_client, admin, livekit, body, field):
    answer = problem(room_client.post("/v1/rooms", json=body, headers=admin), 400, "validation")
    assert field in answer["errors"], answer
    assert f"{field}:" in answer["detail"]
    assert livekit.rooms == {}


def test_room_ids_that_cannot_exist_are_404(room_client, admin):
    for path in ("/v1/rooms/" + "x" * 129, "/v1/rooms/%01", "/v1/rooms/%00/participants"):
        problem(room_client.get(path, headers=admin), 404, "not-found")


# -- tenancy --------------------------------------------------------------------------------------


def test_two_accounts_share_a_room_name_and_never_see_each_other(
    room_app, room_client, admin, other_admin, livekit
):
    a = room_client.post("/v1/rooms", json={"name": "standup", "metadata": "A"}, headers=admin)
    b = room_client.post("/v1/rooms", json={"name": "standup", "metadata": "B"}, headers=other_admin)
    assert a.status_code == b.status_code == 201
    assert a.get_json()["sid"] != b.get_json()["sid"]
    assert a.get_json()["name"] == b.get_json()["name"] == "standup"
    room_client.post("/v1/rooms", json={"name": "only-a"}, headers=admin)
    # Another tool's room on the same LiveKit is nobody's.
    livekit.join("someone-elses-room", "zed")

    def listed(headers):
        return {
            (r["name"], r["metadata"])
            for r in room_client.get("/v1/rooms", headers=headers).get_json()["rooms"]
        }

    assert listed(admin) == {("standup", "A"), ("only-a", "")}
    assert listed(other_admin) == {("standup", "B")}
    assert room_client.get("/v1/rooms/standup", headers=other_admin).get_json()["metadata"] == "B"
    problem(room_client.get("/v1/rooms/only-a", headers=other_admin), 404, "not-found")
    problem(room_client.delete("/v1/rooms/only-a", headers=other_admin), 404, "not-found")
    problem(room_client.get("/v1/rooms/only-a/participants", headers=other_admin), 404, "not-found")

    livekit.join(livekit_room(room_app, "acme", "only-a"), "alice", "Alice", tracks=["audio"])
    track = livekit.participants[livekit_room(room_app, "acme", "only-a")]["alice"].tracks[0].sid
    problem(room_client.delete("/v1/rooms/only-a/participants/alice", headers=other_admin), 404, "not-found")
    problem(
        room_client.post(
            "/v1/rooms/only-a/participants/alice/mute", json={"trackSid": track}, headers=other_admin
        ),
        404,
        "not-found",
    )
    ingress = room_client.post("/v1/rooms/only-a/ingress", json={}, headers=admin).get_json()
    assert room_client.get("/v1/rooms/only-a/ingress", headers=other_admin).get_json() == {"ingress": []}
    path = f"/v1/rooms/only-a/ingress/{ingress['ingressId']}"
    problem(room_client.delete(path, headers=other_admin), 404, "not-found")
    # Nothing of account A was touched by B's attempts.
    assert "alice" in livekit.participants[livekit_room(room_app, "acme", "only-a")]
    assert not livekit.participants[livekit_room(room_app, "acme", "only-a")]["alice"].tracks[0].muted
    assert ingress["ingressId"] in livekit.ingresses
    assert room_client.delete("/v1/rooms/standup", headers=other_admin).status_code == 204
    assert room_client.get("/v1/rooms/standup", headers=admin).status_code == 200


# -- participants ---------------------------------------------------------------------------------


def test_participants_list_kick_and_mute(room_app, room_client, admin, livekit):
    room_client.post("/v1/rooms", json={"name": "standup"}, headers=admin)
    lk_name = livekit_room(room_app, "acme", "standup")
    alice = livekit.join(lk_name, "alice", "Alice", tracks=["audio", "video"], metadata='{"role":"host"}')
    livekit.join(lk_name, "bob", "Bob")

    listed = room_client.get("/v1/rooms/standup/participants", headers=admin).get_json()["participants"]
    assert [(p["identity"], p["name"]) for p in listed] == [("alice", "Alice"), ("bob", "Bob")]
    first = listed[0]
    assert first["sid"] == alice.sid and first["state"] == "ACTIVE" and first["metadata"] == '{"role":"host"}'
    assert [t["type"] for t in first["tracks"]] == ["AUDIO", "VIDEO"]

    audio = alice.tracks[0].sid
    response = room_client.post(
        "/v1/rooms/standup/participants/alice/mute", json={"trackSid": audio}, headers=admin
    )
    assert response.status_code == 204 and response.get_data() == b""
    assert livekit.participants[lk_name]["alice"].tracks[0].muted is True
    assert livekit.participants[lk_name]["alice"].tracks[1].muted is False
    detail = problem(
        room_client.post(
            "/v1/rooms/standup/participants/alice/mute", json={"trackSid": "TR_nope"}, headers=admin
        ),
        404,
        "not-found",
    )["detail"]
    assert detail == "Track not found"
    problem(
        room_client.post("/v1/rooms/standup/participants/zed/mute", json={"trackSid": audio}, headers=admin),
        404,
        "not-found",
    )

    assert room_client.delete("/v1/rooms/standup/participants/bob", headers=admin).status_code == 204
    assert "bob" not in livekit.participants[lk_name]
    detail = problem(
        room_client.delete("/v1/rooms/standup/participants/bob", headers=admin), 404, "not-found"
    )
    assert detail["detail"] == "Participant not found in this room"
    listed = room_client.get("/v1/rooms/standup/participants", headers=admin).get_json()["participants"]
    assert [p["identity"] for p in listed] == ["alice"]


def test_participants_of_an_empty_and_an_unknown_room(room_client, admin):
    room_client.post("/v1/rooms", json={"name": "empty"}, headers=admin)
    assert room_client.get("/v1/rooms/empty/participants", headers=admin).get_json() == {"participants": []}
    assert problem(room_client.get("/v1/rooms/nope/participants", headers=admin), 404, "not-found")[
        "detail"
    ] == ("Room not found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "trackSid"),
        ({"trackSid": ""}, "trackSid"),
        ({"trackSid": 3}, "trackSid"),
        ({"trackSid": "a b"}, "trackSid"),
    ],
)
def test_mute_bad_input(room_client, admin, body, field):
    answer = problem(
        room_client.post("/v1/rooms/r/participants/p/mute", json=body, headers=admin), 400, "validation"
    )
    assert field in answer["errors"]


# -- ingress --------------------------------------------------------------------------------------


def test_ingress_create_list_delete(room_app, room_client, admin, livekit):
    response = room_client.post("/v1/rooms/stage/ingress", headers=admin)  # no body: every default
    assert response.status_code == 201, response.get_json()
    rtmp = response.get_json()
    assert rtmp["inputType"] == "RTMP_INPUT"
    assert rtmp["url"] == livekit.rtmp_base_url and rtmp["streamKey"]
    assert rtmp["roomName"] == "stage"
    assert rtmp["participantName"] == "Ingress Stream"
    assert re.match(r"^ingress-[0-9a-f]{12}$", rtmp["participantIdentity"])
    assert livekit.ingresses[rtmp["ingressId"]].room_name == livekit_room(room_app, "acme", "stage")

    body = {"type": "whip", "participantName": "OBS", "participantIdentity": "obs-1"}
    whip = room_client.post("/v1/rooms/stage/ingress", json=body, headers=admin).get_json()
    assert whip["inputType"] == "WHIP_INPUT" and whip["url"] == livekit.whip_base_url
    assert (whip["participantName"], whip["participantIdentity"]) == ("OBS", "obs-1")

    listed = room_client.get("/v1/rooms/stage/ingress", headers=admin).get_json()["ingress"]
    assert sorted(i["ingressId"] for i in listed) == sorted([rtmp["ingressId"], whip["ingressId"]])
    assert {i["roomName"] for i in listed} == {"stage"}
    assert room_client.get("/v1/rooms/elsewhere/ingress", headers=admin).get_json() == {"ingress": []}
    # An ingress of another room of the same account is not this room's.
    problem(
        room_client.delete(f"/v1/rooms/elsewhere/ingress/{rtmp['ingressId']}", headers=admin),
        404,
        "not-found",
    )

    assert (
        room_client.delete(f"/v1/rooms/stage/ingress/{rtmp['ingressId']}", headers=admin).status_code == 204
    )
    assert rtmp["ingressId"] not in livekit.ingresses
    problem(
        room_client.delete(f"/v1/rooms/stage/ingress/{rtmp['ingressId']}", headers=admin), 404, "not-found"
    )
    problem(room_client.delete("/v1/rooms/stage/ingress/IN_unknown", headers=admin), 404, "not-found")
    listed = room_client.get("/v1/rooms/stage/ingress", headers=admin).get_json()["ingress"]
    assert [i["ingressId"] for i in listed] == [whip["ingressId"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "srt"}, "type"),
        ({"type": 1}, "type"),
        ({"participantName": ""}, "participantName"),
        ({"participantIdentity": "a/b"}, "participantIdentity"),
        ({"participantIdentity": ""}, "participantIdentity"),
        ({"url": "rtmp://x"}, "url"),
    ],
)
def test_ingress_bad_input(room_client, admin, livekit, body, field):
    answer = problem(room_client.post("/v1/rooms/r/ingress", json=body, headers=admin), 400, "validation")
    assert field in answer["errors"]
    assert livekit.ingresses == {}


# -- stored state ---------------------------------------------------------------------------------


def test_lists_follow_livekit_after_it_restarts(room_app, room_client, admin, livekit):
    """LiveKit forgets its rooms when it restarts: the list follows LiveKit, and the stored room is
    kept, marked finished, for the other plugins' history."""
    from core.db import db
    from plugins.room import interface

    room_client.post("/v1/rooms", json={"name": "standup"}, headers=admin)
    acme = account_id(room_app, "acme")
    with room_app.app_context(), db.connection_context():
        [stored] = interface.rooms(acme)
        assert stored["name"] == "standup" and stored["active"] and stored["finished_at"] is None
    livekit.restart()  # a LiveKit without Redis forgets its rooms
    assert room_client.get("/v1/rooms", headers=admin).get_json() == {"rooms": []}
    with room_app.app_context(), db.connection_context():
        [stored] = interface.rooms(acme)
        assert not stored["active"] and stored["finished_at"] is not None
        assert interface.rooms(acme, active_only=True) == []
    # A room opened by a token's first join (no POST /v1/rooms) is picked up by the next list.
    livekit.join(livekit_room(room_app, "acme", "adhoc"), "u")
    assert [r["name"] for r in room_client.get("/v1/rooms", headers=admin).get_json()["rooms"]] == ["adhoc"]
    with room_app.app_context(), db.connection_context():
        assert [r["name"] for r in interface.rooms(acme, active_only=True)] == ["adhoc"]


def test_metrics(room_client, admin, livekit):
    room_client.post("/v1/rooms", json={"name": "m"}, headers=admin)
    room_client.post(
        "/v1/token", json={"roomId": "m", "userId": "u", "name": "U", "role": "viewer"}, headers=admin
    )
    room_client.get("/v1/rooms/nope", headers=admin)
    text = room_client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^mediaplane_room_rooms_created_total [1-9]", text, re.M)
    assert re.search(r'^mediaplane_room_tokens_issued_total\{role="viewer"\} [1-9]', text, re.M)


def test_null_optional_fields_are_absent(room_client, admin, livekit):
    """JavaScript clients send null for what they leave unset: the defaults apply."""
    body = {"roomId": "r", "userId": "u", "name": "U", "role": "host", "metadata": None}
    token = room_client.post("/v1/token", json=body, headers=admin).get_json()["token"]
    assert jwt.decode(token, options={"verify_signature": False}).get("metadata", "") == ""
    body = {"name": "r", "maxParticipants": None, "emptyTimeout": None, "metadata": None}
    assert room_client.post("/v1/rooms", json=body, headers=admin).status_code == 201
    body = {"type": None, "participantName": None, "participantIdentity": None}
    ingress = room_client.post("/v1/rooms/r/ingress", json=body, headers=admin).get_json()
    assert ingress["inputType"] == "RTMP_INPUT" and ingress["participantName"] == "Ingress Stream"
    assert ingress["participantIdentity"].startswith("ingress-")


def test_concurrent_creations_of_one_room_store_it_once(room_app, admin, livekit):
    """Clients retrying at once: every answer is the same LiveKit room, and one row is stored."""
    from concurrent.futures import ThreadPoolExecutor

    from plugins.room.models import Room
    from tests.conftest import count_rows

    def create(_):
        response = room_app.test_client().post("/v1/rooms", json={"name": "busy"}, headers=admin)
        return response.status_code, response.get_json()["sid"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    assert {status for status, _ in answers} == {201}
    assert len({sid for _, sid in answers}) == 1
    assert count_rows(room_app, Room) == 1


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"roomId": "\\ud800", "userId": "u", "name": "U", "role": "host"}', "surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (
            b'{"roomId": "r", "userId": "u", "name": "U", "role": "host", "metadata": {"n": 1'
            + b"0" * 5000
            + b"}}",
            "digits",
        ),
        (b"\xff\xfe{}", "JSON"),
    ],
)
def test_hostile_json_is_a_400(room_client, admin, raw, words):
    response = room_client.post("/v1/token", data=raw, headers={**admin, "Content-Type": "application/json"})
    assert words in problem(response, 400, "validation")["detail"]


def test_nul_in_livekit_values_is_kept_out_of_the_database(room_app, room_client, admin, livekit):
    """Room metadata is any text: LiveKit keeps a NUL, the stored copy (PostgreSQL text) drops it."""
    response = room_client.post("/v1/rooms", json={"name": "r", "metadata": "a\x00b"}, headers=admin)
    assert response.status_code == 201 and response.get_json()["metadata"] == "a\x00b"
    from core.db import db
    from plugins.room.models import Room

    with room_app.app_context(), db.connection_context():
        assert Room.get().metadata == "ab"
