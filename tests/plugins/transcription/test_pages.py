"""The transcription plugin's console pages through the Flask test client, signed in with the console's
real form: a recording transcribed by a real RQ worker with the Vosk model shows its segments with times
and speaker, and the page's text / SRT / WebVTT links answer with the cookie; transcription:admin is
required as on the API, another account's transcription is a 404, bad filters a 400 page, and stored
transcripts stay readable while no model is configured (the API answers 503 then)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from core.db import db
from plugins.transcription.pages import clock
from tests.plugins.console.helpers import signed_in
from tests.plugins.transcription.conftest import account_id, run_worker
from tests.plugins.transcription.speech import SENTENCES, make_recording, require_tools

LIST = "/console/transcription/transcriptions"


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    require_tools()
    return make_recording(tmp_path_factory.mktemp("speech"))


def text(response) -> str:
    return response.get_data(as_text=True)


def seed(app, account: int, room: str, status: str = "completed", segments=(("hello there", 1.25, 2.5),)):
    """A transcription row and its segments in the plugin's tables, as a finished job leaves them."""
    from plugins.transcription.models import Segment, Transcription

    transcription_id = f"tr_{uuid.uuid4().hex[:24]}"
    with app.app_context(), db.connection_context():
        Transcription.create(
            id=transcription_id,
            account_id=account,
            recording_id=f"EG_{room}",
            room_name=room,
            language="en-US",
            status=status,
            progress=100 if status == "completed" else 40,
            participants='{"PA_1": "Alice"}',
            duration=3.0,
            segment_count=len(segments),
            queued_at=time.time(),
            completed_at=time.time() if status == "completed" else None,
        )
        for position, (words, start, end) in enumerate(segments):
            Segment.create(
                transcription=transcription_id,
                position=position,
                start=start,
                end=end,
                text=words,
                confidence=0.91,
                speaker="Alice",
                words="[]",
            )
    return transcription_id


def test_a_real_transcript_is_shown_with_times_speaker_and_format_links(
    tx_app, tx_client, admin, recordings, speech, new_key, model_setting
):
    acme = account_id(tx_app, "acme")
    recording = recordings.add(tx_app, acme, speech.path)
    queued = tx_client.post(
        f"/v1/recordings/{recording}/transcribe",
        json={"language": "ko-KR", "participants": {"PA_1": "Alice"}, "phrases": SENTENCES},
        headers=admin,
    )
    assert queued.status_code == 202, text(queued)
    transcription_id = queued.get_json()["transcriptionId"]
    browser = signed_in(tx_app.test_client(), new_key("transcription:admin", account="acme"))

    waiting = text(browser.get(f"{LIST}/{transcription_id}"))
    assert ">queued<" in waiting and 'id="formats"' not in waiting

    run_worker(tx_app)
    listing = browser.get(LIST)
    assert listing.status_code == 200
    assert f'href="{LIST}/{transcription_id}"' in text(listing) and ">completed<" in text(listing)
    assert 'href="/console/transcription/transcriptions"' in text(listing)  # in the navigation

    page = text(browser.get(f"{LIST}/{transcription_id}"))
    done = tx_client.get(f"/v1/transcriptions/{transcription_id}", headers=admin).get_json()
    cells = r"\s*".join([r'<td class="time">([^<]+)</td>'] * 2 + [r"<td>([^<]+)</td>"] * 2)
    rows = re.findall(cells, page)
    assert rows == [(clock(s["start"]), clock(s["end"]), "Alice", s["text"]) for s in done["segments"]]
    assert [r[3] for r in rows] == SENTENCES
    links = re.findall(r'<a href="(/v1/transcriptions/[^"]+)">(Text|SRT|WebVTT)</a>', page)
    assert [label for _, label in links] == ["Text", "SRT", "WebVTT"]
    expected = {"Text": "text/plain", "SRT": "application/x-subrip", "WebVTT": "text/vtt"}
    for link, label in links:
        answer = browser.get(link.replace("&amp;", "&"))
        assert answer.status_code == 200 and answer.mimetype == expected[label], link
        assert SENTENCES[1] in text(answer)


def test_scope_accounts_and_bad_input(tx_app, new_key):
    browser = signed_in(tx_app.test_client(), new_key("transcription:admin", account="acme"))
    other = new_key("transcription:admin", account="globex")
    ours = seed(tx_app, account_id(tx_app, "acme"), "ours")
    theirs = seed(tx_app, account_id(tx_app, "globex"), "theirs")

    listing = text(browser.get(LIST))
    assert ours in listing and theirs not in listing and "EG_theirs" not in listing
    for path in (f"{LIST}/{theirs}", f"{LIST}/tr_nope", f"{LIST}/{'0' * 64}"):
        answer = browser.get(path)
        assert answer.status_code == 404 and answer.mimetype == "text/html", path
    assert signed_in(tx_app.test_client(), other).get(f"{LIST}/{theirs}").status_code == 200

    no_scope = signed_in(tx_app.test_client(), new_key("recording:admin", "rtcstats:read", account="acme"))
    assert no_scope.get(LIST).status_code == 403
    assert no_scope.get(f"{LIST}/{ours}").status_code == 403
    assert 'href="/console/transcription/transcriptions"' not in text(no_scope.get("/console/"))

    for query in ("status=done", "offset=-1", "offset=x", f"roomId={'r' * 300}"):
        answer = browser.get(f"{LIST}?{query}")
        assert answer.status_code == 400 and answer.mimetype == "text/html", query
    filtered = text(browser.get(f"{LIST}?status=completed&roomId=ours"))
    assert ours in filtered
    assert ours not in text(browser.get(f"{LIST}?status=failed&roomId="))


def test_stored_transcripts_are_readable_without_a_model(make_app):
    """No model configured: the API answers 503, the console still shows what was transcribed."""
    from core.auth import create_account, create_key
    from core.models import Account

    app = make_app()
    with app.app_context(), db.connection_context():
        create_account("acme")
        token = create_key("acme", ["transcription:admin"])[1]
        acme = Account.get(Account.name == "acme").id
    long_call = seed(
        app, acme, "standup", segments=(("first words", 0.0, 1.5), ("much later", 3725.25, 3727.0))
    )
    running = seed(app, acme, "standup", status="processing", segments=())
    browser = signed_in(app.test_client(), token)
    assert browser.get(f"/v1/transcriptions/{long_call}").status_code == 503
    page = text(browser.get(f"{LIST}/{long_call}"))
    assert "0:00.0" in page and "1:02:05.2" in page and "much later" in page and "91 %" in page
    progress = text(browser.get(f"{LIST}/{running}"))
    assert (
        ">processing<" in progress
        and "40 %" in progress
        and "once the transcription has completed" in progress
    )


def test_clock():
    assert [clock(v) for v in (0, 1.25, 59.96, 61.0, 3725.25, None)] == [
        "0:00.0",
        "0:01.2",
        "1:00.0",
        "1:01.0",
        "1:02:05.2",
        "—",
    ]
