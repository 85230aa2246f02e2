"""The Agora-style endpoints over a call built through our public ingest paths, against hand-computed values.

The call: LiveKit's room and participant events (as the room plugin fires them) open and close it, and
the three users' SDKs POST /report/metrics once a second for three minutes; the rollup job runs as
scheduled. Users "1001", "1002" and "carol" (a non-numeric identity: its uid is CRC-32("carol")) each
send a camera stream (video 30 fps 1280x720 1000 kbps, audio 32 kbps, rtt 40 ms, jitter 5 ms) and
receive the two others' (same values). During the second minute (M1):

- 1001's uplink loses 6 % (its send stream reports packet_loss 6);
- 1002 receives 1001 with 4 % loss (within "excellent", <= 5 %), carol with 8 %;
- carol's SDK reports two video freezes of 600 ms (at M1+10 s and M1+30 s) on 1001's video;

and in M2 carol's SDK reports audio freezes of 250 ms and 150 ms on 1002's audio (only the first is
one: audio freezes count from 200 ms).

Media time per track and minute: 59 s in M0 (the first sample opens the track: no interval before
it), 60 s in M1 and M2 (1 s intervals). So, by hand:

- pcu 3 and pcc 1 in each minute; joinSuccessRate 100 in M0 (three joins, all joined), no joins after;
  joinSuccess5SecsRate null (no join start is known without an rtcstats dump);
- videoFreezeRate M1 = 1200 ms / (6 received video tracks x 60 000 ms) = 0.33 %, 0 in M0 and M2;
  audioFreezeRate M2 = 250 ms / (6 x 60 000 ms) = 0.07 %, 0 before;
- upstream excellent M1 = 2 of 3 senders clean = 66.67 % (video and audio: loss is per stream),
  end-to-end excellent M1 = 5 of 6 received streams at <= 5 % = 83.33 %; 100 % in M0 and M2;
- diagnosis: carol, exp_id 4 in M1, caused by her downstream video loss (factor 23, 8 / 5 = 1.6 times
  the threshold) and 1001's upstream video loss (factor 21, host_user 1001, 6 / 5 = 1.2 times); and
  carol, exp_id 5 in M2, with no cause measured (the network was clean);
- call details: per user, mid series per minute in Agora's units (Kbps, fps, ms, %).
"""

from __future__ import annotations

import zlib

import pytest

from core.db import db
from core.events import fire
from tests.plugins.analytics.agora_support import (
    ENDPOINTS,
    analytics_config,
    appid_of,
    assert_error,
    basic,
    make_key,
)
from tests.plugins.analytics.helpers import aligned_base, in_db, post_reports, report, rollup

ROOM = "standup"
USERS = ("1001", "1002", "carol")
CAROL = zlib.crc32(b"carol")
UID = {"1001": 1001, "1002": 1002, "carol": CAROL}
SECONDS = 180


def network(loss: float) -> dict:
    return {"rtt": 40, "packet_loss": loss, "jitter": 5}


def video() -> dict:
    return {"frame_rate": 30, "width": 1280, "height": 720, "bitrate": 1000}


def audio() -> dict:
    return {"sample_rate": 48000, "channels": 1, "bitrate": 32}


def reports(base: int) -> list[dict]:
    m1 = range(base + 60, base + 120)
    bodies = []
    for t in range(base, base + SECONDS):
        for user in USERS:
            streams = [
                {
                    "stream_id": "camera",
                    "direction": "send",
                    "video": video(),
                    "audio": audio(),
                    "network": network(6.0 if user == "1001" and t in m1 else 0.0),
                }
            ]
            for sender in USERS:
                if sender == user:
                    continue
                loss = 0.0
                if sender == "1001" and t in m1:
                    loss = {"1002": 4.0, "carol": 8.0}[user]
                stream = {
                    "stream_id": f"from-{sender}",
                    "direction": "recv",
                    "remote_user_id": sender,
                    "video": video(),
                    "audio": audio(),
                    "network": network(loss),
                }
                if user == "carol" and sender == "1001" and t in (base + 70, base + 90):
                    stream["video"]["freezes_ms"] = [600]
                if user == "carol" and sender == "1002" and t == base + 125:
                    stream["audio"]["freezes_ms"] = [250, 150]  # 150 ms is below the 200 ms threshold
                streams.append(stream)
            bodies.append(report(user, ROOM, t, streams, platform="Web", network_type="Wi-Fi"))
    return bodies


def account_id(app, name: str = "acme") -> int:
    from core.auth import find_account

    return in_db(app, lambda: find_account(name).id)


def fire_event(app, name: str, **kwargs) -> None:
    with app.app_context(), db.connection_context():
        fire(name, **kwargs)


@pytest.fixture
def scenario(make_app):
    config = analytics_config(call_match_slack_seconds=3600)  # reports dated before the first one arrived
    config["plugins"]["report"] = {"ingest_rate_limit": "100000/second"}
    app = make_app(config)
    token, key_id, secret = make_key(app, "report:ingest", "analytics:read")
    acme = account_id(app)
    base = aligned_base(10)
    fire_event(app, "room_started", account_id=acme, room_name=ROOM, started_at=base)
    for user in USERS:
        fire_event(app, "participant_joined", account_id=acme, room_name=ROOM, identity=user, joined_at=base)
    post_reports(app.test_client(), token, reports(base))
    end = base + SECONDS - 1
    for user in USERS:
        fire_event(app, "participant_left", account_id=acme, room_name=ROOM, identity=user, left_at=end)
    fire_event(app, "room_finished", account_id=acme, room_name=ROOM, finished_at=end)
    rollup(app)
    return app, basic(key_id, secret), appid_of(app), base


@pytest.fixture
def events_only(make_app):
    """An app whose calls come from LiveKit events alone (no reports): enough for listing and users."""
    app = make_app(analytics_config())
    token, key_id, secret = make_key(app)
    return app, basic(key_id, secret), appid_of(app), aligned_base(10)


def get(app, endpoint: str, auth: dict, **params):
    response = app.test_client().get(ENDPOINTS[endpoint], query_string=params, headers=auth)
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["code"] == 200
    return body


def test_call_search(scenario):
    """call/lists and call/details over the scenario's call."""
    check_call_lists(*scenario)
    check_call_details(*scenario)


def test_insight_and_realtime(scenario):
    """usage/by_time, live scale, experience, net and diagnosis over the scenario's minutes."""
    check_insight_usage(*scenario)
    check_live_scale_experience_net(*scenario)
    check_live_diagnosis(*scenario)


def check_call_lists(app, auth, appid, base):
    body = get(app, "call/lists", auth, start_ts=base - 60, end_ts=base + 600, appid=appid)
    assert body["message"] == "" and body["has_more"] is False
    (call,) = body["call_lists"]
    assert len(call["call_id"]) == 24
    assert call == {
        "call_id": call["call_id"],
        "cname": ROOM,
        "created_ts": base,
        "destroyed_ts": base + SECONDS - 1,
        "finished": True,
    }
    # the channel filter, and windows that miss the call
    assert (
        get(app, "call/lists", auth, start_ts=base - 60, end_ts=base + 600, appid=appid, cname="x")[
            "call_lists"
        ]
        == []
    )
    assert (
        get(app, "call/lists", auth, start_ts=base + 180, end_ts=base + 600, appid=appid)["call_lists"] == []
    )
    assert get(app, "call/lists", auth, start_ts=base - 600, end_ts=base, appid=appid)["call_lists"] == []


def test_call_lists_pages_ten_newest_with_has_more(events_only):
    app, auth, appid, base = events_only
    acme = account_id(app)
    for i in range(11):  # eleven more short calls, one a minute after the scenario's
        room = f"room-{i:02}"
        fire_event(app, "room_started", account_id=acme, room_name=room, started_at=base + 200 + 10 * i)
        fire_event(app, "room_finished", account_id=acme, room_name=room, finished_at=base + 205 + 10 * i)
    body = get(app, "call/lists", auth, start_ts=base - 60, end_ts=base + 600, appid=appid)
    assert body["has_more"] is True
    assert [c["cname"] for c in body["call_lists"]] == [f"room-{i:02}" for i in range(10, 0, -1)]
    body = get(app, "call/lists", auth, start_ts=base - 60, end_ts=base + 210, appid=appid)
    assert body["has_more"] is False
    assert [c["cname"] for c in body["call_lists"]] == ["room-00"]


def _series(user_metrics: dict) -> dict[tuple[int, int], list]:
    return {(item["mid"], item["peer_uid"]): item["kvs"] for item in user_metrics["data"]}


def check_call_details(app, auth, appid, base):
    call_id = get(app, "call/lists", auth, start_ts=base, end_ts=base + 600, appid=appid)["call_lists"][0][
        "call_id"
    ]
    body = get(app, "call/details", auth, start_ts=base, end_ts=base + SECONDS, appid=appid, call_id=call_id)
    assert body["message"] == "" and body["call_id"] == call_id
    # latest join first; equal join times: the later joiner first
    assert [u["user_account"] for u in body["call_info"]] == ["carol", "1002", "1001"]
    for user in body["call_info"]:
        assert len(user["sid"]) == 32
        assert user == {
            "sid": user["sid"],
            "cname": ROOM,
            "uid": UID[user["user_account"]],
            "user_account": user["user_account"],
            "network": "Wi-Fi",
            "platform": "Web",
            "speaker": True,
            "sdk_version": "2.4.1",
            "device_type": "",
            "join_ts": base,
            "leave_ts": base + SECONDS - 1,
            "finished": True,
        }
    sids = {u["user_account"]: u["sid"] for u in body["call_info"]}
    assert [m["sid"] for m in body["metrics"]] == [u["sid"] for u in body["call_info"]]
    by_user = {next(k for k, v in sids.items() if v == m["sid"]): _series(m) for m in body["metrics"]}
    m0, m1, m2 = base, base + 60, base + 120

    def flat(value):
        return [[m0, value], [m1, value], [m2, value]]

    def loss_m1(value):
        return [[m0, 0], [m1, value], [m2, 0]]

    one = by_user["1001"]
    expected_one = {
        (20003, 0): flat(32),
        (20006, 0): flat(1000),
        (20008, 0): flat(30),
        (20015, 0): loss_m1(6),
        (20017, 0): loss_m1(6),
        (20019, 0): flat(1280),
        (20020, 0): flat(720),
        # end to end: 1001's media as 1002 and carol received it
        (20016, 1002): loss_m1(4),
        (20018, 1002): loss_m1(4),
        (20016, CAROL): loss_m1(8),
        (20018, CAROL): loss_m1(8),
    }
    for sender in ("1002", "carol"):
        expected_one |= {
            (20004, UID[sender]): flat(32),
            (20005, UID[sender]): flat(0),
            (20009, UID[sender]): flat(1000),
            (20010, UID[sender]): flat(30),
            (20011, UID[sender]): flat(0),
        }
    assert one == expected_one
    carol = by_user["carol"]
    assert carol[(20011, 1001)] == [[m0, 0], [m1, 1200], [m2, 0]]  # two 600 ms freezes
    assert carol[(20011, 1002)] == flat(0)
    assert carol[(20005, 1002)] == [[m0, 0], [m1, 0], [m2, 250]]  # the 150 ms pause is no freeze
    assert carol[(20005, 1001)] == flat(0)
    assert carol[(20015, 0)] == flat(0) and carol[(20016, 1001)] == flat(0)
    assert {mid for mid, _ in carol} == {mid for mid, _ in one}

    # exclude_metrics_info drops the series; a window of M1 only narrows them
    lean = get(
        app,
        "call/details",
        auth,
        start_ts=base,
        end_ts=base + SECONDS,
        appid=appid,
        call_id=call_id,
        exclude_metrics_info="true",
    )
    assert "metrics" not in lean and lean["call_info"] == body["call_info"]
    narrow = get(app, "call/details", auth, start_ts=m1, end_ts=m1 + 60, appid=appid, call_id=call_id)
    carol_m1 = _series(next(m for m in narrow["metrics"] if m["sid"] == sids["carol"]))
    assert carol_m1[(20011, 1001)] == [[m1, 1200]]


def check_insight_usage(app, auth, appid, base):
    day = base // 86400 * 86400
    body = get(
        app,
        "usage",
        auth,
        start_ts=day,
        end_ts=day + 86400,
        appid=appid,
        metric="userCount,sessionCount,channelCount",
    )
    assert body == {
        "code": 200,
        "message": "success",
        "data": [{"ts": day, "userCount": 3, "sessionCount": 3, "channelCount": 1}],
    }
    only = get(app, "usage", auth, start_ts=day, end_ts=day + 86400, appid=appid, metric="userCount")
    assert only["data"] == [{"ts": day, "userCount": 3}]
    # a frame shorter than one day holds no complete day: empty, as the contract says
    assert (
        get(app, "usage", auth, start_ts=day, end_ts=day + 86399, appid=appid, metric="userCount")["data"]
        == []
    )


def check_live_scale_experience_net(app, auth, appid, base):
    m0, m1, m2 = base, base + 60, base + 120
    window = {"start_ts": base, "end_ts": base + SECONDS, "appid": appid}
    scale = get(app, "scale", auth, metric="pcu,pcc", **window)
    assert scale["message"] == "success"
    assert scale["data"] == [{"ts": m, "pcu": 3, "pcc": 1} for m in (m0, m1, m2)]

    experience = get(
        app,
        "experience",
        auth,
        metric="joinSuccessRate,joinSuccess5SecsRate,videoFreezeRate,audioFreezeRate",
        **window,
    )
    assert experience["data"] == [
        {"ts": m0, "joinSuccessRate": 100, "joinSuccess5SecsRate": None, "videoFreezeRate": 0,
         "audioFreezeRate": 0},
        {"ts": m1, "joinSuccessRate": None, "joinSuccess5SecsRate": None, "videoFreezeRate": 0.33,
         "audioFreezeRate": 0},
        {"ts": m2, "joinSuccessRate": None, "joinSuccess5SecsRate": None, "videoFreezeRate": 0,
         "audioFreezeRate": 0.07},
    ]  # fmt: skip
    # a minute measuring none of the requested metrics is left out
    assert get(app, "experience", auth, metric="joinSuccessRate", **window)["data"] == [
        {"ts": m0, "joinSuccessRate": 100}
    ]

    net = get(
        app,
        "net",
        auth,
        metric="videoUpstreamExcellentTransRate,audioUpstreamExcellentTransRate,"
        "videoEnd2EndExcellentTransRate,audioEnd2EndExcellentTransRate",
        **window,
    )
    clean = {
        "videoUpstreamExcellentTransRate": 100,
        "audioUpstreamExcellentTransRate": 100,
        "videoEnd2EndExcellentTransRate": 100,
        "audioEnd2EndExcellentTransRate": 100,
    }
    assert net["data"] == [
        {"ts": m0, **clean},
        {
            "ts": m1,
            "videoUpstreamExcellentTransRate": 66.67,
            "audioUpstreamExcellentTransRate": 66.67,
            "videoEnd2EndExcellentTransRate": 83.33,
            "audioEnd2EndExcellentTransRate": 83.33,
        },
        {"ts": m2, **clean},
    ]


def check_live_diagnosis(app, auth, appid, base):
    body = get(app, "diagnosis", auth, start_ts=base, end_ts=base + SECONDS, appid=appid)
    assert body == {
        "code": 200,
        "message": "success",
        "data": [
            {"ts": base + 120, "user": str(CAROL), "exp_id": 5, "cname": ROOM, "cause_tags": []},
            {
                "ts": base + 60,
                "user": str(CAROL),
                "exp_id": 4,
                "cname": ROOM,
                "cause_tags": [{"factor_id": 23, "host_user": ""}, {"factor_id": 21, "host_user": "1001"}],
            },
        ],
    }
    # a window of M0 only: nothing happened then
    assert get(app, "diagnosis", auth, start_ts=base, end_ts=base + 60, appid=appid)["data"] == []


def test_another_account_sees_nothing_of_the_call(scenario):
    app, auth, appid, base = scenario
    call_id = get(app, "call/lists", auth, start_ts=base, end_ts=base + 600, appid=appid)["call_lists"][0][
        "call_id"
    ]
    token, key_id, secret = make_key(app, "analytics:read", account="globex")
    theirs, their_appid = basic(key_id, secret), appid_of(app, "globex")
    window = {"start_ts": base, "end_ts": base + SECONDS, "appid": their_appid}
    assert get(app, "call/lists", theirs, **window)["call_lists"] == []
    response = app.test_client().get(
        ENDPOINTS["call/details"], query_string={**window, "call_id": call_id}, headers=theirs
    )
    assert_error(response, 404, "call_id", "not found")
    day = base // 86400 * 86400
    usage = get(app, "usage", theirs, start_ts=day, end_ts=day + 86400, appid=their_appid, metric="userCount")
    assert usage["data"] == []
    assert get(app, "scale", theirs, metric="pcu,pcc", **window)["data"] == []
    assert get(app, "experience", theirs, metric="videoFreezeRate", **window)["data"] == []
    assert get(app, "net", theirs, metric="videoUpstreamExcellentTransRate", **window)["data"] == []
    assert get(app, "diagnosis", theirs, **window)["data"] == []
    # acme's appid with globex's key: forbidden, no data
    response = app.test_client().get(
        ENDPOINTS["call/lists"], query_string={**window, "appid": appid}, headers=theirs
    )
    assert_error(response, 403, "appid")


def test_server_users_are_left_out_unless_asked(events_only):
    app, auth, appid, base = events_only
    acme = account_id(app)
    fire_event(app, "room_started", account_id=acme, room_name="rec", started_at=base + 300)
    for identity in ("alice", "EG_9xKq2"):  # an egress recorder joins as a hidden participant
        fire_event(app, "participant_joined", account_id=acme, room_name="rec", identity=identity,
                   joined_at=base + 301)  # fmt: skip
    fire_event(app, "room_finished", account_id=acme, room_name="rec", finished_at=base + 360)
    calls = get(app, "call/lists", auth, start_ts=base + 300, end_ts=base + 600, appid=appid)["call_lists"]
    call_id = calls[0]["call_id"]
    window = {"start_ts": base + 300, "end_ts": base + 400, "appid": appid, "call_id": call_id}
    default = get(app, "call/details", auth, **window)
    assert [u["user_account"] for u in default["call_info"]] == ["alice"]
    assert default["call_info"][0]["speaker"] is False  # published no audio
    everyone = get(app, "call/details", auth, exclude_server_user="false", **window)
    assert {u["user_account"] for u in everyone["call_info"]} == {"alice", "EG_9xKq2"}


def test_answers_with_data_conform_to_the_openapi_document(scenario):
    """Every endpoint's 200 answer over real data passes schemathesis' response checks against the
    document the app serves (shapes, types and content type as documented)."""
    import schemathesis

    app, auth, appid, base = scenario
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    call_id = get(app, "call/lists", auth, start_ts=base, end_ts=base + 600, appid=appid)["call_lists"][0][
        "call_id"
    ]
    day = base // 86400 * 86400
    window = {"start_ts": base, "end_ts": base + SECONDS, "appid": appid}
    requests = {
        "call/lists": window,
        "call/details": {**window, "call_id": call_id},
        "usage": {"start_ts": day, "end_ts": day + 86400, "appid": appid, "metric": "userCount,sessionCount"},
        "scale": {**window, "metric": "pcu,pcc"},
        "experience": {**window, "metric": "joinSuccessRate,joinSuccess5SecsRate,videoFreezeRate"},
        "net": {**window, "metric": "videoUpstreamExcellentTransRate,audioEnd2EndExcellentTransRate"},
        "diagnosis": window,
    }
    for endpoint, query in requests.items():
        case = schema[ENDPOINTS[endpoint]]["GET"].Case(query={k: str(v) for k, v in query.items()})
        response = case.call(headers=auth)
        assert response.status_code == 200, (endpoint, response.text)
        case.validate_response(response, headers=auth, excluded_checks=_positive_acceptance())


def _positive_acceptance():
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return [check for check in CHECKS.get_all() if check.__name__ == "positive_data_acceptance"]
