"""rtcstats jobs through a real RQ SimpleWorker on the real Redis: analysis, reprocessing, upload purge."""

from __future__ import annotations

import datetime as dt

from core.db import db
from core.hookspecs import hookimpl
from core.queue import enqueue, enqueue_due_schedules
from plugins.rtcstats import analysis
from plugins.rtcstats.models import FAILED, READY, Session, SessionLabel, UploadChunk
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import (
    API,
    FIREFOX,
    open_fixture,
    run_worker,
    send_chunks,
    upload,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)


class Listener:
    def __init__(self):
        self.seen = []

    @hookimpl
    def rtcstats_session_analyzed(self, account_id, rtcstats_id):
        self.seen.append((account_id, rtcstats_id))


def session(app, rtcstats_id) -> Session:
    with app.app_context(), db.connection_context():
        return Session.get(Session.rtcstats_id == rtcstats_id)


def remaining(client, headers) -> int:
    return client.get(f"{API}/quota", headers=headers).get_json()["remainingCredits"]


def test_the_analysis_job_stores_the_result_and_fires_the_event(app, client, auth, fake_analyzer):
    listener = Listener()
    app.extensions["mediaplane"].plugins.pm.register(listener)
    made = upload(client, auth, open_fixture(FIREFOX), name="ff.jsonl")
    redis = app.extensions["mediaplane"].redis
    assert redis.llen("rq:queue:rtcstats") == 1  # analysis has a queue of its own
    run_worker(app)
    row = session(app, made["rtcstatsId"])
    assert (row.status, row.processor_version, row.error) == (READY, "test-1", None)
    assert (row.user_id, row.conference_id, row.session_ident) == ("alice", "conf-1", "sess-1")
    assert (row.browser, row.browser_version, row.os) == ("Firefox", "118", "Linux")
    assert (row.experience_score, row.observations_medium, row.connectivity) == (72.5, 1, "RELAY/TLS")
    assert count_rows(app, SessionLabel) == 2
    assert listener.seen == [(row.account_id, made["rtcstatsId"])]
    assert fake_analyzer.calls == 1


def test_the_job_is_idempotent(app, client, auth, fake_analyzer):
    listener = Listener()
    app.extensions["mediaplane"].plugins.pm.register(listener)
    made = upload(client, auth, open_fixture(FIREFOX))
    with app.app_context():
        enqueue("rtcstats.analyze_upload", made["rtcstatsId"])  # e.g. a crashed worker's job again
    run_worker(app)
    assert fake_analyzer.calls == 1 and len(listener.seen) == 1
    assert count_rows(app, SessionLabel) == 2


def test_a_failed_analysis_marks_the_session_and_refunds_once(app, client, auth, fake_analyzer):
    fake_analyzer.fail = ZeroDivisionError("analyzer bug")
    made = upload(client, auth, open_fixture(FIREFOX))
    assert remaining(client, auth) == 999
    run_worker(app)
    row = session(app, made["rtcstatsId"])
    assert (row.status, row.failed_version, row.credit_charged) == (FAILED, "test-1", False)
    assert "analyzer failed" in row.error
    assert remaining(client, auth) == 1000
    with app.app_context():
        enqueue("rtcstats.analyze_upload", made["rtcstatsId"])
    run_worker(app)
    assert remaining(client, auth) == 1000  # not refunded twice
    assert fake_analyzer.calls == 1  # a failure is not retried with the same analyzer


def test_an_unreadable_upload_fails_with_the_parsers_message(app, client, auth, fake_analyzer):
    # Passes the format check at assemble (starts like a JSON-lines file) but does not parse.
    made = upload(client, auth, b'["getstats", "PC_0", {broken\n', name="broken.jsonl")
    run_worker(app)
    row = session(app, made["rtcstatsId"])
    assert row.status == FAILED and row.error == "the file holds no rtcstats lines"
    assert remaining(client, auth) == 1000
    response = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    assert response.status_code == 422 and response.get_json()["errorCode"] == "analysis_failed"


def test_a_job_for_a_deleted_session_does_nothing(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX))
    client.delete(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    run_worker(app)
    assert fake_analyzer.calls == 0 and count_rows(app, Session) == 0


def test_the_reprocess_job_updates_outdated_sessions(app, client, auth, fake_analyzer, monkeypatch):
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    fake_analyzer.result = {"experienceScore": 99, "observations": []}
    with app.app_context():
        enqueue("rtcstats.reprocess_session", made["rtcstatsId"])
        enqueue("rtcstats.reprocess_session", made["rtcstatsId"])
    run_worker(app)
    row = session(app, made["rtcstatsId"])
    assert (row.processor_version, row.experience_score) == ("test-2", 99.0)
    assert fake_analyzer.calls == 2  # the second job found it current
    assert remaining(client, auth) == 999


def test_a_failed_session_is_retried_by_a_new_analyzer(app, client, auth, fake_analyzer, monkeypatch):
    fake_analyzer.fail = RuntimeError("old analyzer bug")
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    assert remaining(client, auth) == 1000
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    fake_analyzer.fail = None
    with app.app_context():
        enqueue("rtcstats.reprocess_session", made["rtcstatsId"])
    run_worker(app)
    assert session(app, made["rtcstatsId"]).status == READY
    assert remaining(client, auth) == 1000  # the credit went back with the first failure


def test_abandoned_uploads_are_purged_by_the_scheduled_job(app, client, auth):
    storage = app.extensions["mediaplane"].storage
    send_chunks(client, auth, b"[1]" * 100, "old-upload", chunk_size=100)
    send_chunks(client, auth, b"[2]" * 100, "fresh-upload", chunk_size=100)
    with app.app_context(), db.connection_context():
        old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=2)
        UploadChunk.update(received_at=old).where(UploadChunk.file_id == "old-upload").execute()
        keys = {(r.file_id, r.chunk_index) for r in UploadChunk.select()}
    assert len(keys) == 6
    assert "rtcstats.purge_uploads" in enqueue_due_schedules(app)
    assert "rtcstats.purge_uploads" not in enqueue_due_schedules(app)
    run_worker(app)
    assert count_rows(app, UploadChunk, UploadChunk.file_id == "old-upload") == 0
    assert count_rows(app, UploadChunk, UploadChunk.file_id == "fresh-upload") == 3
    from plugins.rtcstats.uploads import chunk_key

    with app.app_context(), db.connection_context():
        from core.models import Account

        owner = Account.get(Account.name == "acme").id
    assert not storage.exists(chunk_key(owner, "old-upload", 0))
    assert storage.exists(chunk_key(owner, "fresh-upload", 0))
