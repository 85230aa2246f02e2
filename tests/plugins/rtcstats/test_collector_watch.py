"""A collector socket served from gevent's event loop (plugins/rtcstats/collector_watch.py): messages
reach the handler in order and one at a time although no greenlet waits on the socket, what arrives
while the handler waits is read after it, and one idle sweep closes silent sockets with 4008.

Real parts: gevent's hub and libev watchers in this process, a real socket pair (gevent's), the
collector's CollectorSocket (simple-websocket and wsproto, handshake from a WSGI environ as gunicorn
hands it) on the server side and wsproto speaking RFC 6455 on the client side. The handler is a
recording one: the protocols' own handlers are tested against a real server in test_collector*.py.
"""

from __future__ import annotations

import time

import gevent
import gevent.socket
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage

from plugins.rtcstats import collector, collector_watch
from plugins.rtcstats.collector_handoff import WorkerSockets
from plugins.rtcstats.collector_socket import CollectorSocket


class _Places:
    """The account places of the socket (collector.OpenSessions): given back at the end."""

    def __init__(self):
        self.left = 0

    def leave(self) -> None:
        self.left += 1


class Recording:
    """A handler that records its calls; the first message may wait (as a store or the database would)."""

    close_reasons = collector.CLOSE_REASONS

    def __init__(self, ws: CollectorSocket, idle: float = 60.0, first_wait: float = 0.0):
        self.ws = ws
        self.places = _Places()
        self.idle = idle
        self.first_wait = first_wait
        self.messages: list[str] = []
        self.running = self.most_running = 0
        self.ended_with: tuple[int, str] | None = None

    def opened(self) -> bool:
        return True

    def message(self, message) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if not self.messages and self.first_wait:
                gevent.sleep(self.first_wait)  # the greenlet waits; the client keeps sending
            self.messages.append(message)
        finally:
            self.running -= 1

    def ended(self, code: int, reason: str) -> None:
        self.ended_with = (code, reason)

    def broke(self) -> None:
        raise AssertionError("no error expected")


class Client:
    """The client end: wsproto over the other socket of the pair."""

    def __init__(self, sock):
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)

    def request_environ(self) -> dict:
        """The WSGI environ gunicorn would hand over for this client's handshake request."""
        request = self.ws.send(Request(host="collector.test", target="/", subprotocols=["rtcstats#5.0"]))
        environ = {"gunicorn.socket": None}
        for line in request.decode().split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
        return environ

    def accept(self) -> None:
        self.ws.receive_data(self.sock.recv(4096))
        assert isinstance(next(self.ws.events()), AcceptConnection)

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def close_code(self, timeout: float = 5) -> int | None:
        """The code of the server's close frame, waiting up to `timeout` s (None: none came)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(min(0.1, timeout))
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return None
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, CloseConnection):
                    self.sock.sendall(self.ws.send(event.response()))
                    return event.code
        return None


@pytest.fixture
def watched(app, monkeypatch):
    """serve(handler_factory) -> (client, handler, sockets): a socket served from the loop."""
    monkeypatch.setattr(collector_watch, "SWEEP_SECONDS", 0.1)
    monkeypatch.setattr(collector_watch, "IDLE_SWEEP", collector_watch.IdleSweep())
    sockets = WorkerSockets()
    opened = []

    def serve(**handler_args):
        server_sock, client_sock = gevent.socket.socketpair()
        client = Client(client_sock)
        environ = client.request_environ()
        environ["gunicorn.socket"] = server_sock
        ws = CollectorSocket(environ, ["rtcstats#5.0"], 8192)
        client.accept()
        ws.take_over()
        server_sock.close()  # as gunicorn closes its own once the request returned: the dup serves
        handler = Recording(ws, **handler_args)
        sockets.count += 1
        collector_watch.WatchedSocket(handler, app, sockets).start()
        opened.append(client_sock)
        return client, handler, sockets

    yield serve
    for sock in opened:
        sock.close()
    gevent.sleep(0.2)  # their greenlets end


def wait_for(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        gevent.sleep(0.02)


def test_messages_that_arrive_while_the_handler_waits_are_handled_after_it_in_order(watched):
    """The first message's handler waits 0.5 s; the client sends 200 more meanwhile (more than one
    read's worth): none is lost, none handled twice or out of order, never two at once; the socket
    then waits without a greenlet, and a close ends it with the client's code."""
    client, handler, sockets = watched(first_wait=0.5)
    client.send("m0")
    wait_for(lambda: handler.running == 1)  # the handler of m0 is waiting now
    for n in range(1, 201):
        client.send(f"m{n}-" + "x" * 100)
    wait_for(lambda: len(handler.messages) == 201)
    assert handler.messages == ["m0"] + [f"m{n}-" + "x" * 100 for n in range(1, 201)]
    assert handler.most_running == 1
    (served,) = sockets.served
    assert not served.busy and served.watcher.active  # no greenlet: its watcher waits
    client.send("last")
    wait_for(lambda: handler.messages[-1] == "last")
    client.sock.sendall(client.ws.send(CloseConnection(code=1000)))
    wait_for(lambda: handler.ended_with is not None)
    assert handler.ended_with == (1000, "client")
    wait_for(lambda: not sockets.served)
    assert sockets.count == 0 and handler.places.left >= 1


def test_one_sweep_closes_the_silent_sockets_with_4008_and_leaves_a_talking_one_open(watched):
    idle = 0.6
    talking_idle = 1.5  # more than a loaded machine's longest pause between two of its messages
    silent = [watched(idle=idle) for _ in range(3)]
    talking_client, talking, sockets = watched(idle=talking_idle)
    started = time.monotonic()
    codes = {}
    # the talking socket talks for twice its own idle timeout: each message restarted its clock
    while time.monotonic() - started < talking_idle * 2 + 2:
        talking_client.send("still here")
        for n, (client, _handler, _) in enumerate(silent):
            if n not in codes and (code := client.close_code(timeout=0.05)) is not None:
                codes[n] = code  # answered: the server's close ends
                assert time.monotonic() - started >= idle - 0.1
        if len(codes) == len(silent) and time.monotonic() - started >= talking_idle * 2:
            break
        gevent.sleep(0.05)
    assert talking.ended_with is None
    # From here on it sends nothing more: its timeout is lifted, lest the sweep close it before its
    # client does at the end.
    talking.idle = 60.0
    assert codes == {0: 4008, 1: 4008, 2: 4008}
    for _client, handler, _ in silent:
        wait_for(lambda handler=handler: handler.ended_with is not None)
    for _client, handler, _ in silent:
        assert handler.ended_with == (4008, "idle")
    assert talking.ended_with is None and len(sockets.served) == 1
    assert collector_watch.IDLE_SWEEP.timer.active
    talking_client.sock.sendall(talking_client.ws.send(CloseConnection(code=1000)))
    wait_for(lambda: talking.ended_with == (1000, "client"))
    wait_for(lambda: not collector_watch.IDLE_SWEEP.timer.active)  # no sockets: the sweep stops


def test_a_ping_is_answered_but_does_not_restart_the_idle_clock(watched):
    client, handler, _ = watched(idle=0.8)
    client.send("hello")
    wait_for(lambda: handler.messages == ["hello"])
    started = time.monotonic()
    client.sock.sendall(client.ws.send(Ping(payload=b"p")))
    client.sock.settimeout(2)
    client.ws.receive_data(client.sock.recv(4096))
    assert any(isinstance(event, Pong) for event in client.ws.events())
    assert client.close_code(timeout=3) == 4008
    assert 0.8 - 0.3 <= time.monotonic() - started < 0.8 + 1.0
    wait_for(lambda: handler.ended_with == (4008, "idle"))


def test_a_waiting_handler_holds_up_neither_other_sockets_nor_the_runners_kept(watched):
    """While one socket's handler waits, another socket's messages are handled (another runner
    greenlet serves them); afterwards the runners wait for the next wakes, no more than RUNNERS_KEPT."""
    slow_client, slow, _ = watched(first_wait=3.0)
    quick_client, quick, _ = watched()
    slow_client.send("slow")
    wait_for(lambda: slow.running == 1)
    for n in range(20):
        quick_client.send(f"q{n}")
    wait_for(lambda: len(quick.messages) == 20, timeout=2.5)  # before the slow one's wait is over
    assert slow.messages == []
    wait_for(lambda: slow.messages == ["slow"])
    assert 1 <= len(collector_watch._IDLE_RUNNERS) <= collector_watch.RUNNERS_KEPT
