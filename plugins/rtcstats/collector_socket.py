"""The collector's WebSocket: simple-websocket's Server, read by whoever serves the socket.

simple-websocket starts a reader thread per socket (under gunicorn's gevent worker a greenlet,
wrapped in a threading.Thread with its locks and an Event) so that an application may send while it
is not reading. The collector does nothing but read until the socket ends, so here the socket is
read by the code that serves it, and no reader is started: none of the thread's objects, nor its
greenlet and saved stack (measured in docs/benchmarks.md, "rtcstats collector"). Frames, the
handshake, close and message-size handling stay the library's (wsproto's parser, simple-websocket's
event handling).

Once the handshake is answered the socket keeps only what a running connection needs: the WSGI
environ and wsproto's h11 handshake machinery are dropped (the post-handshake
`wsproto.connection.Connection` reads and writes frames), so that a socket served past its request
(collector_handoff.py) does not keep the request's objects alive.

Two ways to read: `receive(timeout)` waits in the caller's greenlet or thread (a socket served inside
its request); `read_ready()` takes what the kernel holds and never waits (a socket served from the
event loop, collector_watch.py, which reads only when its watcher says there is something).
"""

from __future__ import annotations

import socket
import time

from simple_websocket import ConnectionClosed, Server
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

CLOSE_REPLY_SECONDS = 2.0  # how long a server-side close waits for the client's close frame
# How long a send (a pong, a close frame, a jitsi `sn`) may wait for room in the socket's send buffer
# when the socket is read without waiting (read_ready): a client that reads nothing fails it.
SEND_SECONDS = 10.0
GOING_AWAY = 1001  # the server stops (a worker's graceful shutdown): RFC 6455's "going away"


class Refused(Exception):
    """The socket is refused or ended by the server: `code` and `reason` go in the close frame;
    `label`, when given, is the metrics' reason instead of the one of the code."""

    def __init__(self, code: int, reason: str, label: str | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.label = label


class _NoReaderThread:
    """Takes the place of simple-websocket's reader thread (`thread_class`): nothing is started."""

    name = "(no reader: receive() reads)"

    def __init__(self, target):
        pass

    def start(self) -> None:
        pass


class _NoEvent:
    """Takes the place of the Event the reader thread would set: receive() never waits on it."""

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


_NO_EVENT = _NoEvent()  # stateless: one for all sockets


class CollectorSocket(Server):
    """A WebSocket whose messages are read by the caller of `receive()` or `read_ready()`."""

    def __init__(self, environ: dict, subprotocols: list[str], max_message_size: int):
        super().__init__(
            environ,
            subprotocols=subprotocols,
            max_message_size=max_message_size,
            thread_class=_NoReaderThread,
            event_class=lambda: _NO_EVENT,
        )
        # The handshake is answered: what follows needs neither the request's environ nor h11.
        self.environ = None
        self.thread = None
        self.ws = self.ws.connection
        self.stopping = False

    def take_over(self) -> None:
        """Hold the connection on a socket of our own (a dup of the request's): the server closes the
        request's socket object when the request returns; the TCP connection lives on in the dup."""
        own = self.sock.dup()
        self.sock = own

    def go_away(self) -> None:
        """The server stops: the socket's reader wakes up (a waiting `receive()`, or the read watcher
        of a socket served from the event loop: the socket reads as ended) and `receive()` or
        `read_ready()` raises Refused(GOING_AWAY), which closes the socket with 1001 and ends its dump
        as any server-side close does."""
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass  # already gone: its reader sees that by itself

    def receive(self, timeout: float | None = None):
        """The next message; None when none came within `timeout` seconds (a ping does not count).

        :raises ConnectionClosed: the connection ended (close frame, reset, or a message too big,
            which simple-websocket answered with 1009 itself).
        :raises Refused: GOING_AWAY after `go_away()`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.connected and not self.input_buffer:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            data = self._read(left)
            if data is None:
                return None
            self._take(data)
        if self.input_buffer:
            return self.input_buffer.pop(0)  # what came before a close is still delivered
        raise ConnectionClosed(self.close_reason, self.close_message)

    def read_ready(self) -> bool:
        """Take in what the kernel holds for the socket, without waiting: its complete messages go to
        `input_buffer`, a close or a broken connection sets `connected` False. False when there was
        nothing to read.

        :raises Refused: GOING_AWAY after `go_away()`.
        """
        self.sock.settimeout(0.0)
        try:
            data = self.sock.recv(self.receive_bytes)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        finally:
            self.sock.settimeout(SEND_SECONDS)
        self._take(data)
        return True

    def _take(self, data: bytes) -> None:
        """Feed what was read to wsproto (b"": the connection ended)."""
        try:
            if not data:
                if self.stopping:
                    raise Refused(GOING_AWAY, "the server is restarting; reconnect")
                raise ConnectionResetError  # the peer went away without a close frame
            self.ws.receive_data(data)
            self.connected = self._handle_events()
        except (OSError, LocalProtocolError):  # as simple-websocket's reader thread ends
            self.connected = False

    def close(self, reason=None, message=None) -> None:
        super().close(reason, message)
        # The reader thread would have read the client's reply; closing the TCP socket with that
        # reply unread would make the kernel answer with a reset instead of a clean end.
        deadline = time.monotonic() + CLOSE_REPLY_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            data = self._read(left)
            if not data:
                return
            try:
                self.ws.receive_data(data)
                if any(isinstance(event, CloseConnection) for event in self.ws.events()):
                    return
            except LocalProtocolError:
                return

    def _read(self, timeout: float | None) -> bytes | None:
        """Bytes from the socket; None on timeout, b"" when it is gone."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(self.receive_bytes)
        except TimeoutError:
            return None
        except OSError:
            return b""
