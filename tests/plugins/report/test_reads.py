"""GET endpoints of the report plugin: rooms, room aggregate, user latest, history paging."""

from __future__ import annotations

import copy

from core.db import db
from plugins.report.models import Room
from tests.conftest import EXAMPLE_REPORT


def report(room="room-1", user="u1", t=1746616000, rtt=45.0, loss=0.3, vbr=1200, abr=64, direction="send"):
    body = copy.deepcopy(EXAMPLE_REPORT)
    body.update(room_id=room, user_id=user, report_time=t)
    entry = body["metrics"][0]
    entry["user_id"] = user
    stream = entry["streams"][0]
    stream["direction"] = direction
    stream["network"].update(rtt=rtt, packet_loss=loss)
    stream["video"]["bitrate"] = vbr
    stream["audio"]["bitrate"] = abr
    return body


def ingest(client, headers, *bodies):
    for body in bodies:
        assert client.post("/report/metrics", json=body, headers=headers).status_code == 200


def data(client, headers, url):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    payload = response.get_json()
    assert payload["code"] == 0 and payload["message"] == "success"
    return payload["data"]


def test_rooms_lists_live_rooms_only_unless_asked(app, client, headers):
    ingest(client, headers, report(room="a"), report(room="b"))
    assert data(client, headers, "/report/rooms") == ["a", "b"]
    with app.app_context(), db.connection_context():
        Room.update(last_seen_at=Room.last_seen_at - 10_000).where(Room.room_id == "a").execute()
    assert data(client, headers, "/report/rooms") == ["b"]
    assert data(client, headers, "/report/rooms?include_idle=true") == ["a", "b"]


def test_live_window_is_a_setting(make_app, new_key):
    app = make_app({"plugins": {"report": {"live_window_seconds": 5}}})
    client = app.test_client()
    key = {"X-API-Key": new_key("report:ingest", "report:read")}
    ingest(client, key, report(room="a"))
    with app.app_context(), db.connection_context():
        Room.update(last_seen_at=Room.last_seen_at - 6).execute()
    assert data(client, key, "/report/rooms") == []


def test_room_aggregate_uses_the_newest_sample_of_each_stream(client, headers):
    t = 1746616000
    ingest(
        client,
        headers,
        report(user="u1", t=t, rtt=100, loss=5, vbr=500),
        report(user="u1", t=t + 5, rtt=40, loss=1, vbr=1000),  # supersedes the first
        report(user="u2", t=t + 4, rtt=60, loss=3, vbr=2000, abr=32),
    )
    room = data(client, headers, "/report/metrics/room-1")
    assert room["room_id"] == "room-1"
    assert room["report_time"] == t + 5
    assert room["user_count"] == 2
    assert room["stream_count"] == 2
    assert room["aggregate"]["video"] == {
        "send_bitrate": 3000.0,
        "recv_bitrate": None,
        "frame_rate": 25.0,
        "streams": 2,
    }
    assert room["aggregate"]["audio"] == {"send_bitrate": 96.0, "recv_bitrate": None, "streams": 2}
    assert room["aggregate"]["network"] == {
        "rtt": 50.0,
        "rtt_max": 60.0,
        "packet_loss": 2.0,
        "packet_loss_max": 3.0,
        "jitter": 8.0,
        "jitter_max": 8.0,
    }
    assert [u["user_id"] for u in room["users"]] == ["u1", "u2"]
    assert room["users"][0]["streams"][0]["network"]["rtt"] == 40.0


def test_user_latest_keeps_each_stream_and_direction(client, headers):
    t = 1746616000
    ingest(
        client,
        headers,
        report(t=t, rtt=10),
        report(t=t + 2, rtt=20, direction="recv"),
        report(t=t + 3, rtt=30),
    )
    user = data(client, headers, "/report/metrics/room-1/u1")
    assert user["report_time"] == t + 3
    assert [(s["direction"], s["network"]["rtt"]) for s in user["streams"]] == [
        ("recv", 20.0),
        ("send", 30.0),
    ]


def test_history_is_newest_first_with_since_until_limit(client, headers):
    t = 1746616000
    ingest(client, headers, *[report(t=t + i) for i in range(5)])
    times = [s["report_time"] for s in data(client, headers, "/report/history/room-1")]
    assert times == [t + 4, t + 3, t + 2, t + 1, t]
    page = data(client, headers, f"/report/history/room-1?limit=2&until={t + 4}")
    assert [s["report_time"] for s in page] == [t + 3, t + 2]
    window = data(client, headers, f"/report/history/room-1?since={t + 1}&until={(t + 3) * 1000}")
    assert [s["report_time"] for s in window] == [t + 2, t + 1]


def test_history_default_and_max_limit_are_settings(make_app, new_key):
    app = make_app({"plugins": {"report": {"history_default_limit": 2, "history_max_limit": 3}}})
    client = app.test_client()
    key = {"X-API-Key": new_key("report:ingest", "report:read")}
    ingest(client, key, *[report(t=1746616000 + i) for i in range(4)])
    assert len(data(client, key, "/report/history/room-1")) == 2
    assert len(data(client, key, "/report/history/room-1?limit=3")) == 3
    response = client.get("/report/history/room-1?limit=4", headers=key)
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "message": "limit: at most 3", "data": None}


def test_unknown_room_and_user_are_404_in_the_envelope(client, headers):
    ingest(client, headers, report())
    for url in (
        "/report/metrics/nope",
        "/report/metrics/room-1/nobody",
        "/report/history/nope",
        "/report/metrics/nope/u1",
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 404, url
        body = response.get_json()
        assert body["code"] == 404 and body["data"] is None and "not found" in body["message"]


def test_ids_with_spaces_and_unicode_round_trip(client, headers):
    body = report(room="salle de réunion", user="usér 1")
    ingest(client, headers, body)
    assert data(client, headers, "/report/rooms") == ["salle de réunion"]
    user = data(client, headers, "/report/metrics/salle%20de%20r%C3%A9union/us%C3%A9r%201")
    assert user["user_id"] == "usér 1"


def test_room_aggregate_keeps_send_and_recv_apart(client, headers):
    t = 1746616000
    ingest(
        client,
        headers,
        report(user="u1", t=t, vbr=1000, abr=50),
        report(user="u2", t=t, vbr=900, abr=40, direction="recv"),
    )
    aggregate = data(client, headers, "/report/metrics/room-1")["aggregate"]
    assert (aggregate["video"]["send_bitrate"], aggregate["video"]["recv_bitrate"]) == (1000.0, 900.0)
    assert (aggregate["audio"]["send_bitrate"], aggregate["audio"]["recv_bitrate"]) == (50.0, 40.0)


def test_history_cursor_pages_through_reports_sharing_a_second(client, headers):
    t = 1746616000
    ingest(client, headers, *[report(t=t + i // 3, rtt=float(i)) for i in range(7)])  # 3 per second
    seen, cursor = [], None
    for _ in range(5):
        url = "/report/history/room-1?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        seen += [s["metrics"][0]["streams"][0]["network"]["rtt"] for s in response.get_json()["data"]]
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert sorted(seen) == [float(i) for i in range(7)]  # each report exactly once
    assert seen == sorted(seen, reverse=True)  # newest first across pages


def test_concurrent_ingest_never_fails(make_app, new_key, database_url):
    """Several writers at once (threads here, gevent workers in production) wait for the lock, never 500."""
    from concurrent.futures import ThreadPoolExecutor

    app = make_app()
    key = {"X-API-Key": new_key("report:ingest")}

    def post(i):
        return (
            app.test_client()
            .post("/report/metrics", json=report(user=f"u{i % 5}", t=1746616000 + i), headers=key)
            .status_code
        )

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(80)))
    assert statuses == [200] * 80
