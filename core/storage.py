"""Object storage for plugins: a directory under the data dir, or MinIO / S3 through the minio client."""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """An object could not be read or written; the message names it."""


class ObjectNotFound(StorageError):
    """No object under that key."""


class StorageUnavailable(StorageError):
    """The store cannot be used at all: unreachable, refusing our credentials, or its bucket is
    missing and cannot be created. The message names the cause and the setting to check; callers
    answer 503 (a dependency that is down or misconfigured)."""


class Storage(Protocol):
    def put(
        self, key: str, data: BinaryIO, length: int, content_type: str = "application/octet-stream"
    ) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def list(self, prefix: str = "") -> list[str]: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid object key '{key}'")
    return key


class DirectoryStorage:
    """Objects as files under one directory; writes go to a temp file first, then rename."""

    def __init__(self, root: str):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key, data, length, content_type="application/octet-stream"):
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(f"{key}: a part of this key is an object already") from None
        if path.is_dir():
            raise StorageError(f"{key}: other objects use this key as a prefix")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(data, out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key):
        with self.open(key) as fh:
            return fh.read()

    def open(self, key):
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def delete(self, key):
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def exists(self, key):
        return self._path(key).is_file()

    def size(self, key):
        """Bytes of the object. :raises ObjectNotFound:"""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path.stat().st_size

    def list(self, prefix=""):
        """Keys starting with `prefix`, sorted (temporary upload files left out)."""
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".upload-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)


class S3Storage:
    """Objects in one bucket of MinIO or any S3 service (created on first use if missing).

    Failures that are about the store rather than one object (unreachable, credentials refused,
    bucket missing on a read) raise StorageUnavailable with the cause; a missing object raises
    ObjectNotFound. `timeout` bounds connecting and each read, and a failed attempt is retried
    twice (urllib3's backoff), so an unreachable store costs seconds, not minutes.
    """

    def __init__(self, endpoint, access_key, secret_key, bucket, region="", secure=True, timeout=10.0):
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            maxsize=10,
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region or None,
            http_client=http,
        )
        self.endpoint = endpoint
        self.bucket = bucket
        self._bucket_checked = False

    def _unavailable(self, err: Exception) -> StorageUnavailable:
        """A StorageUnavailable naming what is wrong with the store, and the settings to check."""
        from minio.error import S3Error

        where = f"S3 storage at {self.endpoint}, bucket {self.bucket!r}"
        if isinstance(err, S3Error):
            if err.code in CREDENTIAL_ERRORS:
                return StorageUnavailable(
                    f"{where} refused this server's credentials ({err.code}): check the access key and "
                    "secret key settings"
                )
            if err.code == "NoSuchBucket":
                return StorageUnavailable(f"{where}: the bucket does not exist")
            return StorageUnavailable(f"{where} answered {err.code}: {err.message}")
        return StorageUnavailable(f"{where} is unreachable: {_short_reason(err)}")

    def _call(self, fn, *args, **kwargs):
        """Run a minio call; store-level failures become StorageUnavailable, S3Error stays."""
        from minio.error import S3Error

        try:
            return fn(*args, **kwargs)
        except S3Error as err:
            if err.code in CREDENTIAL_ERRORS or err.code == "NoSuchBucket":
                raise self._unavailable(err) from None
            raise
        except STORE_ERRORS() as err:
            raise self._unavailable(err) from None

    def check(self):
        """Make sure the bucket exists (created if missing) and our credentials work.

        :raises StorageUnavailable: unreachable, credentials refused, or the bucket cannot be made.
        """
        from minio.error import S3Error

        if self._bucket_checked:
            return
        try:
            if not self._call(self.client.bucket_exists, self.bucket):
                self._call(self.client.make_bucket, self.bucket)
        except S3Error as err:
            if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):  # a concurrent creator
                raise self._unavailable(err) from None
        self._bucket_checked = True

    def _ensure_bucket(self):
        self.check()

    def put(self, key, data, length, content_type="application/octet-stream"):
        from minio.error import S3Error

        self._ensure_bucket()
        try:
            self._call(
                self.client.put_object, self.bucket, _check_key(key), data, length, content_type=content_type
            )
        except S3Error as err:
            raise StorageError(f"{key}: {err.code}") from err

    def get(self, key):
        with self.open(key) as stream:
            return stream.read()

    def open(self, key):
        """The object as a file object that streams it from the store (close it when done).

        :raises ObjectNotFound: no such object (or no bucket yet).
        :raises StorageUnavailable: the store cannot be used.
        """
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, _check_key(key))
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(key) from None
            if err.code in CREDENTIAL_ERRORS:
                raise self._unavailable(err) from None
            raise StorageError(f"{key}: {err.code}") from err
        except STORE_ERRORS() as err:
            raise self._unavailable(err) from None
        return io.BufferedReader(_ResponseStream(response), 256 * 1024)

    def delete(self, key):
        from minio.error import S3Error

        try:
            self._call(self.client.remove_object, self.bucket, _check_key(key))
        except StorageUnavailable as err:
            if "does not exist" not in str(err):  # no bucket: nothing to delete
                raise
        except S3Error as err:
            if err.code not in ("NoSuchBucket", "NoSuchKey"):  # deleting what is gone is a no-op
                raise StorageError(f"{key}: {err.code}") from err

    def exists(self, key):
        try:
            self.size(key)
            return True
        except ObjectNotFound:
            return False

    def size(self, key):
        """Bytes of the object. :raises ObjectNotFound: :raises StorageUnavailable:"""
        from minio.error import S3Error

        try:
            return self._call(self.client.stat_object, self.bucket, _check_key(key)).size
        except StorageUnavailable as err:
            if "does not exist" in str(err):
                raise ObjectNotFound(key) from None
            raise
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                raise ObjectNotFound(key) from None
            raise StorageError(f"{key}: {err.code}") from err

    def list(self, prefix=""):
        """Keys starting with `prefix`, sorted. :raises StorageUnavailable:"""
        try:
            return sorted(
                o.object_name
                for o in self._call(
                    lambda: list(self.client.list_objects(self.bucket, prefix, recursive=True))
                )
            )
        except StorageUnavailable as err:
            if "does not exist" in str(err):
                return []
            raise

    def presigned_get(self, key, expires_seconds: int, filename: str | None = None) -> str:
        """A URL that GETs the object without credentials until it expires (signed locally: no
        request to the store; the URL names the endpoint as this server reaches it)."""
        import datetime

        headers = None
        if filename:
            headers = {"response-content-disposition": f'attachment; filename="{filename}"'}
        return self.client.presigned_get_object(
            self.bucket,
            _check_key(key),
            expires=datetime.timedelta(seconds=expires_seconds),
            response_headers=headers,
        )


# S3 error codes that mean "these credentials are not accepted here".
CREDENTIAL_ERRORS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)


def STORE_ERRORS() -> tuple:  # noqa: N802 - a constant, computed late to keep urllib3 out of imports
    """Transport failures of the minio client (no S3 answer came back)."""
    import urllib3.exceptions

    return (urllib3.exceptions.HTTPError, OSError)


def _short_reason(err: Exception) -> str:
    text = str(err)
    for pattern, reason in (
        ("Connection refused|Errno 111", "connection refused"),
        (
            "Name or service not known|Temporary failure in name resolution|NameResolutionError",
            "cannot resolve the host name",
        ),
        ("timed out|Timeout", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
        (
            "WRONG_VERSION_NUMBER|wrong version number",
            "the endpoint does not speak TLS (set secure = false?)",
        ),
    ):
        if re.search(pattern, text):
            return reason
    return f"{type(err).__name__}: {text[:200]}"


class _ResponseStream(io.RawIOBase):
    """A urllib3 response as a raw stream; close() returns its connection to the pool."""

    def __init__(self, response):
        self._response = response

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._response.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()


def open_storage(core_settings: dict) -> Storage:
    cfg = core_settings["storage"]
    if cfg["backend"] == "s3":
        return S3Storage(
            cfg["endpoint"],
            cfg["access_key"],
            cfg["secret_key"],
            cfg["bucket"],
            cfg["region"],
            cfg["secure"],
            timeout=cfg["timeout_seconds"],
        )
    return DirectoryStorage(os.path.join(core_settings["data_dir"], "storage"))
