"""GET /sessions filtered by an observation type or tag: counted and paged from the label rows' copies of
their session's columns (migration 0003), on SQLite and PostgreSQL. Every page of every mix must be the
slice of the newest-first order that the filters select, computed here from the sessions as made."""

from __future__ import annotations

import datetime as dt

import pytest
from peewee import PostgresqlDatabase

from core.app import migration_packages
from core.db import Migration, db, migrate
from plugins.rtcstats import service
from plugins.rtcstats.models import LABEL_COPIES, Session, SessionLabel
from tests.plugins.rtcstats.test_api_common import API, account_id, make_session

pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

T0 = dt.datetime(2026, 5, 1, 8, 0, 0)
COUNT = 36
BROWSERS = ("Chrome", "Firefox", "Safari")
SCORES = (40, 70, 90, None)


def spec(n: int) -> dict:
    """Session n of the account: browser, score and observations cycle with different periods."""
    observations = []
    if n % 2 == 0:
        observations.append({"type": "highRtt", "severity": "high", "tags": ["network"]})
    if n % 5 in (0, 1):
        observations.append({"type": "cpuPressure", "severity": "medium", "tags": ["cpu"]})
    if n % 7 == 3:
        observations.append({"type": "lowFps", "severity": "low", "tags": ["video"]})  # not a label
    return {"browser": BROWSERS[n % 3], "score": SCORES[n % 4], "observations": observations}


def analysed(made: dict) -> dict:
    return {
        "userAgentData": {"browser": made["browser"], "os": "Windows"},
        "experienceScore": made["score"],
        "observations": made["observations"],
    }


def labels_of(made: dict, kind: str) -> set[str]:
    severe = [o for o in made["observations"] if o["severity"] != "low"]
    if kind == "type":
        return {o["type"] for o in severe}
    return {tag for o in severe for tag in o["tags"]}


# (query, which of the account's sessions it selects)
MIXES = {
    "one type": ({"observationTypes": "highRtt"}, lambda m: "highRtt" in labels_of(m, "type")),
    "type, browser, low score": (
        {"observationTypes": "highRtt", "browser": "Chrome", "hasLowScore": "true"},
        lambda m: "highRtt" in labels_of(m, "type") and m["browser"] == "Chrome" and m["score"] == 40,
    ),
    "two types (a session with both once)": (
        {"observationTypes": "highRtt,cpuPressure"},
        lambda m: bool({"highRtt", "cpuPressure"} & labels_of(m, "type")),
    ),
    "a type and a tag": (
        {"observationTypes": "cpuPressure", "observationTags": "network"},
        lambda m: "cpuPressure" in labels_of(m, "type") and "network" in labels_of(m, "tag"),
    ),
    "two tags, high score": (
        {"observationTags": "cpu,network", "hasHighScore": "true"},
        lambda m: bool({"cpu", "network"} & labels_of(m, "tag")) and m["score"] == 90,
    ),
    "a type and a name (read from the sessions)": (
        {"observationTypes": "cpuPressure", "name": "call-1"},
        lambda m: "cpuPressure" in labels_of(m, "type") and m["title"].startswith("call-1"),
    ),
}


@pytest.fixture
def stored(app, auth, new_key, fake_analyzer):
    """COUNT sessions of the account (three a minute: created_at ties, ordered by id) newest first,
    and sessions of another account with the same labels, which no list of this one may show."""
    owner = account_id(app)
    made = []
    for n in range(COUNT):
        session = {**spec(n), "title": f"call-{n}"}
        created = T0 + dt.timedelta(minutes=n // 3)
        session["id"] = make_session(
            app, owner, analysed(session), file_name=f"call-{n}.txt", created_at=created
        )
        made.append(session)
    new_key("rtcstats:read", account="other")
    other = account_id(app, "other")
    for n in range(6):
        make_session(app, other, analysed(spec(0)), file_name=f"call-1{n}.txt", created_at=T0)
    return made[::-1]


def listed(client, auth, query: dict, limit: int, offset: int) -> tuple[list[str], int]:
    response = client.get(
        f"{API}/sessions", query_string={**query, "limit": limit, "offset": offset}, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    return [item["rtcstatsId"] for item in response.get_json()["data"]], int(
        response.headers["X-Total-Count"]
    )


@pytest.mark.parametrize("mix", MIXES)
def test_every_page_of_a_label_filtered_list(client, auth, stored, mix):
    """Both ends of the matches (offsets read from the oldest end too), past the end, ties."""
    query, selects = MIXES[mix]
    expected = [s["id"] for s in stored if selects(s)]
    assert 0 < len(expected) < COUNT
    for limit in (3, 10):
        for offset in range(len(expected) + 2):
            assert listed(client, auth, query, limit, offset) == (
                expected[offset : offset + limit],
                len(expected),
            ), (limit, offset)


def test_a_reanalysis_moves_the_session_between_label_lists(app, client, auth, stored):
    """The label rows' copies follow the session: analysed again with another browser and score, it
    leaves the Chrome low-score list of its type and joins the Firefox one."""
    query, selects = MIXES["type, browser, low score"]
    chrome = [s["id"] for s in stored if selects(s)]
    moved = chrome[0]
    firefox_query = {**query, "browser": "Firefox"}
    firefox = [s["id"] for s in stored if "highRtt" in labels_of(s, "type") and s["browser"] == "Firefox"]
    firefox = [i for i in firefox if next(s for s in stored if s["id"] == i)["score"] == 40]
    assert listed(client, auth, firefox_query, 50, 0) == (firefox, len(firefox))
    with app.app_context(), db.connection_context():
        row = Session.get(Session.rtcstats_id == moved)
        redone = {"browser": "Firefox", "score": 45, "observations": spec(0)["observations"]}
        service.store_analysis(row, analysed(redone), "test-2")
    assert listed(client, auth, query, 50, 0) == (chrome[1:], len(chrome) - 1)
    joined = [s["id"] for s in stored if s["id"] in firefox or s["id"] == moved]  # newest first
    assert listed(client, auth, firefox_query, 50, 0) == (joined, len(firefox) + 1)


def label_copies_as_sessions(database) -> list[tuple]:
    """Each label row's copied columns next to its session's (equal once filled)."""
    columns = ("created_at", *LABEL_COPIES)
    mine = ", ".join(f'l."{c}"' for c in columns)
    theirs = ", ".join(f's."{c}"' for c in columns)
    cursor = database.execute_sql(
        f"SELECT {mine}, {theirs} FROM rtcstats_session_label AS l "
        "JOIN rtcstats_session AS s ON s.id = l.session_id"
    )
    return [(row[: len(columns)], row[len(columns) :]) for row in cursor.fetchall()]


def test_migration_0003_fills_the_copies_and_replaces_the_label_index(app, client, auth, stored):
    """On a database made before 0003 (labels without the copied columns, 0002's index): the columns
    are added and filled from the sessions, and the new index replaces the old one."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as alter

    with app.app_context(), db.connection_context():
        database = db.obj
        database.execute_sql("DROP INDEX rtcstats_session_label_list")
        migrator = SchemaMigrator.from_database(database)
        alter(*(migrator.drop_column("rtcstats_session_label", c) for c in ("created_at", *LABEL_COPIES)))
        database.execute_sql(
            "CREATE INDEX rtcstats_session_label_account_id_kind_value_session_id "
            'ON rtcstats_session_label ("account_id", "kind", "value", "session_id")'
        )
        Migration.delete().where(Migration.plugin == "rtcstats", Migration.name.startswith("0003")).execute()
    with app.app_context():
        assert migrate(migration_packages(app)) == ["rtcstats:0003_label_list_index"]
    with app.app_context(), db.connection_context():
        database = db.obj
        pairs = label_copies_as_sessions(database)
        assert len(pairs) == SessionLabel.select().count() > COUNT
        assert all(mine == theirs for mine, theirs in pairs), [p for p in pairs if p[0] != p[1]][:3]
        indexes = {i.name: i.columns for i in database.get_indexes("rtcstats_session_label")}
        assert indexes["rtcstats_session_label_list"][:5] == [
            "account_id",
            "kind",
            "value",
            "created_at",
            "session_id",
        ]
        assert "rtcstats_session_label_account_id_kind_value_session_id" not in indexes
        if isinstance(database, PostgresqlDatabase):
            (definition,) = database.execute_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'rtcstats_session_label_list' "
                "AND schemaname = current_schema()"
            ).fetchone()
            assert "INCLUDE (browser, browser_version, os," in definition
    query, selects = MIXES["type, browser, low score"]
    expected = [s["id"] for s in stored if selects(s)]
    assert listed(client, auth, query, 50, 0) == (expected, len(expected))
