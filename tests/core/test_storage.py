"""Object storage: DirectoryStorage on a temp dir and S3Storage against an S3 server over HTTP.

No MinIO server installs on this machine, so the S3 backend is tested against moto's
ThreadedMotoServer: a real S3 HTTP server in a thread that speaks the S3 wire protocol. It is a
protocol-level double for MinIO: the production minio client talks to it exactly as it would to
MinIO (signed HTTP requests, XML answers, S3 error codes).
"""

from __future__ import annotations

import functools
import io
import logging
import uuid

import pytest
from minio import Minio
from moto.server import ThreadedMotoServer

from core.config import load_core, read_raw
from core.storage import DirectoryStorage, ObjectNotFound, S3Storage, StorageError, open_storage
from tests.s3_auth import s3_user_with_authentication

ACCESS_KEY = "testing-access"
SECRET_KEY = "testing-secret-key"
INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "./a", "a/.", "a/", ".."]


@pytest.fixture(scope="module")
def s3_endpoint():
    """host:port of a moto S3 server on 127.0.0.1 (a free port), for the whole module."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Minio:
    return Minio(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)


def new_bucket() -> str:
    return f"mp-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["directory", "s3"])
def storage(request, tmp_path):
    if request.param == "directory":
        return DirectoryStorage(str(tmp_path / "objects"))
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3Storage(endpoint, ACCESS_KEY, SECRET_KEY, new_bucket(), secure=False)


def put(storage, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    storage.put(key, io.BytesIO(data), len(data), content_type)


# -- both backends --------------------------------------------------------------------------------


def test_put_get_open_exists_delete(storage):
    assert storage.exists("report.json") is False
    put(storage, "report.json", b'{"a": 1}', "application/json")
    assert storage.exists("report.json") is True
    assert storage.get("report.json") == b'{"a": 1}'
    fh = storage.open("report.json")
    try:
        assert fh.read() == b'{"a": 1}'
    finally:
        fh.close()
    storage.delete("report.json")
    assert storage.exists("report.json") is False
    with pytest.raises(ObjectNotFound):
        storage.get("report.json")


def test_nested_keys_are_separate_objects(storage):
    put(storage, "acct-1/rec/2026/a.webm", b"first")
    put(storage, "acct-1/rec/2026/b.webm", b"second")
    put(storage, "acct-2/rec/2026/a.webm", b"third")
    assert storage.get("acct-1/rec/2026/a.webm") == b"first"
    assert storage.get("acct-1/rec/2026/b.webm") == b"second"
    assert storage.get("acct-2/rec/2026/a.webm") == b"third"
    storage.delete("acct-1/rec/2026/a.webm")
    assert storage.exists("acct-1/rec/2026/a.webm") is False
    assert storage.get("acct-1/rec/2026/b.webm") == b"second"
    assert storage.get("acct-2/rec/2026/a.webm") == b"third"


def test_overwrite_replaces_the_content(storage):
    put(storage, "a/b.bin", b"old content that is longer")
    put(storage, "a/b.bin", b"new")
    assert storage.get("a/b.bin") == b"new"


def test_binary_and_empty_and_large_objects(storage):
    blob = bytes(range(256)) * 40_000  # 10 MB: the minio client uploads it in parts
    put(storage, "big.bin", blob)
    put(storage, "empty.bin", b"")
    assert storage.get("big.bin") == blob
    assert storage.get("empty.bin") == b""
    assert storage.exists("empty.bin") is True


def test_missing_objects(storage):
    put(storage, "present", b"x")
    with pytest.raises(ObjectNotFound):
        storage.get("absent")
    with pytest.raises(ObjectNotFound):
        storage.open("absent/deeper")
    assert issubclass(ObjectNotFound, StorageError)
    assert storage.exists("absent") is False
    storage.delete("absent")  # deleting what is not there is not an error
    assert storage.get("present") == b"x"


def test_delete_on_a_fresh_store_is_a_no_op(storage):
    storage.delete("never/stored")
    assert storage.exists("never/stored") is False


def test_a_key_prefix_is_not_an_object(storage):
    put(storage, "calls/1/audio.ogg", b"x")
    assert storage.exists("calls/1") is False
    with pytest.raises(ObjectNotFound):
        storage.get("calls/1")
    with pytest.raises(ObjectNotFound):
        storage.open("calls")


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(storage, key):
    with pytest.raises(StorageError, match="invalid object key"):
        put(storage, key, b"x")
    with pytest.raises(StorageError, match="invalid object key"):
        storage.get(key)
    with pytest.raises(StorageError, match="invalid object key"):
        storage.open(key)
    with pytest.raises(StorageError, match="invalid object key"):
        storage.exists(key)
    with pytest.raises(StorageError, match="invalid object key"):
        storage.delete(key)


# -- directory backend ----------------------------------------------------------------------------


def test_directory_layout_and_no_temp_files_left(tmp_path):
    root = tmp_path / "objects"
    storage = DirectoryStorage(str(root))
    assert root.is_dir()
    put(storage, "a/b/c.txt", b"hello")
    put(storage, "a/b/c.txt", b"hello again")
    assert (root / "a" / "b" / "c.txt").read_bytes() == b"hello again"
    assert sorted(p.name for p in root.rglob("*")) == ["a", "b", "c.txt"]


def test_directory_failed_write_keeps_the_old_object(tmp_path):
    storage = DirectoryStorage(str(tmp_path / "objects"))
    put(storage, "doc", b"old")

    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        storage.put("doc", Broken(), 10)
    assert storage.get("doc") == b"old"
    assert [p.name for p in (tmp_path / "objects").iterdir()] == ["doc"]


def test_directory_keys_cannot_escape_the_root(tmp_path):
    root = tmp_path / "objects"
    storage = DirectoryStorage(str(root))
    (tmp_path / "secret.txt").write_bytes(b"outside")
    with pytest.raises(StorageError):
        storage.get("../secret.txt")
    with pytest.raises(StorageError):
        put(storage, "../escaped.txt", b"x")
    assert not (tmp_path / "escaped.txt").exists()


# -- S3 backend -----------------------------------------------------------------------------------


def test_s3_bucket_is_created_on_first_put(s3_endpoint):
    bucket = new_bucket()
    client = s3_client(s3_endpoint)
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, bucket, secure=False)
    assert client.bucket_exists(bucket) is False
    assert storage.exists("x") is False  # reading does not create it
    with pytest.raises(ObjectNotFound):
        storage.get("x")
    assert client.bucket_exists(bucket) is False
    put(storage, "rec/1.ogg", b"audio", "audio/ogg")
    assert client.bucket_exists(bucket) is True
    stat = client.stat_object(bucket, "rec/1.ogg")
    assert stat.size == 5
    assert stat.content_type == "audio/ogg"
    response = client.get_object(bucket, "rec/1.ogg")
    try:
        assert response.read() == b"audio"
    finally:
        response.close()
        response.release_conn()


def test_s3_uses_an_existing_bucket(s3_endpoint):
    bucket = new_bucket()
    client = s3_client(s3_endpoint)
    client.make_bucket(bucket)
    client.put_object(bucket, "pre/existing", io.BytesIO(b"there"), 5)
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, bucket, secure=False)
    assert storage.get("pre/existing") == b"there"
    put(storage, "new", b"n")
    assert sorted(o.object_name for o in client.list_objects(bucket, recursive=True)) == [
        "new",
        "pre/existing",
    ]


def test_s3_with_region(s3_endpoint):
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, new_bucket(), region="us-east-1", secure=False)
    put(storage, "k", b"v")
    assert storage.get("k") == b"v"


def test_s3_open_returns_a_readable_file(s3_endpoint):
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, new_bucket(), secure=False)
    put(storage, "doc", b"0123456789")
    fh = storage.open("doc")
    assert fh.read(4) == b"0123"
    assert fh.read() == b"456789"


def test_s3_open_streams_instead_of_reading_the_whole_object(s3_endpoint):
    """open() hands back the HTTP body as it arrives: a 24 MB object is read in 1 MB pieces, and
    open() itself reads nothing (the bytes stay on the wire until the caller asks)."""
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, new_bucket(), secure=False)
    size = 24 * 1024 * 1024
    blob = bytes(range(256)) * (size // 256)
    put(storage, "big.mp4", blob)
    with storage.open("big.mp4") as fh:
        raw = fh.raw
        assert raw._response.tell() == 0  # nothing read from the body yet
        first = fh.read(1024 * 1024)
        assert first == blob[: 1024 * 1024]
        assert raw._response.tell() < size // 2  # still streaming, not buffered whole
        rest = bytearray(first)
        while chunk := fh.read(1024 * 1024):
            rest += chunk
    assert bytes(rest) == blob
    assert raw.closed


def test_s3_presigned_get_works_over_plain_http(s3_endpoint):
    import urllib.request

    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, new_bucket(), region="us-east-1", secure=False)
    put(storage, "rec/a.mp4", b"movie-bytes", "video/mp4")
    url = storage.presigned_get("rec/a.mp4", 120, filename="a.mp4")
    assert url.startswith(f"http://{s3_endpoint}/") and "X-Amz-Expires=120" in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"movie-bytes"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="a.mp4"'


def test_list_and_size(storage):
    put(storage, "recordings/1/a.mp4", b"aaa")
    put(storage, "recordings/1/b.mp4", b"bbbbb")
    put(storage, "recordings/2/c.mp4", b"c")
    put(storage, "other/d", b"d")
    assert storage.list("recordings/1/") == ["recordings/1/a.mp4", "recordings/1/b.mp4"]
    assert storage.list() == ["other/d", "recordings/1/a.mp4", "recordings/1/b.mp4", "recordings/2/c.mp4"]
    assert storage.size("recordings/1/b.mp4") == 5
    with pytest.raises(ObjectNotFound):
        storage.size("recordings/1/none.mp4")
    storage.delete("recordings/1/a.mp4")
    assert storage.list("recordings/") == ["recordings/1/b.mp4", "recordings/2/c.mp4"]


def test_s3_missing_bucket_reads_as_empty_and_check_creates_it(s3_endpoint):
    bucket = new_bucket()
    storage = S3Storage(s3_endpoint, ACCESS_KEY, SECRET_KEY, bucket, secure=False)
    assert storage.list() == []
    with pytest.raises(ObjectNotFound):
        storage.size("x")
    with pytest.raises(ObjectNotFound):
        storage.open("x")
    storage.delete("x")  # nothing to delete: no error
    assert s3_client(s3_endpoint).bucket_exists(bucket) is False
    storage.check()
    assert s3_client(s3_endpoint).bucket_exists(bucket) is True


def test_s3_unreachable_is_storage_unavailable_within_its_timeout():
    import socket
    import time

    from core.storage import StorageUnavailable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = S3Storage(f"127.0.0.1:{port}", ACCESS_KEY, SECRET_KEY, new_bucket(), secure=False, timeout=1.0)
    began = time.monotonic()
    for action in (
        storage.check,
        lambda: storage.open("k"),
        lambda: storage.list(),
        lambda: storage.size("k"),
    ):
        with pytest.raises(StorageUnavailable, match=rf"127.0.0.1:{port}.*unreachable: connection refused"):
            action()
    assert time.monotonic() - began < 20


@pytest.fixture
def authenticating_s3(s3_endpoint):
    """The S3 server with request authentication on for this test: yields a valid (access key, secret
    key) (tests/s3_auth.py)."""
    with s3_user_with_authentication(s3_endpoint) as credentials:
        yield credentials


def test_s3_wrong_credentials_are_a_clear_error(s3_endpoint, authenticating_s3):
    from core.storage import StorageUnavailable

    access, secret = authenticating_s3
    bucket = new_bucket()
    good = S3Storage(s3_endpoint, access, secret, bucket, secure=False)
    put(good, "k", b"v")
    assert good.get("k") == b"v"
    wrong_secret = S3Storage(s3_endpoint, access, "not-the-secret", bucket, secure=False)
    unknown_key = S3Storage(s3_endpoint, "AKIANOSUCHKEY", secret, bucket, secure=False)
    for storage, code in ((wrong_secret, "SignatureDoesNotMatch"), (unknown_key, "InvalidAccessKeyId")):
        for action in (
            storage.check,
            functools.partial(storage.open, "k"),
            functools.partial(storage.size, "k"),
        ):
            with pytest.raises(StorageUnavailable, match=rf"refused this server's credentials \({code}\)"):
                action()


# -- open_storage ---------------------------------------------------------------------------------


def test_open_storage_defaults_to_a_directory_under_data_dir(tmp_path):
    settings = load_core(read_raw(overrides={"core": {"data_dir": str(tmp_path / "data")}}, environ={}))
    storage = open_storage(settings)
    assert isinstance(storage, DirectoryStorage)
    assert storage.root == (tmp_path / "data" / "storage").resolve()
    put(storage, "x/y", b"z")
    assert (tmp_path / "data" / "storage" / "x" / "y").read_bytes() == b"z"


def test_open_storage_s3_from_settings(tmp_path, s3_endpoint):
    bucket = new_bucket()
    settings = load_core(
        read_raw(
            overrides={
                "core": {
                    "data_dir": str(tmp_path / "data"),
                    "storage": {
                        "backend": "s3",
                        "endpoint": s3_endpoint,
                        "access_key": ACCESS_KEY,
                        "secret_key": SECRET_KEY,
                        "bucket": bucket,
                        "secure": False,
                    },
                }
            },
            environ={},
        )
    )
    storage = open_storage(settings)
    assert isinstance(storage, S3Storage)
    assert storage.bucket == bucket
    put(storage, "from/settings", b"ok")
    assert s3_client(s3_endpoint).stat_object(bucket, "from/settings").size == 2
    assert not (tmp_path / "data" / "storage").exists()


def test_app_storage_follows_core_settings(make_app, s3_endpoint, tmp_path):
    directory_app = make_app()
    assert isinstance(directory_app.extensions["mediaplane"].storage, DirectoryStorage)
    bucket = new_bucket()
    app = make_app(
        {
            "core": {
                "storage": {
                    "backend": "s3",
                    "endpoint": s3_endpoint,
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "bucket": bucket,
                    "secure": False,
                }
            }
        }
    )
    storage = app.extensions["mediaplane"].storage
    assert isinstance(storage, S3Storage)
    put(storage, "via/app", b"data")
    assert storage.get("via/app") == b"data"
    assert s3_client(s3_endpoint).bucket_exists(bucket)


def test_bad_storage_backend_is_a_config_error(tmp_path):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="core.storage.backend"):
        load_core(read_raw(overrides={"core": {"storage": {"backend": "ftp"}}}, environ={}))
