"""jitsi reconnects: a session whose socket broke is resumed by its client's reconnect, against a real
`mediaplane serve` (gunicorn, gevent worker) on PostgreSQL.

The client here does what @jitsi/rtcstats 9.7's trace-ws.js does (read from its source): every entry
gets the time and a sequence number appended and is kept in a buffer (at most 1000) until an `sn`
from the server names a sequence number in it; on an `initial` sn it drops the entries up to that
number and resends the rest; after a close that is not its own 3001/3002 it reconnects with
`isReconnect=true` and the same statsSessionId. It replays a real jitsi dump (jitsi/rtcstats-server's
test dump, MIT); the socket breaks mid-way (an abrupt disconnect, a killed worker, a killed server);
the stored dump must hold every line once, in order, and analyse as the whole file does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from core.queue import EmbeddedRedis
from plugins.rtcstats.analysis import analyze
from plugins.rtcstats.parsing import parse
from plugins.rtcstats.service.live import open_marks_key
from tests.conftest import PgSchema
from tests.faults import Server
from tests.plugins.rtcstats.test_collector import get, gunicorn_workers
from tests.plugins.rtcstats.test_collector_jitsi import (
    API,
    CHROME,
    FIREFOX,
    assert_same_lines,
    cli,
    close_frame,
    connect,
    dump_of,
    fixture_lines,
    keepalive,
    run_worker,
    sessions,
    stored_dump,
    wait_for_sessions,
)

pytestmark = pytest.mark.slow

IDLE_SECONDS = 2
WINDOW = 15  # collector_reconnect_seconds: a session not resumed for this long is stored
BUFFER_LIMIT = 1000  # trace-ws.js's


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("jitsi-reconnect")
    env = {
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": str(IDLE_SECONDS),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_RECONNECT_SECONDS": str(WINDOW),
    }
    with PgSchema() as schema, Server(root, {**env, "MEDIAPLANE__CORE__DATABASE_URL": schema.url}) as serving:
        yield serving


def spool_files(server: Server) -> list[str]:
    return sorted(p.name for p in (server.root / "data" / "rtcstats-collector").glob("*"))


class StockClient:
    """One trace of @jitsi/rtcstats: its entries (a fixture's lines with the sequence number appended),
    its buffer of entries not acknowledged, and its socket of the moment."""

    def __init__(self, server: Server, session_id: str, lines: list[str]):
        self.server = server
        self.session_id = session_id
        self.entries = [self._with_sequence(line, number) for number, line in enumerate(lines, 1)]
        self.traced = 0  # entries traced so far (sent, or buffered while disconnected)
        self.buffer: list[str] = []
        self.socket: ClientConnection | None = None
        self.sent: list[int] = []  # sequence numbers put on a socket, in order (resends included)

    @staticmethod
    def _with_sequence(line: str, number: int) -> str:
        entry = json.loads(line)
        entry.append(number)  # the line has its time already (trace-ws.js appends the time, then this)
        return json.dumps(entry, separators=(",", ":"))

    def _message(self, entry: str) -> str:
        if entry.startswith('["identity"'):
            return json.dumps(
                {"statsSessionId": self.session_id, "type": "identity", "data": json.loads(entry)}
            )
        return json.dumps({"statsSessionId": self.session_id, "type": "stats-entry", "data": entry})

    def connect(self, reconnect: bool) -> int:
        """Open a socket and handle the server's first sn: its value."""
        self.socket = connect(self.server, self.server.key, session_id=self.session_id, reconnect=reconnect)
        return self._on_sn(json.loads(self.socket.recv(timeout=10)))

    def _on_sn(self, message: dict) -> int:
        assert message["type"] == "sn", message
        value, state = message["body"]["value"], message["body"]["state"]
        numbers = [json.loads(entry)[4] for entry in self.buffer]
        if value in numbers:  # trace-ws.js: slice after it (not found: the whole buffer stays)
            self.buffer = self.buffer[numbers.index(value) + 1 :]
        if state == "initial":
            for entry in self.buffer:
                self._send(entry)
        return value

    def _send(self, entry: str) -> None:
        """Put an entry on the socket; one that is closed meanwhile takes nothing (readyState)."""
        try:
            self.socket.send(self._message(entry))
        except (ConnectionClosed, OSError):
            return
        self.sent.append(json.loads(entry)[4])

    def trace(self, count: int, connected: bool = True) -> None:
        """Trace the next `count` entries: sent when connected, buffered (room permitting) always."""
        for entry in self.entries[self.traced : self.traced + count]:
            if connected:
                self._send(entry)
            if len(self.buffer) < BUFFER_LIMIT:
                self.buffer.append(entry)
        self.traced = min(len(self.entries), self.traced + count)

    def read_acks(self, timeout: float = 0.05) -> list[int]:
        """Handle the sn messages the server sent meanwhile; their values."""
        values = []
        with contextlib.suppress(TimeoutError):
            while True:
                values.append(self._on_sn(json.loads(self.socket.recv(timeout=timeout))))
        return values

    def break_socket(self) -> None:
        """The connection ends without a close frame (a network drop seen by both ends)."""
        self.socket.socket.shutdown(socket.SHUT_RDWR)
        self.socket.socket.close()

    def leave(self) -> None:
        """trace.close(): the conference is left (3001)."""
        self.socket.close(code=3001)


def live_state(server: Server, rtcstats_id: str) -> str:
    return sessions(server)[rtcstats_id]["state"]


def the_live_session(server: Server, before: dict) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = [k for k, v in sessions(server).items() if k not in before and v["state"] == "live"]
        if new:
            assert len(new) == 1, new
            return new[0]
        time.sleep(0.1)
    raise AssertionError("no live session")


def leave_and_stored(server: Server, client: StockClient, before: dict, timeout: float = 30) -> str:
    """The client leaves (3001); the one new session, stored, holds each of its entries once, in order."""
    time.sleep(0.3)  # the last entries written before the close
    client.leave()
    (stored,) = wait_for_sessions(server, before, 1, timeout=timeout)
    assert_same_lines(dump_of(server, stored)[1], client.entries)
    return stored


def assert_analysed_as_the_fixture(server: Server, rtcstats_id: str, fixture) -> None:
    run_worker(server)
    status, body = get(server, f"{API}/sessions/{rtcstats_id}")
    assert status == 200, body
    data, expected = body["data"], analyze(parse(fixture.read_bytes()))
    assert data["features"] == expected["features"]
    assert data["pConnections"].keys() == expected["pConnections"].keys() and data["pConnections"]
    assert data["observationsCount"] == expected["observationsCount"]
    assert (data["callStart"], data["callEnd"]) == (expected["callStart"], expected["callEnd"])
    assert data["metadata"]["conferenceId"] == expected["metadata"]["conferenceId"]


# -- an abrupt disconnect ---------------------------------------------------------------------------------


def test_a_broken_socket_is_resumed_and_the_dump_holds_every_line_once(server):
    before = sessions(server)
    lines = fixture_lines(CHROME)
    client = StockClient(server, "resume-1", lines)
    assert client.connect(reconnect=False) == 0
    client.trace(20)
    rtcstats_id = the_live_session(server, before)
    time.sleep(0.5)  # the server wrote them
    client.break_socket()
    client.trace(10, connected=False)  # traced while the connection is down: buffered only
    time.sleep(IDLE_SECONDS * 2 + 1)  # past the recovery's idle cutoff: only the window keeps it
    assert live_state(server, rtcstats_id) == "live"  # listed live while it may be resumed

    # The reconnect is told the last sequence number stored, and resends what came after it.
    assert client.connect(reconnect=True) == 20
    assert client.sent[-10:] == list(range(21, 31))
    client.trace(len(lines))
    assert leave_and_stored(server, client, before) == rtcstats_id  # the same session
    assert dump_of(server, rtcstats_id)[0]["path"] == "/meet.example.com/standup"
    assert not spool_files(server)
    assert_analysed_as_the_fixture(server, rtcstats_id, CHROME)


def test_entries_resent_with_a_sequence_number_already_stored_are_dropped(server):
    """The stock client resends its whole buffer when the sn names no entry in it; the server drops
    what it has (here: entries 1 to 8 again, then 9 to 12 that it lacks)."""
    before = sessions(server)
    lines = fixture_lines(FIREFOX)[:12]
    client = StockClient(server, "resume-dup", lines)
    client.connect(reconnect=False)
    client.trace(8)
    time.sleep(0.5)
    client.break_socket()
    client.trace(4, connected=False)
    time.sleep(0.5)
    client.socket = connect(server, server.key, session_id="resume-dup", reconnect=True)
    assert json.loads(client.socket.recv(timeout=10)) == {
        "type": "sn",
        "body": {"value": 8, "state": "initial"},
    }
    for entry in client.buffer:  # all twelve, as if the sn had named none of them
        client._send(entry)
    leave_and_stored(server, client, before)


def test_the_server_acknowledges_what_it_wrote_so_the_clients_buffer_holds_only_the_rest(server):
    before = sessions(server)
    client = StockClient(server, "acked", fixture_lines(CHROME))
    client.connect(reconnect=False)
    client.trace(5)
    assert client.read_acks() == []  # not yet: at most one acknowledgement per 5 s
    started = time.monotonic()
    while time.monotonic() - started < 5.2:  # keepalives (the idle timeout is shorter)
        client.socket.send(keepalive("acked"))
        time.sleep(0.5)
    client.trace(1)
    assert client.read_acks(timeout=2) == [6]  # sn {value: 6, state: "ack"}
    assert client.buffer == []  # trace-ws.js dropped the six entries from its buffer
    client.leave()
    wait_for_sessions(server, before, 1)


def test_a_session_not_resumed_within_the_window_is_stored_as_it_was(server):
    before = sessions(server)
    lines = fixture_lines(FIREFOX)
    client = StockClient(server, "gone", lines)
    client.connect(reconnect=False)
    client.trace(15)
    rtcstats_id = the_live_session(server, before)
    time.sleep(0.5)
    client.break_socket()
    broke = time.monotonic()
    time.sleep(WINDOW - 2)
    assert live_state(server, rtcstats_id) == "live"
    (stored,) = wait_for_sessions(server, before, 1, timeout=WINDOW + 10)
    assert stored == rtcstats_id and time.monotonic() - broke >= WINDOW
    assert_same_lines(dump_of(server, stored)[1], client.entries[:15])
    # Now stored: a late reconnect has nothing to resume (3001: the client stops trying).
    code, reason = close_frame(connect(server, server.key, session_id="gone", reconnect=True))
    assert code == 3001 and "reconnect" in reason


def test_an_idle_socket_closed_with_4008_is_resumed_too(server):
    """A network that drops without a FIN: the server sees silence (4008 after the idle timeout)."""
    before = sessions(server)
    client = StockClient(server, "silent", fixture_lines(CHROME)[:9])
    client.connect(reconnect=False)
    client.trace(4)
    assert close_frame(client.socket, timeout=IDLE_SECONDS + 10)[0] == 4008
    client.trace(5, connected=False)
    assert client.connect(reconnect=True) == 4
    leave_and_stored(server, client, before)


def test_a_waiting_session_holds_one_place_under_its_own_mark_which_the_reconnect_takes_over(server):
    """The account's open places (a Redis set of marks, in the server's embedded Redis): while a session
    waits for its reconnect it holds one under `resume/<its id>`; the reconnect's socket takes over."""
    redis = EmbeddedRedis(str(server.root / "data")).client()
    before = sessions(server)
    client = StockClient(server, "placed", fixture_lines(CHROME)[:6])
    client.connect(reconnect=False)
    client.trace(3)
    rtcstats_id = the_live_session(server, before)
    (name,) = [name for name in spool_files(server) if ".placed." in name]
    key = open_marks_key(int(name.split("-", 1)[0]))
    waiting = f"resume/{rtcstats_id.replace('-', '')}"

    def marks() -> set[str]:
        return {member.decode() for member in redis.zrange(key, 0, -1)}

    held = marks()
    assert len(held) == 1 and waiting not in held  # the socket's own place
    client.break_socket()
    time.sleep(0.5)
    assert marks() == {waiting}  # the broken socket's place went, the session's stays
    client.connect(reconnect=True)
    assert len(marks()) == 1 and waiting not in marks()  # the new socket's own place only
    client.trace(3)
    leave_and_stored(server, client, before)
    assert marks() == set()


# -- refusals -----------------------------------------------------------------------------------------------


def test_a_session_closed_by_its_client_is_stored_at_once_and_not_resumed(server):
    before = sessions(server)
    client = StockClient(server, "left", fixture_lines(CHROME)[:5])
    client.connect(reconnect=False)
    client.trace(5)
    leave_and_stored(server, client, before, timeout=WINDOW - 1)  # well before the window
    with connect(server, server.key, session_id="left", reconnect=True) as again:
        code, _ = close_frame(again)
    assert code == 3001


def test_another_accounts_reconnect_is_refused_and_the_owner_still_resumes(server):
    cli(server, "accounts", "create", "intruder")
    intruder_key = cli(server, "keys", "create", "--account", "intruder", "--scopes", "rtcstats:write")
    before = sessions(server)
    client = StockClient(server, "mine-only", fixture_lines(FIREFOX)[:10])
    client.connect(reconnect=False)
    client.trace(6)
    time.sleep(0.3)
    client.break_socket()
    time.sleep(0.3)
    with connect(server, intruder_key, session_id="mine-only", reconnect=True) as intruder:
        code, reason = close_frame(intruder)
    assert code == 3001 and "reconnect" in reason
    assert client.connect(reconnect=True) == 6  # the owner's reconnect still finds it
    client.trace(4)
    leave_and_stored(server, client, before)


def test_a_reconnect_while_the_previous_socket_still_holds_the_session_is_told_to_retry(server):
    before = sessions(server)
    client = StockClient(server, "twice", fixture_lines(CHROME)[:3])
    client.connect(reconnect=False)
    client.trace(3)
    time.sleep(0.3)
    with connect(server, server.key, session_id="twice", reconnect=True) as second:
        code, _ = close_frame(second)
    assert code == 1013  # try again later: the client reconnects with its backoff
    leave_and_stored(server, client, before)


# -- restarts ---------------------------------------------------------------------------------------------


def _wait_for_new_worker(server: Server, old: int) -> None:
    deadline = time.monotonic() + 60
    while old in gunicorn_workers(server) or not gunicorn_workers(server):
        assert time.monotonic() < deadline, "gunicorn started no new worker"
        time.sleep(0.2)


def test_a_killed_workers_session_is_resumed_after_the_restart_not_recovered(server):
    """SIGKILL of the worker mid-replay (what it had not written is lost with it); the recovery sweep
    of the next connect leaves the spool file alone within the window; the reconnect is told the last
    sequence number on disk and resends the rest."""
    before = sessions(server)
    lines = fixture_lines(CHROME)
    client = StockClient(server, "restarted", lines)
    client.connect(reconnect=False)
    client.trace(25)
    rtcstats_id = the_live_session(server, before)
    (worker,) = gunicorn_workers(server)
    os.kill(worker, signal.SIGKILL)
    client.trace(5)  # sent to a dead socket: lost in transit, still in the buffer
    with contextlib.suppress(ConnectionClosed):
        client.socket.recv(timeout=10)
    client.trace(5, connected=False)
    _wait_for_new_worker(server, worker)
    time.sleep(IDLE_SECONDS * 2 + 1)  # a lost socket's file is an orphan after this, but for the window
    with connect(server, server.key, session_id="unrelated") as trigger:  # its connect sweeps the spool
        trigger.recv(timeout=10)
        trigger.close(code=3001)
    time.sleep(1)
    assert len(spool_files(server)) == 1 and live_state(server, rtcstats_id) == "live"

    stored_before = client.connect(reconnect=True)
    assert 0 < stored_before <= 25
    client.trace(len(lines))
    assert leave_and_stored(server, client, before) == rtcstats_id
    assert_analysed_as_the_fixture(server, rtcstats_id, CHROME)


def test_a_session_survives_a_whole_server_restart(server):
    """The whole server (gunicorn master, workers, embedded Redis) killed and started again on the same
    data directory and port; the reconnect resumes the session."""
    before = sessions(server)
    lines = fixture_lines(FIREFOX)
    client = StockClient(server, "server-restart", lines)
    client.connect(reconnect=False)
    client.trace(20)
    rtcstats_id = the_live_session(server, before)
    time.sleep(0.5)
    key = server.key
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    client.trace(5, connected=False)
    server.__enter__()
    server.key = key
    assert client.connect(reconnect=True) == 20
    client.trace(len(lines))
    assert leave_and_stored(server, client, before) == rtcstats_id
    assert stored_dump(server, rtcstats_id).count(b'"connectionInfo"') == 1
