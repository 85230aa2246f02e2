"""The rtcstats collector WebSocket against a real `mediaplane serve` (gunicorn, gevent worker).

A Python WebSocket client (the `websockets` library, an implementation independent of the server's,
speaking RFC 6455 on a real TCP socket)
replays a real rtcstats-js v3 dump message by message as rtcstats-js sends it; the stored dump is
read back by our own v3 parser and analysed by a real `mediaplane worker --burst`.
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

from plugins.rtcstats.parsing.rtcstats_v3 import parse_v3
from tests.core.test_shared_metrics import sample
from tests.faults import MEDIAPLANE, Server, free_port

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[2] / "fixtures" / "dumps" / "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl"
API = "/api/rtcstats/v1.0"
IDLE_SECONDS = 5  # long enough that the sockets of a test do not idle out on a loaded machine
MAX_MESSAGE = 8192
RATE = 20
MAX_OPEN = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("collector")
    env = {
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": str(IDLE_SECONDS),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_MESSAGES_PER_SECOND": str(RATE),
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_SESSION_BYTES": "20000",
        "MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_MAX_SESSIONS_PER_ACCOUNT": str(MAX_OPEN),
    }
    with Server(root, env) as running:
        yield running


def fixture_messages() -> list[str]:
    """The event lines of the fixture: what rtcstats-js sent (the reference server's own metadata
    line and close line are not messages)."""
    lines = FIXTURE.read_text().splitlines()
    return [line for line in lines[2:] if line and not line.startswith('["close"')]


def ws_url(server: Server, token: str | None) -> str:
    query = f"?rtcstats-token={token}" if token is not None else ""
    return f"ws://127.0.0.1:{server.port}{API}/collector{query}"


ORIGIN = "https://webrtc.github.io"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
)


def connect(server: Server, token: str | None) -> ClientConnection:
    """A socket as a browser page opens it (its Origin and User-Agent)."""
    return ws_connect(
        ws_url(server, token),
        subprotocols=["rtcstats#5.0"],
        origin=ORIGIN,
        user_agent_header=USER_AGENT,
        open_timeout=10,
    )


def get(server: Server, path: str, key: str | None = None) -> tuple[int, dict]:
    """(status, JSON body) of a REST GET with the server's key, or `key`."""
    req = urllib.request.Request(server.base + path, headers={"X-API-Key": key or server.key})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def session_states(server: Server) -> dict[str, str]:
    status, body = get(server, f"{API}/sessions")
    assert status == 200, body
    return {item["rtcstatsId"]: item["state"] for item in body["data"]}


def stored_since(server: Server, before: set[str]) -> set[str]:
    """Sessions listed since `before` that are stored (no longer live)."""
    return {k for k, v in session_states(server).items() if k not in before and v != "live"}


def session_ids(server: Server) -> set[str]:
    return set(session_states(server))


def wait_for_new_session(server: Server, before: set[str], timeout: float = 20) -> str:
    """The one session listed since `before`, once it is stored (no longer live)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = {k: v for k, v in session_states(server).items() if k not in before}
        if new:
            assert len(new) == 1, new
            ((rtcstats_id, state),) = new.items()
            if state != "live":
                return rtcstats_id
        time.sleep(0.2)
    raise AssertionError(f"no new stored session within {timeout} s; log:\n{server.log.read_text()[-3000:]}")


def wait_for_live_session(server: Server, before: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = get(server, f"{API}/sessions")
        new = [item for item in body["data"] if item["rtcstatsId"] not in before]
        if new:
            assert len(new) == 1 and new[0]["state"] == "live", new
            return new[0]
        time.sleep(0.1)
    raise AssertionError(f"no live session within {timeout} s; log:\n{server.log.read_text()[-3000:]}")


def stored_dump(server: Server, rtcstats_id: str) -> bytes:
    found = list((server.root / "data" / "storage").glob(f"rtcstats/*/dumps/{rtcstats_id}"))
    assert len(found) == 1, found
    return found[0].read_bytes()


def close_code(client: ClientConnection, timeout: float = 10) -> int:
    """Wait for the server's close frame; its code."""
    try:
        client.recv(timeout=timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection ended without a close frame"
        return closed.rcvd.code
    except TimeoutError:
        pass
    raise AssertionError("the server did not close the socket")


def replay(client: ClientConnection, messages: list[str], speed: float = 20.0) -> None:
    """Send each message after its real time delta (the first is absolute), `speed` times faster."""
    for i, message in enumerate(messages):
        if i:
            time.sleep(json.loads(message)[-1] / 1000 / speed)
        client.send(message)


def test_a_replayed_rtcstats_js_session_is_stored_in_the_v3_format_and_analysed(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        assert client.subprotocol == "rtcstats#5.0"
        # The client offered permessage-deflate (websockets does by default); the server declines it.
        assert "permessage-deflate" in client.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in client.response.headers
        messages = fixture_messages()
        replay(client, messages)
        # While the socket is open the session is listed live, with the client's facts.
        live = wait_for_live_session(server, before)
        assert live["live"]["origin"] == ORIGIN and live["live"]["browser"] == "Chrome"
        status, body = get(server, f"{API}/sessions/{live['rtcstatsId']}")
        assert status == 409 and body["errorCode"] == "session_live" and body["state"] == "live"
        client.close(code=1000)
    rtcstats_id = wait_for_new_session(server, before)
    assert rtcstats_id == live["rtcstatsId"]  # the live session became the stored one

    raw = stored_dump(server, rtcstats_id)
    lines = raw.split(b"\n")
    assert lines[0] == b"RTCStatsDump"
    metadata = json.loads(lines[1])
    assert metadata["fileFormat"] == 3 and metadata["clientProtocol"] == "rtcstats#5.0"
    assert "rtcstats-token=redacted" in metadata["url"] and server.key not in raw.decode()
    assert metadata["origin"] == ORIGIN and metadata["userAgent"] == USER_AGENT
    assert isinstance(metadata["startTime"], int) and metadata["remoteAddresses"] == ["127.0.0.1"]
    assert [line.decode() for line in lines[2:-1]] == messages  # every message, as sent, in order
    close = json.loads(lines[-1])
    assert close[:3] == ["close", None, 1000] and isinstance(close[3], int)

    dump = parse_v3(raw)  # our own parser reads it back
    assert dump.format_detail["event_lines"] == len(messages) + 1  # + the close line
    original = parse_v3(FIXTURE.read_bytes())  # the reference server's file of the same session
    assert [e.name for e in dump.client_events] == [e.name for e in original.client_events]
    assert "navigator.mediadevices.getusermediaonsuccess" in {e.name for e in dump.client_events}

    status, body = get(server, f"{API}/sessions/{rtcstats_id}")
    assert status == 409 and body["errorCode"] == "analysis_pending"
    worker = subprocess.run(
        [MEDIAPLANE, "worker", "--burst"], env=server.env, cwd=server.root, capture_output=True, timeout=300
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    status, body = get(server, f"{API}/sessions/{rtcstats_id}")
    assert status == 200, body
    data = body["data"]
    assert data["fileName"].startswith("collector-") and data["fileSize"] == len(raw)
    assert data["metadata"]["origin"] == ORIGIN and data["metadata"]["clientProtocol"] == "rtcstats#5.0"
    assert data["userAgentData"]["userAgent"] == USER_AGENT
    assert data["features"]["getUserMediaCalls"] == 1  # the replayed call, analysed
    assert data["uploaded_by"]  # the account's uploader id, as for an upload
    listed = {item["rtcstatsId"]: item for item in get(server, f"{API}/sessions")[1]["data"]}
    assert listed[rtcstats_id]["abstract"]["browser"] == "Chrome"


def test_the_jwt_of_a_key_authenticates_a_browser_without_the_key(server):
    key_id, secret = server.key.split(".", 1)
    now = int(time.time())
    token = jwt.encode({"iss": key_id, "iat": now, "exp": now + 300}, secret, algorithm="HS256")
    before = session_ids(server)
    with connect(server, token) as client:
        client.send(fixture_messages()[0])
        client.close(code=1000)
    rtcstats_id = wait_for_new_session(server, before)
    assert token not in stored_dump(server, rtcstats_id).decode()


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "mpk_0123456789abcdef.wrongwrongwrongwrongwrong", None, "forged.jwt"],
    ids=["garbage", "unknown-key", "missing", "jwt-bad-signature"],
)
def test_bad_credentials_close_the_socket_with_1008_and_store_nothing(server, token):
    if token == "forged.jwt":
        key_id = server.key.split(".", 1)[0]
        token = jwt.encode({"iss": key_id, "exp": int(time.time()) + 300}, "x" * 32, algorithm="HS256")
    before = session_ids(server)
    with connect(server, token) as client:
        assert close_code(client) == 1008
    assert session_ids(server) == before


def test_an_oversized_message_closes_with_1009_and_what_came_before_is_stored(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        first = fixture_messages()[0]
        client.send(first)
        time.sleep(0.2)
        client.send(json.dumps(["custom", None, "x" * (MAX_MESSAGE + 1), 5]))
        assert close_code(client) == 1009
    rtcstats_id = wait_for_new_session(server, before)
    lines = stored_dump(server, rtcstats_id).split(b"\n")
    assert lines[2:-1] == [first.encode()] and json.loads(lines[-1])[:3] == ["close", None, 1009]


def test_invalid_json_messages_are_dropped_and_the_dump_stays_readable(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        messages = fixture_messages()
        client.send(messages[0])
        client.send("{not json")
        client.send('{"an": "object, not an array"}')
        client.send('[\n"pretty", null, {"a": 1},\n 7]')  # valid, spread over lines: written compacted
        client.send(messages[1])
        client.close(code=1000)
    rtcstats_id = wait_for_new_session(server, before)
    raw = stored_dump(server, rtcstats_id)
    lines = raw.split(b"\n")
    assert lines[2:-1] == [messages[0].encode(), b'["pretty",null,{"a":1},7]', messages[1].encode()]
    parse_v3(raw)


def test_an_abrupt_disconnect_is_still_finalized_with_1006(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        client.send(fixture_messages()[0])
        time.sleep(0.2)
        client.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the TCP connection just ends
        client.socket.close()
    rtcstats_id = wait_for_new_session(server, before)
    assert json.loads(stored_dump(server, rtcstats_id).split(b"\n")[-1])[:3] == ["close", None, 1006]


def test_an_idle_socket_is_closed_with_4008_and_finalized(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        client.send(fixture_messages()[0])
        started = time.monotonic()
        assert close_code(client, timeout=IDLE_SECONDS + 10) == 4008
    assert time.monotonic() - started >= IDLE_SECONDS - 0.5
    rtcstats_id = wait_for_new_session(server, before)
    assert json.loads(stored_dump(server, rtcstats_id).split(b"\n")[-1])[:3] == ["close", None, 4008]


def test_pings_without_messages_do_not_keep_a_socket_from_idling_out(server):
    """The socket is read in its own greenlet (collector_socket.py): a ping is answered there, but
    only a message restarts the idle clock."""
    with connect(server, server.key) as client:
        client.send(fixture_messages()[0])
        started = time.monotonic()
        pongs = 0
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() - started < IDLE_SECONDS + 10:
                client.ping().wait(timeout=5)
                pongs += 1
                time.sleep(0.5)
        assert pongs >= 2  # the server answered pings while the socket was open
        assert client.close_code == 4008
    assert IDLE_SECONDS - 0.5 <= time.monotonic() - started < IDLE_SECONDS + 5


def test_a_flood_closes_with_4029_and_keeps_what_was_within_the_rate(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        message = fixture_messages()[-1]
        try:
            for _ in range(RATE * 5 + 50):  # the burst allowance is 5 s worth
                client.send(message)
        except ConnectionClosed:
            pass
        assert close_code(client) == 4029
    rtcstats_id = wait_for_new_session(server, before)
    lines = stored_dump(server, rtcstats_id).split(b"\n")
    assert RATE * 5 - 5 <= len(lines) - 3 <= RATE * 5 + 5  # about the burst, then refused


def test_a_dump_reaching_the_session_size_limit_is_closed_with_4009(server):
    before = session_ids(server)
    with connect(server, server.key) as client:
        message = json.dumps(["custom", None, "y" * 4000, 5])
        try:
            for _ in range(8):
                client.send(message)
                time.sleep(0.05)
        except ConnectionClosed:
            pass
        assert close_code(client) == 4009
    rtcstats_id = wait_for_new_session(server, before)
    raw = stored_dump(server, rtcstats_id)
    assert len(raw) <= 20000 + 100 and len(raw.split(b"\n")) - 3 == 4  # 4 x ~4 kB fit in 20000


def test_one_socket_over_the_accounts_limit_is_refused_with_4003_and_a_freed_place_is_reusable(server):
    before = session_ids(server)
    with contextlib.ExitStack() as stack:
        held = []
        for _ in range(MAX_OPEN):
            held.append(stack.enter_context(connect(server, server.key)))
            held[-1].send(fixture_messages()[0])
        for client in held:  # none may idle out (IDLE_SECONDS) on a loaded machine before the check
            client.send(fixture_messages()[1])
        with connect(server, server.key) as extra:
            assert close_code(extra) == 4003
        held[0].close(code=1000)
        deadline = time.monotonic() + 10
        while len(stored_since(server, before)) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        with connect(server, server.key) as again:  # the closed socket's place is free at once
            again.send(fixture_messages()[0])
            with pytest.raises(TimeoutError):
                again.recv(timeout=0.5)
            again.close(code=1000)
        for client in held[1:]:
            client.close(code=1000)
    deadline = time.monotonic() + 20
    while len(stored_since(server, before)) < MAX_OPEN + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(session_ids(server) - before) == MAX_OPEN + 1  # the refused socket left no session
    assert len(stored_since(server, before)) == MAX_OPEN + 1


def test_a_plain_get_is_a_400_in_the_rtcstats_dialect(server):
    status, body = get(server, f"{API}/collector")
    assert status == 400 and body["errorCode"] == "invalid_request"
    assert "WebSocket" in body["error"]


def test_redis_down_at_connect_closes_with_1013_naming_the_cause(tmp_path):
    """Fault: REDIS_URL names a port where nothing listens (the open-socket count lives in Redis)."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with Server(tmp_path, {"MEDIAPLANE__CORE__REDIS_URL": dead}) as down:
        with connect(down, down.key) as client:
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=10)
        assert closed.value.rcvd.code == 1013 and "Redis unavailable" in closed.value.rcvd.reason
        assert not list((tmp_path / "data").glob("rtcstats-collector/*"))  # nothing spooled


def gunicorn_workers(server: Server) -> list[int]:
    """The pids of the server's gunicorn workers (children of the master running mediaplane, not the
    embedded Redis it also started)."""
    children = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
    ).stdout.split()
    return [int(pid) for pid in children if b"mediaplane" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_dump_whose_worker_was_killed_mid_session_is_stored_after_the_restart(tmp_path):
    """SIGKILL of the gunicorn worker while a socket is open (no close frame, no finalizing code
    runs); after gunicorn starts a new worker, the next socket's connect makes it store the lost one."""
    env = {"MEDIAPLANE__PLUGINS__RTCSTATS__COLLECTOR_IDLE_TIMEOUT_SECONDS": "1"}
    with Server(tmp_path, env) as crashing:
        before = session_ids(crashing)
        messages = fixture_messages()
        (worker,) = gunicorn_workers(crashing)
        with connect(crashing, crashing.key) as client:
            replay(client, messages)
            time.sleep(0.3)  # let the worker write the last one
            os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while worker in gunicorn_workers(crashing) or not gunicorn_workers(crashing):
            assert time.monotonic() < deadline, "gunicorn started no new worker"
            time.sleep(0.2)
        time.sleep(2.5)  # the lost socket's file is an orphan after twice the idle timeout
        spooled = list((tmp_path / "data" / "rtcstats-collector").glob("*.rtcstats"))
        # Nothing stored yet: the session is still listed live (its socket died with the worker).
        states = {k: v for k, v in session_states(crashing).items() if k not in before}
        assert len(spooled) == 1 and list(states.values()) == ["live"]
        with connect(crashing, crashing.key) as trigger:  # sends nothing: no session of its own
            trigger.close(code=1000)
        rtcstats_id = wait_for_new_session(crashing, before)
        assert [rtcstats_id] == list(states)  # the recovery finalized that live session
        lines = stored_dump(crashing, rtcstats_id).split(b"\n")
        assert [line.decode() for line in lines[2:-1]] == messages  # everything received survived
        assert json.loads(lines[-1]) == ["close", None, 1006, 0]
        deadline = time.monotonic() + 10  # the file goes once the session is stored (listed first)
        while list((tmp_path / "data" / "rtcstats-collector").glob("*")):
            assert time.monotonic() < deadline, "the recovered file stayed in the spool"
            time.sleep(0.1)


def scrape(server: Server) -> str:
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_sockets_messages_bytes_closes_and_sessions_are_on_metrics(server):
    """Counted in the web worker into Redis (the embedded one), read back by /metrics."""
    names = ("sockets_total", "closes_total", "messages_total", "sessions_total")
    before = scrape(server)

    def delta(text, name, **labels):
        labels = {"protocol": "rtcstats", **labels}  # jitsi's: test_collector_jitsi.py
        return (sample(text, f"mediaplane_rtcstats_collector_{name}", **labels) or 0) - (
            sample(before, f"mediaplane_rtcstats_collector_{name}", **labels) or 0
        )

    sessions = session_ids(server)
    messages = fixture_messages()
    with connect(server, server.key) as client:
        for message in messages:
            client.send(message)
        client.close(code=4008)  # the client's own code, though it is also our idle code: still `client`
    wait_for_new_session(server, sessions)
    with connect(server, "not-a-token") as refused:
        assert close_code(refused) == 1008
    after = scrape(server)
    assert all(f"mediaplane_rtcstats_collector_{name}" in after for name in names)
    assert delta(after, "sockets_total", event="opened") == 1 == delta(after, "sockets_total", event="closed")
    assert delta(after, "closes_total", reason="client") == 1
    assert delta(after, "closes_total", reason="unauthorized") == 1
    assert delta(after, "messages_total") == len(messages)
    assert delta(after, "sessions_total", how="socket") == 1
    written = sum(len(m) + 1 for m in messages)  # the message lines; the header is not received
    received = sample(after, "mediaplane_rtcstats_received_bytes_total", route="collector")
    assert (
        received - (sample(before, "mediaplane_rtcstats_received_bytes_total", route="collector") or 0)
        == written
    )
