"""The stock `@jitsi/rtcstats` client (npm, MIT) in real headless Chromium streams a loopback call to the
collector over the jitsi protocol; when the page's client closes (3001, conference left) the session is
stored, analysed by a real `mediaplane worker --burst` and shows the call's peer connections and tracks.

The client is installed from the npm registry by `scripts/setup --test` (tests/browser/package.json and
its package-lock.json, into tests/browser/node_modules, not committed) and bundled here with esbuild for
the page (tests/browser/jitsi.html). Without node and npm the test is skipped, except under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.plugins.rtcstats.test_collector import (
    API,
    get,
    session_ids,
    stored_dump,
    wait_for_new_session,
    ws_url,
)
from tests.plugins.rtcstats.test_collector_clients import (  # noqa: F401 - fixtures
    PAGES,
    analyse,
    assert_loopback_call,
    browser_token,
    call_browser,
    pages,
    run_page,
    server,
    site,
    wait_for_result,
)
from tests.shared_data import skip_unless_ci

pytestmark = pytest.mark.slow

NODE_MODULES = PAGES / "node_modules"
# @jitsi/rtcstats imports "@jitsi/js-utils/browser-detection", a folder that the "exports" of the
# current js-utils do not open (jitsi-meet's webpack resolves it anyway): named by its file here.
JS_UTILS_ALIAS = "--alias:@jitsi/js-utils/browser-detection=@jitsi/js-utils/browser-detection/index.js"


@pytest.fixture(scope="module")
def jitsi_bundle(site) -> Path:  # noqa: F811 - the imported fixture
    """@jitsi/rtcstats and its dependencies bundled into one script of the site (an IIFE)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        skip_unless_ci(
            f"{' and '.join(missing)} not found: the @jitsi/rtcstats client is installed with npm and bundled"
            " with esbuild for this test (Debian: apt-get install nodejs npm, then scripts/setup --test)"
        )
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.fail(f"{NODE_MODULES} lacks the npm packages of the browser tests: run scripts/setup --test")
    bundle = site / "jitsi-rtcstats.bundle.js"
    built = subprocess.run(
        [str(esbuild), "jitsi-entry.js", "--bundle", "--format=iife", "--log-level=warning", JS_UTILS_ALIAS]
        + [f"--outfile={bundle}"],
        cwd=PAGES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return bundle


MEETING = "meet.example.com/loopback-room"
ENDPOINT_ID = "loopback1"


def page_query(server, polls: int, **extra: str) -> str:  # noqa: F811 - the imported fixture's name
    """jitsi.html's query: the client's endpoint as jitsi-meet is configured with it (the collector
    URL with a JWT; the client appends /<meetingFqn>?statsSessionId=...)."""
    endpoint = urllib.parse.quote(ws_url(server, browser_token(server)), safe="")
    params = {"meeting": MEETING, "endpoint-id": ENDPOINT_ID, "polls": str(polls), **extra}
    return f"endpoint={endpoint}&" + urllib.parse.urlencode(params)


def test_the_stock_jitsi_client_streams_a_loopback_call_that_is_stored_and_analysed(
    server,  # noqa: F811 - the imported fixtures
    pages,  # noqa: F811
    call_browser,  # noqa: F811 - first: MEDIAPLANE_SKIP_BROWSER_TESTS=1 skips before any bundling
    jitsi_bundle,
    tmp_path,
):
    before = session_ids(server)
    result = run_page(call_browser, f"{pages}/jitsi.html?{page_query(server, 3)}", tmp_path)
    assert result["closeCode"] == 3001  # the client's close(): conference left
    assert sorted(t["kind"] for t in result["received"]) == ["audio", "video"]

    rtcstats_id = wait_for_new_session(server, before)
    lines = stored_dump(server, rtcstats_id).decode().splitlines()
    # jitsi's line format: the server's connectionInfo line, then every identity and stats-entry line
    # of the session as the client sent it, in order (a stats-entry's data is the line as a string).
    info = json.loads(lines[0])
    assert info[0] == "connectionInfo" and info[2]["path"] == f"/{MEETING}"
    assert info[2]["clientProtocol"] == "3.1_STANDARD" and info[2]["origin"] == pages
    sent = [json.loads(m) for m in result["messages"]]
    assert {m["statsSessionId"] for m in sent} == {result["statsSessionId"]}
    entries = [
        m["data"] if isinstance(m["data"], str) else json.dumps(m["data"]) for m in sent if "data" in m
    ]
    assert [json.loads(line) for line in lines[1:]] == [json.loads(entry) for entry in entries]
    assert sum(1 for line in lines if line.startswith('["getstats","PC_1"')) >= 3

    data = analyse(server, rtcstats_id)
    assert_loopback_call(data, result["received"])
    listed = {item["rtcstatsId"]: item for item in get(server, f"{API}/sessions")[1]["data"]}
    abstract = listed[rtcstats_id]["abstract"]
    assert abstract["conferenceId"] == MEETING and abstract["userId"] == ENDPOINT_ID
    # A jitsi dump has the User-Agent header only (no userAgentData): headless Chromium names itself.
    major = re.search(r"HeadlessChrome/(\d+)\.", info[2]["userAgent"]).group(1)
    assert (abstract["browser"], abstract["browserVersion"]) == ("HeadlessChrome", major)


def test_the_stock_jitsi_client_resumes_its_session_across_a_server_restart(
    server,  # noqa: F811 - the imported fixtures
    pages,  # noqa: F811
    call_browser,  # noqa: F811
    jitsi_bundle,
    tmp_path,
):
    """The whole server killed mid-call (SIGKILL: nothing of ours runs) and started again on the same
    data and port; the stock client reconnects with its backoff (isReconnect=true) and resends what
    the `sn` says is missing. One session, every entry the client traced once, in order, no gap."""
    from selenium.webdriver.support.ui import WebDriverWait

    before = session_ids(server)
    call_browser.get(f"{pages}/jitsi.html?{page_query(server, 3, reconnect='1')}")
    WebDriverWait(call_browser, 60, poll_frequency=0.2).until(
        lambda d: (d.execute_script("return window.statsSent || 0") or 0) >= 2
    )
    key = server.key
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    server.__enter__()  # the same data directory and port; bootstrap finds the account
    server.key = key
    result = wait_for_result(call_browser, tmp_path, timeout=180)
    assert result["closeCode"] == 3001 and 1006 in result["closes"]

    rtcstats_id = wait_for_new_session(server, before)  # one session: the resumed one
    lines = stored_dump(server, rtcstats_id).decode().splitlines()
    stored = [json.loads(line) for line in lines[1:]]
    sent = {}  # each entry by its sequence number (resends and entries lost with the server included)
    for message in map(json.loads, result["messages"]):
        if "data" in message:
            entry = json.loads(message["data"]) if isinstance(message["data"], str) else message["data"]
            sent[entry[4]] = entry
    assert [entry[4] for entry in stored] == list(range(1, max(sent) + 1))  # once each, in order
    assert stored == [sent[number] for number in sorted(sent)]

    data = analyse(server, rtcstats_id)
    assert_loopback_call(data, result["received"])
