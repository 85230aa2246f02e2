"""The recording plugin's console page and overview card, signed in through the console's real form:
the account's recordings with their state, size, duration and a download link that the session
cookie opens; recording:admin needed; another account's recordings not shown."""

from __future__ import annotations

from tests.plugins.console.helpers import signed_in
from tests.plugins.recording.conftest import MP4, account_id, create_room, store_recording

PAGE = "/console/recording/recordings"


def test_the_page_lists_the_accounts_recordings_with_a_working_download(
    rec_app, client, admin, new_key, livekit, webhooks
):
    create_room(client, admin)
    running = client.post("/v1/rooms/standup/recording/start", headers=admin).get_json()["egressId"]
    done = store_recording(rec_app, account_id(rec_app, "acme"), MP4, room="retro")
    new_key("recording:admin", account="globex")
    other = store_recording(rec_app, account_id(rec_app, "globex"), MP4, room="secret")

    browser = rec_app.test_client()
    signed_in(browser, new_key("recording:admin", account="acme"))
    page = browser.get(PAGE)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert running in html and done in html and other not in html and "secret" not in html
    assert f'href="/v1/recordings/{done}/download"' in html
    assert f'href="/v1/recordings/{running}/download"' not in html  # not complete yet
    filtered = browser.get(f"{PAGE}?status=starting")
    assert filtered.status_code == 200
    only_starting = filtered.get_data(as_text=True)
    assert running in only_starting and done not in only_starting
    assert '<option value="starting" selected>' in only_starting
    assert browser.get(f"{PAGE}?status=").status_code == 200  # the form's "any"
    assert browser.get(f"{PAGE}?status=paused").status_code == 400
    download = browser.get(f"/v1/recordings/{done}/download")
    assert download.status_code == 302  # S3: the presigned URL

    overview = browser.get("/console/").get_data(as_text=True)
    assert 'id="card-recording"' in overview
    assert '<strong class="big" id="recording-now">1</strong>' in overview
    assert ">Recordings</a>" in overview[overview.index("<nav") : overview.index("</nav>")]


def test_the_page_needs_recording_admin(rec_app, new_key):
    browser = rec_app.test_client()
    signed_in(browser, new_key("room:admin", account="acme"))
    answer = browser.get(PAGE)
    assert answer.status_code == 403 and "lacks the" in answer.get_data(as_text=True)
    overview = browser.get("/console/").get_data(as_text=True)
    assert 'id="card-recording"' not in overview and ">Recordings</a>" not in overview
