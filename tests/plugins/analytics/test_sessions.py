"""Calls, peers and rollups built from report ingest, hand-computed: 3 users, 3 minutes, 1 s samples.

u3's received stream carries two SDK-reported video freezes of 600 ms (and one of 500 ms, below the
threshold) and 8 % loss during the second minute; everything else is clean.
"""

from __future__ import annotations

import pytest

from plugins.analytics import service
from plugins.analytics.models import Call, Peer, Track, TrackMinute
from tests.conftest import count_rows
from tests.plugins.analytics.helpers import (
    CONFIG,
    aligned_base,
    in_db,
    post_reports,
    recv_stream,
    report,
    rollup,
    send_stream,
)

ROOM = "standup"
SECONDS = 180


def three_users(base: int) -> list[dict]:
    bodies = []
    for t in range(base, base + SECONDS):
        for user in ("u1", "u2", "u3"):
            recv = recv_stream()
            if user == "u3" and base + 60 <= t < base + 120:
                recv = recv_stream(loss=8.0)
            if user == "u3" and t in (base + 70, base + 90):
                recv["video"]["freezes_ms"] = [600]
            if user == "u3" and t == base + 100:
                recv["video"]["freezes_ms"] = [500]
            bodies.append(report(user, ROOM, t, [send_stream(), recv], platform="Web", network_type="Wi-Fi"))
    return bodies


@pytest.fixture
def session(make_app, new_key):
    app = make_app(CONFIG)
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(10)
    post_reports(app.test_client(), key, three_users(base))
    return app, key, base


def test_a_report_room_opens_one_call_with_its_peers_and_tracks(session):
    app, _, base = session
    rollup(app)
    assert count_rows(app, Call) == 1
    assert count_rows(app, Peer) == 3
    # camera (send) and remote (recv) streams, each a video and an audio track, per user
    assert count_rows(app, Track) == 12
    # 12 tracks x 3 minutes
    assert count_rows(app, TrackMinute) == 36
    call = in_db(app, lambda: Call.get())
    assert not call.finished and call.sources == "report"
    peers = in_db(app, service.call_peers, call.account_id, call.id)
    assert {p["user_id"] for p in peers} == {"u1", "u2", "u3"}
    for peer in peers:
        assert peer["joined_at"] == base
        assert peer["last_seen_at"] == base + SECONDS - 1
        assert (peer["platform"], peer["network"], peer["sdk_version"]) == ("Web", "Wi-Fi", "2.4.1")


def test_minutes_hold_the_hand_computed_values(session):
    app, _, base = session
    rollup(app)
    call = in_db(app, lambda: Call.get())
    u3 = in_db(app, lambda: Peer.get(Peer.user_id == "u3"))
    rows = in_db(app, service.peer_minutes, call.account_id, call.id, [u3.id])
    video_in = [r for r in rows if (r["kind"], r["direction"]) == ("video", "subscribe")]
    assert [r["minute"] for r in video_in] == [base, base + 60, base + 120]
    # the first sample of a track opens it (no interval): 59 s in the first minute, then 60 s each
    assert [r["duration_ms"] for r in video_in] == [59_000, 60_000, 60_000]
    assert [r["freeze_count"] for r in video_in] == [0, 2, 0]
    assert [r["freeze_ms"] for r in video_in] == [0, 1200, 0]
    assert [r["packet_loss_pct"] for r in video_in] == [0.0, 8.0, 0.0]
    assert [r["bitrate_bps"] for r in video_in] == [2_000_000.0] * 3
    audio_out = [r for r in rows if (r["kind"], r["direction"]) == ("audio", "publish")]
    assert [r["bitrate_bps"] for r in audio_out] == [32_000.0] * 3
    assert [r["jitter_ms"] for r in audio_out] == [5.0] * 3


def test_account_minutes_give_pcu_pcc_freeze_and_transmission_rates(session):
    app, _, base = session
    rollup(app)
    call = in_db(app, lambda: Call.get())
    minutes = in_db(app, service.account_minutes, call.account_id, base, base + SECONDS)
    assert [m["minute"] for m in minutes] == [base, base + 60, base + 120]
    assert [m["users"] for m in minutes] == [3, 3, 3]
    assert [m["channels"] for m in minutes] == [1, 1, 1]
    second = minutes[1]
    # freeze rate = 1200 ms frozen / (3 users x 60 s of received video) = 0.667 %
    assert second["video_freeze_ms"] == 1200
    assert second["video_play_ms"] == 180_000
    assert second["audio_freeze_ms"] == 0
    # end-to-end: u3's 60 s at 8 % loss are not excellent: 120 of 180 s, 66.7 %
    assert (second["video_e2e_excellent_ms"], second["video_e2e_known_ms"]) == (120_000, 180_000)
    assert (second["audio_e2e_excellent_ms"], second["audio_e2e_known_ms"]) == (120_000, 180_000)
    # upstream legs were clean
    assert (second["video_up_excellent_ms"], second["video_up_known_ms"]) == (180_000, 180_000)
    # joins: three users, first seen in minute 0, no known join start (report carries none)
    assert (minutes[0]["join_attempts"], minutes[0]["join_success"], minutes[0]["join_measured"]) == (3, 3, 0)


def test_the_idle_gap_ends_the_call_and_days_count_usage(session):
    app, _, base = session
    import time

    rollup(app)
    later = time.time() + 301  # past session_idle_gap_seconds (300) since the newest report
    rollup(app, now=later)
    call = in_db(app, lambda: Call.get())
    assert call.finished and call.open_key is None
    assert base <= call.ended_at <= time.time()
    peers = in_db(app, service.call_peers, call.account_id, call.id)
    assert all(p["finished"] and p["left_at"] == base + SECONDS - 1 for p in peers)
    days = in_db(app, service.account_days, call.account_id, base - 86400, base + 86400)
    assert sum(d["channel_count"] for d in days) >= 1
    assert sum(d["session_count"] for d in days) == 3
    # rollups are idempotent: running again writes the same rows
    before = in_db(app, service.track_minutes, call.account_id, call.id)
    rollup(app, now=later + 60)
    assert in_db(app, service.track_minutes, call.account_id, call.id) == before


def test_a_new_report_after_the_call_ended_opens_a_new_call(session):
    app, key, base = session
    import time

    rollup(app, now=time.time() + 301)
    # the report plugin fires report_room_started again once the room went idle and wakes up
    from plugins.analytics import ingest

    in_db(app, ingest.report_room_started, in_db(app, lambda: Call.get().account_id), ROOM, time.time())
    assert count_rows(app, Call) == 2
    assert count_rows(app, Call, Call.finished == False) == 1  # noqa: E712


def test_with_only_report_enabled_sessions_and_peer_stats_work(make_app, new_key):
    from core.config import deep_merge
    from core.plugins import discover

    others = {n: {"enabled": False} for n, i in discover().items() if i.source == "builtin"}
    others.pop("report"), others.pop("analytics")
    app = make_app(deep_merge(CONFIG, {"plugins": others}))
    assert app.extensions["mediaplane"].plugins.order == ["analytics", "report"]
    key = new_key("report:ingest", "analytics:read")
    base = aligned_base(5)
    post_reports(
        app.test_client(), key, [report("u1", ROOM, t, [send_stream()]) for t in range(base, base + 61)]
    )
    rollup(app)
    call = in_db(app, lambda: Call.get())
    response = app.test_client().get(
        "/v2/analytics/peer-stats",
        query_string={"peer_id": "u1", "session_id": call.call_id, "live": "1"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert response.get_json()["publisher"]["video"][0]["time_series"]["bitrate"] == [1_000_000, 1_000_000]


def test_report_room_idle_rolls_the_call_up_in_a_job(session):
    """The report plugin's idle job fires report_room_idle; analytics queues the call's rollup."""
    import time

    from core.queue import enqueue
    from plugins.report.models import Room
    from tests.plugins.analytics.helpers import run_worker

    app, _, base = session
    assert count_rows(app, TrackMinute) == 0
    with app.app_context():
        from core.db import db

        with db.connection_context():
            Room.update(last_seen_at=time.time() - 1000).execute()
            enqueue("report.mark_idle_rooms")
    run_worker(app)  # report.mark_idle_rooms, then analytics.rollup_call
    assert count_rows(app, TrackMinute) == 36


def test_domain_metrics_are_on_metrics(session):
    app, key, _ = session
    rollup(app)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'mediaplane_analytics_calls_opened_total{source="report"}' in text
    assert "mediaplane_analytics_track_minutes_written_total" in text
