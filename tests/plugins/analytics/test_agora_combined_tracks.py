"""call/details when several tracks feed one series: simulcast layers and two videos of one sender.

ann publishes her camera as two simulcast layers (two report streams: h 1200 Kbps 30 fps 1280x720 with
2 % loss, l 300 Kbps 15 fps 320x180 with 8 % loss) and audio on the h stream; bob receives two videos
from ann (her camera, 1000 Kbps 30 fps, 4 % loss, and her screen, 500 Kbps 5 fps, 6 % loss), each
report once a second for two minutes. By hand, per minute (docs/analytics.md, "Metric ids"):

- ann: 20006 = 1200 + 300 = 1500 Kbps (bitrates add up), 20008 = max(30, 15) = 30 fps, 20019 / 20020 =
  the largest size 1280 x 720, 20017 = the layers' loss averaged by media time: equal times, (2 + 8) / 2
  = 5 %; 20018 as bob received her (peer_uid bob) = (4 + 6) / 2 = 5 %;
- bob: 20009 from ann = 1000 + 500 = 1500 Kbps, 20010 = max(30, 5) = 30 fps, 20011 = 0 + 0 ms.
"""

from __future__ import annotations

import time
import zlib

from tests.plugins.analytics.agora_support import analytics_config, appid_of, basic, make_key
from tests.plugins.analytics.helpers import aligned_base, post_reports, report, rollup
from tests.plugins.analytics.test_agora_scenario import get

ROOM = "layers"


def video(kbps, fps, width, height, **extra) -> dict:
    return {"frame_rate": fps, "width": width, "height": height, "bitrate": kbps, **extra}


def network(loss: float) -> dict:
    return {"rtt": 40, "packet_loss": loss, "jitter": 5}


def reports(base: int) -> list[dict]:
    bodies = []
    for t in range(base, base + 120):
        ann = [
            {"stream_id": "cam-h", "direction": "send", "video": video(1200, 30, 1280, 720, rid="h"),
             "audio": {"bitrate": 32}, "network": network(2.0)},
            {"stream_id": "cam-l", "direction": "send", "video": video(300, 15, 320, 180, rid="l"),
             "network": network(8.0)},
        ]  # fmt: skip
        bob = [
            {"stream_id": "ann-cam", "direction": "recv", "remote_user_id": "ann",
             "video": video(1000, 30, 1280, 720), "network": network(4.0)},
            {"stream_id": "ann-screen", "direction": "recv", "remote_user_id": "ann",
             "video": video(500, 5, 1920, 1080), "network": network(6.0)},
        ]  # fmt: skip
        bodies += [report("ann", ROOM, t, ann), report("bob", ROOM, t, bob)]
    return bodies


def test_series_fed_by_several_tracks_combine_per_minute(make_app):
    config = analytics_config(call_match_slack_seconds=3600)
    config["plugins"]["report"] = {"ingest_rate_limit": "100000/second"}
    app = make_app(config)
    token, key_id, secret = make_key(app, "report:ingest", "analytics:read")
    auth, appid = basic(key_id, secret), appid_of(app)
    base = aligned_base(10)
    post_reports(app.test_client(), token, reports(base))
    rollup(app)
    rollup(app, now=time.time() + 400)  # the idle gap passed: the call ended

    window = {"start_ts": base, "end_ts": base + 120, "appid": appid}
    (call,) = get(app, "call/lists", auth, **window)["call_lists"]
    body = get(app, "call/details", auth, **window, call_id=call["call_id"])
    sids = {user["user_account"]: user["sid"] for user in body["call_info"]}
    series = {
        (user, item["mid"], item["peer_uid"]): item["kvs"]
        for m in body["metrics"]
        for user in [next(u for u, sid in sids.items() if sid == m["sid"])]
        for item in m["data"]
    }
    ann, bob = zlib.crc32(b"ann"), zlib.crc32(b"bob")

    def flat(value):
        return [[base, value], [base + 60, value]]

    assert series == {
        ("ann", 20003, 0): flat(32),
        ("ann", 20006, 0): flat(1500),
        ("ann", 20008, 0): flat(30),
        ("ann", 20015, 0): flat(2),
        ("ann", 20017, 0): flat(5),
        ("ann", 20019, 0): flat(1280),
        ("ann", 20020, 0): flat(720),
        ("ann", 20018, bob): flat(5),
        ("bob", 20009, ann): flat(1500),
        ("bob", 20010, ann): flat(30),
        ("bob", 20011, ann): flat(0),
    }
