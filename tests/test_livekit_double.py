"""Fidelity of the LiveKit double (tests/livekit_double.py): the OFFICIAL `livekit-api` client
(asyncio, binary protobuf, run with asyncio.run here) drives it through rooms, participants, mute,
ingress, egress and errors, and our client on the JSON wire reads the same state back and gets the
same messages and errors. Raw HTTP checks pin what LiveKit's server does on the wire (protojson
output, both casings in, Twirp errors, plain-text 401s), and signed webhooks are verified with the
official WebhookReceiver. No real LiveKit server can run here (see ../shared/reference/stack.md)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from livekit import api
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models
from livekit.protocol import room as room_pb

from plugins.room.livekit import LiveKitClient, LiveKitError

S3 = {
    "endpoint": "http://minio:9000",
    "bucket": "recordings",
    "access_key": "minio-access",
    "secret": "minio-secret-key",
    "region": "us-east-1",
    "force_path_style": True,
}


def official(livekit, work, secret: str | None = None, token: str | None = None):
    """Run `await work(lkapi)` with the official client, created and closed inside its own loop."""

    async def main():
        if token:
            lkapi = api.LiveKitAPI.with_token(token, livekit.url)
        else:
            lkapi = api.LiveKitAPI(livekit.url, livekit.api_key, secret or livekit.api_secret)
        try:
            return await work(lkapi)
        finally:
            await lkapi.aclose()

    return asyncio.run(main())


def official_error(livekit, work, **kw) -> api.ServerError:
    with pytest.raises(api.ServerError) as caught:
        official(livekit, work, **kw)
    return caught.value


def ours_error(call, *args) -> LiveKitError:
    with pytest.raises(LiveKitError) as caught:
        call(*args)
    return caught.value


@pytest.fixture
def ours(livekit) -> LiveKitClient:
    return LiveKitClient(livekit.ws_url, livekit.api_key, livekit.api_secret, wire="json")


def test_rooms_official_client_and_ours_agree(livekit, ours):
    created = official(
        livekit,
        lambda lk: lk.room.create_room(
            room_pb.CreateRoomRequest(name="standup", empty_timeout=60, max_participants=5, metadata="m")
        ),
    )
    assert created.sid.startswith("RM_") and (created.empty_timeout, created.max_participants) == (60, 5)
    listed = official(livekit, lambda lk: lk.room.list_rooms(room_pb.ListRoomsRequest(names=["standup"])))
    assert list(listed.rooms) == ours.list_rooms(["standup"]) == [created]

    mine = ours.create_room("retro", metadata="r")
    assert (
        official(livekit, lambda lk: lk.room.list_rooms(room_pb.ListRoomsRequest(names=["retro"]))).rooms[0]
        == mine
    )

    updated = official(
        livekit,
        lambda lk: lk.room.update_room_metadata(
            room_pb.UpdateRoomMetadataRequest(room="standup", metadata="x")
        ),
    )
    assert updated == ours.list_rooms(["standup"])[0] and updated.metadata == "x"

    official(livekit, lambda lk: lk.room.delete_room(room_pb.DeleteRoomRequest(room="standup")))
    assert [r.name for r in ours.list_rooms()] == ["retro"]
    theirs = official_error(
        livekit, lambda lk: lk.room.delete_room(room_pb.DeleteRoomRequest(room="standup"))
    )
    mine_err = ours_error(ours.delete_room, "standup")
    assert (theirs.code, theirs.status, theirs.message) == (mine_err.code, mine_err.http_status, mine_err.msg)
    assert (theirs.code, theirs.status, theirs.message) == ("not_found", 404, "requested room does not exist")
    # The official client sent binary protobuf, ours protojson: the double served both.
    assert {c["content_type"] for c in livekit.calls} == {"application/protobuf", "application/json"}


def test_participants_and_mute_official_client_and_ours_agree(livekit, ours):
    livekit.join("standup", "alice", name="Alice", tracks=["audio", "video"])
    livekit.join("standup", "bob", name="Bob", tracks=["audio"])

    theirs = official(
        livekit, lambda lk: lk.room.list_participants(room_pb.ListParticipantsRequest(room="standup"))
    )
    assert sorted(theirs.participants, key=lambda p: p.identity) == sorted(
        ours.list_participants("standup"), key=lambda p: p.identity
    )
    alice = official(
        livekit,
        lambda lk: lk.room.get_participant(room_pb.RoomParticipantIdentity(room="standup", identity="alice")),
    )
    assert alice == ours.get_participant("standup", "alice") and alice.name == "Alice"

    audio, video = (t.sid for t in alice.tracks)
    muted = official(
        livekit,
        lambda lk: lk.room.mute_published_track(
            room_pb.MuteRoomTrackRequest(room="standup", identity="alice", track_sid=audio, muted=True)
        ),
    )
    assert muted.track.muted and muted.track.sid == audio
    assert ours.mute_published_track("standup", "alice", video).muted
    assert [t.muted for t in ours.get_participant("standup", "alice").tracks] == [True, True]

    theirs = official_error(
        livekit,
        lambda lk: lk.room.mute_published_track(
            room_pb.MuteRoomTrackRequest(room="standup", identity="alice", track_sid="TR_x", muted=True)
        ),
    )
    mine = ours_error(ours.mute_published_track, "standup", "alice", "TR_x")
    assert (
        (theirs.code, theirs.status, theirs.message)
        == (mine.code, mine.http_status, mine.msg)
        == (
            "not_found",
            404,
            "track is not found",
        )
    )

    official(
        livekit,
        lambda lk: lk.room.remove_participant(
            room_pb.RoomParticipantIdentity(room="standup", identity="bob")
        ),
    )
    assert [p.identity for p in ours.list_participants("standup")] == ["alice"]
    theirs = official_error(
        livekit,
        lambda lk: lk.room.remove_participant(
            room_pb.RoomParticipantIdentity(room="standup", identity="bob")
        ),
    )
    mine = ours_error(ours.remove_participant, "standup", "bob")
    assert (theirs.code, theirs.message) == (mine.code, mine.msg) == ("not_found", "participant not found")


def test_ingress_official_client_and_ours_agree(livekit, ours):
    created = official(
        livekit,
        lambda lk: lk.ingress.create_ingress(
            ingress_pb.CreateIngressRequest(
                input_type=ingress_pb.RTMP_INPUT,
                name="stage",
                room_name="standup",
                participant_identity="obs",
                participant_name="OBS",
            )
        ),
    )
    assert created.url == livekit.rtmp_base_url and len(created.stream_key) == 12
    assert ours.list_ingress(ingress_id=created.ingress_id) == [created]
    whip = ours.create_ingress("whip", "standup", "web", "Web")
    listed = official(
        livekit, lambda lk: lk.ingress.list_ingress(ingress_pb.ListIngressRequest(room_name="standup"))
    )
    assert {i.ingress_id: i for i in listed.items} == {
        i.ingress_id: i for i in ours.list_ingress(room_name="standup")
    }
    assert listed.items[1] == whip

    deleted = official(
        livekit,
        lambda lk: lk.ingress.delete_ingress(ingress_pb.DeleteIngressRequest(ingress_id=created.ingress_id)),
    )
    assert deleted.ingress_id == created.ingress_id
    theirs = official_error(
        livekit,
        lambda lk: lk.ingress.delete_ingress(ingress_pb.DeleteIngressRequest(ingress_id=created.ingress_id)),
    )
    mine = ours_error(ours.delete_ingress, created.ingress_id)
    assert (theirs.code, theirs.message) == (mine.code, mine.msg) == ("not_found", "ingress does not exist")


def test_egress_official_client_and_ours_agree(livekit, ours):
    ours.create_room("standup")
    request = egress_pb.RoomCompositeEgressRequest(
        room_name="standup",
        layout="grid",
        file_outputs=[
            egress_pb.EncodedFileOutput(
                file_type=egress_pb.MP4, filepath="standup/{time}.mp4", s3=egress_pb.S3Upload(**S3)
            )
        ],
    )
    started = official(livekit, lambda lk: lk.egress.start_room_composite_egress(request))
    assert started.status == egress_pb.EGRESS_STARTING
    assert ours.list_egress(egress_id=started.egress_id) == [started]
    livekit.activate_egress(started.egress_id)
    active = official(
        livekit,
        lambda lk: lk.egress.list_egress(egress_pb.ListEgressRequest(room_name="standup", active=True)),
    )
    assert list(active.items) == ours.list_egress(room_name="standup", active=True)
    assert active.items[0].status == egress_pb.EGRESS_ACTIVE

    stopped = ours.stop_egress(started.egress_id)
    assert stopped.status == egress_pb.EGRESS_ENDING
    livekit.finish_egress(started.egress_id, size=10, duration=2)
    theirs = official_error(
        livekit, lambda lk: lk.egress.stop_egress(egress_pb.StopEgressRequest(egress_id=started.egress_id))
    )
    mine = ours_error(ours.stop_egress, started.egress_id)
    assert (
        (theirs.code, theirs.status, theirs.message)
        == (mine.code, mine.http_status, mine.msg)
        == (
            "failed_precondition",
            412,
            "egress with status EGRESS_COMPLETE cannot be stopped",
        )
    )
    mine_started = ours.start_room_composite_egress("standup", S3, "b.mp4", audio_only=True)
    listed = official(
        livekit,
        lambda lk: lk.egress.list_egress(egress_pb.ListEgressRequest(egress_id=mine_started.egress_id)),
    )
    assert list(listed.items) == [mine_started]
    theirs = official_error(
        livekit, lambda lk: lk.egress.list_egress(egress_pb.ListEgressRequest(egress_id="EG_x"))
    )
    mine = ours_error(ours.list_egress, None, "EG_x")
    assert (theirs.code, theirs.message) == (mine.code, mine.msg) == ("not_found", "egress does not exist")


def test_auth_failures_as_the_official_client_sees_them(livekit, ours):
    # A bad secret: LiveKit's middleware answers plain text; the official client reports "unknown" 401.
    theirs = official_error(
        livekit, lambda lk: lk.room.list_rooms(room_pb.ListRoomsRequest()), secret="x" * 48
    )
    assert (theirs.code, theirs.status) == ("unknown", 401)
    mine = ours_error(LiveKitClient(livekit.url, livekit.api_key, "x" * 48).list_rooms)
    assert (mine.code, mine.http_status) == ("unauthenticated", 401)

    # A valid token without the grant: Twirp unauthenticated "permissions denied", 401.
    token = (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_grants(api.VideoGrants(room_list=True))
        .to_jwt()
    )
    theirs = official_error(
        livekit, lambda lk: lk.room.create_room(room_pb.CreateRoomRequest(name="x")), token=token
    )
    assert (theirs.code, theirs.status, theirs.message) == ("unauthenticated", 401, "permissions denied")
    assert (
        official(livekit, lambda lk: lk.room.list_rooms(room_pb.ListRoomsRequest()), token=token).rooms == []
    )

    expired = (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_grants(api.VideoGrants(room_list=True))
        .with_ttl(__import__("datetime").timedelta(seconds=-120))
        .to_jwt()
    )
    theirs = official_error(livekit, lambda lk: lk.room.list_rooms(room_pb.ListRoomsRequest()), token=expired)
    assert theirs.status == 401


# The wire, byte for byte ---------------------------------------------------------------------


def post(livekit, path, body=b"{}", content_type="application/json", grants=None, **kw):
    token = api.AccessToken(livekit.api_key, livekit.api_secret).with_grants(
        api.VideoGrants(**(grants or {"room_create": True, "room_list": True}))
    )
    headers = {
        "Authorization": f"Bearer {token.to_jwt()}",
        "Content-Type": content_type,
        **kw.pop("headers", {}),
    }
    return requests.post(f"{livekit.url}{path}", data=body, headers=headers, timeout=5, **kw)


def test_json_answers_are_snake_case_with_every_field_enum_names_and_int64_strings(livekit):
    answer = post(livekit, "/twirp/livekit.RoomService/CreateRoom", b'{"name":"standup","maxParticipants":3}')
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    room = answer.json()
    assert room["name"] == "standup" and room["max_participants"] == 3  # camelCase in, snake_case out
    assert isinstance(room["creation_time"], str) and isinstance(room["creation_time_ms"], str)
    assert room["metadata"] == "" and room["num_participants"] == 0 and room["active_recording"] is False
    assert room["version"] is None  # unset sub-message: null, as Go's protojson writes it
    assert room["enabled_codecs"][0] == {"mime": "audio/opus", "fmtp_line": ""}
    livekit.join("standup", "alice", tracks=["audio"])
    people = post(
        livekit,
        "/twirp/livekit.RoomService/ListParticipants",
        b'{"room":"standup"}',
        grants={"room_admin": True, "room": "standup"},
    ).json()["participants"]
    assert people[0]["state"] == "ACTIVE" and people[0]["kind"] == "STANDARD"
    assert people[0]["tracks"][0]["type"] == "AUDIO" and people[0]["tracks"][0]["source"] == "MICROPHONE"
    assert isinstance(people[0]["joined_at"], str) and people[0]["tracks"][0]["version"] is None
    assert (
        post(livekit, "/twirp/livekit.RoomService/ListRooms", b'{"names":["standup"]}').json()["rooms"][0][
            "num_participants"
        ]
        == 1
    )


def test_protobuf_in_protobuf_out_and_content_type_parameters_ignored(livekit):
    body = room_pb.CreateRoomRequest(name="standup").SerializeToString()
    answer = post(livekit, "/twirp/livekit.RoomService/CreateRoom", body, "application/protobuf")
    assert answer.headers["Content-Type"] == "application/protobuf"
    assert models.Room.FromString(answer.content).name == "standup"
    answer = post(livekit, "/twirp/livekit.RoomService/ListRooms", b"{}", "application/json;charset=UTF-8")
    assert [r["name"] for r in answer.json()["rooms"]] == ["standup"]


@pytest.mark.parametrize(
    ("method", "path", "content_type", "body", "status", "code", "msg"),
    [
        ("GET", "/twirp/livekit.RoomService/ListRooms", "application/json", b"", 404, "bad_route",
         'unsupported method "GET" (only POST is allowed)'),
        ("POST", "/twirp/livekit.RoomService/Nope", "application/json", b"{}", 404, "bad_route",
         'no handler for path "/twirp/livekit.RoomService/Nope"'),
        ("POST", "/twirp/livekit.RoomService/ListRooms", "text/plain", b"{}", 404, "bad_route",
         'unexpected Content-Type: "text/plain"'),
        ("POST", "/twirp/livekit.RoomService/ListRooms", "application/json", b"{nope", 400, "malformed",
         "the json request could not be decoded"),
        ("POST", "/twirp/livekit.RoomService/ListRooms", "application/protobuf", b"\xff\xff", 400,
         "malformed", "the protobuf request could not be decoded"),
    ],
)  # fmt: skip
def test_twirp_errors(livekit, method, path, content_type, body, status, code, msg):
    answer = requests.request(
        method, f"{livekit.url}{path}", data=body, headers={"Content-Type": content_type}, timeout=5
    )
    assert answer.status_code == status and answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"code": code, "msg": msg}


def test_auth_middleware_answers_in_plain_text(livekit):
    path = f"{livekit.url}/twirp/livekit.RoomService/ListRooms"
    no_bearer = requests.post(
        path, data=b"{}", headers={"Content-Type": "application/json", "Authorization": "x"}
    )
    assert no_bearer.status_code == 401 and no_bearer.headers["Content-Type"].startswith("text/plain")
    no_token = requests.post(path, data=b"{}", headers={"Content-Type": "application/json"})
    assert (no_token.status_code, no_token.json()) == (
        401,
        {"code": "unauthenticated", "msg": "permissions denied"},
    )
    other_key = (
        api.AccessToken("other", livekit.api_secret).with_grants(api.VideoGrants(room_list=True)).to_jwt()
    )
    answer = requests.post(
        path, data=b"{}", headers={"Content-Type": "application/json", "Authorization": f"Bearer {other_key}"}
    )
    assert answer.status_code == 401 and answer.text.strip() == "invalid API key: other"
    token = (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_grants(api.VideoGrants(room_list=True))
        .to_jwt()
    )
    by_query = requests.post(
        f"{path}?access_token={token}", data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert by_query.status_code == 200 and by_query.json() == {"rooms": []}


# Faults --------------------------------------------------------------------------------------


def test_down_refuses_connections_and_up_listens_again_on_the_same_port(livekit, ours):
    port = livekit.port
    ours.create_room("standup")
    livekit.down()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{livekit.url}/twirp/livekit.RoomService/ListRooms", timeout=2)
    livekit.up()
    assert livekit.port == port and [r.name for r in ours.list_rooms()] == ["standup"]


def test_restart_forgets_rooms_and_participants_but_not_ingress(livekit, ours):
    livekit.join("standup", "alice")
    ingress = ours.create_ingress("rtmp", "standup", "obs", "OBS")
    events = len(livekit.events)
    livekit.restart()
    assert ours.list_rooms() == [] and ours.list_participants("standup") == []
    assert [i.ingress_id for i in ours.list_ingress()] == [ingress.ingress_id]
    assert len(livekit.events) == events  # a crash sends no room_finished


def test_tokens_outside_their_validity_are_refused(livekit):
    import jwt

    now = int(time.time())
    path = f"{livekit.url}/twirp/livekit.RoomService/ListRooms"
    for claims in ({"nbf": now + 300, "exp": now + 600}, {"nbf": now - 600, "exp": now - 300}, {"nbf": now}):
        token = jwt.encode(
            {"iss": livekit.api_key, "sub": "", "video": {"roomList": True}, **claims},
            livekit.api_secret,
            "HS256",
        )
        answer = requests.post(
            path, data=b"{}", headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401 and answer.text.startswith("invalid token: "), claims
    # Within LiveKit's one-minute leeway a token is still good.
    token = jwt.encode(
        {"iss": livekit.api_key, "video": {"roomList": True}, "nbf": now + 30, "exp": now - 30 + 90},
        livekit.api_secret,
        "HS256",
    )
    answer = requests.post(
        path, data=b"{}", headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200


def test_delay_and_garbage(livekit, ours):
    livekit.delay(0.3)
    started = time.monotonic()
    ours.list_rooms()
    assert time.monotonic() - started >= 0.3
    livekit.normal()
    livekit.answer_garbage()
    answer = requests.post(f"{livekit.url}/twirp/livekit.RoomService/ListRooms", timeout=2)
    assert answer.status_code == 502 and answer.headers["Content-Type"] == "text/html"


# Webhooks ------------------------------------------------------------------------------------


class Receiver:
    """An HTTP endpoint on loopback that keeps what it receives."""

    def __init__(self):
        self.received: list[tuple[bytes, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/livekit/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_are_signed_like_livekit_and_verify_with_the_official_receiver(livekit, ours):
    receiver = Receiver()
    livekit.webhook_url = receiver.url
    try:
        ours.create_room("standup")
        livekit.join("standup", "alice", name="Alice", tracks=["audio"])
        ingress = ours.create_ingress("rtmp", "standup", "obs", "OBS")
        livekit.start_ingress(ingress.ingress_id)
        livekit.stop_ingress(ingress.ingress_id)
        egress = ours.start_room_composite_egress("standup", S3, "standup/{room_name}-{time}.mp4")
        livekit.activate_egress(egress.egress_id)
        livekit.finish_egress(egress.egress_id, size=4096, duration=12.5)
        livekit.leave("standup", "alice")
        ours.delete_room("standup")
        livekit.wait_webhooks()
    finally:
        receiver.close()

    verifier = api.WebhookReceiver(api.TokenVerifier(livekit.api_key, livekit.api_secret))
    events = []
    for body, headers in receiver.received:
        assert headers["Content-Type"] == "application/webhook+json" and headers["User-Agent"] == "LiveKit"
        assert not headers["Authorization"].startswith("Bearer")
        events.append(verifier.receive(body.decode(), headers["Authorization"]))
        assert json.loads(body)["id"].startswith("EV_") and "createdAt" in json.loads(body)  # camelCase
    names = [e.event for e in events]
    assert names == [
        "room_started",
        "participant_joined",
        "track_published",
        "ingress_started",
        "participant_joined",
        "track_published",
        "track_published",
        "participant_left",
        "ingress_ended",
        "egress_started",
        "egress_updated",
        "egress_ended",
        "participant_left",
        "room_finished",
    ]
    assert events == livekit.events and all(d["status"] == 200 for d in livekit.deliveries)
    assert len({e.id for e in events}) == len(events)
    joined = events[1]
    assert (joined.room.name, joined.participant.identity, joined.participant.name) == (
        "standup",
        "alice",
        "Alice",
    )
    assert events[2].track.type == models.AUDIO and events[2].participant.identity == "alice"
    assert events[3].ingress_info.state.status == ingress_pb.IngressState.ENDPOINT_PUBLISHING
    ended = events[11].egress_info
    assert ended.status == egress_pb.EGRESS_COMPLETE and ended.file_results[0].size == 4096
    assert ended.file_results[0].duration == 12_500_000_000 and ended.file_results[0].filename.startswith(
        "standup/standup-"
    )
    assert ended.file_results[0].location == f"http://minio:9000/recordings/{ended.file_results[0].filename}"
    assert events[-1].room.name == "standup"


def test_sign_webhook_matches_what_the_receiver_expects(livekit):
    body = b'{"event":"room_started","id":"EV_abc","createdAt":"1","room":{"name":"r"}}'
    event = api.WebhookReceiver(api.TokenVerifier(livekit.api_key, livekit.api_secret)).receive(
        body.decode(), livekit.sign_webhook(body)
    )
    assert event.room.name == "r"
    with pytest.raises(Exception, match="hash mismatch"):
        api.WebhookReceiver(api.TokenVerifier(livekit.api_key, livekit.api_secret)).receive(
            body.decode() + " ", livekit.sign_webhook(body)
        )


def test_events_are_kept_without_a_webhook_url_and_a_dead_receiver_is_recorded(livekit, ours):
    ours.create_room("a")
    assert [e.event for e in livekit.events] == ["room_started"] and livekit.deliveries == []
    body, headers = livekit.signed(livekit.events[0])
    assert (
        api.WebhookReceiver(api.TokenVerifier(livekit.api_key, livekit.api_secret)).receive(
            body.decode(), headers["Authorization"]
        )
        == livekit.events[0]
    )
    livekit.webhook_url = "http://127.0.0.1:9/hook"
    ours.delete_room("a")
    livekit.wait_webhooks()
    assert livekit.deliveries[0]["event"] == "room_finished" and "refused" in livekit.deliveries[0]["error"]
