"""Fixtures of the recording tests: an app whose room plugin talks to the LiveKit double and whose object
storage is an S3 server on loopback (moto's server mode, driven by the production minio client), keys
of two accounts, and LiveKit's webhooks delivered signed to /v1/livekit/webhook.

No MinIO or LiveKit server installs on this machine (../shared/reference/stack.md): moto's
ThreadedMotoServer speaks the S3 HTTP protocol (signed requests, XML answers, S3 error codes) and
tests/livekit_double.py speaks LiveKit's Twirp API and signs its webhooks as LiveKit does; the double's
egress uploads the recorded file to the S3 output of its request with the minio client.
"""

from __future__ import annotations

import functools
import io
import types
import uuid

import pytest

from core import events, hookspecs
from core.db import db
from tests.s3_auth import s3_user_with_authentication

S3_ACCESS_KEY = "recording-access"
S3_SECRET_KEY = "recording-secret-key"
WEBHOOK_URL = "/v1/livekit/webhook"
# A few bytes that are not a real MP4: storage and downloads move bytes, they do not decode them.
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def forget_room_caches():
    """The process's LiveKit clients must not leak from one test's double to the next."""
    from plugins.room import service

    service._clients.clear()
    yield
    for client in service._clients.values():
        client.close()
    service._clients.clear()


def s3_storage(endpoint: str, bucket: str, **overrides) -> dict:
    return {
        "backend": "s3",
        "endpoint": endpoint,
        "access_key": S3_ACCESS_KEY,
        "secret_key": S3_SECRET_KEY,
        "bucket": bucket,
        "secure": False,
        "timeout_seconds": 2.0,
        **overrides,
    }


@pytest.fixture
def bucket() -> str:
    return f"rec-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def rec_app(make_app, livekit, s3_server, bucket):
    return make_app(
        {"core": {"storage": s3_storage(s3_server, bucket)}, "plugins": {"room": livekit.settings()}}
    )


@pytest.fixture
def client(rec_app):
    return rec_app.test_client()


@pytest.fixture
def admin(rec_app, new_key) -> dict:
    return {"X-API-Key": new_key("recording:admin", "room:admin", account="acme")}


@pytest.fixture
def other_admin(rec_app, new_key) -> dict:
    return {"X-API-Key": new_key("recording:admin", "room:admin", account="globex")}


def account_id(app, name: str) -> int:
    from core.models import Account

    with app.app_context(), db.connection_context():
        return Account.get(Account.name == name).id


class Webhooks:
    """Posts the double's LiveKit webhooks, signed as LiveKit signs them, to the app's receiver."""

    def __init__(self, client, livekit):
        self.client = client
        self.livekit = livekit
        self.sent = 0

    def deliver(self, *, reverse: bool = False) -> list[str]:
        """Deliver every event not delivered yet (newest first with `reverse`); their names."""
        batch = self.livekit.events[self.sent :]
        self.sent = len(self.livekit.events)
        for event in reversed(batch) if reverse else batch:
            body, headers = self.livekit.signed(event)
            answer = self.client.post(WEBHOOK_URL, data=body, headers=headers)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        return [e.event for e in batch]

    def skip(self) -> None:
        """Lose every event so far (as when LiveKit's webhooks do not arrive)."""
        self.sent = len(self.livekit.events)


@pytest.fixture
def webhooks(client, livekit) -> Webhooks:
    return Webhooks(client, livekit)


RECORDING_EVENTS = ("recording_started", "recording_stopped", "recording_ready")


class Listener:
    """A plugin registered in the app that keeps every recording event it receives."""

    def __init__(self, app):
        self.calls: list[tuple[str, dict]] = []
        impls = {name: hookspecs.hookimpl(self._record(name)) for name in RECORDING_EVENTS}
        app.extensions["mediaplane"].plugins.pm.register(types.SimpleNamespace(**impls), name="listener")

    def _record(self, name):
        @functools.wraps(getattr(events, name))
        def record(**kwargs):
            self.calls.append((name, kwargs))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[dict]:
        return [kwargs for n, kwargs in self.calls if n == name]


@pytest.fixture
def listener(rec_app) -> Listener:
    return Listener(rec_app)


def create_room(client, headers, name: str = "standup") -> None:
    answer = client.post("/v1/rooms", json={"name": name}, headers=headers)
    assert answer.status_code == 201, answer.get_json()


def store_recording(
    app, account: int, data: bytes, *, room: str = "standup", status: str = "complete", **fields
) -> str:
    """A recording row of the recording plugin with its file put in the app's object storage, as the
    egress flow leaves it (for backends the egress cannot write to, and for other plugins' tests)."""
    import time

    from plugins.recording.models import Recording

    recording_id = fields.pop("id", None) or f"EG_{uuid.uuid4().hex[:12]}"
    key = f"recordings/{account}/{room}/{recording_id}.mp4"
    now = time.time()
    with app.app_context(), db.connection_context():
        state = app.extensions["mediaplane"]
        state.storage.put(key, io.BytesIO(data), len(data), "video/mp4")
        Recording.create(
            id=recording_id,
            account_id=account,
            room_name=room,
            livekit_room=f"mp{account}_{room}",
            status=status,
            file_key=key,
            storage=state.config["core"]["storage"]["backend"],
            size=len(data),
            duration=fields.pop("duration", 12.0),
            created_at=now,
            started_at=now - 12,
            ended_at=now if status == "complete" else None,
            updated_at=now,
            **fields,
        )
    return recording_id


@pytest.fixture
def s3_credentials_checked(s3_server):
    """(endpoint, (access key, secret key)) of the S3 server with request authentication on for this
    test (tests/s3_auth.py); presigned URLs are not served in that mode, so only the tests of refused
    credentials use it."""
    with s3_user_with_authentication(s3_server) as credentials:
        yield s3_server, credentials
