"""The ceiling of scripts/bench/report_ingest.py: a bare Flask app served exactly like mediaplane.

`create_app()` answers POST /report/metrics with mediaplane's success envelope after reading the body,
and nothing else: no config, database, Redis, auth, validation or metrics. Run as a script it serves
that app with the same gunicorn options as `mediaplane serve` (core.server.gunicorn_options: gevent
workers, worker_connections and timeout from the same mediaplane config), so the difference between
the two servers is the application's own work:

    python scripts/bench/bare_app.py --port P --workers W
"""

from __future__ import annotations

import argparse
import sys

from flask import Flask, jsonify, request

HOST = "127.0.0.1"


def create_app() -> Flask:
    app = Flask("bare")

    @app.post("/report/metrics")
    def ingest():
        request.get_data()  # receive the whole body, as the real endpoint must
        return jsonify(code=0, message="success", data=None)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


def main(argv=None) -> int:
    from core.config import load_core, read_raw
    from core.server import GunicornServer, gunicorn_options

    parser = argparse.ArgumentParser(description="Serve the bare ceiling app under mediaplane's gunicorn.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    core_settings = load_core(read_raw())
    server = core_settings["server"]
    options = gunicorn_options(
        HOST,
        args.port,
        args.workers,
        server["worker_connections"],
        server["timeout"],
        core_settings["log_level"],
    )
    # This file's directory is sys.path[0] when run as a script, so workers can import it as `bare_app`.
    GunicornServer(options, app_factory="bare_app:create_app").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
