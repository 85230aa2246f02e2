"""The recording and transcription console pages in real headless Chromium (Debian's chromium +
chromedriver) against the app under a real WSGI server: from the navigation to a recording's page,
its download link answering with the file, delete with the keyboard (the form's CSRF token sent by
the browser), then a transcript's segments with times and speaker; every control has a label.
Screenshots go to MEDIAPLANE_SCREENSHOTS (a folder) when it is set."""

from __future__ import annotations

import urllib.request

from tests.plugins.console.test_browser import assert_labelled, by_id, shoot, wait
from tests.plugins.recording.conftest import MP4, store_recording
from tests.plugins.rtcstats.test_mcp import serving
from tests.plugins.rtcstats.test_viewer import browser, browser_problems  # noqa: F401 - fixture
from tests.plugins.transcription.test_pages import seed


def test_recording_and_transcript_pages_in_chromium(make_app, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from core.auth import create_account, create_key
    from core.db import db
    from core.models import Account

    app = make_app()
    with app.app_context(), db.connection_context():
        create_account("acme")
        token = create_key("acme", ["recording:admin", "transcription:admin"])[1]
        acme = Account.get(Account.name == "acme").id
    recording = store_recording(app, acme, MP4, room="standup", duration=3725.4)
    transcript = seed(
        app, acme, "standup", segments=(("good morning everyone", 0.5, 2.25), ("let us begin", 62.0, 63.5))
    )

    with serving(app) as base:
        browser.get(base + "/console/sign-in")
        by_id(browser, "api_key").send_keys(token, Keys.ENTER)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "header nav"))
        nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
        assert nav == ["Overview", "Recordings", "Transcriptions"]

        browser.find_element(By.LINK_TEXT, "Recordings").click()
        wait(browser, lambda d: d.find_elements(By.ID, "recordings"))
        assert_labelled(browser)
        assert "10.3 kB" in by_id(browser, "recordings").text  # 10,252 bytes, not "0.0 MB"
        shoot(browser, "10-recordings")
        browser.find_element(By.LINK_TEXT, recording).click()
        wait(browser, lambda d: d.find_elements(By.ID, "recording"))
        facts = by_id(browser, "recording").text
        assert "complete" in facts and "1 h 2 min 05 s" in facts and "standup" in facts
        assert_labelled(browser)
        shoot(browser, "11-recording")
        # The link the browser follows (with its own cookie) answers with the file.
        href = by_id(browser, "download").get_attribute("href")
        cookie = browser.get_cookie("mediaplane_console")
        request = urllib.request.Request(href, headers={"Cookie": f"mediaplane_console={cookie['value']}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.read() == MP4

        delete = browser.find_element(By.CSS_SELECTOR, "#delete-recording button")
        delete.send_keys(Keys.ENTER)  # keyboard-reachable; the browser posts the form with its token
        wait(browser, lambda d: d.current_url.endswith("/console/recording/recordings"))
        assert "No recording yet" in browser.find_element(By.TAG_NAME, "main").text

        browser.find_element(By.LINK_TEXT, "Transcriptions").click()
        wait(browser, lambda d: d.find_elements(By.ID, "transcriptions"))
        assert_labelled(browser)
        browser.find_element(By.LINK_TEXT, transcript).click()
        rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#segments tbody tr"))
        cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        assert cells == [
            ["0:00.5", "0:02.2", "Alice", "good morning everyone", "91 %"],
            ["1:02.0", "1:03.5", "Alice", "let us begin", "91 %"],
        ]
        links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#formats a")]
        assert links == ["Text", "SRT", "WebVTT"]
        shoot(browser, "12-transcript")
