"""Object storage for plugins: a directory under the data dir, or MinIO / S3 through the minio client."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """An object could not be read or written; the message names it."""


class ObjectNotFound(StorageError):
    """No object under that key."""


class Storage(Protocol):
    def put(
        self, key: str, data: BinaryIO, length: int, content_type: str = "application/octet-stream"
    ) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


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


class S3Storage:
    """Objects in one bucket of MinIO or any S3 service (created on first use if missing)."""

    def __init__(self, endpoint, access_key, secret_key, bucket, region="", secure=True):
        from minio import Minio

        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region or None
        )
        self.bucket = bucket
        self._bucket_checked = False

    def _ensure_bucket(self):
        if not self._bucket_checked:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
            self._bucket_checked = True

    def put(self, key, data, length, content_type="application/octet-stream"):
        self._ensure_bucket()
        self.client.put_object(self.bucket, _check_key(key), data, length, content_type=content_type)

    def get(self, key):
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, _check_key(key))
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(key) from None
            raise StorageError(f"{key}: {err.code}") from err
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def open(self, key):
        return io.BytesIO(self.get(key))

    def delete(self, key):
        from minio.error import S3Error

        try:
            self.client.remove_object(self.bucket, _check_key(key))
        except S3Error as err:
            if err.code not in ("NoSuchBucket", "NoSuchKey"):  # deleting what is gone is a no-op
                raise StorageError(f"{key}: {err.code}") from err

    def exists(self, key):
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, _check_key(key))
            return True
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return False
            raise


def open_storage(core_settings: dict) -> Storage:
    cfg = core_settings["storage"]
    if cfg["backend"] == "s3":
        return S3Storage(
            cfg["endpoint"], cfg["access_key"], cfg["secret_key"], cfg["bucket"], cfg["region"], cfg["secure"]
        )
    return DirectoryStorage(os.path.join(core_settings["data_dir"], "storage"))
