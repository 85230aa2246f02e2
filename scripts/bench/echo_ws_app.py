"""The baseline of scripts/bench/rtcstats_collector.py: a bare echo WebSocket served like the collector.

`create_app()` answers the collector's path with a WebSocket of the same library and options as the
collector's (simple-websocket on the socket gunicorn hands over, subprotocol rtcstats#5.0, no
permessage-deflate, the same message size limit) and sends every message straight back: no
credentials, database, Redis, file or metrics. Run as a script it serves that app with the same
gunicorn options as `mediaplane serve` (core.server.gunicorn_options: gevent worker, worker_connections
and timeout from the same mediaplane config, so the same MEDIAPLANE__* environment applies):

    python scripts/bench/echo_ws_app.py --port P
"""

from __future__ import annotations

import argparse
import sys

from flask import Flask, jsonify, request
from simple_websocket import ConnectionClosed, Server

HOST = "127.0.0.1"
PATH = "/api/rtcstats/v1.0/collector"
MAX_MESSAGE_BYTES = 1024 * 1024  # the collector's default collector_max_message_bytes


def create_app() -> Flask:
    # The collector's own end of a WebSocket response, so that both servers end a socket alike.
    from plugins.rtcstats.collector import SUBPROTOCOL, socket_done

    app = Flask("echo")

    @app.route(PATH, websocket=True)  # werkzeug routes only Upgrade: websocket requests here
    def echo():
        environ = {k: v for k, v in request.environ.items() if k != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}
        ws = Server(environ, subprotocols=[SUBPROTOCOL], max_message_size=MAX_MESSAGE_BYTES)
        try:
            while True:
                ws.send(ws.receive())
        except ConnectionClosed:
            pass
        return socket_done(ws)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


def main(argv=None) -> int:
    from core.config import load_core, read_raw
    from core.server import GunicornServer, gunicorn_options

    parser = argparse.ArgumentParser(description="Serve the echo WebSocket under mediaplane's gunicorn.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    core_settings = load_core(read_raw())
    server = core_settings["server"]
    options = gunicorn_options(
        HOST, args.port, 1, server["worker_connections"], server["timeout"], core_settings["log_level"]
    )
    # This file's directory is sys.path[0] when run as a script, so the worker imports it as `echo_ws_app`.
    GunicornServer(options, app_factory="echo_ws_app:create_app").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
