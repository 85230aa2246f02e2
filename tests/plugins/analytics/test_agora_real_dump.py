"""A real dump, analysed by the real rtcstats analysis, seen through the Agora-style endpoints.

Jitsi's rtcstats dump of a Chrome user in a meet.jit.si call (tests/fixtures/dumps, MIT) is uploaded
through the rtcstats upload API; the rtcstats job analyses it (no stand-in) and fires
rtcstats_session_analyzed; the analytics job attaches it to a call of the dump's conference and a peer
of its endpoint. Nothing else saw that call. The expected values are read here from the dump's own
lines and from the fixture's independent facts (tests/fixtures/dumps/facts.json), not from the analysis:

- the call spans the dump's first to last event (facts `call.start_ms` / `call.end_ms`);
- the room is the identity line's `confID`, the user its `endpointId`;
- the join began at the dump's first event and completed when the PeerConnection's connectionState
  became "connected" (an `onconnectionstatechange` line): 437 ms later, so joinSuccess5SecsRate is 100
  and live/diagnosis names no join-channel delay;
- the network is the final selected pair's local networkType (facts: "wifi", Agora's "Wi-Fi").

(test_agora_dumps.py keeps a prepared analysis result: it needs a slow join and observations that
name causes, which no redistributable fixture has together with the user and conference ids.)
"""

from __future__ import annotations

import json
import math
import zlib

from rq import SimpleWorker

from core.queue import set_worker_app
from tests.plugins.analytics.agora_support import ENDPOINTS, analytics_config, appid_of, basic, make_key
from tests.plugins.analytics.helpers import rollup
from tests.plugins.rtcstats.fixtures import dump_bytes, truth
from tests.plugins.rtcstats.test_api_common import upload

DUMP = "jitsi_legacy_chrome-relay.jsonl"
TEN_YEARS = 3650 * 86400


def dump_lines() -> list[list]:
    return [json.loads(line) for line in dump_bytes(DUMP).decode().splitlines() if line.strip()]


def identity() -> dict:
    return next(line[2] for line in dump_lines() if line[0] == "identity")


def connected_ms() -> float:
    return min(
        line[3] for line in dump_lines() if line[0] == "onconnectionstatechange" and line[2] == "connected"
    )


def run_jobs(app) -> None:
    set_worker_app(app)
    SimpleWorker(["rtcstats", "analysis", "default"], connection=app.extensions["mediaplane"].redis).work(
        burst=True
    )


def app_with_dump(make_app):
    # The call was in 2023: let the endpoints reach back that far (both limits are settings).
    config = analytics_config(agora_call_search_days=3650, agora_live_window_seconds=TEN_YEARS)
    app = make_app(config)
    token, key_id, secret = make_key(app, "analytics:read", "rtcstats:write", "rtcstats:read")
    upload(app.test_client(), {"Authorization": f"Bearer {token}"}, dump_bytes(DUMP), name=DUMP)
    run_jobs(app)  # the real analysis, then the analytics job its rtcstats_session_analyzed enqueued
    rollup(app)
    return app, basic(key_id, secret), appid_of(app)


def test_the_call_user_and_join_come_from_the_analysed_dump(make_app):
    app, auth, appid = app_with_dump(make_app)
    facts = truth(DUMP)["call"]
    start_s, end_s = facts["start_ms"] / 1000, facts["end_ms"] / 1000
    room, user = identity()["confID"], identity()["endpointId"]
    joined_s = connected_ms() / 1000
    assert round(joined_s - start_s, 3) == 0.437  # the dump's own timestamps: a quick join
    client = app.test_client()
    window = {"start_ts": math.floor(start_s) - 60, "end_ts": math.ceil(end_s) + 60, "appid": appid}

    response = client.get(ENDPOINTS["call/lists"], query_string=window, headers=auth)
    assert response.status_code == 200, response.data
    (call,) = response.get_json()["call_lists"]
    assert {k: v for k, v in call.items() if k != "call_id"} == {
        "cname": room,
        "created_ts": math.floor(start_s),
        "destroyed_ts": math.floor(end_s),
        "finished": True,
    }

    response = client.get(
        ENDPOINTS["call/details"],
        query_string={**window, "call_id": call["call_id"], "exclude_metrics_info": "true"},
        headers=auth,
    )
    assert response.status_code == 200, response.data
    (info,) = response.get_json()["call_info"]
    assert {k: v for k, v in info.items() if k != "sid"} == {
        "cname": room,
        "uid": zlib.crc32(user.encode()),  # a non-numeric endpoint id: its CRC-32 (docs/analytics.md)
        "user_account": user,
        "network": "Wi-Fi",
        "platform": "macOS",  # the dump's user agent: "Macintosh; Intel Mac OS X 10_15_7"
        "speaker": False,  # the dump sent video only (no outbound audio stream)
        "sdk_version": "",
        "device_type": "macOS 10.15.7",
        "join_ts": math.floor(joined_s),
        "leave_ts": math.floor(end_s),  # never left: the call's end
        "finished": True,
    }
    assert truth(DUMP)["pcs"]["PC_0"]["final_selected_pairs"][0]["local"]["networkType"] == "wifi"

    minute = math.floor(start_s) // 60 * 60
    response = client.get(
        ENDPOINTS["experience"],
        query_string={**window, "metric": "joinSuccessRate,joinSuccess5SecsRate"},
        headers=auth,
    )
    assert response.status_code == 200, response.data
    assert response.get_json()["data"] == [
        {"ts": minute, "joinSuccessRate": 100, "joinSuccess5SecsRate": 100}
    ]
    response = client.get(ENDPOINTS["diagnosis"], query_string=window, headers=auth)
    assert response.status_code == 200, response.data
    assert (
        response.get_json()["data"] == []
    )  # a 0.4 s join and no per-minute freeze data: nothing to diagnose
