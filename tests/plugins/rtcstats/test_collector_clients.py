"""Real clients of the rtcstats collector against a real `mediaplane serve` (gunicorn, gevent worker):

- real v3 fixtures replayed message by message with their real time deltas (the short rtcstats-js one
  in real time, the 81 s Chrome one ten times faster), the stored file compared byte for byte with the
  v3 file the reference rtcstats-server writes for those messages;
- a page in real headless Chromium (tests/browser/rtcstats5.html, served here on loopback) that makes a
  loopback call with Chromium's fake camera and microphone and streams it with an rtcstats#5.0 client
  written here (tests/browser/rtcstats5-client.js); the stored dump is analysed by a real
  `mediaplane worker --burst` and shows the call's two peer connections and their tracks.

The tests of the collector's limits and refusals are in test_collector.py.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
import pytest

from plugins.rtcstats.parsing.rtcstats_v3 import parse_v3
from tests.chromium import console, start_chromium
from tests.faults import MEDIAPLANE, Server, free_port
from tests.plugins.rtcstats.test_collector import (
    API,
    FIXTURE,
    ORIGIN,
    USER_AGENT,
    connect,
    get,
    session_ids,
    stored_dump,
    wait_for_live_session,
    wait_for_new_session,
    ws_url,
)
from tests.shared_data import require, shared_dumps_dir

pytestmark = pytest.mark.slow

PAGES = Path(__file__).parents[2] / "browser"
LONG_FIXTURE = "rtcstatsv3_chrome144_native_p2p_audio_video.txt"  # 81 s of a real two-PC call
# The delta of the close line is measured by the server between two frames sent at known times; on
# a loaded machine either frame may be read late.
CLOSE_DELTA_SLACK_MS = 1500
FAKE_MEDIA_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-quic",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The collector with its default limits (a real call's getStats lines are kilobytes long)."""
    with Server(tmp_path_factory.mktemp("collector-clients"), {}) as running:
        yield running


def browser_token(server: Server) -> str:
    """What a page holds: a short-lived HS256 JWT signed with the key's secret, never the key."""
    key_id, secret = server.key.split(".", 1)
    now = int(time.time())
    return jwt.encode({"iss": key_id, "iat": now, "exp": now + 600}, secret, algorithm="HS256")


def analyse(server: Server, rtcstats_id: str) -> dict:
    """Run the queued analysis in a real job worker; the session's data."""
    worker = subprocess.run(
        [MEDIAPLANE, "worker", "--burst"], env=server.env, cwd=server.root, capture_output=True, timeout=300
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    status, body = get(server, f"{API}/sessions/{rtcstats_id}")
    assert status == 200, body
    return body["data"]


# --- real v3 fixtures with their real timing -------------------------------------------------------


def fixture_lines(raw: bytes) -> tuple[list[bytes], list | None]:
    """The message lines of a v3 file (after its header and metadata line) and its close line, if any
    (the reference server's own line, not a message)."""
    lines = [line for line in raw.split(b"\n")[2:] if line]
    if lines and lines[-1].startswith(b'["close"'):
        return lines[:-1], json.loads(lines[-1])
    return lines, None


def replay_in_time(client, lines: list[bytes], speed: float) -> None:
    """Send each line when its time delta (the last element; the first one is absolute) says, `speed`
    times faster, measured from the start so that a late send does not delay the ones after it."""
    started = time.monotonic()
    due = 0.0
    for i, line in enumerate(lines):
        if i:
            due += json.loads(line)[-1] / 1000 / speed
            time.sleep(max(0.0, started + due - time.monotonic()))
        client.send(line.decode())


def expected_v3_file(stored: bytes, messages: list[bytes], close_code: int) -> bytes:
    """The file the reference rtcstats-server writes for `messages` from our client: header, metadata
    line (its keys in the reference's order), every message as sent, the close line without a newline.
    Only the start time and the close delta are the server's measurements: they are taken from
    `stored` (and checked by the caller)."""
    metadata = json.loads(stored.split(b"\n")[1])
    close = json.loads(stored.rsplit(b"\n", 1)[1])
    expected_metadata = {
        "url": f"{API}/collector?rtcstats-token=redacted",
        "origin": ORIGIN,
        "userAgent": USER_AGENT,
        "startTime": metadata["startTime"],
        "remoteAddresses": ["127.0.0.1"],
        "clientProtocol": "rtcstats#5.0",
        "fileFormat": 3,
    }
    head = b"RTCStatsDump\n" + json.dumps(expected_metadata, separators=(",", ":")).encode() + b"\n"
    tail = json.dumps(["close", None, close_code, close[3]]).encode()
    return head + b"".join(line + b"\n" for line in messages) + tail


def replay_fixture(server: Server, raw: bytes, speed: float) -> tuple[bytes, float, float, float]:
    """Replay a v3 file as its client sent it and close as it closed (its close line's code after its
    delta; 1000 at once when it has none). The stored file, connect time (epoch ms), replay seconds and
    the close delta the client waited (ms)."""
    messages, close = fixture_lines(raw)
    code, wait_ms = (close[2], close[3] / speed) if close else (1000, 0)
    before = session_ids(server)
    connected_ms = time.time() * 1000
    with connect(server, server.key) as client:
        started = time.monotonic()
        replay_in_time(client, messages, speed)
        replay_seconds = time.monotonic() - started
        time.sleep(wait_ms / 1000)
        client.close(code=code)
    rtcstats_id = wait_for_new_session(server, before)
    return stored_dump(server, rtcstats_id), connected_ms, replay_seconds, wait_ms


@pytest.mark.parametrize(
    ("name", "speed"),
    [("rtcstats-js", 1.0), ("chrome144", 10.0)],
    ids=["rtcstats-js-gum-real-time", "chrome144-p2p-81s-at-10x"],
)
def test_a_real_dump_replayed_with_its_real_timing_is_stored_byte_for_byte_in_the_v3_format(
    server, name, speed
):
    path = FIXTURE if name == "rtcstats-js" else require(shared_dumps_dir() / LONG_FIXTURE)
    raw = path.read_bytes()
    messages, close = fixture_lines(raw)
    stored, connected_ms, replay_seconds, wait_ms = replay_fixture(server, raw, speed)

    span = sum(json.loads(line)[-1] for line in messages[1:]) / 1000 / speed
    assert replay_seconds >= span - 0.05  # the deltas were honoured, not sent in one burst
    code = close[2] if close else 1000
    assert stored == expected_v3_file(stored, messages, code)
    metadata = json.loads(stored.split(b"\n")[1])
    assert connected_ms - 1000 <= metadata["startTime"] <= connected_ms + 10_000
    close_delta = json.loads(stored.rsplit(b"\n", 1)[1])[3]
    assert abs(close_delta - wait_ms) <= CLOSE_DELTA_SLACK_MS, (close_delta, wait_ms)
    # Our parser reads it back to the same events as the reference server's file of the session.
    dump, original = parse_v3(stored), parse_v3(raw)
    names = [e.name for e in dump.client_events]
    assert names[:-1] == [e.name for e in original.client_events if e.name != "close"]
    assert names[-1] == "close"
    assert [p for p in dump.peer_connections] == [p for p in original.peer_connections]


# --- our rtcstats#5.0 client in Chromium ----------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output is the page's, not the access log
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A copy of the pages of tests/browser (not its npm packages), where bundles are built."""
    folder = tmp_path_factory.mktemp("site")
    shutil.copytree(
        PAGES, folder, ignore=shutil.ignore_patterns("node_modules", "*.json", "*.log"), dirs_exist_ok=True
    )
    return folder


@pytest.fixture(scope="module")
def pages(site):
    """The site served on a loopback port of its own (another origin than the collector's)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def call_browser(monkeypatch, tmp_path):
    """Chromium with a fake camera and microphone, permission granted, a new empty profile."""
    driver = start_chromium(monkeypatch, (*FAKE_MEDIA_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"))
    yield driver
    driver.quit()


def run_page(driver, url: str, artifacts: Path, timeout: float = 120) -> dict:
    """Open `url` and wait for its window.callResult; on an error or a timeout the assertion names
    the page's console and a screenshot is saved to `artifacts`."""
    driver.get(url)
    return wait_for_result(driver, artifacts, timeout)


def wait_for_result(driver, artifacts: Path, timeout: float = 120) -> dict:
    """The window.callResult of the open page (run_page)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        result = WebDriverWait(driver, timeout, poll_frequency=0.2).until(
            lambda d: d.execute_script("return window.callResult || null")
        )
    except TimeoutException:
        result = {"error": f"no window.callResult within {timeout} s"}
    if "error" in result:
        artifacts.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(artifacts / "page.png"))
        logged = "\n".join(console(driver))
        raise AssertionError(f"{result['error']}\nconsole:\n{logged}\nscreenshot: {artifacts}/page.png")
    return result


def assert_loopback_call(data: dict, received: list[dict]) -> None:
    """The analysis shows the loopback call of tests/browser/loopback-call.js: PC_0 sent the camera and
    microphone to PC_1, both connected and were closed, several getStats each, media bytes both ways
    and PC_1's inbound streams are the tracks the page received."""
    assert data["pConnectionsNumber"] == 2 and sorted(data["pConnections"]) == ["PC_0", "PC_1"]
    for pc in data["pConnections"].values():
        assert pc["connected"] and pc["closed"] and pc["statsSnapshots"] >= 3, pc
    streams = [s for s in data["streams"].values() if s.get("kind") in ("audio", "video")]
    carried = {(s["pid"], s["kind"], s["direction"]) for s in streams if (s["bytes"] or 0) > 0}
    assert carried >= {
        ("PC_0", "audio", "outbound"),
        ("PC_0", "video", "outbound"),
        ("PC_1", "audio", "inbound"),
        ("PC_1", "video", "inbound"),
    }, carried
    inbound = {s["trackIdentifier"] for s in streams if s["pid"] == "PC_1" and s["direction"] == "inbound"}
    assert inbound == {t["id"] for t in received}


def test_a_loopback_call_in_chromium_streamed_with_rtcstats5_is_stored_and_analysed(
    server, pages, call_browser, tmp_path
):
    before = session_ids(server)
    token = browser_token(server)
    collector = urllib.parse.quote(ws_url(server, token), safe="")
    result = run_page(call_browser, f"{pages}/rtcstats5.html?collector={collector}&polls=3", tmp_path)
    assert result["closeCode"] == 1005  # the page closed without a code, as rtcstats-js does
    assert sorted(t["kind"] for t in result["sent"]) == ["audio", "video"]
    assert sorted(t["kind"] for t in result["received"]) == ["audio", "video"]

    rtcstats_id = wait_for_new_session(server, before)
    raw = stored_dump(server, rtcstats_id)
    lines = raw.split(b"\n")
    # Every message the page sent, byte for byte and in order, between the metadata and close lines.
    assert lines[2:-1] == [message.encode() for message in result["messages"]]
    assert json.loads(lines[-1])[:3] == ["close", None, 1005]  # what the reference server writes then
    metadata = json.loads(lines[1])
    assert metadata["origin"] == pages and "HeadlessChrome" in metadata["userAgent"]
    assert metadata["clientProtocol"] == "rtcstats#5.0" and token not in raw.decode()
    sent = [json.loads(message) for message in result["messages"]]
    assert sent[0][0] == 39 and sent[0][1] is None and sent[0][-1] > 1_700_000_000_000  # create, absolute
    assert "websocket" in {m[0] for m in sent}
    polls = [m for m in sent if m[0] == "g" and m[1] == "PC_0"]
    assert len(polls) >= 3 and polls[0][3] == "connected-0"
    assert len(json.dumps(polls[-1])) < len(json.dumps(polls[0])) / 2  # delta-compressed after the first

    dump = parse_v3(raw)
    assert sorted(dump.peer_connections) == ["PC_0", "PC_1"]

    data = analyse(server, rtcstats_id)
    assert_loopback_call(data, result["received"])
    features = data["features"]
    assert features["getUserMediaCalls"] == 1 and features["connected"]
    assert features["sendsAudio"] and features["sendsVideo"]
    assert features["receivesAudio"] and features["receivesVideo"]
    listed = {item["rtcstatsId"]: item for item in get(server, f"{API}/sessions")[1]["data"]}
    assert listed[rtcstats_id]["abstract"]["browser"] == "Chromium"  # headless Debian chromium's brands


# --- tenancy ----------------------------------------------------------------------------------------


def other_account_key(server: Server) -> str:
    """A key of a second account on the same server, made with the CLI as an operator would."""

    def cli(*args: str) -> str:
        done = subprocess.run(
            [MEDIAPLANE, *args], env=server.env, cwd=server.root, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("accounts", "create", "other")
    return cli("keys", "create", "--account", "other", "--scopes", "rtcstats:read,rtcstats:write").split()[-1]


def request(server: Server, method: str, path: str, key: str) -> tuple[int, dict]:
    req = urllib.request.Request(server.base + path, method=method, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_collected_session_is_invisible_to_another_account(server):
    """Live (socket open), pending (queued, not analysed) and analysed alike: another account's key
    gets the same 404 as for an id that does not exist (never the owner's 409), cannot delete it,
    and does not list it."""
    other = other_account_key(server)
    before = session_ids(server)

    def invisible(rtcstats_id: str) -> None:
        missing = "00000000-0000-4000-8000-000000000000"
        foreign = request(server, "GET", f"{API}/sessions/{rtcstats_id}", other)
        absent = request(server, "GET", f"{API}/sessions/{missing}", other)
        assert foreign[0] == absent[0] == 404
        assert foreign[1]["errorCode"] == absent[1]["errorCode"]
        # Nothing tells them apart.
        assert foreign[1]["error"].replace(rtcstats_id, missing) == absent[1]["error"]
        assert request(server, "DELETE", f"{API}/sessions/{rtcstats_id}", other)[0] == 404
        status, listed = request(server, "GET", f"{API}/sessions", other)
        assert status == 200 and rtcstats_id not in {item["rtcstatsId"] for item in listed["data"]}

    with connect(server, server.key) as client:
        client.send(FIXTURE.read_text().splitlines()[2])
        live = wait_for_live_session(server, before)["rtcstatsId"]
        assert get(server, f"{API}/sessions/{live}")[1]["errorCode"] == "session_live"  # the owner's view
        invisible(live)
        client.close(code=1000)
    rtcstats_id = wait_for_new_session(server, before)
    assert rtcstats_id == live
    assert get(server, f"{API}/sessions/{rtcstats_id}")[1]["errorCode"] == "analysis_pending"
    invisible(rtcstats_id)
    analyse(server, rtcstats_id)
    invisible(rtcstats_id)
    assert get(server, f"{API}/sessions/{rtcstats_id}")[0] == 200  # still the owner's, whole


def test_a_page_with_an_expired_token_sees_1008_and_nothing_is_stored(server, pages, call_browser, tmp_path):
    """A browser cannot read the status of a refused handshake, so the refusal must reach the page as
    a close code: 1008 in its close event, as rtcstats-js expects (it logs that authorization failed)."""
    key_id, secret = server.key.split(".", 1)
    expired = jwt.encode({"iss": key_id, "iat": 1, "exp": 2}, secret, algorithm="HS256")
    before = session_ids(server)
    collector = urllib.parse.quote(ws_url(server, expired), safe="")
    result = run_page(call_browser, f"{pages}/rtcstats5.html?collector={collector}&polls=1", tmp_path)
    assert result["closeCode"] == 1008
    # The handshake completes before the refusal (as with the reference server), so the page may have
    # sent its first messages: they are dropped, and no session is made.
    assert session_ids(server) == before
    assert not list((server.root / "data").glob("rtcstats-collector/*.rtcstats"))
