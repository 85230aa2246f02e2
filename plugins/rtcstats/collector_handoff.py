"""Where a collector socket is served once its handshake is answered, how many a worker takes, and
what happens to them when the worker stops.

The rule: under gunicorn's gevent worker (gevent has patched `socket` and the connection is
gunicorn's), the socket is served from the event loop (collector_watch.py: a read watcher, and a
short-lived greenlet only while a message is handled) on a dup of the connection's socket, and the
request returns at once. gunicorn then closes its own socket object (the dup keeps the TCP
connection) and frees the request, its environ and Flask's request context, and the request greenlet
with its deep saved stack: an open socket keeps only its socket and watcher, the post-handshake
wsproto connection, its dump writer, limits and counters (docs/benchmarks.md, "rtcstats
collector"). Under any other server (werkzeug's development server, threads) the socket is served
inside its request, as a WSGI app would, reading with `receive()`.

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

from flask import current_app
from simple_websocket import ConnectionClosed

from plugins.rtcstats.collector import IDLE, TRY_LATER, socket_over
from plugins.rtcstats.collector_socket import CollectorSocket, Refused
from plugins.rtcstats.collector_watch import Handler, WatchedSocket

log = logging.getLogger("rtcstats")

STOP_SECONDS = 20.0  # below gunicorn's graceful_timeout (core/server.py: 30 s)


class WorkerSockets:
    """The collector sockets of this process: how many (all of them, from before their handshake)
    and which are served past their request."""

    def __init__(self):
        self.count = 0
        self.served: set[WatchedSocket] = set()
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
    """The rule above: from the event loop under gunicorn's gevent worker, else in the request."""
    if ws.mode != "gunicorn":
        return False
    from gevent import monkey

    return monkey.is_module_patched("socket")


def serve(handler: Handler) -> bool:
    """Serve the handler's socket: past the request when the rule says so (True: the request may
    return at once; the socket gives back its places and count at its end), else here, to its end
    (False: the caller gives them back)."""
    ws = handler.ws
    if not served_past_request(ws):
        serve_in_request(handler)
        return False
    ws.take_over()
    WatchedSocket(handler, current_app._get_current_object(), SOCKETS).start()
    return True


def serve_in_request(handler: Handler) -> None:
    """The socket served by the caller's thread or greenlet, waiting for each message."""
    ws = handler.ws
    try:
        if not handler.opened():
            return
        while True:
            message = ws.receive(timeout=handler.idle)
            if message is not None:
                handler.message(message)
            elif ws.connected:
                raise Refused(IDLE, f"nothing received for {handler.idle} s")
            # else closed meanwhile: the next receive raises with the reason
    except (ConnectionClosed, Refused) as err:
        socket_over(handler, err)
    except BaseException:
        handler.broke()
        raise


def stop_all(timeout: float = STOP_SECONDS) -> int:
    """Close every socket served past its request with 1001 and wait (up to `timeout` s) until
    their dumps are stored; how many there were."""
    served = list(SOCKETS.served)
    if not served:
        return 0
    import gevent

    log.info("worker stopping: closing %d collector sockets with 1001 and storing their dumps", len(served))
    for watched in served:
        watched.handler.ws.go_away()
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
