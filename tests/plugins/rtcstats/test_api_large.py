"""Large dumps and bombs: big analyses queued (202) without the request decompressing them, bombs refused
(413 in the request, or a failed session when only the job can tell), memory bounded."""

from __future__ import annotations

import functools
import gzip
import tracemalloc
import uuid
import zlib

import pytest
from rq import Queue

from plugins.rtcstats.models import FAILED, PENDING, READY, Session
from plugins.rtcstats.parsing import Limits
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import (
    API,
    FIREFOX,
    error_of,
    open_fixture,
    run_worker,
    send_chunks,
)

pytest_plugins = ("tests.plugins.rtcstats.test_api_common", "tests.plugins.rtcstats.probes")

INLINE_MAX = 4096  # FIREFOX (28 KB) is "large" for these apps
MiB = 1024 * 1024


@pytest.fixture
def app(make_app):
    return make_app({"plugins": {"rtcstats": {"analyze_inline_max_bytes": INLINE_MAX}}})


def remaining(client, headers) -> int:
    return client.get(f"{API}/quota", headers=headers).get_json()["remainingCredits"]


def assert_queued(response) -> str:
    assert response.status_code == 202, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["data"] is None and body["status"] == "pending"
    rtcstats_id = body["rtcstatsId"]
    assert str(uuid.UUID(rtcstats_id)) == rtcstats_id
    assert body["rtcstatsUrl"].split("?")[0].endswith(rtcstats_id)
    assert f"more than the {INLINE_MAX}" in body["message"]
    assert response.headers["Location"] == f"{API}/sessions/{rtcstats_id}"
    assert response.headers["Retry-After"] == "5"
    return rtcstats_id


def test_a_dump_over_the_inline_size_is_stored_and_analysed_by_a_job(app, client, auth, fake_analyzer):
    response = client.post(f"{API}/analyze?fileName=big.jsonl", data=open_fixture(FIREFOX), headers=auth)
    rtcstats_id = assert_queued(response)
    assert fake_analyzer.calls == 0  # nothing analysed in the request
    assert remaining(client, auth) == 999  # one credit, as for an inline analysis
    with app.app_context():
        row = Session.get(Session.rtcstats_id == uuid.UUID(rtcstats_id))
        assert (row.status, row.source, row.file_name) == (PENDING, "analyze", "big.jsonl")
        assert app.extensions["mediaplane"].storage.get(row.dump_key) == open_fixture(FIREFOX)
    error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=auth), 409, "analysis_pending")

    run_worker(app)
    done = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth)
    assert done.status_code == 200
    assert done.get_json()["data"]["experienceScore"] == 72.5
    assert fake_analyzer.calls == 1
    with app.app_context():
        assert Session.get(Session.rtcstats_id == uuid.UUID(rtcstats_id)).status == READY


def test_the_size_that_decides_is_the_size_after_gunzip(app, client, auth, fake_analyzer, gzip_probe):
    """A gzip body whose trailer says it expands beyond the inline size (and within its cap) is queued
    without being decompressed in the request: only its first bytes are sniffed for the format."""
    body = gzip.compress(open_fixture(FIREFOX), 9)
    assert len(body) < 4 * INLINE_MAX < len(open_fixture(FIREFOX))
    rtcstats_id = assert_queued(client.post(f"{API}/analyze", data=body, headers=auth))
    assert gzip_probe.decoders == []
    run_worker(app)  # the job checks the file whole, then analyses it
    assert client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).status_code == 200
    assert fake_analyzer.calls == 1


def test_a_dump_within_the_inline_size_is_answered_at_once(make_app, auth, fake_analyzer):
    client = make_app({"plugins": {"rtcstats": {"analyze_inline_max_bytes": 64 * 1024}}}).test_client()
    response = client.post(f"{API}/analyze", data=open_fixture(FIREFOX), headers=auth)
    assert response.status_code == 200
    assert response.get_json()["data"]["experienceScore"] == 72.5


def test_an_assembled_upload_over_the_inline_size_is_queued(app, client, auth, fake_analyzer):
    file_id = f"big-{uuid.uuid4().hex[:8]}"
    send_chunks(client, auth, open_fixture(FIREFOX), file_id, chunk_size=8192, base=API)
    response = client.post(f"{API}/analyze", json={"fileId": file_id, "assemble": True}, headers=auth)
    rtcstats_id = assert_queued(response)
    run_worker(app)
    assert client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).status_code == 200


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_enrich_refuses_a_dump_over_the_inline_size(app, client, auth, fake_analyzer, gzip_probe, gzipped):
    body = gzip.compress(open_fixture(FIREFOX)) if gzipped else open_fixture(FIREFOX)
    message = error_of(client.post(f"{API}/enrich", data=body, headers=auth), 413, "file_too_large")
    assert "send it to /analyze or /upload" in message
    assert remaining(client, auth) == 1000 and fake_analyzer.calls == 0
    assert gzip_probe.decoders == []  # its trailer says it is too big: nothing decompressed


def test_a_big_gzip_upload_is_assembled_without_decompressing_it(
    app, client, auth, fake_analyzer, gzip_probe
):
    body = gzip.compress(open_fixture(FIREFOX))
    send_chunks(client, auth, body, "big-gz", chunk_size=1000, base=API)
    response = client.post(f"{API}/upload", json={"fileId": "big-gz", "assemble": True}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert gzip_probe.decoders == []
    run_worker(app)
    assert client.get(f"{API}/sessions/{response.get_json()['rtcstatsId']}", headers=auth).status_code == 200


def test_a_large_body_that_is_no_dump_is_415_and_costs_nothing(app, client, auth, fake_analyzer):
    error_of(client.post(f"{API}/analyze", data=b"hello " * 2000, headers=auth), 415, "parsing_issue")
    assert remaining(client, auth) == 1000
    assert count_rows(app, Session) == 0


@functools.cache
def zero_bomb(expanded: int, head: bytes = b"") -> bytes:
    """gzip of `head` then `expanded` zero bytes (about 1000:1), made piece by piece."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    parts = [packer.compress(head)] + [packer.compress(zeros) for _ in range(expanded // MiB)]
    return b"".join(parts) + packer.flush()


def dump_bomb() -> bytes:
    """A bomb that starts as a webrtc-internals dump does (so the format sniffed from its first bytes
    passes) and expands to 1 GiB."""
    return zero_bomb(1024 * MiB, b'{"PeerConnections": {}, "UserAgent": "')


def peak_python_bytes(call) -> int:
    """The most memory Python objects held (above the start) while `call` ran."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({}, "expands beyond"),  # 1 GiB of zeros: over the ratio cap (200 x ~1 MB)
        ({"max_compression_ratio": 2000}, "expands beyond 536870912 bytes"),  # ratio allowed: 512 MiB cap
    ],
)
def test_refusing_a_bomb_costs_less_than_64_mb(make_app, auth, fake_analyzer, settings, reason):
    client = make_app({"plugins": {"rtcstats": settings}}).test_client()
    bomb = zero_bomb(1024 * MiB)
    outcome = {}

    def post():
        outcome["response"] = client.post(f"{API}/analyze", data=bomb, headers=auth)

    peak = peak_python_bytes(post)
    assert reason in error_of(outcome["response"], 413, "file_too_large")
    assert peak < 64 * MiB, f"refusing the bomb held {peak / MiB:.0f} MiB"
    assert fake_analyzer.calls == 0
    assert remaining(client, auth) == 1000


def post_dump(client, auth, route: str, body: bytes, file_id: str):
    """POST the body to /analyze, or send it in chunks and assemble it there (route "chunks")."""
    if route == "body":
        return client.post(f"{API}/analyze", data=body, headers=auth)
    send_chunks(client, auth, body, file_id, chunk_size=MiB, base=API)
    return client.post(f"{API}/analyze", json={"fileId": file_id, "assemble": True}, headers=auth)


@pytest.mark.parametrize("route", ["body", "chunks"])
@pytest.mark.parametrize(
    "last_member",
    [b"{}", b"{" + b" " * 5000 + b"}"],  # its trailer gives 2 bytes (within the inline size), 5002 (beyond)
    ids=["claims-small", "claims-big"],
)
def test_a_bomb_its_trailer_hides_is_queued_and_the_job_fails_it(
    app, client, auth, fake_analyzer, gzip_probe, route, last_member
):
    """A bomb made of two gzip members, the last one small: its trailer understates it, and nothing
    cheaper than decoding it whole tells it from a big dump. The request decodes at most the inline
    size (none at all when the trailer says it is big), stores it and queues it (202, one credit);
    the job checks it whole, streamed and capped, before parsing it: the session fails with the
    reason, the credit is given back, and neither side held the bomb in memory."""
    bomb = dump_bomb() + gzip.compress(last_member)
    outcome = {}

    def post():
        outcome["response"] = post_dump(client, auth, route, bomb, f"bomb-{route}")

    assert peak_python_bytes(post) < 64 * MiB
    rtcstats_id = assert_queued(outcome["response"])
    assert gzip_probe.decoded <= INLINE_MAX
    assert remaining(client, auth) == 999

    gzip_probe.clear()
    assert peak_python_bytes(lambda: run_worker(app)) < 64 * MiB
    cap = Limits(max_ratio=200).cap(len(bomb))
    assert cap - MiB <= gzip_probe.decoded <= cap  # the job decoded up to the ratio cap, then refused it
    assert fake_analyzer.calls == 0
    message = error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=auth), 422, "analysis_failed")
    assert "expands beyond" in message
    assert remaining(client, auth) == 1000
    with app.app_context():
        assert Session.get(Session.rtcstats_id == uuid.UUID(rtcstats_id)).status == FAILED


def test_a_failed_bombs_reanalysis_after_an_upgrade_is_left_to_a_job(
    app, client, auth, fake_analyzer, gzip_probe, monkeypatch
):
    from plugins.rtcstats import analysis

    bomb = dump_bomb() + gzip.compress(b"{}")
    rtcstats_id = assert_queued(client.post(f"{API}/analyze", data=bomb, headers=auth))
    run_worker(app)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")  # a failed session is tried again
    gzip_probe.clear()
    error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=auth), 409, "analysis_pending")
    assert gzip_probe.decoded <= INLINE_MAX  # judged within the budget, not decoded in the request
    run_worker(app)
    message = error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=auth), 422, "analysis_failed")
    assert "expands beyond" in message


def test_a_big_outdated_session_is_analysed_again_by_a_job_not_in_the_request(
    app, client, auth, fake_analyzer, monkeypatch
):
    from plugins.rtcstats import analysis

    rtcstats_id = assert_queued(client.post(f"{API}/analyze", data=open_fixture(FIREFOX), headers=auth))
    run_worker(app)
    assert fake_analyzer.calls == 1
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")  # the analyzer was upgraded

    stale = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth)
    assert stale.status_code == 200
    assert stale.get_json()["processorVersion"] == "test-1"  # the older analysis, served as it is
    assert fake_analyzer.calls == 1  # nothing parsed in the request
    client.get(f"{API}/sessions/{rtcstats_id}", headers=auth)
    queue = Queue("rtcstats", connection=app.extensions["mediaplane"].redis)
    assert queue.count == 1  # two GETs, one job

    run_worker(app)
    assert fake_analyzer.calls == 2
    fresh = client.get(f"{API}/sessions/{rtcstats_id}", headers=auth).get_json()
    assert fresh["processorVersion"] == "test-2"


def test_the_viewer_leaves_a_big_dumps_charts_to_a_job(app, client, auth, monkeypatch):
    import plugins.rtcstats.parsing as parsing
    from tests.plugins.rtcstats.fixtures import dump_bytes

    body = dump_bytes("internals_chrome144_p2p_audio_video.txt")
    rtcstats_id = assert_queued(client.post(f"{API}/analyze", data=body, headers=auth))
    run_worker(app)  # the real analyzer: the session records how big its dump is

    real_parse = parsing.parse

    def no_parsing(*args, **kwargs):
        raise AssertionError("a big dump was parsed within a page request")

    monkeypatch.setattr(parsing, "parse", no_parsing)
    page = client.get(f"/rtcstats/view/{rtcstats_id}", headers=auth)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="chart"' not in html and "Scores" in html

    monkeypatch.setattr(parsing, "parse", real_parse)
    run_worker(app)  # measures the series into the cache
    monkeypatch.setattr(parsing, "parse", no_parsing)
    html = client.get(f"/rtcstats/view/{rtcstats_id}", headers=auth).get_data(as_text=True)
    assert html.count('class="chart"') > 20
