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
from collections.abc import Callable

from flask import current_app

from plugins.rtcstats.collector import TRY_LATER, release_database
from plugins.rtcstats.collector_socket import CollectorSocket, Refused

log = logging.getLogger("rtcstats")

STOP_SECONDS = 20.0  # below gunicorn's graceful_timeout (core/server.py: 30 s)


class WorkerSockets:
    """The collector sockets of this process: how many (all of them, from before their handshake)
    and which are served past their request (greenlet by socket)."""

    def __init__(self):
        self.count = 0
        self.served: dict[CollectorSocket, object] = {}
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


def serve(ws: CollectorSocket, run: Callable[[], None], on_end: Callable[[], None]) -> bool:
    """Serve the socket (`run`, then `on_end`, which gives back its places): past the request when
    the rule says so (True: the request may return at once), else here (False: the caller ends it)."""
    if not served_past_request(ws):
        run()
        return False
    import gevent

    ws.take_over()
    app = current_app._get_current_object()
    SOCKETS.served[ws] = gevent.spawn(_serve_own, app, ws, run, on_end)
    return True


def _serve_own(app, ws: CollectorSocket, run: Callable[[], None], on_end: Callable[[], None]) -> None:
    """The socket's own greenlet: an app context (the database, Redis, storage and settings are
    the app's) for as long as the socket; then its connection, places and count are given back."""
    try:
        with app.app_context():
            try:
                run()
            finally:
                release_database()  # no request teardown returns the connection of this greenlet
    except Exception:  # noqa: BLE001 - a greenlet's error would only be printed to stderr
        log.exception("collector socket ended by an error; its spool file keeps what was received")
    finally:
        SOCKETS.served.pop(ws, None)
        ws.sock.close()
        on_end()


def stop_all(timeout: float = STOP_SECONDS) -> int:
    """Close every socket served past its request with 1001 and wait (up to `timeout` s) until
    their dumps are stored; how many there were."""
    served = list(SOCKETS.served.items())
    if not served:
        return 0
    import gevent

    log.info("worker stopping: closing %d collector sockets with 1001 and storing their dumps", len(served))
    for ws, _greenlet in served:
        ws.go_away()
    gevent.joinall([greenlet for _ws, greenlet in served], timeout=timeout)
    left = sum(1 for _ws, greenlet in served if not greenlet.dead)
    if left:
        log.warning(
            "%d collector sockets not done within %.0f s: their spool files are recovered", left, timeout
        )
    return len(served)
