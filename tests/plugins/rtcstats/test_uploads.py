"""The chunk store: validation, idempotent chunks, completeness, claiming, expiry (storage + database)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db import db, utcnow
from plugins.rtcstats import uploads
from plugins.rtcstats.models import UploadChunk

LIMITS = uploads.UploadLimits(max_chunk_bytes=100, max_chunks=10, max_upload_bytes=250)


@pytest.fixture
def store(app):
    with app.app_context(), db.connection_context():
        yield app.extensions["mediaplane"].storage


def put(store, index, data=b"x" * 10, file_id="f", account=1, **kwargs):
    return uploads.store_chunk(
        store, account, LIMITS, file_id=file_id, chunk_index=index, data=data, **kwargs
    )


def test_chunks_are_stored_under_the_account_and_hashed_file_id(store):
    put(store, "3", b"abc", file_id="../x")
    key = uploads.chunk_key(1, "../x", 3)
    assert key.startswith("rtcstats/1/uploads/") and ".." not in key
    assert store.get(key) == b"abc"
    assert uploads.chunk_key(2, "../x", 3) != key


def test_the_same_index_twice_keeps_one_row_and_the_newest_bytes(store):
    put(store, 0, b"first")
    put(store, 0, b"second!", total_chunks="2", file_name="a.txt")
    rows = uploads.chunks_of(1, "f")
    assert [(r.chunk_index, r.size, r.total_chunks, r.file_name) for r in rows] == [(0, 7, 2, "a.txt")]
    assert store.get(uploads.chunk_key(1, "f", 0)) == b"second!"


def test_completeness_uses_total_chunks_and_the_highest_index(store):
    with pytest.raises(uploads.NoChunks):
        uploads.check_complete([], "f")
    put(store, 1)
    put(store, 4, total_chunks=7)
    with pytest.raises(uploads.MissingChunks) as err:
        uploads.check_complete(uploads.chunks_of(1, "f"), "f")
    assert err.value.missing == [0, 2, 3, 5, 6]


def test_many_missing_chunks_are_summarised_in_the_message():
    err = uploads.MissingChunks(list(range(80)))
    assert err.missing == list(range(80))
    assert str(err).startswith("chunks missing: 0, 1, 2,") and "48, 49, ...;" in str(err)


def test_assemble_concatenates_in_order_and_claim_happens_once(store):
    for index, data in ((2, b"C"), (0, b"A"), (1, b"B")):
        put(store, index, data)
    assembled = uploads.assemble(store, 1, "f", 250)
    assert (assembled.file.read(), assembled.size, assembled.indexes) == (b"ABC", 3, [0, 1, 2])
    assert uploads.claim(1, "f", assembled.indexes) is True
    assert uploads.claim(1, "f", assembled.indexes) is False  # a racing assemble loses
    uploads.delete_objects(store, 1, "f", assembled.indexes)
    assert not store.exists(uploads.chunk_key(1, "f", 0))


def test_a_row_without_its_object_is_a_missing_chunk(store):
    put(store, 0)
    put(store, 1)
    store.delete(uploads.chunk_key(1, "f", 1))
    with pytest.raises(uploads.MissingChunks) as err:
        uploads.assemble(store, 1, "f", 250)
    assert err.value.missing == [1]


def test_limits(store):
    with pytest.raises(uploads.UploadTooLarge, match="chunk"):
        put(store, 0, b"x" * 101)
    put(store, 0, b"x" * 100)
    put(store, 1, b"x" * 100)
    with pytest.raises(uploads.UploadTooLarge, match="250"):
        put(store, 2, b"x" * 51)
    put(store, 1, b"x" * 100)  # replacing a chunk does not count twice
    put(store, 2, b"x" * 50)
    with pytest.raises(uploads.InvalidUpload, match="chunkIndex"):
        put(store, 10)


def test_purge_deletes_only_uploads_idle_past_the_expiry(store):
    put(store, 0, file_id="stale")
    put(store, 1, file_id="stale")
    put(store, 0, file_id="busy")
    put(store, 1, file_id="busy")
    old = utcnow() - dt.timedelta(hours=3)
    UploadChunk.update(received_at=old).where(UploadChunk.file_id == "stale").execute()
    # "busy" has an old chunk but got a new one recently: still in progress.
    UploadChunk.update(received_at=old).where(
        UploadChunk.file_id == "busy", UploadChunk.chunk_index == 0
    ).execute()
    assert uploads.purge_abandoned(store, 3600) == 1
    assert [r.file_id for r in UploadChunk.select().order_by(UploadChunk.id)] == ["busy", "busy"]
    assert not store.exists(uploads.chunk_key(1, "stale", 0))
    assert store.exists(uploads.chunk_key(1, "busy", 0))
    assert uploads.purge_abandoned(store, 3600) == 0
