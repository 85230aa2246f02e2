"""Live sessions (a collector socket still open): listed with state live, GET/DELETE answers, tenancy,
filters, the hand-over to pending -> analyzed when the socket ends or its dump is recovered, lost
ones ended, the refreshing viewer and the console. Real database (SQLite and PostgreSQL), real
Redis, real analysis; the socket's side is driven through the functions the collector calls
(test_collector.py drives the same through a real WebSocket)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
import uuid

import pytest

from core.db import db
from plugins.rtcstats import jobs, service, viewer_live
from plugins.rtcstats.collector import spool_dir
from plugins.rtcstats.collector_recovery import spool_name
from plugins.rtcstats.models import Session
from plugins.rtcstats.service import live
from tests.plugins.console.helpers import signed_in
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_api_common import API, account_id, error_of, run_worker

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
GUM = dump_bytes("rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl").split(b"\n")
CREATE = GUM[2]  # [39, null, {client facts with userAgentData}, t]: rtcstats-js's first message
METADATA = {
    "url": "/api/rtcstats/v1.0/collector?rtcstats-token=redacted",
    "origin": "https://app.example.com",
    "userAgent": UA,
    "startTime": 1765100000000,
    "clientProtocol": "rtcstats#5.0",
    "fileFormat": 3,
}
P2P = "rtcstatsv3_chrome144_native_p2p_audio_video.txt"


@pytest.fixture
def keys(new_key):
    return {
        "acme": {"X-API-Key": new_key("rtcstats:read", "rtcstats:write", account="acme")},
        "other": {"X-API-Key": new_key("rtcstats:read", "rtcstats:write", account="other")},
    }


def open_socket(app, owner: int, first: bytes = CREATE, metadata: dict = METADATA) -> uuid.UUID:
    """What the collector does at a socket's first message: the spool file and the live row."""
    rtcstats_id = uuid.uuid4()
    with app.app_context(), db.connection_context():
        path = spool_dir() / spool_name(owner, rtcstats_id.hex)
        path.write_bytes(b"RTCStatsDump\n" + json.dumps(metadata).encode() + b"\n" + first + b"\n")
        live.open_live(owner, rtcstats_id, live.client_facts(metadata, first), metadata["startTime"])
    return rtcstats_id


def spool_path(app, owner: int, rtcstats_id: uuid.UUID):
    with app.app_context():
        return spool_dir() / spool_name(owner, rtcstats_id.hex)


def close_socket(app, owner: int, rtcstats_id: uuid.UUID) -> str:
    """What the collector does when the socket ends: the close line, then store_collected."""
    path = spool_path(app, owner, rtcstats_id)
    with open(path, "ab") as file:
        file.write(b'["close",null,1000,5]')
    with app.app_context(), db.connection_context(), open(path, "rb") as file:
        stored = service.store_collected(owner, file, path.stat().st_size, rtcstats_id=rtcstats_id)
    path.unlink()
    return str(stored)


def listed(client, headers, query: str = "") -> dict:
    response = client.get(f"{API}/sessions{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["rtcstatsId"]: item for item in response.get_json()["data"]}


def test_a_live_session_is_listed_with_what_is_known_and_answers_409_session_live(app, client, keys):
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner)
    item = listed(client, keys["acme"])[str(rtcstats_id)]
    assert item["state"] == "live" and item["abstract"] is None
    assert item["title"] == "collector-20251207T093320Z"  # named after the socket's start
    assert item["sessionStart"] == "2025-12-07T09:33:20.000Z"
    facts = item["live"]
    assert facts["origin"] == "https://app.example.com" and facts["userAgent"] == UA
    assert facts["clientProtocol"] == "rtcstats#5.0" and facts["startedAt"] == item["sessionStart"]
    # From the create message's client hints (platform Linux, brand Google Chrome 140).
    assert (facts["browser"], facts["browserVersion"], facts["os"]) == ("Chrome", "140", "Linux")
    assert facts["uploadedBy"] == service.uploader_uuid(owner)

    answer = client.get(f"{API}/sessions/{rtcstats_id}", headers=keys["acme"])
    assert "live" in error_of(answer, 409, "session_live")
    assert answer.get_json()["state"] == "live" and answer.headers["Retry-After"] == "30"
    error_of(client.delete(f"{API}/sessions/{rtcstats_id}", headers=keys["acme"]), 409, "session_live")


def test_another_accounts_live_session_is_invisible(app, client, keys):
    rtcstats_id = open_socket(app, account_id(app))
    assert listed(client, keys["other"]) == {}
    error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=keys["other"]), 404, "not_found")
    error_of(client.delete(f"{API}/sessions/{rtcstats_id}", headers=keys["other"]), 404, "not_found")
    assert client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["other"]).status_code == 404


def test_filters_treat_live_rows_by_what_is_known(app, client, keys):
    firefox = {
        **METADATA,
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:146.0) Gecko/20100101 Firefox/146.0",
    }
    chrome_id = str(open_socket(app, account_id(app)))
    firefox_id = str(open_socket(app, account_id(app), first=b'["custom",null,1,5]', metadata=firefox))
    assert set(listed(client, keys["acme"])) == {chrome_id, firefox_id}
    assert set(listed(client, keys["acme"], "?browser=Chrome")) == {chrome_id}
    assert set(listed(client, keys["acme"], "?browser=Firefox&os=Windows")) == {firefox_id}
    assert set(listed(client, keys["acme"], "?browserVersion=140")) == {chrome_id}
    assert set(listed(client, keys["acme"], "?name=collector-")) == {chrome_id, firefox_id}
    # Nothing is analysed yet: no observation, no score, no identity.
    for query in ("?hasCritical=true", "?hasLowScore=true", "?hasHighScore=true", "?observationTags=network"):
        assert listed(client, keys["acme"], query) == {}, query
    assert listed(client, keys["acme"], "?userId=u1") == {}
    total = client.get(f"{API}/sessions?limit=1", headers=keys["acme"])
    assert total.headers["X-Total-Count"] == "2" and len(total.get_json()["data"]) == 1


def test_when_the_socket_ends_the_live_session_goes_pending_then_analyzed(app, client, keys):
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner)
    with open(spool_path(app, owner, rtcstats_id), "ab") as file:
        file.write(b"\n".join(GUM[3:5]) + b"\n")  # the rest of the call
    assert close_socket(app, owner, rtcstats_id) == str(rtcstats_id)  # the same session
    item = listed(client, keys["acme"])[str(rtcstats_id)]
    assert item["state"] == "pending" and "live" not in item and item["sessionStart"] is None
    error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=keys["acme"]), 409, "analysis_pending")
    run_worker(app)
    item = listed(client, keys["acme"])[str(rtcstats_id)]
    assert item["state"] == "analyzed" and item["abstract"]["browser"] == "Chrome"
    assert (
        item["title"].startswith("collector-2") and item["title"] != "collector-20251207T093320Z"
    )  # as stored
    body = client.get(f"{API}/sessions/{rtcstats_id}", headers=keys["acme"]).get_json()
    assert body["data"]["features"]["getUserMediaCalls"] == 1
    assert body["data"]["metadata"]["origin"] == "https://app.example.com"
    with app.app_context(), db.connection_context():
        assert Session.select().where(Session.account_id == owner).count() == 1  # no second row


def test_a_worker_death_leaves_no_live_session_the_recovery_finalizes_it(app, client, keys):
    """The spool as a SIGKILLed worker leaves it (no close line, untouched for longer than twice
    the idle timeout): the scheduled recovery stores it as the same session, no longer live."""
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner)
    path = spool_path(app, owner, rtcstats_id)
    with open(path, "ab") as file:
        file.write(GUM[3] + b"\n" + b'["custom",null,{"half-writ')
    old = time.time() - 1000
    os.utime(path, (old, old))
    with app.app_context():
        assert jobs.recover_collector_dumps() == 1
    item = listed(client, keys["acme"])[str(rtcstats_id)]
    assert item["state"] == "pending" and not path.exists()
    run_worker(app)
    assert listed(client, keys["acme"])[str(rtcstats_id)]["state"] == "analyzed"
    data = client.get(f"{API}/sessions/{rtcstats_id}", headers=keys["acme"]).get_json()["data"]
    assert data["features"]["getUserMediaCalls"] == 1


def test_a_live_session_whose_socket_and_spool_are_gone_is_ended_as_failed(app, client, keys, redis_url):
    """Its machine never came back: no spool file here, and its open-socket mark lapsed."""
    owner = account_id(app)
    lost, held = open_socket(app, owner), open_socket(app, owner)
    spool_path(app, owner, lost).unlink()
    two_hours_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    with app.app_context(), db.connection_context():
        Session.update(created_at=two_hours_ago).execute()
        redis = app.extensions["mediaplane"].redis
        # `held` is a long call whose socket is still open (on some worker): its mark is fresh.
        redis.zadd(live.open_marks_key(owner), {held.hex: time.time() + 600, lost.hex: time.time() - 1})
        spool_path(app, owner, held).unlink()
        assert jobs.recover_collector_dumps() == 0
    items = listed(client, keys["acme"])
    assert items[str(lost)]["state"] == "failed" and items[str(held)]["state"] == "live"
    message = error_of(client.get(f"{API}/sessions/{lost}", headers=keys["acme"]), 422, "analysis_failed")
    assert "not recovered" in message
    # Should its dump turn up after all (the machine serves again), it is still stored.
    path = spool_path(app, owner, lost)
    path.write_bytes(b"RTCStatsDump\n" + json.dumps(METADATA).encode() + b"\n" + CREATE + b"\n")
    assert close_socket(app, owner, lost) == str(lost)
    assert listed(client, keys["acme"])[str(lost)]["state"] == "pending"


def test_the_viewer_of_a_live_session_shows_what_was_received_and_refreshes(app, client, keys, monkeypatch):
    owner = account_id(app)
    lines = dump_bytes(P2P).split(b"\n")
    first_half = lines[2:100]
    rtcstats_id = open_socket(app, owner, first=b"\n".join(first_half))
    readings = []
    real = viewer_live.received_so_far
    monkeypatch.setattr(viewer_live, "received_so_far", lambda *a: readings.append(a[1]) or real(*a))

    page = client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in html and 'id="live"' in html
    assert "Live · collector-20251207T093320Z" in html and "https://app.example.com" in html
    series = json.loads(html.split('id="rtcstats-series">')[1].split("</script>")[0])
    assert series["connections"] and series["streams"]  # the call so far: its connections and tracks
    assert 'class="chart"' in html and 'id="explore-link"' not in html  # no explorer while live
    size = spool_path(app, owner, rtcstats_id).stat().st_size
    assert readings == [size]

    # More arrives; within the refresh period the cached reading is served, after it a new one.
    with open(spool_path(app, owner, rtcstats_id), "ab") as file:
        file.write(b"\n".join(lines[100:150]) + b"\n")
    assert client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"]).status_code == 200
    assert readings == [size]
    with app.app_context():
        app.extensions["mediaplane"].redis.delete(f"mediaplane:rtcstats:live:{rtcstats_id}:lock")
    assert client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"]).status_code == 200
    assert readings == [size, spool_path(app, owner, rtcstats_id).stat().st_size]

    # The socket ends: the page says the analysis is pending (and reloads), then shows it.
    close_socket(app, owner, rtcstats_id)
    pending = client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"])
    assert pending.status_code == 409 and 'http-equiv="refresh"' in pending.get_data(as_text=True)
    run_worker(app)
    done = client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"]).get_data(as_text=True)
    assert 'id="live"' not in done and 'http-equiv="refresh"' not in done and 'class="chart"' in done


def test_the_live_viewer_without_the_spool_file_shows_the_facts_and_says_why(app, client, keys):
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner)
    spool_path(app, owner, rtcstats_id).unlink()  # its socket is on another machine
    html = client.get(f"/rtcstats/view/{rtcstats_id}", headers=keys["acme"]).get_data(as_text=True)
    assert 'id="live-unread"' in html and "another machine" in html
    assert 'data-key="browser"><dt>Browser</dt><dd>Chrome 140</dd>' in html


def test_a_live_dump_too_large_to_read_in_a_request_is_not_read(make_app, new_key):
    app = make_app({"plugins": {"rtcstats": {"analyze_inline_max_bytes": 1024}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:read")}
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner, first=b"\n".join(dump_bytes(P2P).split(b"\n")[2:40]))
    html = client.get(f"/rtcstats/view/{rtcstats_id}", headers=headers).get_data(as_text=True)
    assert "too large to read live" in html


def test_the_console_lists_live_sessions_and_the_overview_counts_them(app, client, keys, new_key):
    owner = account_id(app)
    rtcstats_id = open_socket(app, owner)
    signed_in(client, new_key("rtcstats:read", account="acme"))
    page = client.get("/console/rtcstats/sessions").get_data(as_text=True)
    row = page.split(f'data-id="{rtcstats_id}"')[1].split("</tr>")[0]
    assert '<span class="badge live">live</span>' in row and "https://app.example.com" in row
    assert "Chrome 140 · Linux" in row and "explore" not in row
    overview = client.get("/console/").get_data(as_text=True)
    assert '<span id="live-count">1</span>' in overview and f"/rtcstats/view/{rtcstats_id}" in overview
    explore = client.get(f"/console/rtcstats/sessions/{rtcstats_id}/explore")
    assert explore.status_code == 409 and "still open" in explore.get_data(as_text=True)


def test_a_spool_file_names_its_session():
    from pathlib import Path

    from plugins.rtcstats.collector_recovery import rtcstats_id_of

    rtcstats_id = uuid.uuid4()
    assert rtcstats_id_of(Path(spool_name(7, rtcstats_id.hex))) == rtcstats_id
    assert rtcstats_id_of(Path(f"7-{rtcstats_id.hex}.1234.recovering")) == rtcstats_id
    assert rtcstats_id_of(Path("7-aa.rtcstats")) is None  # a name of before: a new session


def test_store_collected_without_a_live_row_makes_the_session(app, client, keys):
    """The database was down at the first message: the dump is still a session when it ends."""
    owner = account_id(app)
    rtcstats_id = uuid.uuid4()
    body = b"RTCStatsDump\n" + json.dumps(METADATA).encode() + b"\n" + CREATE + b'\n["close",null,1000,5]'
    with app.app_context(), db.connection_context():
        assert (
            service.store_collected(owner, io.BytesIO(body), len(body), rtcstats_id=rtcstats_id)
            == rtcstats_id
        )
    assert listed(client, keys["acme"])[str(rtcstats_id)]["state"] == "pending"


# -- the refreshing viewer in a real browser --------------------------------------------------------

REFRESH_SECONDS = 2  # the smallest live_view_refresh_seconds


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium through chromedriver (tests/chromium.py: skipped without it, except under CI)."""
    from tests.chromium import start_chromium

    driver = start_chromium(monkeypatch, ("--window-size=1280,2000",))
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float, what: str):
    """Wait for `condition`; the page reloads itself meanwhile, so a read may meet a page going away."""
    from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (StaleElementReferenceException, JavascriptException)
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(
        condition, message=what
    )


PAGE = """return {
  live: document.getElementById('live') ? document.getElementById('live').innerText : null,
  body: document.body ? document.body.innerText : '',
  charts: document.body && document.body.dataset.chartsDrawn,
  marked: window.stillTheSamePage === true,
  refresh: !!document.querySelector('meta[http-equiv="refresh"]'),
  observations: document.querySelectorAll('.observation-title').length,
  title: document.title,
};"""


def _page(driver) -> dict:
    """What the page shows, read in one script (the page may reload between two reads)."""
    return driver.execute_script(PAGE)


def test_the_live_viewer_refreshes_in_chromium_until_it_shows_the_analysis(make_app, new_key, browser):
    """The page of a live session reloads itself every live_view_refresh_seconds, each time with what
    the socket has received meanwhile; once the session is stored and analysed it shows the analysis
    and stops reloading. A real browser follows the page's own refresh, nothing here reloads it."""
    from plugins.rtcstats import viewer
    from plugins.rtcstats.viewer_tokens import with_token
    from tests.plugins.rtcstats.test_mcp import serving

    app = make_app({"plugins": {"rtcstats": {"live_view_refresh_seconds": REFRESH_SECONDS}}})
    new_key("rtcstats:read", account="acme")
    owner = account_id(app)
    lines = dump_bytes(P2P).split(b"\n")
    rtcstats_id = open_socket(app, owner, first=b"\n".join(lines[2:100]))
    with app.app_context():
        token = viewer.viewer_token(owner, str(rtcstats_id))
    with serving(app) as base:
        browser.get(with_token(f"{base}/rtcstats/view/{rtcstats_id}", token))
        page = _wait(browser, lambda d: (p := _page(d))["charts"] and p, 30, "the live page drew no charts")
        assert "The collector socket is open" in page["live"] and f"every {REFRESH_SECONDS} s" in page["live"]
        first_bytes = spool_path(app, owner, rtcstats_id).stat().st_size
        assert f"the {first_bytes} bytes received so far" in page["live"] and page["refresh"]
        first_charts = int(page["charts"])
        assert first_charts > 0  # the connections and tracks of the call so far
        browser.execute_script("window.stillTheSamePage = true")

        # More of the call arrives: the page reloads by itself and shows it.
        with open(spool_path(app, owner, rtcstats_id), "ab") as file:
            file.write(b"\n".join(lines[100:170]) + b"\n")
        more_bytes = spool_path(app, owner, rtcstats_id).stat().st_size
        page = _wait(
            browser,
            lambda d: (p := _page(d))["charts"] and f"the {more_bytes} bytes" in (p["live"] or "") and p,
            30,
            "the live page did not reload with what arrived",
        )
        assert not page["marked"]  # a new page: the browser reloaded it by itself
        assert int(page["charts"]) >= first_charts

        # The socket ends and a job worker analyses the dump: the page ends up showing the analysis.
        close_socket(app, owner, rtcstats_id)
        run_worker(app)
        page = _wait(
            browser,
            lambda d: (p := _page(d))["live"] is None and p["charts"] and p,
            40,
            "the page did not turn into the analysed session",
        )
        assert not page["title"].startswith("Live") and not page["refresh"]  # no more reloads
        assert "Scores" in page["body"] and (page["observations"] or "No observations." in page["body"])


def test_a_jitsi_sessions_live_facts_come_from_its_connection_and_identity():
    info = {"origin": "https://meet.example.com", "userAgent": UA, "clientProtocol": "3.1_STANDARD"}
    identity = {"confName": "standup", "endpointId": "ab12", "displayName": "Ann"}
    facts = live.jitsi_facts(info, identity, "stats-7", 1765100000000)
    assert (facts["conferenceId"], facts["userId"], facts["sessionId"]) == ("standup", "ab12", "stats-7")
    assert (facts["browser"], facts["origin"], facts["startedAt"]) == (
        "Chrome",
        "https://meet.example.com",
        "2025-12-07T09:33:20.000Z",
    )
    # confID wins over confName, as in the analysis (parsing/legacy.py); no identity: ids unknown.
    assert live.jitsi_facts(info, {"confID": "c-1", "confName": "x"}, "s", 0)["conferenceId"] == "c-1"
    assert live.jitsi_facts(info, {}, "s", 0)["conferenceId"] is None
