"""create_app(config=None): config -> database -> Redis -> plugins -> API -> blueprints."""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import logging
import os
import signal
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet
from flask import Flask, g, request
from flask_smorest import Api

import core
from core import metrics
from core.config import ConfigError, load_core, read_raw
from core.db import bind, db, open_database
from core.errors import PROBLEM_JSON, ErrorRouter
from core.logsafe import EscapingFormatter
from core.openapi import document_errors
from core.plugins import Plugins
from core.queue import EmbeddedRedis, collect_jobs, collect_schedules
from core.ratelimit import build_limiter
from core.redact import RedactingFilter
from core.storage import open_storage

log = logging.getLogger("mediaplane")
REQUEST_ID_HEADER = "X-Request-Id"


@dataclass
class State:
    """Everything the app built at startup; `app.extensions["mediaplane"]`."""

    config: dict
    plugins: Plugins
    redis: redis.Redis
    secret_key: bytes
    storage: Any
    router: ErrorRouter
    embedded_redis: EmbeddedRedis | None = None
    jobs: dict = field(default_factory=dict)
    schedules: list = field(default_factory=list)
    limiter: Any = None  # core.ratelimit.LeasedLimiter, shared by the threads of the process


class MediaplaneFlask(Flask):
    """Flask, with `ensure_sync` answered from a cache.

    Flask asks `inspect.iscoroutinefunction` of every view, hook and flask-smorest wrapper on every
    request, a measurable share of a small request such as report ingest. Whether a function is a
    coroutine function never changes, so it is looked up once per function (bound methods by their
    function: MethodView makes a new one per request).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._coroutine_functions: dict = {}

    def ensure_sync(self, func):
        key = getattr(func, "__func__", func)
        try:
            is_coroutine = self._coroutine_functions[key]
        except (KeyError, TypeError):  # TypeError: an unhashable callable, asked every time
            is_coroutine = inspect.iscoroutinefunction(func)
            with contextlib.suppress(TypeError):
                self._coroutine_functions[key] = is_coroutine
        return super().ensure_sync(func) if is_coroutine else func


class MediaplaneApi(Api):
    """flask-smorest Api whose HTTP errors (also routing 404/405) go through the dialect router, and
    whose document describes each blueprint's errors in that blueprint's dialect (core.openapi)."""

    # flask-smorest's generic error responses use a schema that matches none of our dialects.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        """No generic per-status error responses: core.openapi documents each operation's own."""

    def register_blueprint(self, blp, **options):
        document_errors(blp)
        super().register_blueprint(blp, **options)

    def handle_http_exception(self, error):
        return self._app.extensions["mediaplane"].router.handle(error)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request
            record.request_id = "-"
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_mediaplane", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._mediaplane = True
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactingFilter())
        handler.setFormatter(
            EscapingFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level)


def server_key(core_settings: dict) -> bytes:
    """The Fernet key from config, or one generated once into the data dir."""
    if core_settings["secret_key"]:
        key = core_settings["secret_key"].encode()
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                "core.secret_key: not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
        return key
    return read_or_create_key_file(Path(core_settings["data_dir"]) / "server.key")


def read_or_create_key_file(path: Path) -> bytes:
    """The key in `path`, created atomically on first use.

    Many processes start at once (gunicorn workers, `serve --with-worker`, a worker fleet): the key is
    written whole to a private temp file and then hard-linked into place. `link` fails if the name
    exists, so exactly one process wins, and the name never points at a partly written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".server.key.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        # An empty or damaged key would make viewer tokens forgeable or every signed key unusable.
        raise ConfigError(
            f"{path}: not a Fernet key (empty or damaged); restore it or remove it to make a new one"
        ) from None
    return key


def connect_redis(core_settings: dict) -> tuple[redis.Redis, EmbeddedRedis | None]:
    if core_settings["redis_url"]:
        return redis.Redis.from_url(core_settings["redis_url"]), None
    embedded = EmbeddedRedis(core_settings["data_dir"])
    embedded.ensure()
    client = embedded.client()

    def leave():
        # Exiting already: a second stop signal (Ctrl-C reaches a gunicorn worker from the terminal and
        # again from its master) must not interrupt the goodbye to Redis with a traceback.
        for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        client.connection_pool.disconnect()
        embedded.stop()

    atexit.register(leave)
    return client, embedded


def migration_packages(app) -> list:
    """(owner, migrations package) of the core and every enabled plugin, in dependency order."""
    import core.migrations

    plugins = app.extensions["mediaplane"].plugins
    return [("core", core.migrations)] + plugins.call_each("register_migrations")


def create_app(config: dict | None = None, environ: dict | None = None) -> Flask:
    """Build the app. `config` is a dict merged over the files and env (tests use it)."""
    raw = read_raw(overrides=config, environ=environ)
    core_settings = load_core(raw)
    plugins = Plugins(raw.get("plugins"))
    problems = []
    for info in plugins.enabled():
        found = plugins.call_one(info.name, "check_environment", settings=info.settings) or []
        problems += [f"plugins.{info.name}: {p}" for p in found]
    if problems:
        raise ConfigError("; ".join(problems))
    configure_logging(core_settings["log_level"])
    Path(core_settings["data_dir"]).mkdir(parents=True, exist_ok=True)

    bind(
        open_database(
            core_settings["database_url"],
            core_settings["data_dir"],
            core_settings["database_max_connections"],
            core_settings["database_pool_timeout"],
        )
    )
    redis_conn, embedded = connect_redis(core_settings)

    app = MediaplaneFlask("mediaplane")
    app.config.update(
        MAX_CONTENT_LENGTH=core_settings["max_content_length"],
        API_TITLE="mediaplane",
        API_VERSION=core.__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
    )
    app.json.sort_keys = False
    state = State(
        config={"core": core_settings, "plugins": {i.name: i.settings for i in plugins.known.values()}},
        plugins=plugins,
        redis=redis_conn,
        secret_key=server_key(core_settings),
        storage=open_storage(core_settings),
        router=ErrorRouter(),
        embedded_redis=embedded,
    )
    state.limiter = build_limiter(redis_conn, core_settings["rate_limit_lease_percent"])
    app.extensions["mediaplane"] = state

    api = MediaplaneApi(
        app,
        spec_kwargs={
            "info": {"description": "Self-hosted media control server. Every enabled plugin's routes."},
        },
    )
    api.spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    api.spec.components.security_scheme("Bearer", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("Basic", {"type": "http", "scheme": "basic"})
    app.register_error_handler(Exception, state.router.handle)

    from core.web import blueprint as core_blueprint
    from core.web import docs_blueprint

    api.register_blueprint(core_blueprint)
    app.register_blueprint(docs_blueprint)  # Swagger UI's files: not part of the API
    state.router.add("core", "/", PROBLEM_JSON)
    state.router.add("core_docs", "/docs", PROBLEM_JSON)
    with app.app_context():
        for _name, blueprints in plugins.call_each("register_blueprints"):
            for bp in blueprints:
                api.register_blueprint(bp)
                state.router.add(bp.name, bp.url_prefix or "/", getattr(bp, "error_dialect", PROBLEM_JSON))
        state.jobs = collect_jobs(plugins)
        state.schedules = collect_schedules(plugins)

    @app.before_request
    def open_request():
        g.request_id = request.headers.get(REQUEST_ID_HEADER, "")[:64] or os.urandom(16).hex()
        metrics.start_timer()
        # No db.connect() here: peewee connects on the first query, so /healthz answers without a
        # database and /readyz can report it down; teardown returns whatever was opened.

    @app.after_request
    def finish_request(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return metrics.observe(response)

    @app.teardown_request
    def close_request(_exc):
        if not db.is_closed():
            db.close()

    plugins.pm.hook.startup(app=app)
    # atexit keeps what it is given until the process ends: a weak reference, so that an app that is
    # no longer used (the test suite makes thousands) can be freed with everything it holds.
    atexit.register(functools.partial(_shutdown_hook, weakref.ref(app)))
    return app


def _shutdown_hook(app_ref) -> None:
    """Call the plugins' shutdown hook at process exit, if the app is still alive."""
    app = app_ref()
    if app is not None:
        app.extensions["mediaplane"].plugins.pm.hook.shutdown(app=app)
