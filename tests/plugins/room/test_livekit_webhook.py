"""POST /v1/livekit/webhook with webhooks signed exactly as LiveKit signs them, on SQLite and PostgreSQL.

Each request is what LiveKit's url_notifier sends: the body is the WebhookEvent's protobuf JSON
(camelCase, defaults omitted, int64 as strings), `Content-Type: application/webhook+json`, and
`Authorization` is the bare JWT of livekit.api.AccessToken (issuer = API key, HS256 with the API
secret, 5 minutes) whose `sha256` claim is base64(SHA-256(body)).
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import io
import time
import types

import pytest
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol.webhook import WebhookEvent

from core import events, hookspecs
from core.db import db
from tests.conftest import count_rows
from tests.faults import OwnRedis

URL = "/v1/livekit/webhook"
API_KEY = "APIwebhookTestKey"
SECRET = "s" * 20 + "ecret-of-the-webhook-test-key-48ch"  # 54 bytes: PyJWT wants 32+
CORE_EVENTS = (
    "room_started",
    "room_finished",
    "participant_joined",
    "participant_left",
    "track_published",
    "ingress_started",
    "ingress_stopped",
    "egress_updated",
)


def room_settings(**overrides) -> dict:
    return {
        "plugins": {
            "room": {
                # Webhooks need only the key and secret; the URL names a port nothing listens on.
                "livekit_url": "http://127.0.0.1:9",
                "livekit_api_key": API_KEY,
                "livekit_api_secret": SECRET,
                **overrides,
            }
        }
    }


def body_of(event: WebhookEvent) -> bytes:
    return MessageToJson(event, indent=None).encode()


def sign(body: bytes, *, key: str = API_KEY, secret: str = SECRET, ttl: float = 300, sha256=None) -> str:
    """The Authorization value LiveKit sends: the bare JWT, with the body's hash in `sha256`."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode() if sha256 is None else sha256
    token = AccessToken(key, secret).with_ttl(datetime.timedelta(seconds=ttl))
    return token.with_sha256(digest).to_jwt()


def post(client, body: bytes, authorization: str | None = None, content_type="application/webhook+json"):
    headers = {"Content-Type": content_type}
    headers["Authorization"] = sign(body) if authorization is None else authorization
    return client.post(URL, data=body, headers=headers)


class Recorder:
    """Registers a listener for every core event of a room's life; `calls` is what each received."""

    def __init__(self, app):
        self.calls: list[tuple[str, dict]] = []
        impls = {}
        for name in CORE_EVENTS:
            impls[name] = hookspecs.hookimpl(self._record(name))
        app.extensions["mediaplane"].plugins.pm.register(types.SimpleNamespace(**impls), name="recorder")

    def _record(self, name):
        # pluggy reads the argument names of the unwrapped function: the spec's, all of them.
        @functools.wraps(getattr(events, name))
        def record(**kwargs):
            self.calls.append((name, kwargs))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def hook_app(make_app):
    return make_app(room_settings())


@pytest.fixture
def account_id(hook_app) -> int:
    from core.auth import create_account

    with hook_app.app_context(), db.connection_context():
        return create_account("acme").id


@pytest.fixture
def recorder(hook_app) -> Recorder:
    return Recorder(hook_app)


def lk_room(account_id: int, name: str = "standup") -> str:
    return f"mp{account_id}_{name}"


def room_event(kind: str, account_id: int, event_id: str, **fields) -> WebhookEvent:
    room = lk_models.Room(sid="RM_standup1", name=lk_room(account_id), creation_time=1761300000)
    return WebhookEvent(event=kind, id=event_id, created_at=1761300100, room=room, **fields)


def participant(identity="alice", sid="PA_alice1", **fields) -> lk_models.ParticipantInfo:
    return lk_models.ParticipantInfo(
        sid=sid, identity=identity, name=identity.title(), state=lk_models.ParticipantInfo.ACTIVE, **fields
    )


def stored(app, account_id):
    from plugins.room import service

    with app.app_context(), db.connection_context():
        return service.stored_rooms(account_id), service.stored_participants(account_id, "standup")


# -- every event type -------------------------------------------------------------------------------


def test_a_room_life_fires_each_core_event_once_and_stores_the_state(hook_app, account_id, recorder):
    client = hook_app.test_client()
    alice = participant(joined_at=1761300005)
    sequence = [
        room_event("room_started", account_id, "EV_1"),
        room_event("participant_joined", account_id, "EV_2", participant=alice),
        room_event(
            "track_published",
            account_id,
            "EV_3",
            participant=alice,
            track=lk_models.TrackInfo(
                sid="TR_mic", type=lk_models.TrackType.AUDIO, source=lk_models.TrackSource.MICROPHONE
            ),
        ),
        room_event(
            "track_published",
            account_id,
            "EV_4",
            participant=alice,
            track=lk_models.TrackInfo(
                sid="TR_screen", type=lk_models.TrackType.VIDEO, source=lk_models.TrackSource.SCREEN_SHARE
            ),
        ),
        room_event("participant_left", account_id, "EV_5", participant=participant()),
        room_event("room_finished", account_id, "EV_6"),
    ]
    for event in sequence:
        response = post(client, body_of(event))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"received": True, "outcome": "processed"}

    room = {"account_id": account_id, "room_name": "standup"}
    assert recorder.calls == [
        ("room_started", {**room, "started_at": 1761300000.0}),
        ("participant_joined", {**room, "identity": "alice", "joined_at": 1761300005.0}),
        (
            "track_published",
            {
                **room,
                "identity": "alice",
                "track_sid": "TR_mic",
                "kind": "audio",
                "source": "microphone",
                "published_at": 1761300100.0,
            },
        ),
        (
            "track_published",
            {
                **room,
                "identity": "alice",
                "track_sid": "TR_screen",
                "kind": "video",
                "source": "screen_share",
                "published_at": 1761300100.0,
            },
        ),
        ("participant_left", {**room, "identity": "alice", "left_at": 1761300100.0}),
        ("room_finished", {**room, "finished_at": 1761300100.0}),
    ]
    rooms, participants = stored(hook_app, account_id)
    assert [(r["name"], r["sid"], r["active"], r["started_at"], r["finished_at"]) for r in rooms] == [
        ("standup", "RM_standup1", False, 1761300000.0, 1761300100.0)
    ]
    assert [(p["identity"], p["name"], p["sid"], p["joined_at"], p["left_at"]) for p in participants] == [
        ("alice", "Alice", "PA_alice1", 1761300005.0, 1761300100.0)
    ]
    from plugins.room.models import LiveKitEvent

    assert count_rows(hook_app, LiveKitEvent) == len(sequence)


def test_ingress_events(hook_app, account_id, recorder):
    client = hook_app.test_client()
    info = lk_ingress.IngressInfo(
        ingress_id="IN_abc",
        input_type=lk_ingress.IngressInput.RTMP_INPUT,
        room_name=lk_room(account_id),
        participant_identity="obs",
        participant_name="OBS",
        state=lk_ingress.IngressState(
            status=lk_ingress.IngressState.ENDPOINT_PUBLISHING, started_at=1761300010 * 10**9
        ),
    )
    started = WebhookEvent(event="ingress_started", id="EV_in1", created_at=1761300011, ingress_info=info)
    assert post(client, body_of(started)).get_json()["outcome"] == "processed"
    info.state.status = lk_ingress.IngressState.ENDPOINT_INACTIVE
    info.state.ended_at = 1761300070 * 10**9
    ended = WebhookEvent(event="ingress_ended", id="EV_in2", created_at=1761300071, ingress_info=info)
    assert post(client, body_of(ended)).get_json()["outcome"] == "processed"
    room = {"account_id": account_id, "room_name": "standup", "ingress_id": "IN_abc"}
    assert recorder.calls == [
        ("ingress_started", {**room, "started_at": 1761300010.0}),
        ("ingress_stopped", {**room, "stopped_at": 1761300070.0}),
    ]
    from plugins.room.models import Ingress

    with hook_app.app_context(), db.connection_context():
        row = Ingress.get(Ingress.ingress_id == "IN_abc")
        assert (row.account_id, row.input_type, row.participant_identity) == (account_id, "rtmp", "obs")
        assert (row.started_at, row.stopped_at) == (1761300010.0, 1761300070.0)


@pytest.mark.parametrize(
    "kind,status",
    [
        ("egress_started", lk_egress.EgressStatus.EGRESS_STARTING),
        ("egress_updated", lk_egress.EgressStatus.EGRESS_ACTIVE),
        ("egress_ended", lk_egress.EgressStatus.EGRESS_COMPLETE),
    ],
)
def test_egress_events_reach_the_recording_side_without_credentials(
    hook_app, account_id, recorder, kind, status
):
    info = lk_egress.EgressInfo(
        egress_id="EG_rec1",
        room_id="RM_standup1",
        room_name=lk_room(account_id),
        status=status,
        started_at=1761300010 * 10**9,
        updated_at=1761300070 * 10**9,
        file_results=[
            lk_egress.FileInfo(
                filename="standup/2025-10-24T100010.mp4", size=1048576, duration=60 * 10**9, location="s3://x"
            )
        ],
        room_composite=lk_egress.RoomCompositeEgressRequest(
            room_name=lk_room(account_id),
            file_outputs=[
                lk_egress.EncodedFileOutput(
                    filepath="standup/{time}.mp4",
                    s3=lk_egress.S3Upload(access_key="AKIA-SECRET", secret="minio-secret", bucket="rec"),
                )
            ],
        ),
    )
    event = WebhookEvent(event=kind, id=f"EV_{kind}", created_at=1761300071, egress_info=info)
    body = body_of(event)
    assert b"minio-secret" in body
    assert post(hook_app.test_client(), body).get_json()["outcome"] == "processed"
    [(name, fired)] = recorder.calls
    assert name == "egress_updated"
    assert fired["account_id"] == account_id and fired["room_name"] == "standup"
    assert fired["egress_id"] == "EG_rec1"
    assert fired["status"] == lk_egress.EgressStatus.Name(status)
    assert fired["updated_at"] == 1761300070.0
    assert fired["info"]["fileResults"] == [
        {
            "filename": "standup/2025-10-24T100010.mp4",
            "size": "1048576",
            "duration": "60000000000",
            "location": "s3://x",
        }
    ]
    s3 = fired["info"]["roomComposite"]["fileOutputs"][0]["s3"]
    assert s3 == {"bucket": "rec"}  # access key and secret removed
    assert "minio-secret" not in repr(fired) and "AKIA-SECRET" not in repr(fired)


def test_events_not_acted_on_are_acknowledged(hook_app, account_id, recorder):
    client = hook_app.test_client()
    for kind in ("track_unpublished", "participant_connection_aborted", "agent_job_started", "brand_new"):
        event = room_event(kind, account_id, f"EV_{kind}", participant=participant())
        assert post(client, body_of(event)).get_json() == {"received": True, "outcome": "ignored"}
    assert recorder.calls == []


# -- duplicates -------------------------------------------------------------------------------------


REPLAYED = {
    "participant_joined": {"participant": participant()},
    # No stored state tells a repeat of these apart: only the event id does.
    "track_published": {
        "participant": participant(),
        "track": lk_models.TrackInfo(sid="TR_1", type=lk_models.TrackType.AUDIO),
    },
    "egress_ended": {"egress_info": lk_egress.EgressInfo(egress_id="EG_1", status=3)},
}


@pytest.mark.parametrize("kind", REPLAYED)
def test_a_replayed_or_retried_event_fires_once(hook_app, account_id, recorder, kind):
    client = hook_app.test_client()
    event = room_event(kind, account_id, "EV_again", **REPLAYED[kind])
    event.egress_info.room_name = lk_room(account_id)
    body = body_of(event)
    authorization = sign(body)
    assert post(client, body, authorization).get_json()["outcome"] == "processed"
    # The same signed request again (a replay), and LiveKit's retry with a fresh token.
    assert post(client, body, authorization).get_json() == {"received": True, "outcome": "duplicate"}
    assert post(client, body, sign(body)).get_json() == {"received": True, "outcome": "duplicate"}
    assert len(recorder.calls) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'mediaplane_room_livekit_webhooks_total{{event="{kind}",outcome="duplicate"}}' in metrics


def test_an_event_without_id_is_dropped_by_its_body_hash(hook_app, account_id, recorder):
    body = body_of(room_event("track_published", account_id, "", **REPLAYED["track_published"]))
    client = hook_app.test_client()
    assert post(client, body).get_json()["outcome"] == "processed"
    assert post(client, body).get_json()["outcome"] == "duplicate"
    assert recorder.names() == ["track_published"]


def test_the_same_change_under_another_event_id_fires_nothing_more(hook_app, account_id, recorder):
    """The room service says whether the state changed: a second participant_joined of the same session
    (another id) is recorded as an event but tells nobody again."""
    client = hook_app.test_client()
    for event_id in ("EV_a", "EV_b"):
        event = room_event("participant_joined", account_id, event_id, participant=participant())
        assert post(client, body_of(event)).get_json()["outcome"] == "processed"
    assert recorder.names() == ["participant_joined"]


def test_duplicates_are_dropped_across_apps_sharing_the_database(make_app, hook_app, account_id, recorder):
    """Two web processes (here two apps on the same database and Redis): LiveKit's retry reaching the
    other one is still a duplicate."""
    other = make_app(room_settings())
    other_recorder = Recorder(other)
    body = body_of(room_event("room_started", account_id, "EV_start"))
    assert post(hook_app.test_client(), body).get_json()["outcome"] == "processed"
    assert post(other.test_client(), body).get_json()["outcome"] == "duplicate"
    assert recorder.names() == ["room_started"] and other_recorder.calls == []


def test_concurrent_deliveries_of_one_event_fire_once(make_app, hook_app, account_id, recorder):
    """LiveKit's retry can arrive while the first delivery is still being processed, at another web
    process: eight at once, on two apps sharing the database; exactly one acts."""
    import threading

    other = make_app(room_settings())
    other_recorder = Recorder(other)
    body = body_of(room_event("track_published", account_id, "EV_race", **REPLAYED["track_published"]))
    outcomes = []
    start = threading.Barrier(8)

    def deliver(app):
        client = app.test_client()
        start.wait()
        response = post(client, body)
        outcomes.append((response.status_code, response.get_json().get("outcome")))

    threads = [threading.Thread(target=deliver, args=(app,)) for app in [hook_app, other] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [(200, "duplicate")] * 7 + [(200, "processed")]
    assert len(recorder.calls) + len(other_recorder.calls) == 1


def test_old_event_ids_are_purged_by_the_scheduled_job(hook_app, account_id):
    from plugins.room.jobs import purge_livekit_events
    from plugins.room.models import LiveKitEvent

    client = hook_app.test_client()
    post(client, body_of(room_event("room_started", account_id, "EV_old")))
    post(client, body_of(room_event("room_finished", account_id, "EV_new")))
    with hook_app.app_context(), db.connection_context():
        LiveKitEvent.update(received_at=time.time() - 86400 - 5).where(
            LiveKitEvent.event_id == "EV_old"
        ).execute()
        assert purge_livekit_events() == 1
        assert [e.event_id for e in LiveKitEvent.select()] == ["EV_new"]


# -- rooms that are not ours ------------------------------------------------------------------------


def test_events_of_rooms_this_server_does_not_know_are_acknowledged_and_counted(
    hook_app, account_id, recorder
):
    client = hook_app.test_client()
    others = [
        WebhookEvent(
            event="room_started", id="EV_x1", room=lk_models.Room(sid="RM_o", name="someone-elses-room")
        ),
        WebhookEvent(
            event="room_started", id="EV_x2", room=lk_models.Room(sid="RM_o", name="mp999999_ghost")
        ),
        WebhookEvent(
            event="egress_ended",
            id="EV_x3",
            egress_info=lk_egress.EgressInfo(egress_id="EG_o", room_name="other-tool"),
        ),
    ]
    for event in others:
        response = post(client, body_of(event))
        assert response.status_code == 200
        assert response.get_json() == {"received": True, "outcome": "unknown_room"}
    assert recorder.calls == []
    from plugins.room.models import LiveKitEvent, Room

    assert count_rows(hook_app, Room) == 0 and count_rows(hook_app, LiveKitEvent) == 0
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'mediaplane_room_livekit_webhooks_total{event="room_started",outcome="unknown_room"}' in metrics
    assert 'mediaplane_room_livekit_webhooks_total{event="egress_ended",outcome="unknown_room"}' in metrics


# -- refused ----------------------------------------------------------------------------------------


def assert_problem(response, status: int, slug: str, detail_part: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://rtcstack.dev/errors/{slug}" and body["status"] == status
    assert detail_part in body["detail"], body["detail"]


@pytest.mark.parametrize(
    "case,detail",
    [
        ("no token", "LiveKit's signed token is missing"),
        ("forged secret", "signature does not verify"),
        ("another key", "signed for another API key"),
        ("stale", "expired"),
        ("body changed", "does not match the token's sha256 claim"),
        ("no sha256 claim", "no sha256 claim"),
        ("not a jwt", "malformed"),
        ("valid too long", "valid for more than 86400 s"),
    ],
)
def test_forged_stale_or_tampered_webhooks_are_401(hook_app, account_id, recorder, case, detail):
    body = body_of(room_event("room_started", account_id, "EV_forged"))
    authorization = {
        "no token": "",
        "forged secret": sign(body, secret="f" * 48),
        "another key": sign(body, key="APIotherKey"),
        "stale": sign(body, ttl=-120),  # expired two minutes ago: beyond the 60 s leeway
        "body changed": sign(body.replace(b"standup", b"standuq")),
        "no sha256 claim": sign(body, sha256=""),
        "not a jwt": "Bearer not.a.jwt",
        "valid too long": sign(body, ttl=2 * 86400),
    }[case]
    response = post(hook_app.test_client(), body, authorization)
    assert_problem(response, 401, "unauthorized", detail)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert recorder.calls == []
    from plugins.room.models import LiveKitEvent, Room

    assert count_rows(hook_app, LiveKitEvent) == 0 and count_rows(hook_app, Room) == 0


def test_a_token_within_the_leeway_and_a_bearer_prefix_are_accepted(hook_app, account_id, recorder):
    body = body_of(room_event("room_started", account_id, "EV_late"))
    response = post(hook_app.test_client(), body, "Bearer " + sign(body, ttl=-30))
    assert response.get_json()["outcome"] == "processed"
    assert recorder.names() == ["room_started"]


@pytest.mark.parametrize(
    "body,detail",
    [
        (b"{not json", "not a LiveKit WebhookEvent"),
        (b"[1, 2]", "not a LiveKit WebhookEvent"),
        (b'{"event": "room_started", "room": 5}', "not a LiveKit WebhookEvent"),
        (b'{"id": "EV_1"}', "event: missing"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"event": "participant_joined", "id": "EV_p", "room": {"name": "ROOM"}}', "participant.identity"),
    ],
)
def test_a_signed_body_that_is_no_webhook_event_is_400(hook_app, account_id, recorder, body, detail):
    body = body.replace(b"ROOM", lk_room(account_id).encode())
    assert_problem(post(hook_app.test_client(), body), 400, "validation", detail)
    assert recorder.calls == []
    from plugins.room.models import LiveKitEvent

    assert count_rows(hook_app, LiveKitEvent) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_content_types_are_415(hook_app, account_id, content_type):
    body = body_of(room_event("room_started", account_id, "EV_ct"))
    response = post(hook_app.test_client(), body, content_type=content_type)
    assert_problem(response, 415, "unsupported-media-type", "application/webhook+json")


def test_plain_application_json_is_accepted(hook_app, account_id, recorder):
    body = body_of(room_event("room_started", account_id, "EV_json"))
    assert post(hook_app.test_client(), body, content_type="application/json").status_code == 200
    assert recorder.names() == ["room_started"]


def test_a_body_over_the_limit_is_413_also_when_chunked(make_app, account_id):
    app = make_app(room_settings(livekit_webhook_max_bytes=2048))
    client = app.test_client()
    event = room_event("room_started", account_id, "EV_big")
    event.room.metadata = "x" * 4096
    body = body_of(event)
    assert_problem(post(client, body), 413, "payload-too-large", "more than 2048 bytes")

    # A chunked body announces no length: it is cut at the limit and refused the same way.
    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={
            "Content-Type": "application/webhook+json",
            "Authorization": sign(body),
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn sets for chunked bodies
    )
    assert_problem(response, 413, "payload-too-large", "more than 2048 bytes")


def test_livekit_not_configured_is_503(make_app):
    client = make_app().test_client()
    body = b'{"event": "room_started", "id": "EV_1"}'
    response = post(client, body, sign(body))
    assert_problem(response, 503, "unavailable", "LiveKit is not configured")
    assert int(response.headers["Retry-After"]) >= 1


# -- Redis down -------------------------------------------------------------------------------------


def test_redis_down_is_503_and_livekits_retry_fires_once(make_app, database_url):
    """Redis stops: the webhook is refused with 503 + Retry-After before anything is recorded or fired;
    LiveKit retries (go-retryablehttp retries 5xx) once Redis is back, and the event fires once."""
    with OwnRedis() as own:
        app = make_app({**room_settings(), "core": {"redis_url": own.url}})
        recorder = Recorder(app)
        from core.auth import create_account
        from plugins.room.models import LiveKitEvent, Room

        with app.app_context(), db.connection_context():
            account = create_account("acme").id
        client = app.test_client()
        body = body_of(room_event("participant_joined", account, "EV_down", participant=participant()))
        own.stop()
        response = post(client, body)
        assert_problem(response, 503, "unavailable", "Redis")
        assert int(response.headers["Retry-After"]) >= 1
        assert recorder.calls == []
        assert count_rows(app, LiveKitEvent) == 0 and count_rows(app, Room) == 0
        own.start()
        assert post(client, body).get_json()["outcome"] == "processed"
        assert post(client, body).get_json()["outcome"] == "duplicate"
        assert recorder.names() == ["participant_joined"]
        metrics = client.get("/metrics").get_data(as_text=True)
        assert (
            'mediaplane_room_livekit_webhooks_total{event="participant_joined",outcome="unavailable"}'
            in metrics
        )


def test_database_down_is_503_for_livekit_to_retry(tmp_path, redis_url):
    from core.app import create_app
    from tests.faults import free_port

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    config = room_settings()
    config["core"] = {"data_dir": str(tmp_path / "d"), "database_url": down, "redis_url": redis_url}
    client = create_app(config=config, environ={}).test_client()
    body = body_of(room_event("room_started", 1, "EV_db"))
    response = post(client, body)
    assert_problem(response, 503, "unavailable", "database")
    assert int(response.headers["Retry-After"]) >= 1


# -- the document -----------------------------------------------------------------------------------


def test_the_route_is_documented_without_api_key_security(hook_app):
    spec = hook_app.test_client().get("/openapi.json").get_json()
    operation = spec["paths"][URL]["post"]
    assert operation["security"] == []
    assert set(operation["responses"]) >= {"200", "400", "401", "413", "415", "500", "503"}
    assert set(operation["requestBody"]["content"]) == {"application/webhook+json", "application/json"}
