"""Bad input to the report plugin: always a 4xx in the {code, message, data: null} envelope."""

from __future__ import annotations

import copy
import io
import json

import pytest

from plugins.report.models import Snapshot
from tests.conftest import EXAMPLE_REPORT, count_rows


def mutated(path: str, value):
    """EXAMPLE_REPORT with the dotted `path` set to `value` (or removed when value is DELETE)."""
    body = copy.deepcopy(EXAMPLE_REPORT)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


DELETE = object()
STREAM = "metrics.0.streams.0"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("user_id", DELETE, "user_id"),
        ("room_id", "", "room_id"),
        ("room_id", "x" * 256, "room_id"),
        ("room_id", "a\x00b", "room_id"),  # PostgreSQL text cannot hold NUL
        ("room_id", "team/standup", "room_id"),  # could never be read back by its path
        ("user_id", "a/b", "user_id"),
        ("metrics.0.user_id", "u/1", "metrics[0].user_id"),
        ("sdk_version", "1.0\x00", "sdk_version"),
        ("metrics.0.user_id", "\x00", "metrics[0].user_id"),
        ("sdk_version", DELETE, "sdk_version"),
        ("report_time", "yesterday", "report_time"),
        ("report_time", -5, "report_time"),
        ("report_time", True, "report_time"),
        ("report_time", 99999999999999999999999, "report_time"),
        ("report_time", 1746616000123456, "report_time"),  # microseconds: a unit mistake
        (f"{STREAM}.video.timestamp", 5_000_000_000, "metrics[0].streams[0].video.timestamp"),
        ("metrics", DELETE, "metrics"),
        ("metrics", {"user_id": "u1"}, "metrics"),
        ("metrics.0.user_id", DELETE, "metrics[0].user_id"),
        ("metrics.0.streams", DELETE, "metrics[0].streams"),
        (f"{STREAM}.stream_id", DELETE, "metrics[0].streams[0].stream_id"),
        (f"{STREAM}.direction", "sideways", "metrics[0].streams[0].direction"),
        (f"{STREAM}.video.bitrate", -1, "metrics[0].streams[0].video.bitrate"),
        (f"{STREAM}.video.frame_rate", "fast", "metrics[0].streams[0].video.frame_rate"),
        (f"{STREAM}.video.width", 1e9, "metrics[0].streams[0].video.width"),
        (f"{STREAM}.audio.channels", -2, "metrics[0].streams[0].audio.channels"),
        (f"{STREAM}.network.packet_loss", 100.5, "metrics[0].streams[0].network.packet_loss"),
        (f"{STREAM}.network.packet_loss", -0.1, "metrics[0].streams[0].network.packet_loss"),
        (f"{STREAM}.network.rtt", -3, "metrics[0].streams[0].network.rtt"),
        (f"{STREAM}.network", "good", "metrics[0].streams[0].network"),
    ],
)
def test_invalid_field_is_400_naming_it(app, client, headers, path, value, field):
    response = client.post("/report/metrics", json=mutated(path, value), headers=headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400 and body["data"] is None
    assert body["message"].startswith(field) or f"; {field}" in body["message"], body["message"]
    assert count_rows(app, Snapshot) == 0


def test_room_id_with_a_slash_is_refused_with_a_clear_message(app, client, headers):
    response = client.post("/report/metrics", json=mutated("room_id", "team/standup"), headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {
        "code": 400,
        "message": "room_id: must not contain '/' or NUL characters",
        "data": None,
    }
    assert count_rows(app, Snapshot) == 0


def test_invalid_json_is_400(client, headers):
    response = client.post(
        "/report/metrics", data=b'{"user_id": "u1",', headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "message": "Invalid JSON body.", "data": None}


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(client, headers, payload):
    response = client.post(
        "/report/metrics", data=payload, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["data"] is None
    assert response.get_json()["message"] == "body: Invalid input type."


def test_nan_is_rejected(client, headers):
    raw = json.dumps(EXAMPLE_REPORT).replace('"rtt": 45', '"rtt": NaN')
    response = client.post(
        "/report/metrics", data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "rtt" in response.get_json()["message"]


def test_form_posts_are_415(client, headers):
    response = client.post("/report/metrics", data={"user_id": "u1"}, headers=headers)
    assert response.status_code == 415
    assert response.get_json()["code"] == 415


def test_body_over_the_limit_is_413(make_app, new_key):
    app = make_app({"plugins": {"report": {"max_body_bytes": 1024}}})
    body = mutated("sdk_version", "1.2.0")
    body["padding"] = "x" * 2000
    response = app.test_client().post(
        "/report/metrics", json=body, headers={"X-API-Key": new_key("report:ingest")}
    )
    assert response.status_code == 413
    assert response.get_json() == {"code": 413, "message": response.get_json()["message"], "data": None}
    assert "1024" in response.get_json()["message"]


def test_chunked_body_over_the_limit_is_413(make_app, new_key):
    app = make_app({"plugins": {"report": {"max_body_bytes": 1024}}})
    raw = json.dumps({**EXAMPLE_REPORT, "padding": "x" * 4000}).encode()
    # No Content-Length, as with Transfer-Encoding: chunked: the limit must apply while reading.
    response = app.test_client().post(
        "/report/metrics",
        headers={"X-API-Key": new_key("report:ingest"), "Content-Type": "application/json"},
        environ_overrides={"wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True},
    )
    assert response.status_code == 413


def test_too_many_streams_is_413_and_stores_nothing(make_app, new_key):
    app = make_app({"plugins": {"report": {"max_streams_per_report": 2}}})
    body = copy.deepcopy(EXAMPLE_REPORT)
    body["metrics"][0]["streams"] *= 3
    response = app.test_client().post(
        "/report/metrics", json=body, headers={"X-API-Key": new_key("report:ingest")}
    )
    assert response.status_code == 413
    assert "limit is 2" in response.get_json()["message"]
    assert count_rows(app, Snapshot) == 0


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "since=abc",
        "until=-1",
        "since=20&until=10",
        "cursor=abc",
        "cursor=1.x",
        "cursor=ab",
        "cursor=%C2%B2%C2%B2.1",
        "cursor=99999999999999999999.1",
        "cursor=1.99999999999999999999",
    ],
)
def test_bad_history_query_is_400(client, headers, query):
    client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers)
    response = client.get(f"/report/history/room-1?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["data"] is None


def test_bad_rooms_query_is_400(client, headers):
    response = client.get("/report/rooms?include_idle=perhaps", headers=headers)
    assert response.status_code == 400
    assert "include_idle" in response.get_json()["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_times_are_400(client, headers, literal):
    raw = json.dumps(EXAMPLE_REPORT).replace('"report_time": 1746616000', f'"report_time": {literal}')
    response = client.post(
        "/report/metrics", data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("report_time")


def test_json_that_msgspec_refuses_is_judged_by_the_standard_decoder(app, client, headers):
    """Bodies go through msgspec first and fall back to webargs' json.loads: NaN is read (then refused
    by validation, naming the field); a body that is not UTF-8 stays invalid JSON."""
    text = json.dumps(EXAMPLE_REPORT).replace('"rtt": 45', '"rtt": NaN')
    assert "NaN" in text
    json_type = {**headers, "Content-Type": "application/json"}
    nan = client.post("/report/metrics", data=text, headers=json_type)
    assert nan.status_code == 400 and "metrics[0].streams[0].network.rtt" in nan.get_json()["message"]
    utf16_body = json.dumps(EXAMPLE_REPORT).encode("utf-16")
    utf16 = client.post("/report/metrics", data=utf16_body, headers=json_type)
    assert utf16.status_code == 400 and utf16.get_json()["message"] == "Invalid JSON body."
    assert count_rows(app, Snapshot) == 0
