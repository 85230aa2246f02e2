"""A slow join and a freeze diagnosed from an rtcstats dump: exp_id 6 and dump-observation causes.

dave's browser uploads its stats dump through the rtcstats upload API; the rtcstats job analyses it and
fires rtcstats_session_analyzed; the analytics job attaches it to dave in the call (conferenceId = room,
userId = identity). The analysis itself is replaced by a prepared result (the rtcstats tests cover the
analyzer, and test_agora_real_dump.py runs the real analysis of a real dump through these endpoints; no
redistributable fixture has a slow join with named causes): the dump started at base (dave began to
join), its first PeerConnection connected at base + 8 s (the join completed: 8 s, more than 5), and its
observations are `highConnectionTime` (a join cause) and `cpuPressure`. dave's SDK also reports one 700
ms freeze of erin's video at base + 30 s on a clean network. By hand:

- live/experience in minute base: joinSuccessRate 100 (one join, completed), joinSuccess5SecsRate 0
  (the one measured join took 8 s);
- live/diagnosis: dave, exp_id 6 (join-channel delay) with factor 36 (join-channel timeout, from
  highConnectionTime), and dave, exp_id 4 (video freeze) with factor 10 (high CPU, from cpuPressure;
  a setup-time observation is no cause of a freeze, and the network was clean).
"""

from __future__ import annotations

import datetime as dt

import pytest
from rq import SimpleWorker

from core.db import db
from core.events import fire
from core.queue import set_worker_app
from tests.plugins.analytics.agora_support import ENDPOINTS, analytics_config, appid_of, basic, make_key
from tests.plugins.analytics.helpers import aligned_base, in_db, post_reports, report, rollup
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_api_common import FakeAnalyzer, upload

ROOM = "onboarding"


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def analysed(base: int) -> dict:
    return {
        "callStart": iso(base),
        "callEnd": iso(base + 120),
        "durationMs": 120000,
        "userAgentData": {"browser": "Chrome", "browserVersion": "142", "os": "macOS"},
        "metadata": {"userId": "dave", "conferenceId": ROOM, "sessionId": "s-1"},
        "pConnections": {
            "pc-1": {"states": {"connection": [{"state": "connected", "timestampMs": (base + 8) * 1000}]}}
        },
        "connectivity": "DIRECT/UDP",
        "experienceScore": 61,
        "observations": [
            {"type": "highConnectionTime", "severity": "high", "tags": ["connectivity"]},
            {"type": "cpuPressure", "severity": "medium", "tags": ["cpu"]},
        ],
        "observationsCount": {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 0},
    }


def run_jobs(app) -> None:
    set_worker_app(app)
    SimpleWorker(["rtcstats", "analysis", "default"], connection=app.extensions["mediaplane"].redis).work(
        burst=True
    )


@pytest.fixture
def fake_analyzer(monkeypatch) -> FakeAnalyzer:
    from plugins.rtcstats import analysis

    fake = FakeAnalyzer()
    monkeypatch.setattr(analysis, "analyze", fake)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-1")
    return fake


def test_slow_join_and_freeze_causes_come_from_the_dump(make_app, fake_analyzer):
    config = analytics_config(call_match_slack_seconds=3600)
    config["plugins"]["report"] = {"ingest_rate_limit": "100000/second"}
    app = make_app(config)
    token, key_id, secret = make_key(
        app, "report:ingest", "analytics:read", "rtcstats:write", "rtcstats:read"
    )
    auth, appid = basic(key_id, secret), appid_of(app)
    from core.auth import find_account

    acme = in_db(app, lambda: find_account("acme").id)
    base = aligned_base(10)

    def event(name, **kwargs):
        with app.app_context(), db.connection_context():
            fire(name, account_id=acme, room_name=ROOM, **kwargs)

    event("room_started", started_at=base)
    event("participant_joined", identity="dave", joined_at=base + 8)
    bodies = []
    for t in range(base + 20, base + 41):
        stream = {
            "stream_id": "from-erin",
            "direction": "recv",
            "remote_user_id": "erin",
            "video": {"frame_rate": 30, "width": 640, "height": 360, "bitrate": 600},
            "network": {"rtt": 30, "packet_loss": 0.0, "jitter": 4},
        }
        if t == base + 30:
            stream["video"]["freezes_ms"] = [700]
        bodies.append(report("dave", ROOM, t, [stream]))
    post_reports(app.test_client(), token, bodies)

    fake_analyzer.result = analysed(base)
    upload(
        app.test_client(),
        {"Authorization": f"Bearer {token}"},
        dump_bytes("jitsi_legacy_firefox-relay.jsonl"),
    )
    run_jobs(app)  # analysis, then the analytics job the rtcstats_session_analyzed event enqueued
    assert fake_analyzer.calls == 1
    event("participant_left", identity="dave", left_at=base + 120)
    event("room_finished", finished_at=base + 120)
    rollup(app)

    client = app.test_client()
    window = {"start_ts": base, "end_ts": base + 180, "appid": appid}
    response = client.get(
        ENDPOINTS["experience"],
        query_string={**window, "metric": "joinSuccessRate,joinSuccess5SecsRate"},
        headers=auth,
    )
    assert response.status_code == 200, response.data
    assert response.get_json()["data"] == [{"ts": base, "joinSuccessRate": 100, "joinSuccess5SecsRate": 0}]

    response = client.get(ENDPOINTS["diagnosis"], query_string=window, headers=auth)
    assert response.status_code == 200, response.data
    dave = "2561168888"  # CRC-32 of "dave": a non-numeric identity's uid
    from plugins.analytics.service import numeric_uid

    assert str(numeric_uid("dave")) == dave
    assert response.get_json()["data"] == [
        {
            "ts": base,
            "user": dave,
            "exp_id": 6,
            "cname": ROOM,
            "cause_tags": [{"factor_id": 36, "host_user": ""}],
        },
        {
            "ts": base,
            "user": dave,
            "exp_id": 4,
            "cname": ROOM,
            "cause_tags": [{"factor_id": 10, "host_user": ""}],
        },
    ]

    # call details show what the dump told of dave
    call_id = client.get(ENDPOINTS["call/lists"], query_string=window, headers=auth).get_json()["call_lists"][
        0
    ]["call_id"]
    details = client.get(ENDPOINTS["call/details"], query_string={**window, "call_id": call_id}, headers=auth)
    (user,) = details.get_json()["call_info"]
    assert (user["user_account"], user["join_ts"], user["leave_ts"]) == ("dave", base + 8, base + 120)
    assert (user["platform"], user["device_type"], user["sdk_version"]) == ("macOS", "macOS", "2.4.1")
