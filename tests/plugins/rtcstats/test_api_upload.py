"""POST /upload: chunks in any order and twice, the official uploader's fields, assemble, limits."""

from __future__ import annotations

import gzip
import io
import json
import random

import pytest

from core.db import db
from plugins.rtcstats import service
from plugins.rtcstats.models import PENDING, Session, UploadChunk
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import (
    ALIAS,
    API,
    FIREFOX,
    account_id,
    assemble,
    chunk_form,
    error_of,
    open_fixture,
    run_worker,
    send_chunks,
    upload,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

MiB = 1 << 20


class Part:
    """A file part made afresh for each run (a BytesIO is closed after one request)."""

    def __init__(self, data: bytes):
        self.data = data


ABC, EMPTY = Part(b"abc"), Part(b"")


def post_chunk(client, headers, data, file_id, index, total=None, name=None, base=API):
    return client.post(
        f"{base}/upload",
        data=chunk_form(data, file_id, index, total, name),
        headers=headers,
        content_type="multipart/form-data",
    )


def quota(client, headers):
    return client.get(f"{API}/quota", headers=headers).get_json()


def stored(app, key: str) -> bytes:
    return app.extensions["mediaplane"].storage.get(key)


def test_official_uploader_flow_stores_the_exact_file_and_queues_its_analysis(app, client, auth):
    # The official uploader: 1 MiB chunks, part "chunk" with filename "blob", extra totalChunks and
    # fileName fields, a fileId "<name>-<ms>-<random>" that is no UUID.
    data = open_fixture("internals_chrome86_sfu_kurento_h264_relay.json")  # 3 MB: 3 chunks
    file_id = "internals_chrome86_sfu_kurento_h264_relay.json-1732550000000-k2j4h5g6f7d8s9a0"
    total = send_chunks(client, auth, data, file_id, chunk_size=MiB, name="kurento.json")
    assert total == 3
    response = assemble(client, auth, file_id, "kurento.json")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["success", "rtcstatsId", "rtcstatsUrl", "embedUrl"]
    assert body["success"] is True
    # The links carry a signed viewer token so that a browser can open them without an API key.
    assert body["rtcstatsUrl"].startswith(f"http://localhost/rtcstats/view/{body['rtcstatsId']}?token=")
    assert body["embedUrl"].startswith(f"http://localhost/rtcstats/embed/{body['rtcstatsId']}?token=")
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == body["rtcstatsId"])
        assert (row.status, row.file_name, row.title, row.file_size) == (
            PENDING,
            "kurento.json",
            "kurento",
            len(data),
        )
        assert stored(app, row.dump_key) == data
    assert count_rows(app, UploadChunk) == 0  # the chunks are gone once assembled
    queued = app.extensions["mediaplane"].redis.llen("rq:queue:rtcstats")
    assert queued == 1
    assert quota(client, auth)["remainingCredits"] == 999


def test_chunks_out_of_order_and_twice_assemble_in_index_order(app, client, auth):
    data = open_fixture(FIREFOX)
    size = len(data) // 9  # ten chunks, the last one short
    send_chunks(client, auth, data, "shuffled", chunk_size=size, order=[5, 2, 0, 9, 7, 1, 3, 6, 4])
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    assert len(parts) == 10
    # Retried requests send the same chunk again: accepted, nothing doubles.
    for index in (2, 2, 5, 8, 8):
        assert post_chunk(client, auth, parts[index], "shuffled", index, 10).get_json() == {"success": True}
    assert count_rows(app, UploadChunk) == 10
    made = assemble(client, auth, "shuffled", "ff.jsonl").get_json()
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == made["rtcstatsId"])
        assert stored(app, row.dump_key) == data
        assert row.file_size == len(data)


def test_a_duplicated_chunk_replaces_the_earlier_copy(app, client, auth):
    dump = open_fixture(FIREFOX)
    first, rest = dump[:1000], dump[1000:]
    assert post_chunk(client, auth, b"X" * 1000, "dup", 0, 2).status_code == 200
    assert post_chunk(client, auth, rest, "dup", 1, 2).status_code == 200
    assert post_chunk(client, auth, first, "dup", 0, 2).status_code == 200  # the retry wins
    made = assemble(client, auth, "dup", "dup.jsonl").get_json()
    with app.app_context(), db.connection_context():
        assert stored(app, Session.get(Session.rtcstats_id == made["rtcstatsId"]).dump_key) == dump


def test_missing_chunks_are_listed(app, client, auth):
    data = open_fixture(FIREFOX)
    send_chunks(client, auth, data, "gappy", chunk_size=2000, skip={0, 3, 4, 14})  # 15 chunks
    response = assemble(client, auth, "gappy")
    message = error_of(response, 400, "invalid_request")
    assert response.get_json()["missingChunks"] == [0, 3, 4, 14]
    assert "0, 3, 4, 14" in message
    assert count_rows(app, Session) == 0
    assert quota(client, auth)["remainingCredits"] == 1000
    # Without totalChunks only gaps below the highest index can be known.
    post_chunk(client, auth, b"[1]", "no-total", 2)
    assert assemble(client, auth, "no-total").get_json()["missingChunks"] == [0, 1]
    # Sending what was missing completes the upload; nothing was lost.
    parts = [data[i : i + 2000] for i in range(0, len(data), 2000)]
    for index in (0, 3, 4, 14):
        post_chunk(client, auth, parts[index], "gappy", index, 15)
    assert assemble(client, auth, "gappy").status_code == 200


def test_assembling_twice_or_unknown_file_id_is_400(client, auth):
    upload(client, auth, open_fixture(FIREFOX), file_id="once")
    message = error_of(assemble(client, auth, "once"), 400, "invalid_request")
    assert "no chunks found" in message
    error_of(assemble(client, auth, "never-sent"), 400, "invalid_request")


def test_file_ids_are_per_account(client, auth, new_key):
    other = {"X-API-Key": new_key("rtcstats:write", account="globex")}
    data = open_fixture(FIREFOX)
    send_chunks(client, auth, data, "shared-id", chunk_size=20000)
    error_of(assemble(client, other, "shared-id"), 400, "invalid_request")
    assert assemble(client, auth, "shared-id").status_code == 200


def test_any_printable_file_id_up_to_200_characters(client, auth):
    data = open_fixture(FIREFOX)
    for file_id in ("a" * 200, "../../etc/passwd", "weird id ✓ with spaces/and/slashes"):
        send_chunks(client, auth, data, file_id, chunk_size=50000)
        assert assemble(client, auth, file_id).status_code == 200, file_id


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"fileId": "f", "chunkIndex": "0"}, "chunk"),
        ({"chunk": ABC, "chunkIndex": "0"}, "fileId"),
        ({"chunk": ABC, "fileId": "f"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "-1"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "one"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "1.5"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "10000"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "3", "totalChunks": "3"}, "chunkIndex"),
        ({"chunk": ABC, "fileId": "f", "chunkIndex": "0", "totalChunks": "0"}, "totalChunks"),
        ({"chunk": EMPTY, "fileId": "f", "chunkIndex": "0"}, "chunk"),
        ({"chunk": ABC, "fileId": "x" * 201, "chunkIndex": "0"}, "fileId"),
        ({"chunk": ABC, "fileId": "a\x01b", "chunkIndex": "0"}, "fileId"),
        ({"chunk": ABC, "fileId": "   ", "chunkIndex": "0"}, "fileId"),
    ],
)
def test_bad_chunk_requests_are_400_naming_the_field(app, client, auth, form, field):
    form = {k: (io.BytesIO(v.data), "blob") if isinstance(v, Part) else v for k, v in form.items()}
    response = client.post(f"{API}/upload", data=form, headers=auth, content_type="multipart/form-data")
    assert error_of(response, 400, "invalid_request").startswith(field)
    assert count_rows(app, UploadChunk) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fileId": "f", "assemble": False, "fileName": "x"}, "assemble"),
        ({"fileId": "f", "fileName": "x"}, "assemble"),
        ({"assemble": True, "fileName": "x"}, "fileId"),
        ({"fileId": 7, "assemble": True}, "fileId"),
        ({"fileId": "f", "assemble": "yes"}, "assemble"),
        ({"fileId": "f", "assemble": True, "fileName": ["x"]}, "fileName"),
        ([1, 2], "body"),
        ("text", "body"),
    ],
)
def test_bad_assemble_requests_are_400(client, auth, body, field):
    response = client.post(
        f"{API}/upload", data=json.dumps(body), headers=auth, content_type="application/json"
    )
    assert error_of(response, 400, "invalid_request").startswith(field)


def test_other_bodies_are_400(client, auth):
    bad_json = client.post(f"{API}/upload", data=b"{nope", headers=auth, content_type="application/json")
    assert "not valid JSON" in error_of(bad_json, 400, "invalid_request")
    raw = client.post(
        f"{API}/upload", data=b"RTCStatsDump\n", headers=auth, content_type="application/octet-stream"
    )
    assert "multipart/form-data" in error_of(raw, 400, "invalid_request")


def test_file_name_is_optional_on_assemble(app, client, auth):
    data = open_fixture(FIREFOX)
    send_chunks(client, auth, data, "named-by-chunks", chunk_size=10000, name="from-chunks.jsonl")
    response = client.post(
        f"{API}/upload", json={"fileId": "named-by-chunks", "assemble": True}, headers=auth
    )
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == response.get_json()["rtcstatsId"])
    assert (row.file_name, row.title) == ("from-chunks.jsonl", "from-chunks")


def test_chunk_and_upload_size_limits_are_settings(make_app, new_key):
    app = make_app({"plugins": {"rtcstats": {"max_chunk_bytes": 2048, "max_upload_bytes": 5000}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    message = error_of(post_chunk(client, headers, b"x" * 2049, "big", 0), 413, "file_too_large")
    assert "2048" in message
    assert post_chunk(client, headers, b"[" * 2048, "big", 0).status_code == 200
    assert post_chunk(client, headers, b"x" * 2048, "big", 1).status_code == 200
    # A third chunk would make 6144 bytes.
    error_of(post_chunk(client, headers, b"x" * 2048, "big", 2), 413, "file_too_large")
    # Re-sending an index counts once.
    assert post_chunk(client, headers, b"x" * 2048, "big", 1).status_code == 200
    # A multipart body far over the chunk limit is refused before it is read.
    huge = client.post(
        f"{API}/upload",
        data=chunk_form(b"x" * 200_000, "big", 3),
        headers=headers,
        content_type="multipart/form-data",
    )
    error_of(huge, 413, "file_too_large")
    assert count_rows(app, UploadChunk) == 2


def test_no_credit_is_402_before_anything_is_stored(make_app, new_key):
    app = make_app({"plugins": {"rtcstats": {"monthly_credits": 1}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    upload(client, headers, open_fixture(FIREFOX), file_id="first")
    assert quota(client, headers)["remainingCredits"] == 0
    response = post_chunk(client, headers, b"[]", "second", 0)
    assert "no credits" in error_of(response, 402, "insufficient_credits")
    assert count_rows(app, UploadChunk) == 0
    error_of(assemble(client, headers, "second"), 402, "insufficient_credits")
    assert count_rows(app, Session) == 1


def test_credit_taken_at_assemble_and_given_back_when_analysis_fails(app, client, auth, fake_analyzer):
    fake_analyzer.fail = ValueError("the analyzer cannot cope")
    made = upload(client, auth, open_fixture(FIREFOX))
    assert quota(client, auth)["remainingCredits"] == 999
    run_worker(app)
    assert quota(client, auth)["remainingCredits"] == 1000
    response = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    assert "could not be analysed" in error_of(response, 422, "analysis_failed")
    # A good upload keeps its credit.
    fake_analyzer.fail = None
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    assert quota(client, auth)["remainingCredits"] == 999
    assert client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).status_code == 200


def test_not_a_dump_is_415_at_assemble_without_a_credit(app, client, auth):
    send_chunks(client, auth, b"PK\x03\x04 this is a zip file" * 10, "zip", chunk_size=100)
    message = error_of(assemble(client, auth, "zip", "dump.zip"), 415, "parsing_issue")
    assert "line 1" in message
    assert count_rows(app, Session) == 0
    assert quota(client, auth)["remainingCredits"] == 1000
    # The chunks stay: the client may fix a wrong chunk and assemble again.
    assert count_rows(app, UploadChunk) == 3


def test_gzip_uploads_are_sniffed_through_the_compression(app, client, auth):
    data = open_fixture("internals_chrome142_getusermedia_only.gz")
    assert upload(client, auth, data, name="gum.gz")["success"] is True
    send_chunks(client, auth, gzip.compress(b"hello, not a dump"), "gz-bad", chunk_size=10)
    error_of(assemble(client, auth, "gz-bad"), 415, "parsing_issue")
    send_chunks(client, auth, b"\x1f\x8b\x08garbage", "gz-corrupt")
    assert "gzip" in error_of(assemble(client, auth, "gz-corrupt"), 415, "parsing_issue")


def noisy_gzip(size: int) -> bytes:
    """The gzip of a webrtc-internals-shaped body of about `size` bytes that compresses poorly, so the
    compressed file is larger than the first bytes assemble sniffs."""
    text = random.Random(11).randbytes(size // 2).hex().encode()
    return gzip.compress(b'{"PeerConnections": {}, "UserAgent": "' + text + b'"}')


def test_a_cut_off_gzip_upload_is_415_at_assemble_and_can_be_completed(app, client, auth):
    """The cut is in the last chunk, far past the first bytes: only decoding the whole stream sees it.
    Nothing is charged or stored, and the chunks stay for the client to send the missing part."""
    whole = noisy_gzip(400_000)
    assert len(whole) > service.SNIFF_BYTES * 2
    size = 64 * 1024
    count = send_chunks(client, auth, whole[:-500], "cut", chunk_size=size, name="call.gz")
    message = error_of(assemble(client, auth, "cut", "call.gz"), 415, "parsing_issue")
    assert message.startswith("truncated gzip:") and "empty" not in message
    assert count_rows(app, Session) == 0 and count_rows(app, UploadChunk) == count
    assert quota(client, auth)["remainingCredits"] == 1000
    response = post_chunk(client, auth, whole[(count - 1) * size :], "cut", count - 1)
    assert response.status_code == 200
    assert assemble(client, auth, "cut", "call.gz").status_code == 200
    assert quota(client, auth)["remainingCredits"] == 999


def test_a_damaged_gzip_chunk_is_415_at_assemble(app, client, auth):
    whole = bytearray(noisy_gzip(400_000))
    whole[len(whole) // 2 : len(whole) // 2 + 64] = b"\xff" * 64  # one chunk in the middle is garbage
    send_chunks(client, auth, bytes(whole), "garbled", chunk_size=64 * 1024)
    message = error_of(assemble(client, auth, "garbled"), 415, "parsing_issue")
    assert message.startswith("damaged gzip stream:")
    send_chunks(client, auth, gzip.compress(b""), "empty-inside")
    message = error_of(assemble(client, auth, "empty-inside"), 415, "parsing_issue")
    assert message == "the gzip stream is intact but the file inside it is empty"
    assert count_rows(app, Session) == 0 and quota(client, auth)["remainingCredits"] == 1000


def test_a_gzip_bomb_upload_is_413_at_assemble(make_app, new_key):
    app = make_app({"plugins": {"rtcstats": {"max_compression_ratio": 10}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    bomb = gzip.compress(b"[" + b" " * (8 * MiB) + b"]")
    send_chunks(client, headers, bomb, "bomb", chunk_size=1024)
    assert "expands beyond" in error_of(assemble(client, headers, "bomb"), 413, "file_too_large")
    assert count_rows(app, Session) == 0 and quota(client, headers)["remainingCredits"] == 1000


def test_upload_through_the_alias(app, client, auth):
    data = open_fixture(FIREFOX)
    send_chunks(client, auth, data, "alias", chunk_size=10000, base=ALIAS)
    response = assemble(client, auth, "alias", base=ALIAS)
    assert response.status_code == 200
    assert account_id(app) is not None


def test_embed_url_only_on_the_enterprise_plan_and_public_url_is_the_base(make_app, new_key):
    app = make_app(
        {"plugins": {"rtcstats": {"account_plan": "developer", "public_url": "https://media.example.com/"}}}
    )
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    body = upload(client, headers, open_fixture(FIREFOX))
    assert "embedUrl" not in body
    assert body["rtcstatsUrl"].startswith(
        f"https://media.example.com/rtcstats/view/{body['rtcstatsId']}?token="
    )
    listed = client.get(f"{API}/sessions", headers=headers).get_json()["data"][0]
    assert "embedUrl" not in listed
    assert client.get(f"{API}/quota", headers=headers).get_json()["accountPlan"] == "developer"
