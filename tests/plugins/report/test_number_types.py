"""Report answers keep each number's JSON type as the client sent it (an integer stays an integer, a
float stays a float) in latest, room and history answers, through the fast loader and through
marshmallow alike; aggregates that are means are floats. Empty query values are absent."""

from __future__ import annotations

import copy
import json

from core.fastload import FastLoad
from plugins.report.schemas import MetricsReportSchema
from tests.conftest import EXAMPLE_REPORT

T = 1746616000


def report(user="u1", t=T, direction="send", **video) -> dict:
    body = copy.deepcopy(EXAMPLE_REPORT)
    body.update(user_id=user, report_time=t)
    body["metrics"][0]["user_id"] = user
    stream = body["metrics"][0]["streams"][0]
    stream["direction"] = direction
    stream["video"].update(video)
    return body


def raw(client, headers, url: str) -> str:
    """The answer's `data` as JSON text: 25 and 25.0 compare equal in Python, not in the text."""
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return json.dumps(response.get_json()["data"])


def streams_text(client, headers) -> list[str]:
    user = json.loads(raw(client, headers, "/report/metrics/room-1/u1"))
    room = json.loads(raw(client, headers, "/report/metrics/room-1"))
    history = json.loads(raw(client, headers, "/report/history/room-1?limit=1"))
    return [
        json.dumps(user["streams"][0]),
        json.dumps(room["users"][0]["streams"][0]),
        json.dumps(history[0]["metrics"][0]["streams"][0]),
    ]


def test_integers_stay_integers_and_floats_stay_floats(client, headers):
    sent = report(frame_rate=25, bitrate=1200)
    sent["metrics"][0]["streams"][0]["network"] = {"rtt": 45, "packet_loss": 0.3, "jitter": 8.0}
    assert client.post("/report/metrics", json=sent, headers=headers).status_code == 200
    for text in streams_text(client, headers):
        assert '"frame_rate": 25,' in text and '"bitrate": 1200}' in text, text
        assert '"rtt": 45,' in text and '"packet_loss": 0.3' in text and '"jitter": 8.0}' in text, text
        assert '"bitrate": 64}' in text, text  # audio, an integer as sent


def test_a_float_with_no_fraction_stays_a_float(client, headers):
    assert (
        client.post(
            "/report/metrics", json=report(frame_rate=25.0, bitrate=1200.0), headers=headers
        ).status_code
        == 200
    )
    for text in streams_text(client, headers):
        assert '"frame_rate": 25.0,' in text and '"bitrate": 1200.0}' in text, text


def test_the_marshmallow_path_keeps_types_as_the_fast_path_does(client, headers):
    """A body the fast loader hands to marshmallow (a number as a string is marshmallow's to load) is
    stored with the same types."""
    sent = report(frame_rate=25, bitrate="1200")
    assert FastLoad(MetricsReportSchema()).load(copy.deepcopy(sent)) is None  # marshmallow decides
    assert client.post("/report/metrics", json=sent, headers=headers).status_code == 200
    for text in streams_text(client, headers):
        assert '"frame_rate": 25,' in text and '"bitrate": 1200.0}' in text, text


def test_room_aggregate_sums_and_maxima_keep_integers_means_are_floats(client, headers):
    for user, rate, bitrate, rtt in (("u1", 25, 1000, 40), ("u2", 30, 500, 60)):
        body = report(user=user, frame_rate=rate, bitrate=bitrate)
        body["metrics"][0]["streams"][0]["network"].update(rtt=rtt)
        assert client.post("/report/metrics", json=body, headers=headers).status_code == 200
    aggregate = json.loads(raw(client, headers, "/report/metrics/room-1"))["aggregate"]
    assert json.dumps(aggregate["video"]) == (
        '{"send_bitrate": 1500, "recv_bitrate": null, "frame_rate": 27.5, "streams": 2}'
    )
    assert json.dumps(aggregate["network"]) == (
        '{"rtt": 50.0, "rtt_max": 60, "packet_loss": 0.3, "packet_loss_max": 0.3, '
        '"jitter": 8.0, "jitter_max": 8}'
    )
    assert json.dumps(aggregate["audio"]) == '{"send_bitrate": 128, "recv_bitrate": null, "streams": 2}'


def test_the_newest_copy_of_a_stream_sent_twice_in_one_report_is_answered(client, headers):
    body = report(frame_rate=25)
    first = body["metrics"][0]["streams"][0]
    body["metrics"][0]["streams"].append(
        {**copy.deepcopy(first), "video": {**first["video"], "frame_rate": 12.5}}
    )
    assert client.post("/report/metrics", json=body, headers=headers).status_code == 200
    user = json.loads(raw(client, headers, "/report/metrics/room-1/u1"))
    assert [s["video"]["frame_rate"] for s in user["streams"]] == [12.5]


def test_empty_history_and_rooms_query_values_are_absent(client, headers):
    assert client.post("/report/metrics", json=report(), headers=headers).status_code == 200
    for query in ("?since=&until=&limit=&cursor=", "?since=", "?limit=", "?cursor="):
        response = client.get(f"/report/history/room-1{query}", headers=headers)
        assert response.status_code == 200 and len(response.get_json()["data"]) == 1, query
    response = client.get("/report/rooms?include_idle=", headers=headers)
    assert response.status_code == 200 and response.get_json()["data"] == ["room-1"]
    bad = client.get("/report/history/room-1?since=&limit=abc", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["message"].startswith("limit")
