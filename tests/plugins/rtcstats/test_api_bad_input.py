"""Bad input of every kind to every rtcstats route: a 4xx in the {error, errorCode} shape, never a 500."""

from __future__ import annotations

import gzip
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
        "?limit=abc",
        "?offset=abc",
        "?limit=0",
        "?limit=-1",
        "?offset=-1",
        "?limit=1.5",
        "?limit=1&limit=2",
        "?offset=" + "9" * 5000,  # more digits than Python converts to an int
        "?observationTags=nonsense",
        "?observationTags=audio,nonsense",
        "?hasCritical=maybe",
        "?hasHighScore=true&hasHighScore=false",
        "?os=" + "x" * 201,
        "?name=" + "&name=".join(["a"] * 21),  # more values than the documented maxItems (20)
    ],
)
def test_bad_list_queries_are_400(client, auth, query):
    message = error_of(client.get(f"{API}/sessions{query}", headers=auth), 400, "invalid_request")
    name = query[1:].split("=")[0]
    assert message.startswith(name), message  # the message names the parameter


def test_values_within_max_items_are_accepted_even_holding_commas(client, auth):
    # The document allows 20 values of up to 200 characters; commas split them into more, which is
    # no reason to refuse a request the document calls valid.
    query = "&".join(["name=" + ",".join(["a"] * 3)] * 20)
    response = client.get(f"{API}/sessions?{query}", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_unknown_list_parameters_are_ignored(client, auth):
    response = client.get(f"{API}/sessions?color=blue&hasCritical=1", headers=auth)
    assert response.status_code == 200 and response.get_json() == {"total": 0, "data": []}


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
        {"fileId": "ok", "chunkIndex": "-1"},
        {"fileId": "ok", "chunkIndex": "1e3"},
        {"fileId": "ok", "chunkIndex": "0x1"},
        {"fileId": "ok", "chunkIndex": "10000"},  # max_chunks is 10000: indexes 0..9999
        # More digits than Python converts to an int (a ValueError, once a 500).
        {"fileId": "ok", "chunkIndex": "9" * 5000},
        {"fileId": "ok", "chunkIndex": "0", "totalChunks": "1" * 5000},
        {"fileId": "ok", "chunkIndex": "0", "totalChunks": "-3"},
        {"fileId": "ok", "chunkIndex": "0", "totalChunks": "0"},
        {"fileId": "ok", "chunkIndex": "5", "totalChunks": "3"},
        {"fileId": "ok", "chunkIndex": ""},
        {"fileId": "ok"},
        {"chunkIndex": "0"},
        {"fileId": "x" * 201, "chunkIndex": "0"},
    ],
)
def test_bad_chunk_fields_are_400_and_store_nothing(app, client, auth, form):
    for route in ("upload", "analyze", "enrich"):  # the three take chunks the same way
        body = {"chunk": (io.BytesIO(b"[1]"), "blob"), **form}
        response = client.post(f"{API}/{route}", data=body, headers=auth, content_type="multipart/form-data")
        message = error_of(response, 400, "invalid_request")
        assert message.split(":")[0] in {*form, "fileId", "chunkIndex"}, message
    assert count_rows(app, UploadChunk) == 0


def test_leading_zeros_and_spaces_in_chunk_numbers_are_fine(app, client, auth):
    body = {
        "chunk": (io.BytesIO(b"[1]"), "blob"),
        "fileId": "ok",
        "chunkIndex": " 0000 ",
        "totalChunks": "01",
    }
    response = client.post(f"{API}/upload", data=body, headers=auth, content_type="multipart/form-data")
    assert response.status_code == 200 and count_rows(app, UploadChunk) == 1


def test_a_chunk_request_without_its_file_part_is_400(client, auth):
    for form in ({"fileId": "ok", "chunkIndex": "0"}, {"fileId": "ok", "chunkIndex": "0", "chunk": ""}):
        response = client.post(f"{API}/upload", data=form, headers=auth, content_type="multipart/form-data")
        assert error_of(response, 400, "invalid_request").startswith("chunk")
    urlencoded = client.post(
        f"{API}/upload", data={"fileId": "ok", "chunkIndex": "0", "chunk": "x"}, headers=auth
    )
    assert "multipart/form-data" in error_of(urlencoded, 400, "invalid_request")


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
        # Wrong JSON types, each field in turn.
        b'{"fileId": 5, "assemble": true}',
        b'{"fileId": 1.5, "assemble": true}',
        b'{"fileId": true, "assemble": true}',
        b'{"fileId": ["ok"], "assemble": true}',
        b'{"fileId": NaN, "assemble": true}',
        b'{"fileId": "", "assemble": true}',
        b'{"fileId": "ok", "assemble": "true"}',
        b'{"fileId": "ok", "assemble": null}',
        b'{"fileId": "ok", "assemble": false}',
        b'{"fileId": "ok", "assemble": true, "fileName": 7}',
        b'{"fileId": "ok", "assemble": true, "fileName": ["a.txt"]}',
        b'{"fileId": "ok", "assemble": true, "fileName": {"name": "a.txt"}}',
        b'{"fileId": "ok", "assemble": true, "assemble": false}',
        b'{"fileId": ' + b"9" * 5000 + b', "assemble": true}',
        b'"fileId"',
        b"5",
        # Nesting deep enough for json to give up (a RecursionError, once a 500).
        b"[" * 60_000,
        b'{"a":' * 10_000,
    ],
)
def test_bad_assemble_bodies_are_400(client, auth, raw):
    response = client.post(f"{API}/upload", data=raw, headers=auth, content_type="application/json")
    error_of(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {"fileId": 5, "assemble": True},
        {"fileId": ["ok"], "assemble": True},
        {"fileId": "ok", "assemble": "true"},
        {"fileId": "ok", "assemble": None},
        {"fileId": "ok", "assemble": True, "fileName": 7},
        {"fileId": "never-sent", "assemble": True},
    ],
)
def test_bad_assemble_requests_to_analyze_and_enrich_are_400_and_cost_nothing(
    client, auth, fake_analyzer, body
):
    # A small JSON object with fileId and assemble is an assemble request whatever the types: its
    # fields are then checked like /upload's, not analysed as a dump.
    for url in (f"{API}/analyze?save=true", f"{ALIAS}/enrich"):
        message = error_of(client.post(url, json=body, headers=auth), 400, "invalid_request")
        assert message.split(":")[0] in body, message
    assert fake_analyzer.calls == 0
    assert client.get(f"{API}/quota", headers=auth).get_json()["remainingCredits"] == 1000


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
    gzip.compress(b'{"PeerConnections": {}}', mtime=0)[:-6],  # truncated gzip
    gzip.compress(b"", mtime=0)[:10] + b"\x00" * 12,  # a gzip header, then garbage
    gzip.compress(b"\n", mtime=0),  # gzip of (nearly) nothing
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
    error_of(client.delete(f"{API}/sessions/{uuid.uuid4()}", headers=auth), 404, "not_found")


def test_another_accounts_session_is_404_and_stays(client, auth, new_key, fake_analyzer):
    """Tenancy: a key of account acme learns nothing of globex's session, not even that it exists."""
    globex = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read", account="globex")}
    theirs = client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=globex).get_json()
    rtcstats_id = theirs["rtcstatsId"]
    for method in (client.get, client.delete):
        message = error_of(method(f"{ALIAS}/sessions/{rtcstats_id}", headers=auth), 404, "not_found")
        assert message == f"session '{rtcstats_id}' not found"  # as for an id that never existed
    assert client.get(f"{API}/sessions", headers=auth).get_json()["data"] == []
    assert client.get(f"{API}/sessions/{rtcstats_id}", headers=globex).status_code == 200


def test_odd_query_values_elsewhere_are_ignored_not_500(client, auth, fake_analyzer):
    # save is true only for true/1/yes; anything else analyses without storing.
    for query in ("save=maybe", "save=" + "x" * 5000, "fileName="):
        response = client.post(f"{API}/analyze?{query}", data=open_fixture(FIREFOX), headers=auth)
        assert response.status_code == 200 and "rtcstatsId" not in response.get_json()
    for path in ("/quota?x=%00", "/observations?limit=abc"):
        assert client.get(f"{API}{path}", headers=auth).status_code == 200
