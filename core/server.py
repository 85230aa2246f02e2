"""`mediaplane serve`: gunicorn with gevent workers, plus the embedded Redis and an optional RQ worker."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from core.logsafe import escape_atoms
from core.redact import redact_query


def _post_fork(server, worker):
    # gevent patches sockets in the worker; psycopg2 talks C-level sockets and needs its wait
    # callback, or one slow query blocks every request of that worker.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def _post_worker_init(worker):
    # The app is loaded: move everything it built (modules, schemas, routes) out of the collector's
    # sight, so that the frequent young-generation collections of a busy worker do not walk it again.
    gc.freeze()


def _child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class RedactingLogger(Logger):
    """gunicorn's logger, with credentials in the request line, query string and Referer masked:
    the viewer's `?token=` must not outlive its request in a log file. Control characters in every
    text atom are escaped: a decoded path (%U) or a header must not start a forged log line."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q", "f", "{referer}i", "{raw_uri}e"):
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = redact_query(value)
        return escape_atoms(atoms)


class GunicornServer(BaseApplication):
    """Runs `create_app()` in each worker (no --preload: gevent must patch before the app builds)."""

    def __init__(self, options: dict, app_factory: str = "core.app:create_app"):
        self.options = options
        self.app_factory = app_factory
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from gunicorn.util import import_app

        return import_app(f"{self.app_factory}()")


def gunicorn_options(
    host: str, port: int, workers: int, connections: int, timeout: int, log_level: str
) -> dict:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gevent",
        "worker_connections": connections,
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        "control_socket_disable": True,
        "post_fork": _post_fork,
        "post_worker_init": _post_worker_init,
        "child_exit": _child_exit,
        "accesslog": "-" if log_level == "DEBUG" else None,
        "logger_class": RedactingLogger,
        "loglevel": log_level.lower(),
    }


def prepare_metrics_dir(data_dir: str) -> None:
    """Prometheus multi-process mode: one directory shared by all workers, emptied at start."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        path = Path(data_dir).resolve() / "prometheus"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def serve(core_settings: dict, host: str, port: int, workers: int, with_worker: bool) -> None:
    from core.app import connect_redis

    prepare_metrics_dir(core_settings["data_dir"])
    # Started here, in the master, so that every worker finds it by its socket.
    _redis, embedded = connect_redis(core_settings)
    worker_process = None
    if with_worker:
        worker_process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker"])
    server = core_settings["server"]
    try:
        GunicornServer(
            gunicorn_options(
                host,
                port,
                workers,
                server["worker_connections"],
                server["timeout"],
                core_settings["log_level"],
            )
        ).run()
    finally:
        if worker_process and worker_process.poll() is None:
            worker_process.send_signal(signal.SIGTERM)
            try:
                worker_process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker_process.kill()
        if embedded:
            embedded.stop()
