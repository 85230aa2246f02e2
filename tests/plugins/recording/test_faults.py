"""Dependencies down or misconfigured answer 503 + Retry-After with the cause (RFC 9457, the rooms API's
types), never a 500, and leave nothing half-made: LiveKit down, object storage unreachable or refusing
our credentials, and the embedded default (directory storage), which LiveKit's egress cannot upload to.
"""

from __future__ import annotations

import pytest

from core.db import db
from tests.faults import free_port
from tests.plugins.recording.conftest import MP4, account_id, create_room, s3_storage, store_recording


def unavailable(answer, *words: str) -> dict:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    body = answer.get_json()
    assert body["type"] == "https://rtcstack.dev/errors/unavailable"
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def rows(app) -> int:
    from plugins.recording.models import Recording

    with app.app_context(), db.connection_context():
        return Recording.select().count()


def test_livekit_down_is_503_and_nothing_is_stored(rec_app, client, admin, livekit, webhooks):
    create_room(client, admin)
    livekit.down()
    unavailable(client.post("/v1/rooms/standup/recording/start", headers=admin), "LiveKit")
    assert rows(rec_app) == 0
    livekit.up()
    egress_id = client.post("/v1/rooms/standup/recording/start", headers=admin).get_json()["egressId"]
    livekit.down()
    unavailable(client.post("/v1/rooms/standup/recording/stop", headers=admin), "LiveKit")
    # The recording is still known as running: a stop after LiveKit is back works.
    assert client.get("/v1/rooms/standup/recording", headers=admin).get_json()["egressId"] == egress_id
    livekit.up()
    assert client.post("/v1/rooms/standup/recording/stop", headers=admin).status_code == 200


def test_livekit_not_configured_is_503_naming_the_settings(make_app, s3_server, bucket, new_key):
    app = make_app({"core": {"storage": s3_storage(s3_server, bucket)}})
    headers = {"X-API-Key": new_key("recording:admin", account="acme")}
    unavailable(
        app.test_client().post("/v1/rooms/standup/recording/start", headers=headers),
        "plugins.room.livekit_url",
    )


def test_directory_storage_cannot_take_egress_uploads(make_app, livekit, new_key):
    """The embedded default keeps objects in the data directory, which LiveKit's egress cannot write to:
    starting says so and names the setting; nothing is asked of LiveKit."""
    app = make_app({"plugins": {"room": livekit.settings()}})
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", account="acme")}
    client = app.test_client()
    create_room(client, headers)
    body = unavailable(
        client.post("/v1/rooms/standup/recording/start", headers=headers), 'core.storage.backend = "s3"'
    )
    assert "egress" in body["detail"]
    assert livekit.egresses == {}
    assert rows(app) == 0


def test_directory_storage_downloads_are_streamed(make_app, livekit, new_key):
    app = make_app({"plugins": {"room": livekit.settings()}})
    headers = {"X-API-Key": new_key("recording:admin", account="acme")}
    recording_id = store_recording(app, account_id(app, "acme"), MP4)
    answer = app.test_client().get(f"/v1/recordings/{recording_id}/download", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "video/mp4"
    assert answer.headers["Content-Length"] == str(len(MP4))
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{recording_id}.mp4"'
    assert answer.is_streamed
    assert answer.get_data() == MP4
    assert app.test_client().delete(f"/v1/recordings/{recording_id}", headers=headers).status_code == 204
    with app.app_context():
        assert app.extensions["mediaplane"].storage.list("recordings/") == []


@pytest.fixture
def dead_s3_app(make_app, livekit, bucket):
    """An app whose S3 endpoint is a loopback port nothing listens on."""
    return make_app(
        {
            "core": {"storage": s3_storage(f"127.0.0.1:{free_port()}", bucket, timeout_seconds=1.0)},
            "plugins": {"room": livekit.settings()},
        }
    )


def test_s3_unreachable_is_503_before_livekit_is_asked(dead_s3_app, livekit, new_key):
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", account="acme")}
    client = dead_s3_app.test_client()
    create_room(client, headers)
    unavailable(
        client.post("/v1/rooms/standup/recording/start", headers=headers),
        "Recording storage is unavailable",
        "connection refused",
    )
    assert livekit.egresses == {}
    assert rows(dead_s3_app) == 0


def test_s3_unreachable_on_download_and_delete_keeps_the_recording(dead_s3_app, new_key):
    from plugins.recording.models import Recording

    headers = {"X-API-Key": new_key("recording:admin", account="acme")}
    acme = account_id(dead_s3_app, "acme")
    with dead_s3_app.app_context(), db.connection_context():
        Recording.create(
            id="EG_unreachable1",
            account_id=acme,
            room_name="standup",
            livekit_room=f"mp{acme}_standup",
            status="complete",
            file_key=f"recordings/{acme}/standup/x.mp4",
            storage="s3",
            created_at=1.0,
            updated_at=1.0,
        )
    client = dead_s3_app.test_client()
    unavailable(client.delete("/v1/recordings/EG_unreachable1", headers=headers), "unreachable")
    assert rows(dead_s3_app) == 1
    # With no region configured the minio client asks the store for the bucket's region before it
    # signs a URL locally: unreachable, that is a 503 too.
    unavailable(client.get("/v1/recordings/EG_unreachable1/download", headers=headers), "unreachable")


def test_s3_refusing_credentials_is_503_naming_them(
    make_app, livekit, bucket, new_key, s3_credentials_checked
):
    endpoint, good = s3_credentials_checked
    app = make_app(
        {
            "core": {
                "storage": s3_storage(endpoint, bucket, access_key=good[0], secret_key="not-the-secret")
            },
            "plugins": {"room": livekit.settings()},
        }
    )
    headers = {"X-API-Key": new_key("recording:admin", "room:admin", account="acme")}
    client = app.test_client()
    create_room(client, headers)
    unavailable(
        client.post("/v1/rooms/standup/recording/start", headers=headers),
        "refused this server's credentials (SignatureDoesNotMatch)",
        "secret key",
    )
    assert livekit.egresses == {}


def test_redis_down_on_start_is_503_and_no_egress_is_made(make_app, livekit, s3_server, bucket, new_key):
    """The start lock lives in Redis: without it no egress is started (two could otherwise race)."""
    from tests.faults import OwnRedis

    with OwnRedis() as own:
        app = make_app(
            {
                "core": {"redis_url": own.url, "storage": s3_storage(s3_server, bucket)},
                "plugins": {"room": livekit.settings()},
            }
        )
        headers = {"X-API-Key": new_key("recording:admin", "room:admin", account="acme")}
        client = app.test_client()
        create_room(client, headers)
        own.stop()
        body = unavailable(client.post("/v1/rooms/standup/recording/start", headers=headers), "Redis")
    assert body["status"] == 503
    assert livekit.egresses == {}
    assert rows(app) == 0
