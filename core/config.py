"""Configuration: default.toml, then MEDIAPLANE_CONFIG, then env overrides, validated per section."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

ENV_PREFIX = "MEDIAPLANE__"
# Shipped inside the package so that an installed wheel finds its defaults from any directory.
DEFAULT_FILE = Path(__file__).resolve().parent / "default.toml"


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names its dotted key."""


class CommaList(fields.List):
    """A list that also accepts "a,b,c" (how env overrides arrive)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


def StrList(**kwargs) -> CommaList:  # noqa: N802 - reads like a field class
    return CommaList(fields.String(), **kwargs)


def IntList(**kwargs) -> CommaList:  # noqa: N802
    return CommaList(fields.Integer(strict=False), **kwargs)


def describe(text: str) -> dict:
    """Metadata for a setting; the configuration reference is generated from it."""
    return {"description": text}


def int_setting(
    default: int, description: str, low: int | None = None, high: int | None = None
) -> fields.Integer:
    """An integer setting with its default, bounds and the sentence the reference shows."""
    return fields.Integer(
        load_default=default, validate=validate.Range(low, high), metadata=describe(description)
    )


class SettingsSchema(ma.Schema):
    """Base of every config section: unknown keys are errors."""

    class Meta:
        unknown = ma.RAISE


class PluginConfigSchema(SettingsSchema):
    """Base of a plugin's section. A plugin overrides `enabled` to change its default."""

    enabled = fields.Boolean(load_default=False, metadata=describe("Load this plugin."))


class ServerSchema(SettingsSchema):
    host = fields.String(load_default="127.0.0.1", metadata=describe("Address `mediaplane serve` binds."))
    port = int_setting(8180, "Port `mediaplane serve` binds.", 1, 65535)
    workers = int_setting(2, "gunicorn worker processes (gevent).", 1, 256)
    worker_connections = int_setting(1000, "Concurrent connections per worker.", 1)
    timeout = int_setting(60, "Seconds before a silent worker restarts.", 1)


class StorageSchema(SettingsSchema):
    backend = fields.String(
        load_default="directory",
        validate=validate.OneOf(["directory", "s3"]),
        metadata=describe(
            '"directory" (under data_dir/storage) or "s3" (MinIO / S3 through the minio client).'
        ),
    )
    endpoint = fields.String(
        load_default="", metadata=describe("S3 endpoint host:port, e.g. minio.internal:9000.")
    )
    access_key = fields.String(load_default="", metadata=describe("S3 access key."))
    secret_key = fields.String(load_default="", metadata=describe('S3 secret key; use {env = "NAME"}.'))
    bucket = fields.String(load_default="mediaplane", metadata=describe("Bucket for all stored objects."))
    region = fields.String(load_default="", metadata=describe("S3 region, empty for MinIO."))
    secure = fields.Boolean(load_default=True, metadata=describe("Use HTTPS to reach the S3 endpoint."))
    timeout_seconds = fields.Float(
        load_default=10.0,
        validate=validate.Range(0.5, 300),
        metadata=describe(
            "Time limit to connect to the S3 endpoint and for each read from it, seconds (a failed "
            "attempt is tried twice more)."
        ),
    )

    @ma.validates_schema
    def s3_needs_endpoint(self, data, **kwargs):
        if data.get("backend") == "s3" and not data.get("endpoint"):
            raise ma.ValidationError("required when backend is s3", "endpoint")


class CoreConfigSchema(SettingsSchema):
    data_dir = fields.String(
        load_default="./data", metadata=describe("Directory for everything kept locally.")
    )
    database_url = fields.String(
        load_default="",
        metadata=describe("Empty: SQLite under data_dir. postgresql://user:pass@host/db in production."),
    )
    database_max_connections = int_setting(20, "Pooled PostgreSQL connections per process.", 1)
    database_pool_timeout = int_setting(10, "Seconds to wait for a pooled connection; 0: no limit.", 0)
    redis_url = fields.String(
        load_default="",
        metadata=describe("Empty: an embedded Redis under data_dir. redis://host:6379/0 in production."),
    )
    secret_key = fields.String(
        load_default="",
        metadata=describe("Fernet key that encrypts API key secrets; empty: generated in data_dir."),
    )
    max_content_length = int_setting(64 * 1024 * 1024, "Largest request body, bytes.", 1)
    log_level = fields.String(
        load_default="INFO",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]),
        metadata=describe("Log level of the server and workers."),
    )
    jwt_leeway_seconds = int_setting(30, "Clock skew allowed for client JWTs.", 0, 3600)
    jwt_max_lifetime_seconds = int_setting(
        86400, "Longest accepted JWT lifetime (exp - iat, or exp - now without iat).", 60
    )
    signature_max_age_seconds = int_setting(300, "Age limit of signed requests.", 1, 86400)
    job_retries = int_setting(3, "Retries of a failed job.", 0, 100)
    job_retry_intervals = IntList(
        load_default=lambda: [10, 60, 300], metadata=describe("Seconds between retries (backoff).")
    )
    job_timeout_seconds = int_setting(600, "Time limit of one job.", 1)
    job_worker_nice = int_setting(
        10,
        "CPU niceness of job workers (0-19): on a machine shared with the web tier, long jobs "
        "(dump analysis) yield the CPU to requests.",
        0,
        19,
    )
    job_heartbeat_seconds = int_setting(
        5,
        "How often a worker renews its claim on a running job; a killed worker's job runs again "
        "after about 3 of these (plus its retry interval).",
        1,
        300,
    )
    rate_limit_lease_percent = int_setting(
        1, "Share of a rate limit a process takes from Redis at once, %; 0: every hit.", 0, 50
    )
    server = fields.Nested(
        ServerSchema, load_default=lambda: ServerSchema().load({}), metadata=describe("Web tier.")
    )
    storage = fields.Nested(
        StorageSchema, load_default=lambda: StorageSchema().load({}), metadata=describe("Object storage.")
    )


def deep_merge(base: dict, extra: dict) -> dict:
    """Return base updated by extra, merging nested tables instead of replacing them."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "env" not in value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def env_overrides(environ: dict[str, str]) -> dict:
    """MEDIAPLANE__CORE__SERVER__PORT=9000 -> {"core": {"server": {"port": "9000"}}}."""
    tree: dict = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another override")
        node[path[-1]] = value
    return tree


def resolve_secrets(tree: Any, environ: dict[str, str], path: str = "") -> Any:
    """Replace every {env = "NAME"} table by the value of that environment variable."""
    if isinstance(tree, dict):
        if set(tree) == {"env"}:
            name = tree["env"]
            if name not in environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return environ[name]
        return {
            key: resolve_secrets(value, environ, f"{path}.{key}" if path else key)
            for key, value in tree.items()
        }
    return tree


def flatten_errors(errors: Any, prefix: str) -> list[str]:
    """marshmallow's nested error dict -> ["core.server.port: Not a valid integer."]."""
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            out.extend(flatten_errors(value, f"{prefix}.{key}"))
        return out
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{prefix}: {' '.join(errors)}"]
    if isinstance(errors, list):
        return [line for e in errors for line in flatten_errors(e, prefix)]
    return [f"{prefix}: {errors}"]


def load_section(schema: ma.Schema, data: Any, dotted: str) -> dict:
    """Validate one section; raise ConfigError naming every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{dotted}: must be a table")
    try:
        return schema.load(data)
    except ma.ValidationError as err:
        raise ConfigError("; ".join(flatten_errors(err.messages, dotted))) from None


def read_raw(overrides: dict | None = None, environ: dict[str, str] | None = None) -> dict:
    """Merge the layers into one raw tree (not validated yet)."""
    environ = dict(os.environ if environ is None else environ)
    with open(DEFAULT_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    extra_file = environ.get("MEDIAPLANE_CONFIG")
    if extra_file:
        try:
            with open(extra_file, "rb") as fh:
                raw = deep_merge(raw, tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigError(f"MEDIAPLANE_CONFIG: file {extra_file} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"MEDIAPLANE_CONFIG: {extra_file} is not valid TOML: {err}") from None
    raw = deep_merge(raw, env_overrides(environ))
    if overrides:
        raw = deep_merge(raw, overrides)
    unknown_top = set(raw) - {"core", "plugins"}
    if unknown_top:
        raise ConfigError(f"{sorted(unknown_top)[0]}: unknown section (expected [core] or [plugins.<name>])")
    return resolve_secrets(raw, environ)


def load_core(raw: dict) -> dict:
    return load_section(CoreConfigSchema(), raw.get("core"), "core")
