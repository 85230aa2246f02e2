"""The recording plugin's console pages through the Flask test client, signed in with the console's real
form: start and stop from the console drive the LiveKit double's egress, the finished file is downloaded
from S3 (moto's server) through the page's link, delete needs the form's CSRF token; recording:admin is
required as on the API, another account's recording is a 404, bad input a 400 page, LiveKit or storage
down a 503 page with Retry-After.

LiveKit is tests/livekit_double.py (Twirp + signed webhooks) and S3 is moto's server, as in test_flow.py.
"""

from __future__ import annotations

import re
import urllib.request

from core.db import db
from tests.plugins.console.helpers import CSRF_RE, signed_in
from tests.plugins.recording.conftest import MP4, account_id, create_room, store_recording

LIST = "/console/recording/recordings"


def csrf(page) -> str:
    return CSRF_RE.search(page.get_data(as_text=True)).group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_start_stop_download_and_delete_from_the_console(rec_app, client, admin, new_key, livekit, webhooks):
    create_room(client, admin)
    webhooks.deliver()
    browser = signed_in(rec_app.test_client(), new_key("recording:admin", account="acme"))

    empty = browser.get(LIST)
    assert empty.status_code == 200 and "No recording yet" in text(empty)
    assert 'href="/console/recording/recordings"' in text(empty)  # in the navigation

    started = browser.post("/console/recording/start", data={"room": "standup", "csrf_token": csrf(empty)})
    (egress_id,) = livekit.egresses
    assert started.status_code == 303 and started.headers["Location"].endswith(f"{LIST}/{egress_id}")
    assert livekit.egress_request(egress_id).room_name == f"mp{account_id(rec_app, 'acme')}_standup"
    listing = text(browser.get(LIST))
    assert f'href="{LIST}/{egress_id}"' in listing and ">starting<" in listing
    # A second start is the same recording (as the API: idempotent).
    again = browser.post("/console/recording/start", data={"room": "standup", "csrf_token": csrf(empty)})
    assert again.headers["Location"].endswith(f"{LIST}/{egress_id}") and len(livekit.egresses) == 1

    page = browser.get(f"{LIST}/{egress_id}")
    assert 'id="stop-recording"' in text(page) and 'id="delete-recording"' not in text(page)
    assert 'id="download"' not in text(page)
    livekit.activate_egress(egress_id)
    webhooks.deliver()
    stopped = browser.post(f"{LIST}/{egress_id}/stop", data={"csrf_token": csrf(page)})
    assert stopped.status_code == 303 and stopped.headers["Location"].endswith(f"{LIST}/{egress_id}")
    livekit.finish_egress(egress_id, duration=3725.4, content=MP4)
    webhooks.deliver()

    page = browser.get(f"{LIST}/{egress_id}")
    body = text(page)
    assert ">complete<" in body and "1 h 2 min 05 s" in body and "10.3 kB" in body  # 10,264 bytes
    link = re.search(r'id="download" href="([^"]+)"', body).group(1)
    assert link == f"/v1/recordings/{egress_id}/download"
    # The console's cookie opens the API's download: a presigned URL of the object in S3.
    download = browser.get(link)
    assert download.status_code == 302
    with urllib.request.urlopen(download.headers["Location"], timeout=10) as answer:
        assert answer.read() == MP4

    # Delete: refused without the form's token, done with it.
    assert browser.post(f"{LIST}/{egress_id}/delete").status_code == 403
    assert browser.get(f"{LIST}/{egress_id}").status_code == 200
    deleted = browser.post(f"{LIST}/{egress_id}/delete", data={"csrf_token": csrf(page)})
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith(LIST)
    assert browser.get(f"{LIST}/{egress_id}").status_code == 404
    assert client.get(f"/v1/recordings/{egress_id}", headers=admin).status_code == 404


def test_a_running_recording_cannot_be_deleted(rec_app, new_key):
    acme = account_id_of(rec_app, new_key, "acme")
    running = store_recording(rec_app, acme, MP4, status="active")
    browser = signed_in(rec_app.test_client(), new_key("recording:admin", account="acme"))
    page = browser.get(f"{LIST}/{running}")
    refused = browser.post(f"{LIST}/{running}/delete", data={"csrf_token": csrf(page)})
    assert refused.status_code == 409 and "stop it" in text(refused)
    assert refused.mimetype == "text/html"


def account_id_of(app, new_key, name: str) -> int:
    new_key("recording:admin", account=name)  # creates the account
    return account_id(app, name)


def test_scope_and_accounts(rec_app, new_key):
    acme = account_id_of(rec_app, new_key, "acme")
    globex = account_id_of(rec_app, new_key, "globex")
    ours = store_recording(rec_app, acme, MP4, room="ours")
    theirs = store_recording(rec_app, globex, MP4, room="theirs")

    other_key = new_key("room:admin", "transcription:admin", account="acme")
    other_scopes = signed_in(rec_app.test_client(), other_key)
    assert other_scopes.get(LIST).status_code == 403
    assert other_scopes.get(f"{LIST}/{ours}").status_code == 403
    assert 'href="/console/recording/recordings"' not in text(other_scopes.get("/console/"))

    browser = signed_in(rec_app.test_client(), new_key("recording:admin", account="acme"))
    listing = text(browser.get(LIST))
    assert ours in listing and theirs not in listing and "theirs" not in listing
    token = csrf(browser.get(LIST))
    for response in (
        browser.get(f"{LIST}/{theirs}"),
        browser.post(f"{LIST}/{theirs}/delete", data={"csrf_token": token}),
        browser.post(f"{LIST}/{theirs}/stop", data={"csrf_token": token}),
        browser.get(f"{LIST}/no%20such"),
    ):
        assert response.status_code == 404 and response.mimetype == "text/html"
    # Still there for its owner.
    from plugins.recording.models import Recording

    with rec_app.app_context(), db.connection_context():
        assert Recording.get_or_none(Recording.id == theirs) is not None


def test_bad_input_is_a_400_page(rec_app, new_key):
    browser = signed_in(rec_app.test_client(), new_key("recording:admin", account="acme"))
    token = csrf(browser.get(LIST))
    for query in ("status=paused", "status=x"):
        answer = browser.get(f"{LIST}?{query}")
        assert answer.status_code == 400 and answer.mimetype == "text/html", query
    for room in ("", "a/b", "x" * 1000):
        answer = browser.post("/console/recording/start", data={"room": room, "csrf_token": token})
        assert answer.status_code == 400 and "room" in text(answer), room
    # Filters: an empty field is no filter.
    assert browser.get(f"{LIST}?status=").status_code == 200


def test_livekit_or_storage_down_is_a_503_page(make_app):
    """Nothing configured: a start answers 503 with Retry-After and the cause; so does a delete whose
    object storage (S3 on a closed port) cannot be reached, and the row stays."""
    import socket

    from core.auth import create_account, create_key

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = {
        "backend": "s3",
        "endpoint": f"127.0.0.1:{port}",
        "access_key": "k",
        "secret_key": "secret-key",
        "bucket": "rec",
        "secure": False,
        "timeout_seconds": 1.0,
    }
    app = make_app({"core": {"storage": storage}})
    with app.app_context(), db.connection_context():
        create_account("acme")
        token = create_key("acme", ["recording:admin"])[1]
        from core.models import Account
        from plugins.recording.models import Recording

        acme = Account.get(Account.name == "acme").id
        Recording.create(
            id="EG_down",
            account_id=acme,
            room_name="standup",
            livekit_room=f"mp{acme}_standup",
            status="complete",
            file_key=f"recordings/{acme}/standup/EG_down.mp4",
            storage="s3",
            size=10,
            duration=1.0,
            created_at=1.0,
            updated_at=1.0,
        )
    browser = signed_in(app.test_client(), token)
    token = csrf(browser.get(LIST))
    started = browser.post("/console/recording/start", data={"room": "standup", "csrf_token": token})
    assert started.status_code == 503 and started.headers.get("Retry-After"), text(started)
    assert started.mimetype == "text/html" and "LiveKit" in text(started)
    deleted = browser.post(f"{LIST}/EG_down/delete", data={"csrf_token": token})
    assert deleted.status_code == 503 and deleted.headers.get("Retry-After")
    assert "storage" in text(deleted).lower()
    assert browser.get(f"{LIST}/EG_down").status_code == 200
