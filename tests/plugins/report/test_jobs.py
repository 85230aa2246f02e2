"""Scheduled jobs of the report plugin run through a real RQ worker on the real Redis."""

from __future__ import annotations

import time

from rq import SimpleWorker

from core.db import db
from core.queue import enqueue, enqueue_due_schedules, set_worker_app
from plugins.report.models import Room, Sample, Snapshot
from tests.conftest import EXAMPLE_REPORT, count_rows


def run_worker(app):
    set_worker_app(app)
    state = app.extensions["mediaplane"]
    SimpleWorker(["default"], connection=state.redis).work(burst=True)


def test_purge_deletes_only_expired_reports(app, client, headers):
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers)
    client.post("/report/metrics", json={**EXAMPLE_REPORT, "room_id": "old"}, headers=headers)
    with app.app_context(), db.connection_context():
        old = time.time() - 31 * 86400
        Snapshot.update(received_at=old).where(Snapshot.room_id == "old").execute()
        Room.update(last_seen_at=old).where(Room.room_id == "old").execute()
        enqueue("report.purge_expired")
    run_worker(app)
    assert count_rows(app, Snapshot) == 1
    assert count_rows(app, Sample) == 1
    assert count_rows(app, Room, Room.room_id == "old") == 0
    assert count_rows(app, Room, Room.room_id == "room-1") == 1


def test_schedules_enqueue_both_jobs_once_per_interval(app, client, headers):
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers)
    started = enqueue_due_schedules(app)
    assert {"report.mark_idle_rooms", "report.purge_expired"} <= set(started)
    assert enqueue_due_schedules(app) == []  # a second worker asking at once gets nothing
    run_worker(app)
    assert count_rows(app, Room, Room.idle == True) == 0  # noqa: E712 - still live


def test_idle_job_marks_silent_rooms(app, client, headers):
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers)
    with app.app_context(), db.connection_context():
        Room.update(last_seen_at=time.time() - 500).execute()
        enqueue("report.mark_idle_rooms")
    run_worker(app)
    assert count_rows(app, Room, Room.idle == True) == 1  # noqa: E712
