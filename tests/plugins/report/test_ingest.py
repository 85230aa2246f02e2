"""POST /report/metrics: the spec's golden request, normalisation, unknown fields, events."""

from __future__ import annotations

import copy
import json
import time

import pytest

from core.hookspecs import hookimpl
from plugins.report import service
from plugins.report.models import Room, Sample, Snapshot
from tests.conftest import EXAMPLE_REPORT, count_rows


def post(client, headers, body, **kwargs):
    return client.post("/report/metrics", json=body, headers=headers, **kwargs)


def test_golden_request_is_accepted_as_is(app, client, headers):
    response = post(client, headers, EXAMPLE_REPORT)
    assert response.status_code == 200
    assert response.get_json() == {"code": 0, "message": "success", "data": None}
    assert response.mimetype == "application/json"
    assert count_rows(app, Snapshot) == 1
    assert count_rows(app, Sample, Sample.stream_id == "camera", Sample.video_bitrate == 1200) == 1


def test_reads_back_every_field_of_the_golden_request(client, headers):
    post(client, headers, EXAMPLE_REPORT)
    user = client.get("/report/metrics/room-1/u1", headers=headers).get_json()["data"]
    stream = EXAMPLE_REPORT["metrics"][0]["streams"][0]
    assert user["sdk_version"] == "1.2.0"
    assert user["report_time"] == 1746616000
    assert user["streams"] == [
        {
            "stream_id": "camera",
            "direction": "send",
            "video": stream["video"],
            "audio": stream["audio"],
            "network": stream["network"],
        }
    ]


def test_millisecond_times_are_normalised_to_seconds(client, headers):
    body = copy.deepcopy(EXAMPLE_REPORT)
    body["report_time"] = 1746616000123
    body["metrics"][0]["streams"][0]["video"]["timestamp"] = 1746616000999
    assert post(client, headers, body).status_code == 200
    user = client.get("/report/metrics/room-1/u1", headers=headers).get_json()["data"]
    assert user["report_time"] == 1746616000
    assert user["streams"][0]["video"]["timestamp"] == 1746616000
    history = client.get("/report/history/room-1", headers=headers).get_json()["data"]
    assert history[0]["report_time"] == 1746616000


def test_unknown_fields_are_kept_not_rejected(client, headers):
    body = copy.deepcopy(EXAMPLE_REPORT)
    body["platform"] = "web"
    body["metrics"][0]["device"] = "pixel"
    body["metrics"][0]["streams"][0]["codec"] = "VP8"
    body["metrics"][0]["streams"][0]["network"]["nack_count"] = 3
    assert post(client, headers, body).status_code == 200
    snapshot = client.get("/report/history/room-1", headers=headers).get_json()["data"][0]
    assert snapshot["platform"] == "web"
    assert snapshot["metrics"][0]["device"] == "pixel"
    assert snapshot["metrics"][0]["streams"][0]["codec"] == "VP8"
    assert snapshot["metrics"][0]["streams"][0]["network"]["nack_count"] == 3


def test_text_plain_json_from_send_beacon_is_accepted(app, client, headers):
    response = client.post(
        "/report/metrics", data=json.dumps(EXAMPLE_REPORT), headers={**headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert count_rows(app, Snapshot) == 1


def test_streams_without_media_parts_and_null_values(client, headers):
    body = copy.deepcopy(EXAMPLE_REPORT)
    body["metrics"][0]["streams"] = [
        {"stream_id": "screen", "direction": "recv", "network": {"rtt": None, "packet_loss": 0, "jitter": 2}},
        {"stream_id": "mic"},
    ]
    assert post(client, headers, body).status_code == 200
    streams = client.get("/report/metrics/room-1/u1", headers=headers).get_json()["data"]["streams"]
    assert streams == [
        {"stream_id": "mic", "direction": "send", "video": None, "audio": None, "network": None},
        {
            "stream_id": "screen",
            "direction": "recv",
            "video": None,
            "audio": None,
            "network": {"rtt": None, "packet_loss": 0.0, "jitter": 2.0},
        },
    ]


def test_room_started_fires_once_then_again_after_idle(make_app, new_key):
    app = make_app()
    seen = []

    class Listener:
        @hookimpl
        def report_room_started(self, account_id, room_id, started_at):
            seen.append(("started", room_id))

        @hookimpl
        def report_room_idle(self, account_id, room_id, active_since, last_seen_at):
            seen.append(("idle", room_id))

    app.extensions["mediaplane"].plugins.pm.register(Listener())
    key = {"X-API-Key": new_key("report:ingest")}
    client = app.test_client()
    post(client, key, EXAMPLE_REPORT)
    post(client, key, EXAMPLE_REPORT)
    assert seen == [("started", "room-1")]

    from core.db import db
    from plugins.report import jobs

    with app.app_context(), db.connection_context():
        Room.update(last_seen_at=Room.last_seen_at - 10_000).execute()
        service._recently_touched.clear()  # as if this process had not seen the room for a while
        assert jobs.mark_idle_rooms() == 1
        assert jobs.mark_idle_rooms() == 0  # fired once only
    assert seen[-1] == ("idle", "room-1")
    post(client, key, EXAMPLE_REPORT)
    assert seen == [("started", "room-1"), ("idle", "room-1"), ("started", "room-1")]


def test_a_failing_listener_does_not_lose_the_report(make_app, new_key):
    app = make_app()

    class Broken:
        @hookimpl
        def report_room_started(self, account_id, room_id, started_at):
            raise RuntimeError("listener bug")

    app.extensions["mediaplane"].plugins.pm.register(Broken())
    response = post(app.test_client(), {"X-API-Key": new_key("report:ingest")}, EXAMPLE_REPORT)
    assert response.status_code == 200
    assert count_rows(app, Snapshot) == 1


def test_several_users_and_streams_in_one_report(app, client, headers):
    body = copy.deepcopy(EXAMPLE_REPORT)
    second = copy.deepcopy(body["metrics"][0])
    second["user_id"] = "u2"
    second["streams"][0]["direction"] = "recv"
    body["metrics"].append(second)
    assert post(client, headers, body).status_code == 200
    assert count_rows(app, Sample) == 2
    assert count_rows(app, Sample, Sample.user_id == "u2", Sample.direction == "recv") == 1


def test_a_group_of_large_reports_is_stored_whole(app, monkeypatch):
    """Reports in flight together are stored by one call of service._store: 20 reports of 200 streams
    (~90 000 values, more than one PostgreSQL statement could carry as bind parameters)."""
    queued = []
    monkeypatch.setattr(service, "_writer", lambda: queued.append)
    body = copy.deepcopy(EXAMPLE_REPORT)
    stream = body["metrics"][0]["streams"][0]
    body["metrics"][0]["streams"] = [{**stream, "stream_id": f"s{i}"} for i in range(200)]
    with app.app_context():
        account_id = 1
        for n in range(20):
            report = copy.deepcopy(body)
            report["user_id"] = report["metrics"][0]["user_id"] = f"u{n}"
            service.ingest(account_id, report, max_streams=200)
        service._store(queued)
    assert count_rows(app, Snapshot) == 20
    assert count_rows(app, Sample) == 20 * 200
    assert count_rows(app, Sample, Sample.user_id == "u7", Sample.stream_id == "s199") == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite prepares nothing
def test_the_grouped_insert_is_prepared_again_on_a_connection_that_lost_it(app, monkeypatch):
    """PostgreSQL: the insert is a statement prepared once per connection. A connection that lost it
    (DEALLOCATE, a pooler handing over another server connection) prepares it again."""
    from core.db import db

    queued = []
    monkeypatch.setattr(service, "_writer", lambda: queued.append)
    with app.app_context():
        for n in range(3):
            report = copy.deepcopy(EXAMPLE_REPORT)
            report["report_time"] += n
            service.ingest(1, report, max_streams=10)
        service._store(queued[:1])
        assert db.execute_sql("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 1
        db.execute_sql("DEALLOCATE ALL")
        service._store(queued[1:])
        names = [row[0] for row in db.execute_sql("SELECT name FROM pg_prepared_statements")]
        assert len(names) == 1 and names[0].startswith("report_insert_")
    assert count_rows(app, Snapshot) == 3 and count_rows(app, Sample) == 3


def test_concurrent_reports_of_a_room_touch_its_row_once_per_second(app, monkeypatch):
    """Requests in flight together must not all update the shared room row (they would queue on its
    lock, one commit after the other): the first claims the touch, the others skip it."""
    import threading

    service._recently_touched.clear()
    touches = []
    real_touch = service._touch_room

    def counting_touch(*args):
        touches.append(args)
        time.sleep(0.05)  # keep the touch in flight while the other threads arrive
        return real_touch(*args)

    monkeypatch.setattr(service, "_touch_room", counting_touch)
    results = []

    def one(n):
        report = copy.deepcopy(EXAMPLE_REPORT)
        report["user_id"] = report["metrics"][0]["user_id"] = f"u{n}"
        with app.app_context():
            results.append(service.ingest(1, report, max_streams=10, now=1_800_000_000.0))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 12 and len(touches) == 1
    assert sum(result["room_started"] for result in results) == 1
    assert count_rows(app, Snapshot) == 12 and count_rows(app, Room) == 1
