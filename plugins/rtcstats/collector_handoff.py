"""Where a collector socket is served once its handshake is answered, how many a worker takes, and
what happens to them when the worker stops.

The rule: under gunicorn's gevent worker (gevent has patched `socket` and the connection is
gunicorn's), the socket is served by a greenlet of the collector's own, spawned from the hub (a
shallow stack) on a dup of the connection's socket, and the request returns at once. gunicorn then
closes its own socket object (the dup keeps the TCP connection) and frees the request, its environ
and Flask's request context, and the request greenlet with its deep saved stack: an open socket
keeps only its socket, the post-handshake wsproto connection, its dump writer, limits and counters
(docs/benchmarks.md, "rtcstats collector"). Under any other server (werkzeug's development server,
threads) the socket is served inside its request, as a WSGI app would.

gunicorn's `worker_connections` counts a socket only during its handshake, so the worker's own count
(WorkerSockets) bounds them: every collector socket of the process counts from before its handshake
to its end, and one past `collector_max_sockets_per_worker` is refused with 1013 (try again later).

When the worker stops (a restart or deploy: SIGTERM, gunicorn's graceful stop), the plugin's
`shutdown` hook calls `stop_all()`: each socket served past its request is closed with 1001 (going
away) and its dump finished with that code and stored, as after any server-side close; the hook
waits up to STOP_SECONDS for them (gunicorn kills a worker after its graceful_timeout, 30 s). A dump
whose store did not finish stays in the spool, finished, and the recovery sweep stores it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import current_app
from greenlet import GreenletExit, greenlet

from plugins.rtcstats.collector import TRY_LATER, release_database
from plugins.rtcstats.collector_socket import CollectorSocket, Refused

log = logging.getLogger("rtcstats")

STOP_SECONDS = 20.0  # below gunicorn's graceful_timeout (core/server.py: 30 s)


class WorkerSockets:
    """The collector sockets of this process: how many (all of them, from before their handshake)
    and which are served past their request."""

    def __init__(self):
        self.count = 0
        self.served: set[CollectorSocket] = set()
        self._lock = threading.Lock()

    def enter(self, limit: int) -> None:
        """Count one more socket.

        :raises Refused: TRY_LATER (1013, metrics reason `worker_full`) when `limit` are open.
        """
        with self._lock:
            if self.count >= limit:
                raise Refused(
                    TRY_LATER,
                    f"this worker serves {limit} collector sockets (collector_max_sockets_per_worker); "
                    "retry later",
                    label="worker_full",
                )
            self.count += 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


SOCKETS = WorkerSockets()


def served_past_request(ws: CollectorSocket) -> bool:
    """The rule above: a greenlet of its own under gunicorn's gevent worker, else in the request."""
    if ws.mode != "gunicorn":
        return False
    from gevent import monkey

    return monkey.is_module_patched("socket")


def serve(ws: CollectorSocket, run: Callable[..., None], args: tuple, on_end: Callable[[], None]) -> bool:
    """Serve the socket (`run(*args)`, then `on_end()`, which gives back its places): past the request
    when the rule says so (True: the request may return at once), else here (False: the caller ends it).
    """
    if not served_past_request(ws):
        run(*args)
        return False
    import gevent

    ws.take_over()
    app = current_app._get_current_object()
    SOCKETS.served.add(ws)
    # A bare greenlet whose parent is the hub, started by the hub's loop: its stack begins at the
    # hub's, so the stack it saves at every wait is a few frames deep (gevent.spawn's Greenlet would
    # add its links, spawn tree and the spawner's stack summary, which nothing here reads).
    hub = gevent.get_hub()
    hub.loop.run_callback(greenlet(_serve_own, parent=hub).switch, app, ws, run, args, on_end)
    return True


def _serve_own(app, ws: CollectorSocket, run: Callable[..., None], args: tuple, on_end) -> None:
    """The socket's own greenlet: an app context (the database, Redis, storage and settings are
    the app's) for as long as the socket; then its connection, places and count are given back.
    Nothing may leave it: an error raised out of a bare greenlet would be thrown into the hub."""
    try:
        with app.app_context():
            try:
                run(*args)  # a Python function called from Python: no C frame (and saved stack) more
            finally:
                release_database()  # no request teardown returns the connection of this greenlet
    except BaseException as err:  # noqa: BLE001
        if not isinstance(err, GreenletExit):
            log.exception("collector socket ended by an error; its spool file keeps what was received")
    finally:
        SOCKETS.served.discard(ws)
        ws.sock.close()
        on_end()


def stop_all(timeout: float = STOP_SECONDS) -> int:
    """Close every socket served past its request with 1001 and wait (up to `timeout` s) until
    their dumps are stored; how many there were."""
    served = list(SOCKETS.served)
    if not served:
        return 0
    import gevent

    log.info("worker stopping: closing %d collector sockets with 1001 and storing their dumps", len(served))
    for ws in served:
        ws.go_away()
    deadline = time.monotonic() + timeout
    while SOCKETS.served and time.monotonic() < deadline:
        gevent.sleep(0.1)
    if SOCKETS.served:
        log.warning(
            "%d collector sockets not done within %.0f s: their spool files are recovered",
            len(SOCKETS.served),
            timeout,
        )
    return len(served)
