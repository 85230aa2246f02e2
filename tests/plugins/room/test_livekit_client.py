"""plugins/room/livekit.py against the LiveKit double (tests/livekit_double.py): every method on both
wires (binary protobuf as the official SDKs send, and protojson), the grants each call carries, and
how every kind of failure reaches the caller (a LiveKitError with the Twirp code, never a requests
exception). No LiveKit server runs here; the double speaks LiveKit's Twirp wire format, and
tests/test_livekit_double.py checks it against the official client."""

from __future__ import annotations

import time

import pytest
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models

from plugins.room.livekit import (
    LiveKitClient,
    LiveKitError,
    LiveKitNotConfigured,
    LiveKitUnavailable,
    client_from_settings,
    http_url,
    to_json,
)

S3 = {
    "endpoint": "http://minio:9000",
    "bucket": "recordings",
    "access_key": "minio-access",
    "secret": "minio-secret-key",
    "region": "us-east-1",
    "force_path_style": True,
}


@pytest.fixture(params=["protobuf", "json"])
def lk(request, livekit) -> LiveKitClient:
    client = LiveKitClient(
        livekit.ws_url, livekit.api_key, livekit.api_secret, timeout=2.0, wire=request.param
    )
    yield client
    client.close()


def expect(code: str, status: int | None, call, *args, **kwargs) -> LiveKitError:
    with pytest.raises(LiveKitError) as caught:
        call(*args, **kwargs)
    assert (caught.value.code, caught.value.http_status) == (code, status), caught.value
    return caught.value


# Configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://lk.local:7880", "http://lk.local:7880"),
        ("wss://lk.example.com", "https://lk.example.com"),
        ("WSS://lk.example.com/", "https://lk.example.com"),
        ("https://proxy.example.com/livekit/", "https://proxy.example.com/livekit"),
        ("http://[::1]:7880", "http://[::1]:7880"),
        ("wss://user:pw@lk.example.com:443", "https://lk.example.com:443"),
    ],
)
def test_operator_urls_become_twirp_base_urls(url, expected):
    assert http_url(url) == expected


@pytest.mark.parametrize("url", ["", "lk.example.com", "ftp://lk.example.com", "ws://", "https:///x"])
def test_a_url_that_is_no_livekit_url_is_not_configured(url):
    with pytest.raises(LiveKitNotConfigured) as caught:
        LiveKitClient(url, "key", "s" * 40)
    assert caught.value.code == "unavailable" and "URL" in caught.value.msg


def test_missing_key_or_secret_is_not_configured_and_the_message_has_no_secret():
    with pytest.raises(LiveKitNotConfigured):
        LiveKitClient("wss://lk.example.com", "", "s" * 40)
    with pytest.raises(LiveKitNotConfigured) as caught:
        LiveKitClient("wss://user:pw@lk.example.com", "key", "")
    assert "pw" not in str(caught.value) and "wss://lk.example.com" in str(caught.value)


def test_client_from_settings_reads_the_room_plugin_keys(livekit):
    client = client_from_settings(livekit.settings(timeout=1.5))
    assert (client.base_url, client.api_key, client.timeout) == (livekit.url, livekit.api_key, 1.5)
    assert client.list_rooms() == []
    with pytest.raises(LiveKitNotConfigured) as caught:
        client_from_settings({"livekit_url": "", "livekit_api_key": "k", "livekit_api_secret": "s"})
    assert "plugins.room.livekit_url" in caught.value.msg


# RoomService ---------------------------------------------------------------------------------


def test_rooms_create_list_update_delete(lk, livekit):
    room = lk.create_room("standup", empty_timeout=120, max_participants=8, metadata='{"topic":"x"}')
    assert isinstance(room, models.Room)
    assert room.sid.startswith("RM_") and (room.name, room.empty_timeout, room.max_participants) == (
        "standup",
        120,
        8,
    )
    assert room.metadata == '{"topic":"x"}' and room.creation_time > 0
    lk.create_room("retro")

    # CreateRoom is create-or-update in LiveKit: same sid, new limit, earlier fields kept.
    again = lk.create_room("standup", max_participants=4)
    assert (again.sid, again.max_participants, again.empty_timeout) == (room.sid, 4, 120)

    assert sorted(r.name for r in lk.list_rooms()) == ["retro", "standup"]
    assert [r.name for r in lk.list_rooms(["standup", "nope"])] == ["standup"]

    updated = lk.update_room_metadata("standup", "new")
    assert (updated.sid, updated.metadata) == (room.sid, "new")
    assert livekit.rooms["standup"].metadata == "new"

    assert lk.delete_room("standup") is None
    assert [r.name for r in lk.list_rooms()] == ["retro"]
    err = expect("not_found", 404, lk.delete_room, "standup")
    assert err.msg == "requested room does not exist"
    expect("not_found", 404, lk.update_room_metadata, "standup", "x")


def test_room_errors_from_livekit_keep_code_and_message(lk):
    err = expect("invalid_argument", 400, lk.create_room, "big", metadata="x" * 70000)
    assert err.msg == "metadata size exceeds limits 64000"
    assert err.meta == {"argument": "metadata size exceeds limits"}
    assert str(err) == "invalid_argument: metadata size exceeds limits 64000"


def test_participants_list_get_mute_remove(lk, livekit):
    lk.create_room("standup")
    livekit.join("standup", "alice", name="Alice", tracks=["audio", "video"], metadata='{"role":"host"}')
    livekit.join("standup", "bob", name="Bob")

    people = lk.list_participants("standup")
    assert sorted(p.identity for p in people) == ["alice", "bob"]
    alice = lk.get_participant("standup", "alice")
    assert isinstance(alice, models.ParticipantInfo)
    assert (alice.name, alice.metadata, alice.state) == (
        "Alice",
        '{"role":"host"}',
        models.ParticipantInfo.ACTIVE,
    )
    audio = next(t for t in alice.tracks if t.type == models.AUDIO)

    muted = lk.mute_published_track("standup", "alice", audio.sid)
    assert isinstance(muted, models.TrackInfo) and (muted.sid, muted.muted) == (audio.sid, True)
    assert next(t for t in livekit.participants["standup"]["alice"].tracks if t.sid == audio.sid).muted
    err = expect(
        "failed_precondition", 412, lk.mute_published_track, "standup", "alice", audio.sid, muted=False
    )
    assert err.msg == "remote unmute not enabled"
    assert (
        expect("not_found", 404, lk.mute_published_track, "standup", "alice", "TR_nope").msg
        == "track is not found"
    )

    assert lk.remove_participant("standup", "bob") is None
    assert [p.identity for p in lk.list_participants("standup")] == ["alice"]
    assert expect("not_found", 404, lk.remove_participant, "standup", "bob").msg == "participant not found"
    expect("not_found", 404, lk.get_participant, "standup", "bob")
    # As LiveKit: listing the participants of a room it does not know is an empty list.
    assert lk.list_participants("nowhere") == []


def test_remote_unmute_where_the_server_allows_it(lk, livekit):
    livekit.remote_unmute = True
    audio = livekit.join("standup", "alice", tracks=["audio"]).tracks[0]
    assert lk.mute_published_track("standup", "alice", audio.sid).muted is True
    assert lk.mute_published_track("standup", "alice", audio.sid, muted=False).muted is False


def test_each_call_carries_only_the_grant_it_needs(livekit):
    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret)
    lk.create_room("standup")
    lk.list_rooms()
    lk.list_participants("standup")
    lk.update_room_metadata("standup", "m")
    lk.list_ingress()
    lk.list_egress()
    lk.delete_room("standup")
    grants = {
        c["method"]: {k for k, v in c["video"].items() if v and not k.startswith("can")}
        for c in livekit.calls
    }
    assert grants == {
        "CreateRoom": {"roomCreate"},
        "ListRooms": {"roomList"},
        "ListParticipants": {"roomAdmin", "room"},
        "UpdateRoomMetadata": {"roomAdmin", "room"},
        "ListIngress": {"ingressAdmin"},
        "ListEgress": {"roomRecord"},
        "DeleteRoom": {"roomCreate"},
    }
    assert all(c["video"].get("room") == "standup" for c in livekit.calls if "roomAdmin" in c["video"])
    assert {c["content_type"] for c in livekit.calls} == {"application/protobuf"}


def test_server_tokens_are_short_lived(livekit):
    import jwt

    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret)
    claims = jwt.decode(lk.token(room_list=True), livekit.api_secret, algorithms=["HS256"])
    assert claims["iss"] == livekit.api_key and 0 < claims["exp"] - time.time() <= 120
    assert claims["video"]["roomList"] is True and "roomAdmin" not in claims["video"]


# Ingress -------------------------------------------------------------------------------------


def test_ingress_create_list_delete(lk, livekit):
    rtmp = lk.create_ingress("rtmp", "standup", "obs", "OBS Studio", name="stage")
    assert isinstance(rtmp, ingress_pb.IngressInfo)
    assert rtmp.ingress_id.startswith("IN_") and rtmp.input_type == ingress_pb.RTMP_INPUT
    assert (rtmp.url, rtmp.room_name, rtmp.participant_identity, rtmp.participant_name, rtmp.name) == (
        livekit.rtmp_base_url,
        "standup",
        "obs",
        "OBS Studio",
        "stage",
    )
    assert len(rtmp.stream_key) == 12 and rtmp.reusable
    assert (rtmp.enable_transcoding, rtmp.bypass_transcoding) == (True, False)
    whip = lk.create_ingress("whip", "standup", "browser", "Browser")
    assert (whip.input_type, whip.url) == (ingress_pb.WHIP_INPUT, livekit.whip_base_url)
    assert (whip.enable_transcoding, whip.bypass_transcoding) == (False, True)
    lk.create_ingress("rtmp", "other", "cam", "Cam")

    assert {i.ingress_id for i in lk.list_ingress(room_name="standup")} == {rtmp.ingress_id, whip.ingress_id}
    assert [i.ingress_id for i in lk.list_ingress(ingress_id=whip.ingress_id)] == [whip.ingress_id]
    assert [i.ingress_id for i in lk.list_ingress(room_name="other", ingress_id=whip.ingress_id)] == [
        whip.ingress_id
    ]
    assert expect("not_found", 404, lk.list_ingress, ingress_id="IN_nope").msg == "ingress does not exist"
    assert len(lk.list_ingress()) == 3

    livekit.start_ingress(rtmp.ingress_id)
    publishing = lk.list_ingress(ingress_id=rtmp.ingress_id)[0]
    assert publishing.state.status == ingress_pb.IngressState.ENDPOINT_PUBLISHING
    assert "obs" in {p.identity for p in lk.list_participants("standup")}

    deleted = lk.delete_ingress(rtmp.ingress_id)
    assert deleted.ingress_id == rtmp.ingress_id
    assert {i.ingress_id for i in lk.list_ingress(room_name="standup")} == {whip.ingress_id}
    assert expect("not_found", 404, lk.delete_ingress, rtmp.ingress_id).msg == "ingress does not exist"


def test_ingress_input_type_is_checked_before_calling(lk, livekit):
    with pytest.raises(ValueError, match="rtmp"):
        lk.create_ingress("srt", "standup", "x", "X")
    assert livekit.calls == []


def test_ingress_needs_an_identity_but_not_a_room(lk, livekit):
    err = expect("invalid_argument", 400, lk.create_ingress, "rtmp", "standup", "", "OBS")
    assert err.msg == "invalid ingress: no participant identity"
    assert lk.create_ingress("rtmp", "", "obs", "OBS").room_name == ""


def test_ingress_without_livekit_ingress_service(lk, livekit):
    livekit.ingress_enabled = False
    assert expect("internal", 500, lk.create_ingress, "rtmp", "standup", "obs", "OBS").msg.startswith(
        "ingress"
    )


# Egress --------------------------------------------------------------------------------------


def test_egress_start_list_stop_and_finish(lk, livekit):
    lk.create_room("standup")
    info = lk.start_room_composite_egress("standup", S3, "standup/{time}.mp4", layout="grid")
    assert isinstance(info, egress_pb.EgressInfo)
    assert info.egress_id.startswith("EG_") and info.status == egress_pb.EGRESS_STARTING
    assert (info.room_name, info.room_composite.layout) == ("standup", "grid")
    sent = livekit.egress_request(info.egress_id).file_outputs[0]
    assert (sent.file_type, sent.filepath) == (egress_pb.MP4, "standup/{time}.mp4")
    assert (sent.s3.endpoint, sent.s3.bucket, sent.s3.access_key, sent.s3.secret) == (
        "http://minio:9000",
        "recordings",
        "minio-access",
        "minio-secret-key",
    )
    assert sent.s3.force_path_style and sent.s3.region == "us-east-1"

    assert [e.egress_id for e in lk.list_egress(room_name="standup", active=True)] == [info.egress_id]
    livekit.activate_egress(info.egress_id)
    assert lk.list_egress(egress_id=info.egress_id)[0].status == egress_pb.EGRESS_ACTIVE

    stopped = lk.stop_egress(info.egress_id)
    assert stopped.status == egress_pb.EGRESS_ENDING
    # LiveKit counts an ending egress as active (status < EGRESS_COMPLETE), and refuses to stop it.
    assert [e.status for e in lk.list_egress(room_name="standup", active=True)] == [egress_pb.EGRESS_ENDING]
    err = expect("failed_precondition", 412, lk.stop_egress, info.egress_id)
    assert err.msg == "egress with status EGRESS_ENDING cannot be stopped"
    livekit.finish_egress(info.egress_id, size=2048, duration=30)
    done = lk.list_egress(room_name="standup")[0]
    assert done.status == egress_pb.EGRESS_COMPLETE and done.file_results[0].size == 2048
    assert done.file_results[0].duration == 30_000_000_000
    assert done.file_results[0].location.startswith("http://minio:9000/recordings/standup/")
    assert lk.list_egress(room_name="standup", active=True) == []
    err = expect("failed_precondition", 412, lk.stop_egress, info.egress_id)
    assert err.msg == "egress with status EGRESS_COMPLETE cannot be stopped"
    assert expect("not_found", 404, lk.stop_egress, "EG_nope").msg == "egress does not exist"
    # An id wins over the other filters; an unknown one is not_found, as in livekit-server.
    assert [e.egress_id for e in lk.list_egress(room_name="other", egress_id=info.egress_id)] == [
        info.egress_id
    ]
    assert expect("not_found", 404, lk.list_egress, egress_id="EG_nope").msg == "egress does not exist"


def test_egress_audio_only_and_errors(lk, livekit):
    expect("not_found", 404, lk.start_room_composite_egress, "nowhere", S3, "x.mp4")
    lk.create_room("standup")
    info = lk.start_room_composite_egress("standup", S3, "a.mp4", audio_only=True)
    assert info.room_composite.audio_only is True
    with pytest.raises(ValueError, match="bucket_name"):
        lk.start_room_composite_egress("standup", {**S3, "bucket_name": "x"}, "a.mp4")


# Failures ------------------------------------------------------------------------------------


def test_a_wrong_secret_is_unauthenticated_and_never_echoed(livekit):
    wrong = "w" * 48
    lk = LiveKitClient(livekit.url, livekit.api_key, wrong)
    err = expect("unauthenticated", 401, lk.list_rooms)
    # LiveKit's plain-text answer repeats the refused token; it must not reach our messages or logs.
    assert wrong not in str(err) and "eyJ" not in str(err) and livekit.api_key in err.msg


def test_an_unknown_key_is_unauthenticated(livekit):
    err = expect("unauthenticated", 401, LiveKitClient(livekit.url, "other", livekit.api_secret).list_rooms)
    assert "other" in err.msg


@pytest.mark.parametrize("wire", ["protobuf", "json"])
def test_a_token_without_the_grant_is_permission_denied(livekit, wire):
    from livekit.protocol import room as room_pb

    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret, wire=wire)
    err = expect(
        "unauthenticated",
        401,
        lk._call,
        "RoomService",
        "ListRooms",
        room_pb.ListRoomsRequest(),
        room_pb.ListRoomsResponse,
        room_create=True,
    )
    assert err.msg == "permissions denied"
    # roomAdmin for another room is no grant for this one.
    err = expect(
        "unauthenticated",
        401,
        lk._call,
        "RoomService",
        "ListParticipants",
        room_pb.ListParticipantsRequest(room="a"),
        room_pb.ListParticipantsResponse,
        room="b",
    )
    assert err.msg == "permissions denied"


def test_server_down_is_unavailable_naming_the_cause_and_the_url_then_recovers(lk, livekit):
    lk.create_room("standup")  # a pooled keep-alive connection now exists
    livekit.down()
    for call in (lk.list_rooms, lambda: lk.create_room("x")):
        with pytest.raises(LiveKitUnavailable) as caught:
            call()
        err = caught.value
        assert err.code == "unavailable" and err.http_status is None
        assert livekit.url in err.msg and ("refused" in err.msg or "closed" in err.msg), err.msg
        assert livekit.api_secret not in err.msg
    livekit.up()
    assert [r.name for r in lk.list_rooms()] == ["standup"]


def test_a_read_after_livekit_restarted_reuses_nothing_stale(livekit):
    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret)
    lk.create_room("standup")
    livekit.down()
    livekit.up()
    assert [r.name for r in lk.list_rooms()] == ["standup"]
    assert lk.create_room("again").name == "again"


def test_a_slow_server_times_out_as_unavailable(livekit):
    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret, timeout=0.3)
    livekit.delay(1.5)
    started = time.monotonic()
    with pytest.raises(LiveKitUnavailable) as caught:
        lk.list_rooms()
    assert time.monotonic() - started < 1.2
    assert "did not answer within 0.3 s" in caught.value.msg and livekit.url in caught.value.msg
    livekit.normal()
    assert lk.list_rooms() == []


def test_unresolvable_host_and_tls_to_a_plain_port(livekit):
    err = expect("unavailable", None, LiveKitClient("wss://lk.invalid", "k", "s" * 40, timeout=2).list_rooms)
    assert "cannot resolve the host name" in err.msg and "https://lk.invalid" in err.msg
    tls = LiveKitClient(f"wss://127.0.0.1:{livekit.port}", livekit.api_key, livekit.api_secret, timeout=2)
    err = expect("unavailable", None, tls.list_rooms)
    assert "TLS" in err.msg and f"https://127.0.0.1:{livekit.port}" in err.msg


@pytest.mark.parametrize(
    ("status", "content_type", "body", "says"),
    [
        (
            502,
            "text/html",
            b"<html><h1>502 Bad Gateway</h1></html>",
            "HTTP 502 (text/html), not a Twirp answer",
        ),
        (404, "text/plain", b"404 page not found", "HTTP 404 (text/plain), not a Twirp answer"),
        (500, "application/json", b'{"error": "boom"}', "HTTP 500 (application/json), not a Twirp answer"),
        (200, "text/html", b"<html>welcome to nginx</html>", "answered 200 with text/html"),
        (200, "application/protobuf", b"\xff\xff\xff\xff garbage", "not a livekit.ListRoomsResponse"),
        (200, "application/json", b"<html>", "answered 200 with application/json"),
    ],
)
def test_an_answer_that_is_not_twirp_is_unavailable(livekit, status, content_type, body, says):
    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret)
    livekit.answer_garbage(status, body, content_type)
    with pytest.raises(LiveKitUnavailable) as caught:
        lk.list_rooms()
    assert caught.value.http_status == status
    if status == 200 and content_type == "application/json":
        return  # protobuf client: the wrong content type is enough
    assert says in caught.value.msg, caught.value.msg


def test_garbage_json_on_the_json_wire(livekit):
    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret, wire="json")
    livekit.answer_garbage(200, b"<html>", "application/json")
    with pytest.raises(LiveKitUnavailable, match="not a livekit.ListRoomsResponse"):
        lk.list_rooms()


def test_livekit_saying_unavailable_is_unavailable_and_other_twirp_errors_keep_their_code(lk, livekit):
    livekit.fail_next("unavailable", "no response from servers")
    with pytest.raises(LiveKitUnavailable) as caught:
        lk.list_egress()
    assert caught.value.http_status == 503 and "no response from servers" in caught.value.msg
    livekit.fail_next("deadline_exceeded", "request timed out")
    with pytest.raises(LiveKitUnavailable) as caught:
        lk.stop_egress("EG_x")
    assert (caught.value.code, caught.value.http_status) == ("deadline_exceeded", 408)
    livekit.fail_next("internal", "egress not connected (redis required)")
    err = expect("internal", 500, lk.list_egress)
    assert err.msg == "egress not connected (redis required)" and not isinstance(err, LiveKitUnavailable)
    livekit.fail_next("already_exists", "exists")
    expect("already_exists", 409, lk.create_room, "x")
    assert lk.list_egress() == []


def test_a_wrong_path_prefix_is_bad_route(livekit):
    lk = LiveKitClient(livekit.url + "/lk", livekit.api_key, livekit.api_secret)
    err = expect("bad_route", 404, lk.list_rooms)
    assert "/lk/twirp/livekit.RoomService/ListRooms" in err.msg


# to_json ---------------------------------------------------------------------------------------


def test_to_json_is_camel_case_with_defaults_enum_names_and_int64_strings(lk, livekit):
    room = lk.create_room("standup", max_participants=3)
    out = to_json(room)
    assert out["name"] == "standup" and out["maxParticipants"] == 3 and out["emptyTimeout"] == 300
    assert out["creationTime"] == str(room.creation_time) and out["numParticipants"] == 0
    assert out["metadata"] == "" and out["activeRecording"] is False and "max_participants" not in out
    alice = livekit.join("standup", "alice", tracks=["audio"])
    person = to_json(lk.get_participant("standup", "alice"))
    assert (
        person["state"] == "ACTIVE"
        and person["kind"] == "STANDARD"
        and person["joinedAt"] == str(alice.joined_at)
    )
    assert person["tracks"][0]["type"] == "AUDIO" and person["tracks"][0]["source"] == "MICROPHONE"
    assert person["permission"]["canPublish"] is True


def test_to_json_redacts_storage_credentials(lk):
    lk.create_room("standup")
    info = lk.start_room_composite_egress("standup", S3, "a.mp4")
    info.room_composite.file_outputs[0].s3.secret = "minio-secret-key"  # as a server that echoes it would
    out = to_json(info)
    s3 = out["roomComposite"]["fileOutputs"][0]["s3"]
    assert s3["secret"] == "<redacted>" and s3["accessKey"] == "<redacted>" and s3["bucket"] == "recordings"
    assert "minio-secret-key" not in repr(out) and out["status"] == "EGRESS_STARTING"


GEVENT_PROBE = """
from gevent import monkey

monkey.patch_all()
import sys, time
import gevent
from plugins.room.livekit import LiveKitClient

client = LiveKitClient(*sys.argv[1:4], timeout=5)
client.token(room_list=True)  # imports livekit.api once, before the clock starts
started = time.monotonic()
jobs = [gevent.spawn(client.list_rooms) for _ in range(4)]
gevent.joinall(jobs, raise_error=True)
print(round(time.monotonic() - started, 3), [len(job.value) for job in jobs])
"""


def test_greenlets_of_one_gevent_worker_call_livekit_concurrently(livekit):
    """Under gevent's monkey patching (our web workers), four greenlets each wait 1 s for LiveKit
    at the same time, not one after the other (the asyncio SDK fails here: reference §3.4)."""
    import subprocess
    import sys
    from pathlib import Path

    LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret).create_room("standup")
    livekit.delay(1.0)
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_PROBE, livekit.url, livekit.api_key, livekit.api_secret],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    elapsed, counts = done.stdout.split(" ", 1)
    assert counts.strip() == "[1, 1, 1, 1]"
    assert 1.0 <= float(elapsed) < 2.5, elapsed  # one after the other would take 4 s


def test_calls_are_counted_on_metrics_by_method_and_outcome(livekit):
    from prometheus_client import REGISTRY

    def count(method, outcome):
        labels = {"method": method, "outcome": outcome}
        return REGISTRY.get_sample_value("mediaplane_livekit_requests_total", labels) or 0

    def timed(method):
        return (
            REGISTRY.get_sample_value("mediaplane_livekit_request_duration_seconds_count", {"method": method})
            or 0
        )

    lk = LiveKitClient(livekit.url, livekit.api_key, livekit.api_secret)
    before = (count("RoomService.ListRooms", "ok"), count("RoomService.DeleteRoom", "not_found"))
    before_unavailable, before_timed = (
        count("RoomService.ListRooms", "unavailable"),
        timed("RoomService.ListRooms"),
    )
    lk.list_rooms()
    with pytest.raises(LiveKitError):
        lk.delete_room("nope")
    livekit.down()
    with pytest.raises(LiveKitUnavailable):
        lk.list_rooms()
    after = (count("RoomService.ListRooms", "ok"), count("RoomService.DeleteRoom", "not_found"))
    assert after == (before[0] + 1, before[1] + 1)
    assert count("RoomService.ListRooms", "unavailable") == before_unavailable + 1
    assert timed("RoomService.ListRooms") == before_timed + 2
