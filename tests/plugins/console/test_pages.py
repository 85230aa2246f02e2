"""The plugins' console pages through the Flask test client: the navigation follows the enabled plugins
and the key's scopes, each page needs the scope of the API it mirrors, another account's objects are
404, and the room charts, session list and overview show what the APIs hold."""

from __future__ import annotations

import time

import pytest

from tests.plugins.console.helpers import seed_room, signed_in
from tests.plugins.rtcstats.fixtures import dump_bytes

API = "/api/rtcstats/v1.0"
SMALL = "jitsi_legacy_chrome-relay.jsonl"
OTHER = "jitsi_legacy_firefox-relay.jsonl"


def nav_of(client) -> list[str]:
    import re

    page = client.get("/console/").get_data(as_text=True)
    nav = page[page.index("<nav") : page.index("</nav>")]
    return re.findall(r">([^<]+)</a>", nav)


def store(client, headers, name: str) -> str:
    response = client.post(f"{API}/analyze?save=true&fileName={name}", data=dump_bytes(name), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["rtcstatsId"]


@pytest.mark.parametrize(
    ("scopes", "nav", "allowed", "forbidden"),
    [
        (
            ["*"],
            ["Overview", "Rooms", "Sessions", "Upload a dump", "Recordings", "Transcriptions"],
            ["rooms", "sessions", "upload"],
            [],
        ),
        (["report:read"], ["Overview", "Rooms"], ["rooms"], ["sessions", "upload"]),
        (["rtcstats:read"], ["Overview", "Sessions"], ["sessions"], ["rooms", "upload"]),
        (["report:ingest"], ["Overview"], [], ["rooms", "sessions", "upload"]),
    ],
)
def test_pages_and_navigation_follow_the_scopes_of_the_key(client, new_key, scopes, nav, allowed, forbidden):
    signed_in(client, new_key(*scopes))
    assert nav_of(client) == nav
    paths = {
        "rooms": "/console/report/rooms",
        "sessions": "/console/rtcstats/sessions",
        "upload": "/console/rtcstats/upload",
    }
    for name in allowed:
        assert client.get(paths[name]).status_code == 200, name
    for name in forbidden:
        response = client.get(paths[name])
        assert response.status_code == 403, name
        assert "lacks the" in response.get_data(as_text=True)  # an HTML page that says which scope


def test_pages_without_a_session_answer_the_sign_in_form(client):
    for path in ("/console/report/rooms", "/console/rtcstats/sessions", "/console/report/rooms/x/series"):
        response = client.get(path)
        assert response.status_code == 401
        assert f'name="next" value="{path}"' in response.get_data(as_text=True)


def test_a_disabled_plugin_adds_no_pages(make_app):
    from core.auth import create_account, create_key
    from core.db import db

    app = make_app({"plugins": {"report": {"enabled": False}, "analytics": {"enabled": False}}})
    with app.app_context(), db.connection_context():
        create_account("acme")
        token = create_key("acme", ["*"])[1]
    client = signed_in(app.test_client(), token)
    assert nav_of(client) == ["Overview", "Sessions", "Upload a dump", "Recordings", "Transcriptions"]
    assert client.get("/console/report/rooms").status_code == 404
    assert 'id="card-report"' not in client.get("/console/").get_data(as_text=True)


def test_the_room_page_charts_each_users_history(client, headers, new_key):
    newest = seed_room(client, headers, points=12)
    signed_in(client, new_key("report:read"))
    page = client.get("/console/report/rooms/room-1").get_data(as_text=True)
    assert 'data-url="/console/report/rooms/room-1/series"' in page and "uPlot.iife.min.js" in page
    assert '<a href="/console/report/rooms" class="within">Rooms</a>' in page  # the section it is in
    data = client.get("/console/report/rooms/room-1/series").get_json()
    assert data["live"] is True
    assert [m["key"] for m in data["metrics"]] == ["bitrate", "loss", "rtt", "jitter", "fps"]
    alice, bob = data["users"]["alice"], data["users"]["bob"]
    assert alice["bitrate"]["t"][-1] == newest and len(alice["bitrate"]["t"]) == 12
    # bitrate = video + audio of the user's streams; loss, RTT, frame rate as reported
    assert alice["bitrate"]["v"][0] == 1000 + 64 and bob["bitrate"]["v"][-1] == 1000 + 110 + 1 + 64
    assert alice["loss"]["v"][-1] == pytest.approx(1.1) and alice["rtt"]["v"][3] == 33
    assert alice["fps"]["v"] == [25] * 12 and alice["jitter"]["v"][0] == 8


def test_old_samples_stay_out_of_the_chart_window(make_app, new_key):
    app = make_app({"plugins": {"console": {"chart_window_seconds": 60}}})
    client = app.test_client()
    from core.auth import create_account, create_key
    from core.db import db

    with app.app_context(), db.connection_context():
        create_account("acme")
        token = create_key("acme", ["*"])[1]
    seed_room(client, {"X-API-Key": token}, users=("alice",), points=12)  # 110 s of reports
    signed_in(client, token)
    times = client.get("/console/report/rooms/room-1/series").get_json()["users"]["alice"]["rtt"]["t"]
    assert len(times) in (6, 7) and times[0] >= time.time() - 61


def test_another_accounts_room_and_session_are_404(client, headers, new_key):
    seed_room(client, headers, points=2)
    session_id = store(client, {"X-API-Key": new_key("rtcstats:write")}, SMALL)
    signed_in(client, new_key(account="globex"))
    for path in (
        "/console/report/rooms/room-1",
        "/console/report/rooms/room-1/series",
        f"/rtcstats/view/{session_id}",
        f"{API}/sessions/{session_id}",
    ):
        assert client.get(path).status_code == 404, path
    page = client.get("/console/report/rooms").get_data(as_text=True)
    assert "room-1" not in page and "No room has reported yet" in page
    assert 'id="session-count">0 sessions' in client.get("/console/rtcstats/sessions").get_data(as_text=True)


def test_the_session_list_filters_like_the_api_and_links_to_the_viewer(client, new_key):
    writer = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    first = store(client, writer, SMALL)
    second = store(client, writer, OTHER)
    signed_in(client, new_key("rtcstats:read"))
    page = client.get("/console/rtcstats/sessions").get_data(as_text=True)
    assert 'id="session-count">2 sessions' in page
    assert f'href="/rtcstats/view/{first}"' in page and f'href="/rtcstats/view/{second}"' in page
    assert "badge" in page
    # The form's fields are the API's filters: the same query gives the same sessions.
    for query in (
        "name=firefox",
        "name=chrome&os=",
        "browser=Firefox",
        "hasCritical=true",
        "hasHighScore=true",
    ):
        api = client.get(f"{API}/sessions?{query.replace('&os=', '')}").get_json()["data"]
        listed = client.get(f"/console/rtcstats/sessions?{query}").get_data(as_text=True)
        assert f'id="session-count">{len(api)} session' in listed, query
        for item in api:
            assert item["rtcstatsId"] in listed
    bad = client.get("/console/rtcstats/sessions?observationTags=nonsense")
    assert bad.status_code == 400 and "observationTags" in bad.get_data(as_text=True)
    # The viewer opens with the console's cookie: no token, no header.
    assert client.get(f"/rtcstats/view/{first}").status_code == 200


def test_the_overview_counts_live_rooms_sessions_and_score_bands(client, headers, new_key):
    seed_room(client, headers, points=2)
    writer = {"X-API-Key": new_key("rtcstats:write", "rtcstats:read")}
    store(client, writer, SMALL)
    store(client, writer, OTHER)
    bands = {}
    for item in client.get(f"{API}/sessions", headers=writer).get_json()["data"]:
        bands[item["abstract"]["scoreBand"]] = bands.get(item["abstract"]["scoreBand"], 0) + 1
    signed_in(client, new_key("report:read", "rtcstats:read"))
    page = client.get("/console/").get_data(as_text=True)
    assert 'id="live-rooms">1<' in page and 'id="sessions-today">2<' in page
    for band, count in bands.items():
        assert f'data-band="{band}">{count}<' in page


def test_the_upload_page_points_the_browser_at_the_chunked_upload_api(client, new_key):
    signed_in(client, new_key("rtcstats:write"))
    page = client.get("/console/rtcstats/upload").get_data(as_text=True)
    assert f'data-api="{API}"' in page and 'data-chunk-bytes="1048576"' in page
    assert '<label for="dump-file">' in page and '<progress id="upload-progress"' in page
