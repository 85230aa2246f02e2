"""The jitsi rtcstats protocol on the collector WebSocket, against a real `mediaplane serve` (gunicorn,
gevent worker), on SQLite and on PostgreSQL, with a real Redis (the one `serve` starts).

A Python WebSocket client (the `websockets` library, independent of the server's) speaks as
@jitsi/rtcstats 9.x does (read from its trace-ws.js): subprotocol `3.1_STANDARD`, the URL
`<endpoint>/<meetingFqn>?statsSessionId=...&isReconnect=false`, nothing sent before the server's
`{"type": "sn", ...}`, then `{statsSessionId, type, data}` objects: identity with the line as an array,
stats-entry with the line as a JSON string, keepalive without data. It replays real jitsi dumps
(jitsi/rtcstats-server's test dumps, MIT) line by line; the stored dumps are read back by our legacy
parser and analysed by a real `mediaplane worker --burst`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from plugins.rtcstats.analysis import analyze
from plugins.rtcstats.collector_jitsi import entry_line
from plugins.rtcstats.parsing import parse
from plugins.rtcstats.parsing.legacy import parse_legacy
from tests.conftest import PgSchema
from tests.core.test_shared_metrics import sample
from tests.faults import MEDIAPLANE, Server
from tests.plugins.rtcstats.test_collector import get, gunicorn_workers

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dumps"
CHROME = FIXTURES / "jitsi_legacy_chrome-relay.jsonl"
FIREFOX = FIXTURES / "jitsi_legacy_firefox-relay.jsonl"
API = "/api/rtcstats/v1.0"
IDLE_SECONDS = 5
RATE = 50
MAX_OPEN = 3
MAX_SESSION_BYTES = 200_000
RECONNECT_SECONDS = 3  # a broken socket's sessions are stored after this (test_collector_jitsi_reconnect.py)
MEETING = "meet.example.com/standup"
ORIGIN = "https://meet.example.com"
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/117.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"jitsi-{request.param}")
    env = {
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": str(IDLE_SECONDS),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_MESSAGES_PER_SECOND": str(RATE),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_SESSION_BYTES": str(MAX_SESSION_BYTES),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_SESSIONS_PER_ACCOUNT": str(MAX_OPEN),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_RECONNECT_SECONDS": str(RECONNECT_SECONDS),
    }
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env["MEDIAPLANE__CORE__DATABASE_URL"] = stack.enter_context(PgSchema()).url
        yield stack.enter_context(Server(root, env))


# -- the client, as @jitsi/rtcstats sends --------------------------------------------------------------


def fixture_lines(path: Path) -> list[str]:
    """The lines the client sent: all but connectionInfo, which jitsi's server wrote itself."""
    return [
        line for line in path.read_text().splitlines() if line and not line.startswith('["connectionInfo"')
    ]


def request_of(session_id: str, line: str) -> str:
    """The message trace-ws.js sends for one dump line (identity data as the array, others as the string)."""
    if line.startswith('["identity"'):
        return json.dumps({"statsSessionId": session_id, "type": "identity", "data": json.loads(line)})
    return json.dumps({"statsSessionId": session_id, "type": "stats-entry", "data": line})


def line_written(line: str) -> bytes:
    """What the collector writes for a line sent as request_of sends it."""
    if line.startswith('["identity"'):
        return entry_line("identity", json.loads(line))
    return line.encode() + b"\n"


def keepalive(session_id: str) -> str:
    return json.dumps({"statsSessionId": session_id, "type": "keepalive"})


def close_request(session_id: str) -> str:
    return json.dumps({"statsSessionId": session_id, "type": "close"})


def endpoint(server: Server, token: str | None) -> str:
    """What a page gives @jitsi/rtcstats as its endpoint (the token, when any, last in the query)."""
    base = f"ws://127.0.0.1:{server.port}{API}/collector"
    return f"{base}?rtcstats-token={token}" if token is not None else base


def connect(
    server: Server,
    token: str | None,
    session_id: str = "sess-1",
    reconnect: bool = False,
    protocol: str = "3.1_STANDARD",
    headers: dict | None = None,
) -> ClientConnection:
    """Open a socket as trace-ws.js does: endpoint + `/meetingFqn?statsSessionId=..&isReconnect=..`."""
    query = f"statsSessionId={session_id}&isReconnect={str(reconnect).lower()}"
    return ws_connect(
        f"{endpoint(server, token)}/{MEETING}?{query}",
        subprotocols=[protocol],
        origin=ORIGIN,
        user_agent_header=USER_AGENT,
        additional_headers=headers,
        open_timeout=10,
    )


def ready(client: ClientConnection) -> None:
    """The client sends nothing before the server's first message, the sequence number 0."""
    assert json.loads(client.recv(timeout=10)) == {"type": "sn", "body": {"value": 0, "state": "initial"}}


@contextlib.contextmanager
def opened(server: Server, token: str | None, **kwargs):
    """A connected socket whose server said it is ready."""
    with connect(server, token, **kwargs) as client:
        ready(client)
        yield client


# -- the server's side, through its REST API and its storage --------------------------------------------


def sessions(server: Server) -> dict[str, dict]:
    status, body = get(server, f"{API}/sessions?limit=100")
    assert status == 200, body
    return {item["rtcstatsId"]: item for item in body["data"]}


def wait_for_sessions(server: Server, before, count: int, timeout: float = 30) -> list[str]:
    """The ids of `count` sessions new since `before` and stored (listed live until then), in the
    order of their titles (the file names `collector-<UTC time>-<statsSessionId>`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = {k: v for k, v in sessions(server).items() if k not in before and v["state"] != "live"}
        if len(new) >= count:
            assert len(new) == count, new
            return sorted(new, key=lambda k: new[k]["title"])
        time.sleep(0.2)
    raise AssertionError(
        f"not {count} new sessions within {timeout} s; log:\n{server.log.read_text()[-3000:]}"
    )


def stats_session_of(server: Server, rtcstats_id: str) -> str:
    """The statsSessionId a session was stored for (the end of its title)."""
    return sessions(server)[rtcstats_id]["title"].split("-", 2)[2]


def stored_dump(server: Server, rtcstats_id: str) -> bytes:
    found = list((server.root / "data" / "storage").glob(f"rtcstats/*/dumps/{rtcstats_id}"))
    assert len(found) == 1, found
    return found[0].read_bytes()


def dump_of(server: Server, rtcstats_id: str) -> tuple[dict, list[str]]:
    """(connectionInfo's value, the other lines) of a stored jitsi dump."""
    lines = stored_dump(server, rtcstats_id).decode().splitlines()
    head = json.loads(lines[0])
    assert head[:2] == ["connectionInfo", None] and isinstance(head[3], int)
    return head[2], lines[1:]


def close_frame(client: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Wait for the server's close frame (any message before it is skipped); its code and reason."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.recv(timeout=deadline - time.monotonic())
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection ended without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    except TimeoutError:
        pass
    raise AssertionError("the server did not close the socket")


def run_worker(server: Server) -> None:
    worker = subprocess.run(
        [MEDIAPLANE, "worker", "--burst"], env=server.env, cwd=server.root, capture_output=True, timeout=300
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]


def assert_same_lines(stored: list[str], sent: list[str]) -> None:
    """Every sent line, in order: stats-entry lines byte for byte, identity lines as the same JSON."""
    for i, (a, b) in enumerate(zip(stored, sent, strict=False)):
        assert a == b or (b.startswith('["identity"') and json.loads(a) == json.loads(b)), (
            i,
            a[:300],
            b[:300],
        )
    assert len(stored) == len(sent), (len(stored), len(sent))


# -- the protocol --------------------------------------------------------------------------------------


def test_two_interleaved_sessions_of_one_socket_become_two_dumps_analysed_as_the_fixtures(server):
    before = sessions(server)
    first, second = fixture_lines(CHROME), fixture_lines(FIREFOX)
    with connect(server, server.key) as client:
        assert client.subprotocol == "3.1_STANDARD"
        ready(client)
        for i in range(max(len(first), len(second))):
            if i < len(first):
                client.send(request_of("conf-a_1", first[i]))
            if i < len(second):
                client.send(request_of("conf-b-2", second[i]))
            if i % 10 == 0:
                client.send(keepalive("conf-a_1"))
        # While the socket is open both sessions are listed live, each with its statsSessionId.
        deadline = time.monotonic() + 20
        while len(live := {k: v for k, v in sessions(server).items() if k not in before}) < 2:
            assert time.monotonic() < deadline, live
            time.sleep(0.1)
        assert {v["state"] for v in live.values()} == {"live"}
        assert sorted(v["live"]["sessionId"] for v in live.values()) == ["conf-a_1", "conf-b-2"]
        assert {v["live"]["origin"] for v in live.values()} == {ORIGIN}
        status, body = get(server, f"{API}/sessions?sessionId=conf-b-2")
        assert [item["state"] for item in body["data"]] == ["live"]
        client.close(code=3001)  # what trace.close() sends when the conference is left
    ids = wait_for_sessions(server, before, 2)  # named ...-conf-a_1.jsonl, ...-conf-b-2.jsonl
    assert set(ids) == set(live)  # the live sessions became the stored ones

    assert [stats_session_of(server, i) for i in ids] == ["conf-a_1", "conf-b-2"]
    for rtcstats_id, sent in ((ids[0], first), (ids[1], second)):
        info, lines = dump_of(server, rtcstats_id)
        assert info == {
            "path": f"/{MEETING}",  # the token is not in it
            "origin": ORIGIN,
            "url": f"{ORIGIN}/{MEETING}",
            "userAgent": USER_AGENT,
            "clientProtocol": "3.1_STANDARD",
            "statsFormat": "chrome_standard",
            "clientType": "RTCSTATS_CLIENT",
        }
        assert_same_lines(lines, sent)  # no keepalive, no close line: jitsi's format
        assert server.key not in stored_dump(server, rtcstats_id).decode()
        parsed = parse_legacy(stored_dump(server, rtcstats_id))
        assert parsed.metadata["clientProtocol"] == "3.1_STANDARD"
        identity = json.loads(next(line for line in sent if line.startswith('["identity"')))[2]
        assert parsed.metadata["conferenceId"] == identity["confID"]

    run_worker(server)
    for rtcstats_id, fixture in ((ids[0], CHROME), (ids[1], FIREFOX)):
        status, body = get(server, f"{API}/sessions/{rtcstats_id}")
        assert status == 200, body
        data = body["data"]
        expected = analyze(parse(fixture.read_bytes()))
        assert data["features"] == expected["features"]
        assert data["pConnections"].keys() == expected["pConnections"].keys() and data["pConnections"]
        assert data["observationsCount"] == expected["observationsCount"]
        assert data["callStart"] == expected["callStart"] and data["callEnd"] == expected["callEnd"]
        assert data["metadata"]["conferenceId"] == expected["metadata"]["conferenceId"]
        assert data["metadata"]["userId"] == expected["metadata"]["userId"]
        # The fixture's events are from 2023, our connectionInfo line from now: the parser takes it
        # for one pasted from another session (D3) and keeps its url/origin out, as it would on upload.
        assert data["metadata"]["connectionInfoFromAnotherSession"] is True
        assert data["metadata"]["clientProtocol"] == "3.1_STANDARD"
        assert data["uploaded_by"]


def test_a_closed_session_is_stored_while_the_other_goes_on_and_the_socket_end_stores_it(server):
    before = sessions(server)
    lines = fixture_lines(CHROME)
    with opened(server, server.key) as client:
        client.send(request_of("early", lines[0]))
        client.send(request_of("late", lines[0]))
        client.send(close_request("early"))
        (early,) = wait_for_sessions(server, before, 1)  # stored while the socket is open
        for line in lines[1:5]:
            client.send(request_of("late", line))
        client.send(request_of("early", lines[1]))  # a closed id again: a new session, as jitsi's server
        client.close(code=3001)
    assert stats_session_of(server, early) == "early"
    by_name = {stats_session_of(server, i): i for i in wait_for_sessions(server, before, 3) if i != early}
    assert set(by_name) == {"early", "late"}
    assert_same_lines(dump_of(server, early)[1], [lines[0]])
    assert_same_lines(dump_of(server, by_name["late"])[1], lines[:5])
    assert_same_lines(dump_of(server, by_name["early"])[1], [lines[1]])


def test_an_abrupt_disconnect_stores_every_open_session_once_no_reconnect_came(server):
    before = sessions(server)
    lines = fixture_lines(FIREFOX)
    with opened(server, server.key) as client:
        for line in lines[:3]:
            client.send(request_of("cut-1", line))
            client.send(request_of("cut-2", line))
        time.sleep(0.3)
        client.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the TCP connection just ends
        client.socket.close()
    for rtcstats_id in wait_for_sessions(server, before, 2):
        assert_same_lines(dump_of(server, rtcstats_id)[1], lines[:3])


def test_keepalives_keep_a_quiet_session_and_its_socket_open_past_the_idle_timeout(server):
    before = sessions(server)
    lines = fixture_lines(CHROME)
    with opened(server, server.key) as client:
        client.send(request_of("quiet", lines[0]))
        client.send(request_of("silent", lines[0]))
        started = time.monotonic()
        while time.monotonic() - started < IDLE_SECONDS + 2:
            client.send(keepalive("quiet"))
            time.sleep(0.5)
        # "silent" sent nothing for longer than the idle timeout: it ended and was stored alone.
        (silent,) = wait_for_sessions(server, before, 1)
        assert stats_session_of(server, silent) == "silent"
        client.send(request_of("quiet", lines[1]))
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.5)  # still open
        client.close(code=3001)
    quiet = [i for i in wait_for_sessions(server, before, 2) if i != silent]
    assert_same_lines(dump_of(server, quiet[0])[1], lines[:2])


def test_an_idle_socket_is_closed_with_4008_and_its_sessions_stored_once_no_reconnect_came(server):
    before = sessions(server)
    with opened(server, server.key) as client:
        client.send(request_of("idle", fixture_lines(CHROME)[0]))
        assert close_frame(client, timeout=IDLE_SECONDS + 10)[0] == 4008
    wait_for_sessions(server, before, 1)


@pytest.mark.parametrize(
    "session_id",
    ["../etc/passwd", "a b", "", 42, None, "x" * 129, "caf\u00e9"],
    ids=["path", "space", "empty", "number", "missing", "too-long", "non-ascii"],
)
def test_a_bad_statssessionid_closes_with_1007_naming_the_rule_and_the_good_session_is_kept(
    server, session_id
):
    before = sessions(server)
    line = fixture_lines(CHROME)[0]
    with opened(server, server.key) as client:
        client.send(request_of("good", line))
        bad = {"type": "stats-entry", "data": line}
        if session_id is not None:
            bad["statsSessionId"] = session_id
        client.send(json.dumps(bad))
        code, reason = close_frame(client)
    assert code == 1007 and "[A-Za-z0-9_-]" in reason
    (good,) = wait_for_sessions(server, before, 1)
    assert_same_lines(dump_of(server, good)[1], [line])
    spool = server.root / "data" / "rtcstats-collector"
    deadline = time.monotonic() + 10  # the stored file goes just after its session is listed
    while list(spool.glob("*")):  # and the bad id opened no file
        assert time.monotonic() < deadline, list(spool.glob("*"))
        time.sleep(0.1)


def test_messages_that_are_not_requests_or_lines_are_dropped_and_the_socket_goes_on(server):
    before = sessions(server)
    lines = fixture_lines(CHROME)
    with opened(server, server.key) as client:
        client.send(request_of("drops", lines[0]))
        client.send("{not json")
        client.send('["an array, not a request"]')
        for kind, data in (("stats-entry", "{not json"), ("stats-entry", '{"an": 1}'), ("unknown", lines[1])):
            client.send(json.dumps({"statsSessionId": "drops", "type": kind, "data": data}))
        client.send(json.dumps({"statsSessionId": "other", "type": "keepalive"}))  # opens nothing
        client.send(json.dumps({"statsSessionId": "other", "type": "close"}))  # closes nothing
        client.send(request_of("drops", lines[1]))
        client.close(code=3001)
    (only,) = wait_for_sessions(server, before, 1)
    assert_same_lines(dump_of(server, only)[1], lines[:2])


def cli(server: Server, *args: str) -> str:
    """Run a `mediaplane` command against the server's configuration; its last output line."""
    done = subprocess.run(
        [MEDIAPLANE, *args], env=server.env, cwd=server.root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_another_accounts_sessions_are_invisible(server):
    cli(server, "accounts", "create", "other")
    key = cli(server, "keys", "create", "--account", "other", "--scopes", "rtcstats:read")
    before = sessions(server)
    with opened(server, server.key) as client:
        client.send(request_of("mine", fixture_lines(CHROME)[0]))
        client.close(code=3001)
    (mine,) = wait_for_sessions(server, before, 1)
    assert get(server, f"{API}/sessions/{mine}")[0] in (200, 409)  # its owner sees it (maybe pending)
    status, body = get(server, f"{API}/sessions/{mine}", key)
    assert status == 404 and body["errorCode"] == "not_found", body
    status, body = get(server, f"{API}/sessions?limit=100", key)
    assert status == 200 and mine not in {item["rtcstatsId"] for item in body["data"]}


# -- credentials -------------------------------------------------------------------------------------


def test_a_jwt_ahead_of_the_path_the_client_appends_authenticates(server):
    key_id, secret = server.key.split(".", 1)
    now = int(time.time())
    token = jwt.encode({"iss": key_id, "iat": now, "exp": now + 300}, secret, algorithm="HS256")
    before = sessions(server)
    with opened(server, token) as client:  # ...collector?rtcstats-token=JWT/meet.example.com/standup?...
        client.send(request_of("jwt", fixture_lines(CHROME)[0]))
        client.close(code=3001)
    (stored,) = wait_for_sessions(server, before, 1)
    assert token not in stored_dump(server, stored).decode()
    assert dump_of(server, stored)[0]["path"] == f"/{MEETING}"


def test_an_api_key_header_authenticates_without_a_token(server):
    """A server-side client (Node's ws takes headers): the meeting path is the route's."""
    before = sessions(server)
    with opened(server, None, headers={"X-API-Key": server.key}) as client:
        client.send(request_of("header", fixture_lines(CHROME)[0]))
        client.close(code=3001)
    (stored,) = wait_for_sessions(server, before, 1)
    assert dump_of(server, stored)[0]["path"] == f"/{MEETING}"


@pytest.mark.parametrize("token", ["not-a-token", None], ids=["garbage", "missing"])
def test_bad_credentials_close_with_1008_and_store_nothing(server, token):
    before = sessions(server)
    with connect(server, token) as client:
        assert close_frame(client)[0] == 1008
    assert sessions(server).keys() == before.keys()


def test_a_reconnect_with_nothing_to_resume_is_refused_with_3001_which_stops_the_client(server):
    with connect(server, server.key, reconnect=True) as client:
        code, reason = close_frame(client)
    assert code == 3001 and "reconnect" in reason


def test_a_jitsi_backend_client_is_refused_with_1003(server):
    with connect(server, server.key, protocol="3.0_JVB") as client:
        assert client.subprotocol == "3.0_JVB"
        code, reason = close_frame(client)
    assert code == 1003 and "JVB" in reason


# -- limits ------------------------------------------------------------------------------------------


def test_each_session_of_a_socket_takes_one_of_the_accounts_places(server):
    """MAX_OPEN places: a socket with MAX_OPEN sessions fills them; another socket is refused (4003);
    a session's close frees its place (also the first one's, which held the socket's own place);
    one more session on the full socket closes it with 4003, its sessions stored."""
    before = sessions(server)
    line = fixture_lines(CHROME)[0]
    with opened(server, server.key) as client:
        for i in range(MAX_OPEN):
            client.send(request_of(f"place-{i}", line))
        time.sleep(0.5)
        with connect(server, server.key) as refused:
            assert close_frame(refused)[0] == 4003
        client.send(close_request("place-0"))
        wait_for_sessions(server, before, 1)
        with opened(server, server.key) as other:  # MAX_OPEN - 1 sessions open: a place is free
            other.close(code=3001)
        client.send(request_of(f"place-{MAX_OPEN}", line))
        client.send(request_of("one-too-many", line))
        code, reason = close_frame(client)
    assert code == 4003 and str(MAX_OPEN) in reason
    stored = wait_for_sessions(server, before, MAX_OPEN + 1)
    assert sorted(stats_session_of(server, i) for i in stored) == [f"place-{i}" for i in range(MAX_OPEN + 1)]
    with opened(server, server.key) as again:  # every place is free again
        again.send(request_of("again", line))
        with pytest.raises(TimeoutError):
            again.recv(timeout=0.5)
        again.close(code=3001)
    wait_for_sessions(server, before, MAX_OPEN + 2)  # stored before the next test looks


def test_a_flood_closes_with_4029_and_the_rate_is_per_session(server):
    before = sessions(server)
    line = fixture_lines(CHROME)[0]  # a small one: the flood must not reach the size limit first
    with opened(server, server.key) as client:
        client.send(request_of("flood-a", line))
        client.send(request_of("flood-b", line))  # two sessions: twice the rate
        try:
            for _ in range(RATE * 5 * 2 + 60):  # the burst allowance is 5 s worth
                client.send(request_of("flood-a", line))
        except ConnectionClosed:
            pass
        assert close_frame(client)[0] == 4029
    ids = wait_for_sessions(server, before, 2)
    written = max(len(dump_of(server, i)[1]) for i in ids)
    assert RATE * 5 * 2 - 10 <= written <= RATE * 5 * 2 + 10  # beyond one session's burst, then refused


def test_a_session_reaching_the_size_limit_closes_with_4009_keeping_what_fitted(server):
    before = sessions(server)
    line = json.dumps(["custom", None, "y" * 40_000, 1697705722151, 1])
    with opened(server, server.key) as client:
        try:
            for _ in range(8):
                client.send(request_of("big", line))
                time.sleep(0.05)
        except ConnectionClosed:
            pass
        code, reason = close_frame(client)
    assert code == 4009 and "big" in reason
    (big,) = wait_for_sessions(server, before, 1)
    raw = stored_dump(server, big)
    assert len(raw) <= MAX_SESSION_BYTES and len(dump_of(server, big)[1]) == 4


# -- a worker's death, metrics ---------------------------------------------------------------------------


def test_the_sessions_of_a_killed_workers_socket_are_stored_after_the_restart(tmp_path):
    """SIGKILL of the gunicorn worker while a socket with two sessions is open (no finalizing code
    runs); after gunicorn starts a new worker, the next socket's connect makes it store both."""
    env = {
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": "1",
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_RECONNECT_SECONDS": "2",  # no more than 2 x idle
    }
    with Server(tmp_path, env) as crashing:
        before = sessions(crashing)
        lines = fixture_lines(CHROME)[:6]
        (worker,) = gunicorn_workers(crashing)
        with opened(crashing, crashing.key) as client:
            for line in lines:
                client.send(request_of("lost-1", line))
                client.send(request_of("lost-2", line))
            time.sleep(0.3)  # let the worker write the last ones
            os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while worker in gunicorn_workers(crashing) or not gunicorn_workers(crashing):
            assert time.monotonic() < deadline, "gunicorn started no new worker"
            time.sleep(0.2)
        time.sleep(2.5)  # a lost socket's files are orphans after twice the idle timeout
        spool = tmp_path / "data" / "rtcstats-collector"
        # Nothing stored yet: both sessions are still listed live (their socket died with the worker).
        live = {k: v["state"] for k, v in sessions(crashing).items() if k not in before}
        assert len(list(spool.glob("*.rtcstats"))) == 2 and list(live.values()) == ["live", "live"]
        with opened(crashing, crashing.key) as trigger:  # sends nothing: no session of its own
            trigger.close(code=3001)
        recovered = wait_for_sessions(crashing, before, 2)
        assert set(recovered) == set(live)  # the recovery finalized those live sessions
        for rtcstats_id in recovered:
            info, stored = dump_of(crashing, rtcstats_id)
            assert info["clientProtocol"] == "3.1_STANDARD"
            assert_same_lines(stored, lines)  # everything received, and no close line added
        deadline = time.monotonic() + 10  # the files go once the sessions are stored (listed first)
        while list(spool.glob("*")):
            assert time.monotonic() < deadline, "a recovered file stayed in the spool"
            time.sleep(0.1)


def test_sockets_messages_closes_and_sessions_are_counted_with_protocol_jitsi(server):
    """Counted in the web worker into Redis (the embedded one), read back by /metrics."""
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as resp:
        before_metrics = resp.read().decode()
    before = sessions(server)
    lines = fixture_lines(CHROME)[:3]
    with opened(server, server.key) as client:
        for line in lines:
            client.send(request_of("metrics-1", line))
            client.send(request_of("metrics-2", line))
        client.send(close_request("metrics-1"))
        client.close(code=3001)
    wait_for_sessions(server, before, 2)
    with opened(server, server.key) as bad:
        bad.send(json.dumps({"statsSessionId": "a b", "type": "keepalive"}))
        assert close_frame(bad)[0] == 1007
    with connect(server, server.key, reconnect=True) as refused:
        assert close_frame(refused)[0] == 3001
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as resp:
        after = resp.read().decode()

    def delta(name, **labels):
        name = f"mediaplane_rtcstats_collector_{name}"
        return (sample(after, name, **labels) or 0) - (sample(before_metrics, name, **labels) or 0)

    assert delta("sockets_total", protocol="jitsi", event="opened") == 2  # the refused one never opened
    assert delta("sockets_total", protocol="jitsi", event="closed") == 2
    assert delta("sockets_total", protocol="rtcstats", event="opened") == 0
    assert delta("closes_total", protocol="jitsi", reason="client") == 1  # its 3001 is the client's leave
    assert delta("closes_total", protocol="jitsi", reason="bad_session_id") == 1
    assert delta("closes_total", protocol="jitsi", reason="reconnect_refused") == 1
    assert delta("messages_total", protocol="jitsi") == 2 * len(lines)
    assert delta("sessions_total", protocol="jitsi", how="socket") == 2
    written = 2 * sum(len(line_written(line)) for line in lines)  # the lines; connectionInfo is ours
    bytes_name = "mediaplane_rtcstats_received_bytes_total"
    received = sample(after, bytes_name, route="collector") - (
        sample(before_metrics, bytes_name, route="collector") or 0
    )
    assert received == written
