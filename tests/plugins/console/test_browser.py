"""The console in real headless Chromium (Debian's chromium + chromedriver) against the app under a real
WSGI server: sign in with the keyboard, the overview, a live room whose charts draw and refresh, the
session list and its filters, a dump dropped on the upload page going up in chunks with a progress bar
and its analysis state until ready (a real RQ worker analyses it), the viewer, sign out; every control
has a label. Screenshots go to MEDIAPLANE_SCREENSHOTS (a folder) when it is set."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.plugins.console.helpers import report, seed_room
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.plugins.rtcstats.test_api_common import run_worker
from tests.plugins.rtcstats.test_mcp import serving
from tests.plugins.rtcstats.test_viewer import browser, browser_problems  # noqa: F401 - fixture

API = "/api/rtcstats/v1.0"
LISTED = "jitsi_legacy_chrome-relay.jsonl"
DROPPED = "jitsi_legacy_safari-standard-stats.jsonl"  # 730 kB: a dozen 64 KiB chunks
CHUNK = 65536

# Painted pixels of each chart canvas in a container.
PAINTED = """
return Array.from(arguments[0].querySelectorAll('figure.chart canvas')).map(canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
});
"""
# Every visible form control without an accessible name (label, aria-label, or a button's text).
UNLABELLED = """
return Array.from(document.querySelectorAll('input, select, button, textarea, progress')).filter(c => {
  if (c.type === 'hidden' || c.offsetParent === null) return false;
  if (c.getAttribute('aria-label') || (c.tagName === 'BUTTON' && c.textContent.trim())) return false;
  if (c.labels && c.labels.length) return false;
  return true;
}).map(c => c.outerHTML.slice(0, 120));
"""
# Drop a file on the upload zone as a browser does for a drag from the desktop.
DROP = """
const [text, name] = [arguments[0], arguments[1]];
const progress = document.getElementById('upload-progress');
window.progressSeen = [];
new MutationObserver(() => window.progressSeen.push(Number(progress.getAttribute('value'))))
  .observe(progress, {attributes: true, attributeFilter: ['value']});
const transfer = new DataTransfer();
transfer.items.add(new File([text], name, {type: 'text/plain'}));
const zone = document.querySelector('#upload .drop');
zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
"""


@pytest.fixture
def console_app(make_app):
    return make_app({"plugins": {"rtcstats": {"max_chunk_bytes": CHUNK}, "console": {"refresh_seconds": 1}}})


@pytest.fixture
def token(console_app) -> str:
    from core.auth import create_account, create_key
    from core.db import db

    with console_app.app_context(), db.connection_context():
        create_account("acme")
        return create_key("acme", ["*"])[1]


def shoot(driver, name: str) -> None:
    folder = os.environ.get("MEDIAPLANE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def wait(driver, condition, seconds: float = 20):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # While a form's answer loads, an element found a moment ago may belong to the page being left.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def ready(driver) -> bool:
    """The page's scripts ran (their handlers are attached): console.js marks the body last."""
    return driver.execute_script("return document.body.dataset.consoleReady") == "1"


def assert_labelled(driver) -> None:
    assert driver.execute_script(UNLABELLED) == [], driver.current_url


def test_sign_in_browse_filter_upload_view_and_sign_out(console_app, token, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    client = console_app.test_client()
    headers = {"X-API-Key": token}
    seed_room(client, headers, points=12)
    listed = client.post(
        f"{API}/analyze?save=true&fileName={LISTED}", data=dump_bytes(LISTED), headers=headers
    )
    assert listed.status_code == 200
    listed_id = listed.get_json()["rtcstatsId"]

    with serving(console_app) as base:
        # -- sign in with the keyboard only ---------------------------------------------------------
        browser.get(base + "/")
        wait(browser, lambda d: d.find_elements(By.ID, "api_key"))
        assert browser.current_url == base + "/console/"
        assert_labelled(browser)
        shoot(browser, "01-sign-in")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)  # the skip link first, then the brand, then the key field
        for _ in range(4):
            if browser.switch_to.active_element.get_attribute("id") == "api_key":
                break
            browser.switch_to.active_element.send_keys(Keys.TAB)
        assert browser.switch_to.active_element.get_attribute("id") == "api_key"
        browser.switch_to.active_element.send_keys(token, Keys.ENTER)
        wait(browser, lambda d: d.find_elements(By.ID, "card-report"))

        # -- overview --------------------------------------------------------------------------------
        assert by_id(browser, "live-rooms").text == "1"
        assert by_id(browser, "sessions-today").text == "1"
        nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
        assert nav == ["Overview", "Rooms", "Sessions", "Upload a dump", "Recordings", "Transcriptions"]
        assert_labelled(browser)
        shoot(browser, "02-overview")

        # -- a live room: charts drawn per user and metric, refreshed as reports arrive ---------------
        browser.find_element(By.LINK_TEXT, "Rooms").click()
        browser.find_element(By.LINK_TEXT, "room-1").click()
        charts = wait(browser, lambda d: d.find_element(By.ID, "room-charts"))
        wait(browser, lambda d: charts.get_attribute("data-drawn") == "10")  # 2 users x 5 metrics
        painted = browser.execute_script(PAINTED, charts)
        assert len(painted) == 10 and all(count > 500 for count in painted), painted
        assert "Live" in by_id(browser, "room-status").text
        shoot(browser, "03-room")
        response = client.post(
            "/report/metrics", json=report("room-1", "carol", int(time.time())), headers=headers
        )
        assert response.status_code == 200
        wait(browser, lambda d: charts.get_attribute("data-drawn") == "15")  # carol appears without a reload
        assert browser.find_elements(By.CSS_SELECTOR, 'section.user[data-user="carol"] figure.chart')

        # -- sessions and their filters -----------------------------------------------------------------
        browser.find_element(By.LINK_TEXT, "Sessions").click()
        wait(browser, lambda d: "1 session" in d.find_element(By.ID, "session-count").text)
        assert_labelled(browser)
        name = by_id(browser, "f-name")
        name.send_keys("no-such-title", Keys.ENTER)
        wait(browser, lambda d: d.find_element(By.ID, "session-count").text.startswith("0 sessions"))
        by_id(browser, "f-name").clear()
        by_id(browser, "f-name").send_keys("chrome-relay")
        by_id(browser, "apply-filters").click()
        wait(browser, lambda d: d.find_element(By.ID, "session-count").text.startswith("1 session"))
        assert "name=chrome-relay" in browser.current_url
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{listed_id}"]')
        assert row.find_elements(By.CSS_SELECTOR, "span.badge")  # score band (and observations)
        shoot(browser, "04-sessions")

        # -- the dump explorer: pairs, states, events, any stat charted ----------------------------------
        row.find_element(By.CSS_SELECTOR, "a.explore").click()
        wait(browser, lambda d: d.find_elements(By.ID, "stat-select") and ready(d))
        wait(browser, lambda d: d.find_element(By.ID, "stats").get_attribute("data-ready") == "1")
        assert browser.find_element(By.CSS_SELECTOR, 'tr.selected[data-pair="CPfJfiL0UU_pjplYfUx"]')
        Select(by_id(browser, "stat-select")).select_by_value("0|CPfJfiL0UU_pjplYfUx")
        stats = by_id(browser, "stats")
        wait(browser, lambda d: stats.get_attribute("data-state") == "loaded")
        tick = browser.find_element(By.CSS_SELECTOR, '#stat-props input[value="bytesSent"]')
        tick.send_keys(Keys.SPACE)  # a checkbox ticked from the keyboard
        tick = browser.find_element(By.CSS_SELECTOR, '#stat-props input[value="currentRoundTripTime"]')
        tick.send_keys(Keys.SPACE)
        wait(browser, lambda d: stats.get_attribute("data-charts") == "2")
        by_id(browser, "stat-rate").send_keys(Keys.SPACE)  # bytesSent per second
        captions = "#stat-charts figcaption"
        wait(browser, lambda d: "per second" in d.find_elements(By.CSS_SELECTOR, captions)[0].text)
        # RTT is no counter: it stays as it is
        assert browser.find_elements(By.CSS_SELECTOR, captions)[1].text == "currentRoundTripTime"
        painted = browser.execute_script(PAINTED, by_id(browser, "stat-charts"))
        assert len(painted) == 2 and all(count > 500 for count in painted), painted
        assert_labelled(browser)
        shoot(browser, "05-explorer")
        browser.find_element(By.CSS_SELECTOR, '#events input[value="ice"]').send_keys(Keys.SPACE)
        by_id(browser, "filter-events").click()
        wait(browser, lambda d: "category=ice" in d.current_url)
        categories = {
            r.get_attribute("class") for r in browser.find_elements(By.CSS_SELECTOR, "table.events tbody tr")
        }
        assert categories == {"cat-ice"}

        # -- upload by drag and drop: chunks with progress, then the analysis state ----------------------
        browser.find_element(By.LINK_TEXT, "Upload a dump").click()
        wait(browser, lambda d: d.find_elements(By.ID, "upload") and ready(d))
        assert_labelled(browser)
        browser.execute_script(DROP, dump_bytes(DROPPED).decode(), DROPPED)
        upload = by_id(browser, "upload")
        wait(browser, lambda d: upload.get_attribute("data-state") in ("analysing", "ready", "failed"), 60)
        assert upload.get_attribute("data-state") == "analysing", by_id(browser, "upload-state").text
        seen = browser.execute_script("return window.progressSeen")
        size = len(dump_bytes(DROPPED))
        steps = sorted(set(seen))
        assert len(steps) >= size // CHUNK, seen  # the bar moved at least once per chunk
        assert steps[-1] == size and all(0 <= value <= size for value in seen)
        shoot(browser, "06-upload-analysing")
        run_worker(console_app)  # a real RQ worker analyses the assembled dump
        wait(browser, lambda d: upload.get_attribute("data-state") == "ready", 30)
        shoot(browser, "07-upload-ready")

        # -- the viewer of the uploaded session, opened by the console's cookie --------------------------
        by_id(browser, "open-analysis").click()
        wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts-drawn"), 30)
        assert "/rtcstats/view/" in browser.current_url and "token=" not in browser.current_url
        shoot(browser, "08-viewer")

        # -- the same through the file chooser (no drag and drop), then on to the explorer ---------------
        chosen = tmp_path / LISTED
        chosen.write_bytes(dump_bytes(LISTED))
        browser.get(base + "/console/rtcstats/upload")
        wait(browser, ready)
        by_id(browser, "dump-file").send_keys(str(chosen))
        upload = by_id(browser, "upload")
        wait(browser, lambda d: upload.get_attribute("data-state") in ("analysing", "ready", "failed"), 60)
        assert upload.get_attribute("data-state") == "analysing", by_id(browser, "upload-state").text
        run_worker(console_app)
        wait(browser, lambda d: upload.get_attribute("data-state") == "ready", 30)
        by_id(browser, "open-explorer").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#observations") and ready(d))
        assert LISTED in browser.find_element(By.TAG_NAME, "main").text

        # -- sign out -------------------------------------------------------------------------------------
        browser.get(base + "/console/")
        by_id(browser, "sign-out").click()
        wait(browser, lambda d: d.current_url.endswith("/console/sign-in"))
        browser.get(base + "/console/report/rooms")
        assert browser.find_elements(By.ID, "api_key")  # the sign-in form again: no session left
        # Expected answers only: the 409 "still analysing" of the upload page's polling, the 401 sign-in form.
        problems = [
            p for p in browser_problems(browser) if "(CONFLICT)" not in p and "(UNAUTHORIZED)" not in p
        ]
        assert problems == [], problems


def test_a_file_that_is_no_dump_says_why_it_failed(console_app, token, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    with serving(console_app) as base:
        browser.get(base + "/console/sign-in")
        by_id(browser, "api_key").send_keys(token)
        by_id(browser, "sign-in").click()
        wait(browser, lambda d: d.find_elements(By.ID, "sign-out"))
        browser.get(base + "/console/rtcstats/upload")
        wait(browser, ready)
        browser.execute_script(DROP, "this is not a WebRTC stats dump\n" * 10, "notes.txt")
        upload = by_id(browser, "upload")
        wait(browser, lambda d: upload.get_attribute("data-state") == "failed", 30)
        state = by_id(browser, "upload-state").text
        assert state.startswith("Upload failed: ") and len(state) > len("Upload failed: ") + 10, state
        assert by_id(browser, "upload-result").get_attribute("hidden") is not None
