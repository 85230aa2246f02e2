"""Bad input of every kind to every rtcstats route: a 4xx in the {error, errorCode} shape, never a 500."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from plugins.rtcstats.models import UploadChunk
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import ALIAS, API, FIREFOX, error_of, open_fixture

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)


@pytest.mark.parametrize(
    "query",
    [
        "?os=%00",
        "?name=a%00b",
        "?userId=%01",
        "?observationTypes=x%00",
        "?browser=%0A",
        "?offset=99999999999999999999",
        "?limit=99999999999999999999",
        "?limit=1e3",
        "?hasCritical=",
    ],
)
def test_bad_list_queries_are_400(client, auth, query):
    error_of(client.get(f"{API}/sessions{query}", headers=auth), 400, "invalid_request")


def test_an_empty_list_filter_is_no_filter(client, auth, fake_analyzer):
    client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=auth)
    assert len(client.get(f"{API}/sessions?observationTags=&name=,", headers=auth).get_json()["data"]) == 1


@pytest.mark.parametrize(
    "form",
    [
        {"fileId": "a\x00b", "chunkIndex": "0"},
        {"fileId": "ok", "chunkIndex": "0", "fileName": "dump\x00.txt"},
        {"fileId": "ok", "chunkIndex": "0", "fileName": "x" * 256},
        {"fileId": "ok", "chunkIndex": "\uff11"},  # a full-width digit
        {"fileId": "ok", "chunkIndex": "99999999999999999999999"},
        {"fileId": "ok", "chunkIndex": "0", "totalChunks": "many"},
    ],
)
def test_bad_chunk_fields_are_400_and_store_nothing(app, client, auth, form):
    body = {"chunk": (io.BytesIO(b"[1]"), "blob"), **form}
    response = client.post(f"{API}/upload", data=body, headers=auth, content_type="multipart/form-data")
    error_of(response, 400, "invalid_request")
    assert count_rows(app, UploadChunk) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"fileId": "ok", "assemble": true, "fileName": "a\\u0000b"}',
        b'{"fileId": "\\ud800", "assemble": true}',
        b'{"fileId": "ok", "assemble": true, "fileName": "\\udfff.txt"}',
        b'{"fileId": {"nested": 1}, "assemble": true}',
        b'{"fileId": null, "assemble": true}',
        b'{"fileId": "ok", "assemble": 1}',
        b"null",
        b"[]",
        b"\xff\xfe not utf-8",
    ],
)
def test_bad_assemble_bodies_are_400(client, auth, raw):
    response = client.post(f"{API}/upload", data=raw, headers=auth, content_type="application/json")
    error_of(response, 400, "invalid_request")


def test_multipart_without_a_boundary_is_400(client, auth):
    response = client.post(
        f"{API}/upload", data=b"--x\r\n\r\n", headers={**auth, "Content-Type": "multipart/form-data"}
    )
    error_of(response, 400, "invalid_request")


def test_bad_analyze_query_is_400(client, auth, fake_analyzer):
    dump = open_fixture(FIREFOX)
    error_of(
        client.post(f"{API}/analyze?save=1&fileName=a%00b", data=dump, headers=auth), 400, "invalid_request"
    )
    too_long = client.post(f"{API}/analyze?save=1&fileName={'x' * 256}", data=dump, headers=auth)
    assert error_of(too_long, 400, "invalid_request").startswith("fileName")
    assert fake_analyzer.calls == 0


def test_analyzer_text_with_control_characters_is_stored_cleanly(app, client, auth, fake_analyzer):
    fake_analyzer.result = {
        "title": "room\x00name",
        "userAgentData": {"browser": "Chr\x00ome"},
        "metadata": {"userId": "u\x001"},
        "callStart": "2024\x00",
        "observations": [],
    }
    body = client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=auth).get_json()
    listed = client.get(f"{API}/sessions?userId=u1", headers=auth).get_json()["data"]
    assert [i["rtcstatsId"] for i in listed] == [body["rtcstatsId"]]
    assert listed[0]["title"] == "roomname" and listed[0]["abstract"]["browser"] == "Chrome"


@pytest.mark.parametrize("path", ["/sessions/%00", "/sessions/" + "a" * 5000, "/sessions/%E2%98%83"])
def test_odd_session_ids_are_400(client, auth, path):
    error_of(client.get(f"{ALIAS}{path}", headers=auth), 400, "invalid_request")
    error_of(client.delete(f"{ALIAS}{path}", headers=auth), 400, "invalid_request")


def test_uppercase_uuids_name_the_same_session(app, client, auth, fake_analyzer):
    made = client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=auth).get_json()
    assert client.get(f"{API}/sessions/{made['rtcstatsId'].upper()}", headers=auth).status_code == 200
    braces = "{" + made["rtcstatsId"] + "}"
    assert client.get(f"{API}/sessions/{braces}", headers=auth).status_code == 200


JUNK = [
    b"",
    b"\x00" * 100,
    b"{}",
    b"[]",
    b"RTCStatsDump\n",
    b'RTCStatsDump\n{"fileFormat": 3}\n[1,2',
    b'{"PeerConnections": 5}',
    b'{"PeerConnections": {"1-1": {"stats": {"x-y": {"values": "[1,2"}}}}}',
    json.dumps(["getstats", None, {}, "NaN"]).encode(),
    "\ufeff{}".encode(),
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_dumps_never_cause_a_500(app, client, auth, junk):
    for url in (f"{API}/analyze?save=true", f"{ALIAS}/enrich"):
        response = client.post(url, data=junk, headers=auth, content_type="application/octet-stream")
        assert response.status_code < 500, (junk, response.get_json())
        if response.status_code != 200:
            assert set(response.get_json()) == {"error", "errorCode"}
    assert client.get(f"{API}/sessions", headers=auth).status_code == 200


def test_junk_uploads_never_cause_a_500_in_the_job(app, client, auth):
    from tests.plugins.rtcstats.test_api_common import assemble, run_worker, send_chunks

    stored = 0
    for number, junk in enumerate(j for j in JUNK if j):
        send_chunks(client, auth, junk, f"junk-{number}")
        response = assemble(client, auth, f"junk-{number}")
        assert response.status_code in (200, 415), response.get_json()
        stored += response.status_code == 200
    run_worker(app)
    items = client.get(f"{API}/sessions", headers=auth).get_json()["data"]
    assert len(items) == stored > 0
    for item in items:
        response = client.get(f"{API}/sessions/{item['rtcstatsId']}", headers=auth)
        assert response.status_code in (200, 422), response.get_json()


def test_a_random_uuid_is_404_not_500(client, auth):
    error_of(client.get(f"{API}/sessions/{uuid.uuid4()}", headers=auth), 404, "not_found")
