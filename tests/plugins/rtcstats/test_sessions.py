"""GET /sessions (every filter, combinations, paging, order), GET and DELETE /sessions/{id}, tenancy,
re-analysis when the analyzer version changes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from core.db import db
from core.hookspecs import hookimpl
from plugins.rtcstats import analysis, service
from plugins.rtcstats.models import Session, SessionLabel
from tests.conftest import count_rows
from tests.plugins.rtcstats.test_api_common import (
    ALIAS,
    API,
    FIREFOX,
    account_id,
    error_of,
    make_session,
    open_fixture,
    run_worker,
    untokened,
    upload,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def analysed(browser, version, os, user, conference, session, score, observations):
    return {
        "callStart": "2026-01-01T10:00:00.000Z",
        "callEnd": "2026-01-01T10:30:00.000Z",
        "userAgentData": {"browser": browser, "browserVersion": version, "os": os},
        "metadata": {"userId": user, "conferenceId": conference, "sessionId": session},
        "experienceScore": score,
        "connectivity": "DIRECT/UDP",
        "observations": [{"type": t, "severity": s, "tags": tags} for t, s, tags in observations],
    }


SESSIONS = {
    "S1": (
        "zoom-call.txt",
        analysed(
            "Chrome",
            "142.0.1",
            "macOS",
            "u1",
            "c1",
            "s1",
            85,
            [("turnFail", "critical", ["network", "connectivity"])],
        ),
    ),
    "S2": (
        "Zoom Meeting.txt",
        analysed(
            "Safari",
            "17.4",
            "macOS",
            "u2",
            "c1",
            "s2",
            65,
            [("highRtt", "high", ["network"]), ("cpuPressure", "medium", ["cpu"])],
        ),
    ),
    "S3": (
        "teams.txt",
        analysed(
            "Firefox",
            "118",
            "Linux",
            "u1",
            "c2",
            "s3",
            40,
            [("cpuPressure", "medium", ["cpu"]), ("lowFps", "low", ["video"])],
        ),
    ),
    "S4": ("webex.txt", analysed("Chrome", "141", "Windows", None, None, None, None, [])),
    "S5": ("zoom pending.txt", None),
}


@pytest.fixture
def catalogue(app, auth, fake_analyzer):
    """Five sessions of account acme, S1 the oldest, S5 the newest (still pending)."""
    owner = account_id(app)
    ids = {}
    for offset, (key, (name, data)) in enumerate(SESSIONS.items()):
        ids[key] = make_session(
            app, owner, data, file_name=name, created_at=T0 + dt.timedelta(minutes=offset)
        )
    return ids


def titles(client, headers, query: str = "", base: str = API) -> list[str]:
    response = client.get(f"{base}/sessions{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == len(body["data"])
    by_title = {name.rsplit(".", 1)[0]: key for key, (name, _) in SESSIONS.items()}
    return [by_title[item["title"]] for item in body["data"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["S5", "S4", "S3", "S2", "S1"]),
        ("?name=zoom", ["S5", "S2", "S1"]),
        ("?name=ZOOM", ["S5", "S2", "S1"]),
        ("?name=zoom,teams", ["S5", "S3", "S2", "S1"]),
        ("?name=zoom&name=teams", ["S5", "S3", "S2", "S1"]),
        ("?name=%25", []),  # a LIKE wildcard is a plain character
        ("?name=_", []),
        ("?observationTypes=cpuPressure", ["S3", "S2"]),
        ("?observationTypes=turnFail,highRtt", ["S2", "S1"]),
        ("?observationTypes=turnFail&observationTypes=highRtt", ["S2", "S1"]),
        ("?observationFlags=turnFail", ["S1"]),
        ("?observationTypes=lowFps", []),  # low and info observations are not indexed
        ("?observationTags=cpu", ["S3", "S2"]),
        ("?observationTags=network,cpu", ["S3", "S2", "S1"]),
        ("?observationTags=video", []),
        ("?os=macOS", ["S2", "S1"]),
        ("?os=macos", []),  # exact match
        ("?os=macOS&os=Linux", ["S3", "S2", "S1"]),
        ("?browser=Chrome", ["S4", "S1"]),
        ("?browserVersion=142", ["S1"]),
        ("?userId=u1", ["S3", "S1"]),
        ("?conferenceId=c1", ["S2", "S1"]),
        ("?sessionId=s1", ["S1"]),
        ("?hasCritical=true", ["S1"]),
        ("?hasHigh=1", ["S2"]),
        ("?hasMedium=true", ["S3", "S2"]),
        ("?hasCritical=false", ["S5", "S4", "S3", "S2", "S1"]),
        ("?hasLowScore=true", ["S3"]),
        ("?hasMediumScore=true", ["S2"]),
        ("?hasHighScore=true", ["S1"]),
        # AND across filters
        ("?os=macOS&hasHigh=true", ["S2"]),
        ("?name=zoom&browser=Safari", ["S2"]),
        ("?observationTags=cpu&userId=u1", ["S3"]),
        ("?os=macOS&hasLowScore=true", []),
        ("?browser=Chrome&hasHighScore=true&conferenceId=c1", ["S1"]),
        ("?name=zoom,teams&observationTypes=cpuPressure&hasMedium=1", ["S3", "S2"]),
        ("?hasLowScore=true&hasHighScore=true", []),
        ("?unknownFilter=x", ["S5", "S4", "S3", "S2", "S1"]),
    ],
)
def test_filters(client, auth, catalogue, query, expected):
    assert titles(client, auth, query) == expected


def test_filters_on_the_alias(client, auth, catalogue):
    assert titles(client, auth, "?os=macOS&hasHigh=true", base=ALIAS) == ["S2"]


def test_list_items_and_abstracts(client, auth, catalogue):
    items = {i["rtcstatsId"]: i for i in client.get(f"{API}/sessions", headers=auth).get_json()["data"]}
    s2 = items[catalogue["S2"]]
    assert list(s2) == [
        "rtcstatsId",
        "createdAt",
        "sessionStart",
        "sessionEnd",
        "title",
        "rtcstatsUrl",
        "embedUrl",
        "abstract",
        "state",  # ours: live, pending, analyzed or failed (test_live_sessions.py)
    ]
    assert s2["state"] == "analyzed"
    assert s2["createdAt"] == "2026-01-01T12:01:00.000Z"
    assert (s2["sessionStart"], s2["sessionEnd"]) == ("2026-01-01T10:00:00.000Z", "2026-01-01T10:30:00.000Z")
    assert s2["title"] == "Zoom Meeting"
    assert s2["abstract"] == {
        "observationTypes": ["cpuPressure", "highRtt"],
        "observationFlags": ["cpuPressure", "highRtt"],
        "observationTags": ["cpu", "network"],
        "browser": "Safari",
        "browserVersion": "17",
        "os": "macOS",
        "osVersion": None,
        "conferenceId": "c1",
        "sessionId": "s2",
        "userId": "u2",
        "experienceScore": 65.0,
        "connectivity": "DIRECT/UDP",
        "observationsCritical": 0,
        "observationsHigh": 1,
        "observationsMedium": 1,
        "scoreBand": "medium",
    }
    assert items[catalogue["S4"]]["abstract"]["scoreBand"] == "unrated"
    pending = items[catalogue["S5"]]
    assert pending["abstract"] is None and pending["sessionStart"] is None
    assert pending["state"] == "pending" and "live" not in pending


def test_paging_newest_first(client, auth, catalogue):
    first = client.get(f"{API}/sessions?limit=2", headers=auth)
    assert first.headers["X-Total-Count"] == "5"
    assert first.get_json()["total"] == 2
    assert titles(client, auth, "?limit=2") == ["S5", "S4"]
    assert titles(client, auth, "?limit=2&offset=2") == ["S3", "S2"]
    assert titles(client, auth, "?limit=2&offset=4") == ["S1"]
    assert titles(client, auth, "?offset=9") == []
    filtered = client.get(f"{API}/sessions?name=zoom&limit=1&offset=1", headers=auth)
    assert filtered.headers["X-Total-Count"] == "3"
    assert [i["title"] for i in filtered.get_json()["data"]] == ["Zoom Meeting"]


def test_default_and_largest_page_are_settings(make_app, new_key, fake_analyzer):
    app = make_app({"plugins": {"rtcstats": {"sessions_default_limit": 2, "sessions_max_limit": 3}}})
    client = app.test_client()
    headers = {"X-API-Key": new_key("rtcstats:read")}
    owner = account_id(app)
    for minute in range(4):
        make_session(app, owner, None, created_at=T0 + dt.timedelta(minutes=minute))
    assert len(client.get(f"{API}/sessions", headers=headers).get_json()["data"]) == 2
    assert len(client.get(f"{API}/sessions?limit=3", headers=headers).get_json()["data"]) == 3
    assert "at most 3" in error_of(
        client.get(f"{API}/sessions?limit=4", headers=headers), 400, "invalid_request"
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?observationTags=sound", "observationTags"),
        ("?observationTags=audio,sound", "observationTags"),
        ("?hasCritical=maybe", "hasCritical"),
        ("?hasLowScore=2", "hasLowScore"),
        ("?hasHigh=true&hasHigh=false", "hasHigh"),
        ("?limit=abc", "limit"),
        ("?limit=0", "limit"),
        ("?limit=-5", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=1.5", "offset"),
        ("?" + "&".join(f"name=n{i}" for i in range(21)), "name"),  # past maxItems (20) as sent
        ("?name=" + "x" * 201, "name"),
        ("?" + "&".join(f"os=o{i}" for i in range(21)), "os"),
        ("?userId=" + "u" * 201, "userId"),
    ],
)
def test_bad_filters_are_400_naming_them(client, auth, catalogue, query, field):
    message = error_of(client.get(f"{API}/sessions{query}", headers=auth), 400, "invalid_request")
    assert message.startswith(field), message


def test_parse_filters_takes_mcp_arguments_too():
    filters = service.parse_filters(
        {
            "name": ["zoom"],
            "observationTags": ["network"],
            "os": "macOS",
            "hasCritical": True,
            "hasHigh": False,
            "observationFlags": ["a"],
            "observationTypes": ["b", "a"],
        }
    )
    assert filters == {
        "name": ["zoom"],
        "observationTags": ["network"],
        "os": ["macOS"],
        "hasCritical": True,
        "observationTypes": ["b", "a"],
    }
    with pytest.raises(service.InvalidRequest, match="observationTags"):
        service.parse_filters({"observationTags": ["loud"]})
    with pytest.raises(service.InvalidRequest, match="hasHigh"):
        service.parse_filters({"hasHigh": "sometimes"})
    with pytest.raises(service.InvalidRequest):
        service.parse_filters(["not", "an", "object"])


def test_parse_paging_defaults_and_bounds():
    assert service.parse_paging({}, 100, 1000) == (100, 0)
    assert service.parse_paging({"limit": 5, "offset": 10}, 100, 1000) == (5, 10)
    with pytest.raises(service.InvalidRequest, match="limit: at most 1000"):
        service.parse_paging({"limit": 1001}, 100, 1000)


def test_list_sessions_service_returns_the_match_count_and_the_page(app, catalogue):
    with app.app_context(), db.connection_context():
        total, items = service.list_sessions(account_id(app), {"os": ["macOS"]}, 1, 0)
        assert total == 2 and [i["title"] for i in items] == ["Zoom Meeting"]
        strict = service.without_aliases(items[0])
        assert "observationFlags" not in strict["abstract"] and "observationTypes" in strict["abstract"]


# -- one session ----------------------------------------------------------------------------------


def test_get_session_answers_the_stored_analysis(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX), name="firefox.jsonl")
    run_worker(app)
    response = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["data", "rtcstatsId", "rtcstatsUrl", "embedUrl", "processorVersion"]
    assert body["rtcstatsId"] == made["rtcstatsId"] and body["processorVersion"] == "test-1"
    urls = untokened([body["rtcstatsUrl"], body["embedUrl"]])
    assert urls == untokened([made["rtcstatsUrl"], made["embedUrl"]])
    data = body["data"]
    assert data["id"] == made["rtcstatsId"]
    assert uuid.UUID(data["uploaded_by"]) and data["uploaded_by_email"] is None
    assert data["fileName"] == "firefox.jsonl" and data["title"] == "firefox"
    assert data["fileSize"] == len(open_fixture(FIREFOX))
    assert data["experienceScore"] == 72.5


def test_a_session_being_analysed_is_409_with_retry_after(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX))
    response = client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    assert "being analysed" in error_of(response, 409, "analysis_pending")
    assert response.headers["Retry-After"] == "2"
    listed = client.get(f"{API}/sessions", headers=auth).get_json()["data"]
    assert listed[0]["abstract"] is None
    run_worker(app)
    assert client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).status_code == 200
    assert client.get(f"{API}/sessions", headers=auth).get_json()["data"][0]["abstract"]["userId"] == "alice"


@pytest.mark.parametrize(
    "bad", ["abc", "123", "6f1d5a7e-2b7e-4c1e-9a51", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]
)
def test_ids_that_are_not_uuids_are_400(client, auth, bad):
    assert "not a UUID" in error_of(client.get(f"{API}/sessions/{bad}", headers=auth), 400, "invalid_request")
    error_of(client.delete(f"{API}/sessions/{bad}", headers=auth), 400, "invalid_request")


def test_unknown_sessions_are_404(client, auth):
    missing = uuid.uuid4()
    error_of(client.get(f"{API}/sessions/{missing}", headers=auth), 404, "not_found")
    error_of(client.delete(f"{ALIAS}/sessions/{missing}", headers=auth), 404, "not_found")


def test_another_accounts_sessions_are_invisible(app, client, auth, new_key, fake_analyzer):
    theirs = {"Authorization": f"Bearer {new_key('rtcstats:write', 'rtcstats:read', account='globex')}"}
    made = upload(client, auth, open_fixture(FIREFOX), name="acme-call.jsonl")
    run_worker(app)
    assert client.get(f"{API}/sessions", headers=theirs).get_json() == {"total": 0, "data": []}
    assert client.get(f"{API}/sessions?userId=alice", headers=theirs).get_json()["data"] == []
    error_of(client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=theirs), 404, "not_found")
    error_of(client.delete(f"{API}/sessions/{made['rtcstatsId']}", headers=theirs), 404, "not_found")
    assert client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).status_code == 200
    assert client.get(f"{API}/quota", headers=theirs).get_json()["remainingCredits"] == 1000


def test_delete_removes_the_row_labels_and_stored_dump(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    with app.app_context(), db.connection_context():
        key = Session.get(Session.rtcstats_id == made["rtcstatsId"]).dump_key
    storage = app.extensions["mediaplane"].storage
    assert storage.exists(key) and count_rows(app, SessionLabel) == 2  # one type, one tag
    response = client.delete(f"{API}/sessions/{made['rtcstatsId']}", headers=auth)
    assert response.status_code == 200 and response.get_json() == {"success": True}
    assert not storage.exists(key)
    assert count_rows(app, Session) == 0 and count_rows(app, SessionLabel) == 0
    error_of(client.get(f"{API}/sessions/{made['rtcstatsId']}", headers=auth), 404, "not_found")
    error_of(client.delete(f"{API}/sessions/{made['rtcstatsId']}", headers=auth), 404, "not_found")
    assert client.get(f"{API}/quota", headers=auth).get_json()["remainingCredits"] == 999


def test_a_pending_session_can_be_deleted(app, client, auth, fake_analyzer):
    made = upload(client, auth, open_fixture(FIREFOX))
    assert client.delete(f"{API}/sessions/{made['rtcstatsId']}", headers=auth).status_code == 200
    run_worker(app)  # the job finds nothing to do
    assert count_rows(app, Session) == 0 and fake_analyzer.calls == 0


class Listener:
    def __init__(self):
        self.seen = []

    @hookimpl
    def rtcstats_session_analyzed(self, account_id, rtcstats_id):
        self.seen.append(rtcstats_id)


def test_a_new_analyzer_version_reanalyses_on_read(app, client, auth, fake_analyzer, monkeypatch):
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    listener = Listener()
    app.extensions["mediaplane"].plugins.pm.register(listener)
    url = f"{API}/sessions/{made['rtcstatsId']}"
    assert client.get(url, headers=auth).get_json()["processorVersion"] == "test-1"
    assert fake_analyzer.calls == 1
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    fake_analyzer.result = {"experienceScore": 91, "observations": [], "title": "ignored"}
    body = client.get(url, headers=auth).get_json()
    assert body["processorVersion"] == "test-2" and body["data"]["experienceScore"] == 91
    assert fake_analyzer.calls == 2 and listener.seen == [made["rtcstatsId"]]
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == made["rtcstatsId"])
        assert (row.processor_version, row.experience_score) == ("test-2", 91.0)
    assert count_rows(app, SessionLabel) == 0  # the new analysis has no observations
    client.get(url, headers=auth)
    assert fake_analyzer.calls == 2  # stored: not analysed again
    assert titles_of(client, auth, "?hasHighScore=true") == [made["rtcstatsId"]]


def titles_of(client, headers, query):
    return [i["rtcstatsId"] for i in client.get(f"{API}/sessions{query}", headers=headers).get_json()["data"]]


def test_a_failed_reanalysis_is_422_and_keeps_the_older_result(app, client, auth, fake_analyzer, monkeypatch):
    made = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    fake_analyzer.fail = RuntimeError("new analyzer chokes")
    url = f"{API}/sessions/{made['rtcstatsId']}"
    message = error_of(client.get(url, headers=auth), 422, "reprocess_failed")
    assert "test-2" in message and "chokes" not in message
    error_of(client.get(url, headers=auth), 422, "reprocess_failed")
    assert fake_analyzer.calls == 2  # the failure is remembered for this version
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == made["rtcstatsId"])
        assert (row.processor_version, row.failed_version) == ("test-1", "test-2")
    assert titles_of(client, auth, "?userId=alice") == [made["rtcstatsId"]]  # still listed and filterable
    assert client.get(f"{API}/quota", headers=auth).get_json()["remainingCredits"] == 999  # no refund
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-3")
    fake_analyzer.fail = None
    assert client.get(url, headers=auth).get_json()["processorVersion"] == "test-3"


def test_a_reanalysis_that_finds_the_dump_unreadable_is_422(app, client, auth, fake_analyzer, monkeypatch):
    owner = account_id(app)
    rtcstats_id = make_session(app, owner, {"experienceScore": 50})  # its stored dump is "{}"
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    message = error_of(client.get(f"{API}/sessions/{rtcstats_id}", headers=auth), 422, "reprocess_failed")
    assert "failed" in message


# -- interface.py (what analytics reads) ------------------------------------------------------------


def test_interface_reads_sessions_tracks_and_observations(app, client, auth, fake_analyzer, new_key):
    from plugins.rtcstats import interface

    fake_analyzer.result = {
        "durationMs": 1000,
        "experienceScore": 70,
        "audioScore": 4.1,
        "streams": {"1-1/IT01A": {"kind": "audio", "direction": "inbound", "codec": "audio/opus"}},
        "observations": [{"type": "highRtt", "severity": "high", "tags": ["network"]}],
        "observationsCount": {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0},
    }
    made = upload(client, auth, open_fixture(FIREFOX), name="call.jsonl")
    run_worker(app)
    upload(client, auth, open_fixture(FIREFOX), name="still-pending.jsonl")  # not listed until analysed
    owner = account_id(app)
    with app.app_context(), db.connection_context():
        listed = interface.sessions(owner)
        assert [s["rtcstatsId"] for s in listed] == [made["rtcstatsId"]]
        assert listed[0]["scores"]["audioScore"] == 4.1 and listed[0]["durationMs"] == 1000
        assert listed[0]["abstract"]["observationTypes"] == ["highRtt"]
        future = dt.datetime(2100, 1, 1)
        assert interface.sessions(owner, since=future) == []
        assert len(interface.sessions(owner, until=future.timestamp())) == 1
        assert interface.tracks(owner, made["rtcstatsId"]) == [
            {"id": "1-1/IT01A", "kind": "audio", "direction": "inbound", "codec": "audio/opus"}
        ]
        assert interface.observations(owner, made["rtcstatsId"])[0]["type"] == "highRtt"
        assert interface.get_session(owner, made["rtcstatsId"])["rtcstatsId"] == made["rtcstatsId"]
        with pytest.raises(interface.NotFound):
            interface.tracks(owner + 1000, made["rtcstatsId"])
        with pytest.raises(interface.NotFound):
            interface.observations(owner, "not-a-uuid")
        assert interface.sessions(owner + 1000) == []
