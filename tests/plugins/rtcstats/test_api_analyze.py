"""POST /analyze (and /enrich): synchronous analysis of a body, ?save, credits, limits, bad input."""

from __future__ import annotations

import gzip
import io
import random
import uuid

import pytest

from core.db import db
from core.hookspecs import hookimpl
from plugins.rtcstats.models import READY, Session, UploadChunk
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import (
    ALIAS,
    API,
    FIREFOX,
    chunk_form,
    error_of,
    open_fixture,
    send_chunks,
    untokened,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)


# A small webrtc-internals body whose gzip is a few KB (random hex compresses poorly).
# mtime=0: the bytes name tests, which parallel workers (pytest-xdist) must collect alike.
GZ_DUMP = gzip.compress(
    b'{"PeerConnections": {}, "UserAgent": "' + random.Random(3).randbytes(3000).hex().encode() + b'"}',
    mtime=0,
)


def remaining(client, headers) -> int:
    return client.get(f"{API}/quota", headers=headers).get_json()["remainingCredits"]


class Listener:
    def __init__(self):
        self.seen = []

    @hookimpl
    def rtcstats_session_analyzed(self, account_id, rtcstats_id):
        self.seen.append((account_id, rtcstats_id))


def test_analyze_without_save_answers_the_analysis_only(app, client, auth, fake_analyzer):
    """Without ?save nothing is stored. data.id is still a fresh uuid, not null: rtcstats-api.md
    (AnalyzeResponseData) documents `id` as "string (uuid)" with no "nullable" and no "null without
    ?save" remark, while it says exactly that of created_at, uploaded_by and uploaded_by_email (null
    here); the vendor's OpenAPI types it `format: uuid` and its uploader reads data.id. The uuid names
    nothing: GET /sessions/{id} answers 404 for it, and rtcstatsId stays absent (the vendor: "when
    save was used; otherwise absent")."""
    response = client.post(
        f"{API}/analyze", data=open_fixture(FIREFOX), headers=auth, content_type="application/octet-stream"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["data", "processorVersion"]
    assert body["processorVersion"] == "test-1"
    data = body["data"]
    assert data["experienceScore"] == 72.5 and data["pConnectionsNumber"] == 1
    assert data["fileSize"] == len(open_fixture(FIREFOX))
    assert (data["created_at"], data["uploaded_by"], data["uploaded_by_email"]) == (None,) * 3
    assert str(uuid.UUID(data["id"])) == data["id"]
    assert data["tags"] == [] and data["public_link"] is None and data["description"] is None
    assert count_rows(app, Session) == 0
    assert remaining(client, auth) == 999
    error_of(client.get(f"{API}/sessions/{data['id']}", headers=auth), 404, "not_found")
    again = client.post(f"{API}/analyze", data=open_fixture(FIREFOX), headers=auth).get_json()
    assert again["data"]["id"] != data["id"]  # a fresh one each time: two analyses are not one session


@pytest.mark.parametrize("save", ["true", "1", "True"])
def test_analyze_with_save_stores_a_session_like_upload(app, client, auth, fake_analyzer, save):
    listener = Listener()
    app.extensions["mediaplane"].plugins.pm.register(listener)
    dump = open_fixture(FIREFOX)
    response = client.post(f"{API}/analyze?save={save}&fileName=firefox-call.jsonl", data=dump, headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["data", "rtcstatsId", "rtcstatsUrl", "embedUrl", "processorVersion"]
    rtcstats_id = body["rtcstatsId"]
    assert body["data"]["id"] == rtcstats_id
    assert body["data"]["created_at"].endswith("Z")
    assert body["data"]["fileName"] == "firefox-call.jsonl" and body["data"]["title"] == "firefox-call"
    assert body["rtcstatsUrl"].split("?token=")[0].endswith(f"/rtcstats/view/{rtcstats_id}")
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == rtcstats_id)
        assert (row.status, row.source, row.processor_version) == (READY, "analyze", "test-1")
        assert app.extensions["mediaplane"].storage.get(row.dump_key) == dump
    again = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).get_json()
    assert untokened(again) == untokened(body)
    assert listener.seen == [(listener.seen[0][0], rtcstats_id)]
    assert remaining(client, auth) == 999


@pytest.mark.parametrize("save", ["false", "0", "no", ""])
def test_other_save_values_do_not_store(app, client, auth, fake_analyzer, save):
    response = client.post(f"{API}/analyze?save={save}", data=open_fixture(FIREFOX), headers=auth)
    assert response.status_code == 200 and "rtcstatsId" not in response.get_json()
    assert count_rows(app, Session) == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/octet-stream", "text/plain", "application/json", "application/x-www-form-urlencoded", None],
)
def test_any_content_type_is_the_dump(client, auth, fake_analyzer, content_type):
    dump = open_fixture("internals_chrome142_getusermedia_only.gz")
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post(f"{ALIAS}/analyze", data=dump, headers=auth, **kwargs)
    assert response.status_code == 200, response.get_json()
    assert fake_analyzer.calls == 1


def test_empty_body_is_400_and_costs_nothing(client, auth, fake_analyzer):
    assert "empty" in error_of(client.post(f"{API}/analyze", headers=auth), 400, "invalid_request")
    assert remaining(client, auth) == 1000 and fake_analyzer.calls == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"hello world", "not a webrtc-internals dump"),
        (b'{"PeerConnections": ', "line"),
        (b"RTCStatsDump\nnot json\n", "metadata"),
        (gzip.compress(b"x", mtime=0)[:10] + b"\xff\xff\xff\xff", "damaged gzip stream: invalid block type"),
        (b"   \n\t ", "the file is empty"),
        # Damaged gzip used to be reported as "the file is empty" (zlib takes a cut-off stream for a
        # short one): the message names the real problem.
        (GZ_DUMP[:10], "truncated gzip"),
        (GZ_DUMP[: len(GZ_DUMP) // 2], "truncated gzip"),
        (GZ_DUMP[:-8], "truncated gzip"),
        (GZ_DUMP[:10] + bytes([GZ_DUMP[10] ^ 0xFF]) + GZ_DUMP[11:], "damaged gzip stream"),
        (GZ_DUMP[:-8] + b"\0\0\0\0" + GZ_DUMP[-4:], "damaged gzip stream: CRC-32 mismatch"),
        (gzip.compress(b"", mtime=0), "the gzip stream is intact but the file inside it is empty"),
    ],
)
def test_unreadable_dumps_are_415_naming_the_problem_and_cost_nothing(
    client, auth, fake_analyzer, body, words
):
    for url in (f"{API}/analyze?save=true", f"{API}/analyze", f"{ALIAS}/enrich"):
        message = error_of(client.post(url, data=body, headers=auth), 415, "parsing_issue")
        assert words in message
    assert remaining(client, auth) == 1000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (GZ_DUMP[:-100], "truncated gzip"),
        (GZ_DUMP[:10] + b"\xff" * 20, "damaged gzip stream"),
        (gzip.compress(b"", mtime=0), "inside it is empty"),
    ],
    ids=["truncated", "corrupt", "empty-inside"],
)
def test_damaged_gzip_in_chunks_is_415_at_assemble_and_the_chunks_stay(
    app, client, auth, fake_analyzer, body, words
):
    """Chunks then an assemble request to /analyze and /enrich: refused before the chunks are used up,
    so the client can replace the bad chunk and assemble again."""
    for base, route in ((API, "analyze"), (ALIAS, "enrich")):
        file_id = f"gz-{route}"
        send_chunks(client, auth, body, file_id, chunk_size=-(-len(body) // 3))
        response = client.post(f"{base}/{route}", json={"fileId": file_id, "assemble": True}, headers=auth)
        assert words in error_of(response, 415, "parsing_issue")
    assert count_rows(app, UploadChunk) == 6 and fake_analyzer.calls == 0
    assert remaining(client, auth) == 1000
    # The chunks replaced by good ones, the same fileId is analysed.
    send_chunks(client, auth, GZ_DUMP, "gz-analyze", chunk_size=-(-len(GZ_DUMP) // 3))
    response = client.post(f"{API}/analyze", json={"fileId": "gz-analyze", "assemble": True}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert remaining(client, auth) == 999


def test_body_size_limit_is_a_setting(make_app, new_key, fake_analyzer):
    app = make_app({"plugins": {"rtcstats": {"max_analyze_bytes": 4096}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    message = error_of(
        client.post(f"{API}/analyze", data=b"[" * 4097, headers=headers), 413, "file_too_large"
    )
    assert "4096" in message
    # A chunked body announces no length: it is cut at the limit and refused the same way.
    response = client.post(
        f"{API}/analyze",
        input_stream=io.BytesIO(b"[" * 10000),
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn sets for chunked bodies
    )
    error_of(response, 413, "file_too_large")
    assert remaining(client, headers) == 1000


def test_gzip_bombs_are_413(make_app, new_key, fake_analyzer):
    app = make_app({"plugins": {"rtcstats": {"max_compression_ratio": 10}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    bomb = gzip.compress(b"[" + b" " * (8 * 1024 * 1024) + b"]")
    message = error_of(client.post(f"{API}/analyze", data=bomb, headers=headers), 413, "file_too_large")
    assert "gzip" in message
    assert remaining(client, headers) == 1000


def test_no_credit_is_402_before_the_analysis_runs(make_app, new_key, fake_analyzer):
    app = make_app({"plugins": {"rtcstats": {"monthly_credits": 2}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    dump = open_fixture(FIREFOX)
    assert client.post(f"{API}/analyze", data=dump, headers=headers).status_code == 200
    assert client.post(f"{API}/analyze?save=1", data=dump, headers=headers).status_code == 200
    calls = fake_analyzer.calls
    error_of(client.post(f"{API}/analyze", data=dump, headers=headers), 402, "insufficient_credits")
    error_of(client.post(f"{API}/enrich", data=dump, headers=headers), 402, "insufficient_credits")
    assert fake_analyzer.calls == calls
    assert count_rows(app, Session) == 1


def test_a_failing_analyzer_is_500_and_gives_the_credit_back(app, client, auth, fake_analyzer):
    fake_analyzer.fail = KeyError("bug")
    error_of(
        client.post(f"{API}/analyze?save=true", data=open_fixture(FIREFOX), headers=auth),
        500,
        "internal_error",
    )
    assert remaining(client, auth) == 1000
    assert count_rows(app, Session) == 0


def test_analyze_accepts_chunks_then_an_assemble_request(app, client, auth, fake_analyzer):
    # The vendor's newer description: the dump may come to /analyze in chunks as to /upload.
    dump = open_fixture(FIREFOX)
    parts = [dump[i : i + 10000] for i in range(0, len(dump), 10000)]
    for index in reversed(range(len(parts))):
        response = client.post(
            f"{API}/analyze",
            data=chunk_form(parts[index], "an-1", index),
            headers=auth,
            content_type="multipart/form-data",
        )
        assert response.get_json() == {"success": True}
    assert remaining(client, auth) == 1000  # a chunk costs nothing
    response = client.post(
        f"{API}/analyze?save=true",
        json={"fileId": "an-1", "assemble": True, "fileName": "chunky.jsonl"},
        headers=auth,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"]["fileName"] == "chunky.jsonl" and body["data"]["fileSize"] == len(dump)
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == body["rtcstatsId"])
        assert app.extensions["mediaplane"].storage.get(row.dump_key) == dump
    assert count_rows(app, UploadChunk) == 0
    assert remaining(client, auth) == 999
    # Without save nothing is stored; fileName is not needed.
    send_chunks(client, auth, dump, "an-2", chunk_size=20000)
    plain = client.post(f"{API}/analyze", json={"fileId": "an-2", "assemble": True}, headers=auth)
    assert list(plain.get_json()) == ["data", "processorVersion"]
    missing = client.post(f"{API}/analyze", json={"fileId": "an-3", "assemble": True}, headers=auth)
    error_of(missing, 400, "invalid_request")


def test_enrich_answers_the_scores_projection_and_stores_nothing(app, client, auth, fake_analyzer):
    fake_analyzer.result = {
        "experienceScore": 55.5,
        "audioScore": 3.2,
        "videoScore": None,
        "connectivityScore": 4,
        "observationsScore": 28,
        "userAgentData": {"browser": "Chrome"},
        "observations": [
            {
                "type": "highRtt",
                "severity": "high",
                "category": "pairs",
                "tags": ["network"],
                "firstSeenAt": 1700000000123.7,
                "averageInMs": 420.5,
                "maxInMs": None,
                "source": {"pid": "1"},
                "indicators": {"min": 1},
            },
            {"type": "noTurn", "severity": "info", "category": "connections", "url": "turn:x"},
        ],
    }
    response = client.post(f"{ALIAS}/enrich", data=open_fixture(FIREFOX), headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "processorVersion", "generatedAt"}
    assert isinstance(body["generatedAt"], int)
    assert body["data"] == {
        "scores": {
            "experienceScore": 55.5,
            "audioScore": 3.2,
            "videoScore": None,
            "connectivityScore": 4,
            "observationsScore": 28,
        },
        "observationsCount": {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 1},
        "observations": [
            {
                "type": "highRtt",
                "severity": "high",
                "category": "pairs",
                "tags": ["network"],
                "firstSeenAt": 1700000000123,
                "averageInMs": 420.5,
            },
            {"type": "noTurn", "severity": "info", "category": "connections", "url": "turn:x"},
        ],
        "userAgentData": {"browser": "Chrome"},
    }
    assert count_rows(app, Session) == 0
    assert remaining(client, auth) == 999
    error_of(client.post(f"{ALIAS}/enrich", data=b"nope", headers=auth), 415, "parsing_issue")
    assert remaining(client, auth) == 999
