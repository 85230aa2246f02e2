"""A collector socket served from gevent's event loop, with no greenlet of its own while it is idle.

An open socket spends nearly all its time waiting for the client's next message. A greenlet waiting
for it would keep its saved C stack, a CPython frame-stack chunk and its frames for the socket's whole
life (the largest part of what an open socket cost: docs/benchmarks.md, "rtcstats collector"). Here a
socket keeps only a read watcher (libev's, through `hub.loop.io`) between messages:

- when the kernel has data for the socket, the watcher's callback (in the hub) stops the watcher and
  switches to a runner greenlet that reads what is there (`CollectorSocket.read_ready`, never waiting)
  and hands each complete message to the protocol's handler (collector.RtcstatsSocket,
  collector_jitsi.JitsiSocket), in order, until the socket has nothing more; then it starts the
  watcher again and waits for its next wake. Only that greenlet reads the socket meanwhile: what
  arrives while a handler waits (the database, Redis, a store) stays in the kernel and is read by the
  same greenlet after it, in order. libev's io watchers are level-triggered: data that came after
  the last read wakes the socket again as soon as its watcher is started;
- one timer per process (IdleSweep) looks at every socket each SWEEP_SECONDS and wakes those silent
  for their idle timeout (the greenlet closes them with 4008), instead of a timeout per socket;
- a greenlet takes at most MAX_READS reads per wake and lets the loop serve other sockets before it
  reads more (a flooding socket does not hold the worker);
- the greenlets that serve wakes are kept for the next ones (RUNNERS_KEPT at most per process, what
  many wakes at once need): a new greenlet costs tens of microseconds (CPython gives each its own
  frame-stack chunk, mapped and unmapped), a switch into a kept one about one.

A handler's calls (`opened`, `message`, `ended`, `broke`) run in such a greenlet with the Flask app's
context pushed (once per runner); its database connection is given back to the pool at the end of
each wake.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from greenlet import GreenletExit, getcurrent, greenlet
from simple_websocket import ConnectionClosed

from plugins.rtcstats.collector import IDLE, OpenSessions, release_database, socket_over
from plugins.rtcstats.collector_socket import CollectorSocket, Refused

log = logging.getLogger("rtcstats")

SWEEP_SECONDS = 1.0  # an idle socket is closed within this long after its idle timeout
MAX_READS = 16  # reads (of up to 4 kB each) per wake before other sockets get their turn
RUNNERS_KEPT = 16  # idle runner greenlets kept per process (each holds its stack: ~10-20 kB)
READ = 1  # libev's EV_READ


class Handler(Protocol):
    """What a protocol module gives the serving code: its socket and calls for each step."""

    ws: CollectorSocket
    places: OpenSessions
    idle: float  # seconds without a message before the socket is closed with 4008
    close_reasons: dict[int, str]  # the metrics' reason of each close code of the server's

    def opened(self) -> bool:
        """Before the first message: False when the socket was refused (and closed) already."""

    def message(self, message: str | bytes) -> None:
        """One message. :raises Refused: a limit ends the socket."""

    def ended(self, code: int, reason: str) -> None:
        """The socket is over (close frame sent or received): finish, give back, store."""

    def broke(self) -> None:
        """A bug ended the socket: close what is open (the spool keeps what was received)."""


class WatchedSocket:
    """One socket served from the event loop (see the module's doc)."""

    __slots__ = ("handler", "app", "sockets", "watcher", "heard", "busy")

    def __init__(self, handler: Handler, app, sockets):
        self.handler = handler
        self.app = app  # the Flask app whose context each wake pushes
        self.sockets = sockets  # collector_handoff.WorkerSockets: gets the socket back at its end
        self.watcher = None  # made once the handler has opened
        self.heard = time.monotonic()  # when its last message came (or it opened)
        self.busy = False  # a greenlet serves it now: neither its watcher nor the sweep may wake it

    def start(self) -> None:
        """Serve the socket: its first wake (the handler's `opened`, then what the client sent
        meanwhile) runs from the loop, so the request that handed it over returns first."""
        import gevent

        self.sockets.served.add(self)
        IDLE_SWEEP.watch(self.sockets.served)
        self.busy = True
        gevent.get_hub().loop.run_callback(self._spawn)

    def wake(self) -> None:
        """Data is waiting, or the sweep found the socket idle: a greenlet serves it (in the hub)."""
        if self.busy:
            return
        self.busy = True
        self.watcher.stop()
        self._spawn()

    def _spawn(self) -> None:
        """In the hub: a runner greenlet serves this wake (until it waits, the loop does not go on)."""
        runner = _IDLE_RUNNERS.pop() if _IDLE_RUNNERS else _new_runner()
        runner.switch(self)

    def _serve(self) -> None:
        """The greenlet of one wake: nothing may leave it (an error raised out of a bare greenlet would
        be thrown into the hub)."""
        goes_on = False
        try:
            try:
                goes_on = self._step()
            finally:
                release_database()  # no request teardown returns this greenlet's connection
        except BaseException as err:  # noqa: BLE001
            if not isinstance(err, GreenletExit):
                log.exception("collector socket ended by an error; its spool file keeps what was received")
        if goes_on:
            self.busy = False
            self.watcher.start(self.wake)
        else:
            self._close()

    def _step(self) -> bool:
        """Hand the socket's messages to its handler; False once the socket is over."""
        handler = self.handler
        ws = handler.ws
        try:
            if self.watcher is None:
                if not handler.opened():
                    return False
                import gevent

                self.watcher = gevent.get_hub().loop.io(ws.sock.fileno(), READ)
            reads = 0
            while True:
                while ws.input_buffer:  # what came before a close is still handled
                    self.heard = time.monotonic()
                    handler.message(ws.input_buffer.pop(0))
                if not ws.connected:
                    raise ConnectionClosed(ws.close_reason, ws.close_message)
                if reads == MAX_READS or not ws.read_ready():
                    break
                reads += 1
            if time.monotonic() - self.heard >= handler.idle:
                raise Refused(IDLE, f"nothing received for {handler.idle} s")
            return True
        except (ConnectionClosed, Refused) as err:
            socket_over(handler, err)
            return False
        except BaseException:
            handler.broke()
            raise

    def _close(self) -> None:
        """The socket is over: its watcher, connection, account places and worker count go."""
        self.sockets.served.discard(self)
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        try:
            self.handler.ws.sock.close()
        finally:
            self.handler.places.leave()  # given back already by the handler, but for a bug
            self.sockets.leave()


_IDLE_RUNNERS: list[greenlet] = []  # runners waiting for their next wake


def _new_runner() -> greenlet:
    import gevent

    # A bare greenlet whose parent is the hub: when it waits, or ends, the loop goes on.
    return greenlet(_run_wakes, parent=gevent.get_hub())


def _run_wakes(watched: WatchedSocket) -> None:
    """A runner: serves one wake after the other; between them it waits in _IDLE_RUNNERS (or ends
    when enough others do)."""
    hub = getcurrent().parent
    context = None
    try:
        while True:
            # The socket's app's context, pushed once per runner (not at every wake: a context per
            # message was garbage enough to run the cyclic collector's full walks of the worker's
            # heap often, tens of milliseconds each). Nothing of the collector keeps state in `g`.
            if context is None or context.app is not watched.app:
                if context is not None:
                    context.pop()
                context = watched.app.app_context()
                context.push()
            watched._serve()
            watched = None  # a waiting runner keeps no socket that ended alive
            if len(_IDLE_RUNNERS) >= RUNNERS_KEPT:
                return
            _IDLE_RUNNERS.append(getcurrent())
            watched = hub.switch()  # the next _spawn switches back here with its socket
    finally:
        if context is not None:
            context.pop()


class IdleSweep:
    """One timer per process that wakes the watched sockets silent for their idle timeout. It runs
    while there are watched sockets."""

    def __init__(self):
        self.timer = None
        self.sockets: set[WatchedSocket] = set()

    def watch(self, sockets: set[WatchedSocket]) -> None:
        if self.timer is not None and self.timer.active:
            return
        import gevent

        self.sockets = sockets
        if self.timer is None:
            self.timer = gevent.get_hub().loop.timer(SWEEP_SECONDS, SWEEP_SECONDS)
        self.timer.start(self._sweep)

    def _sweep(self) -> None:
        """In the hub: wake each idle socket (its greenlet closes it, unless a message came meanwhile)."""
        if not self.sockets:
            self.timer.stop()
            return
        now = time.monotonic()
        for watched in [s for s in self.sockets if not s.busy and now - s.heard >= s.handler.idle]:
            try:
                watched.wake()
            except Exception:  # noqa: BLE001 - the loop must go on for the other sockets
                log.exception("collector idle sweep: a socket could not be woken")


IDLE_SWEEP = IdleSweep()
