"""GET /sessions paging at every offset (pages are read from whichever end of the matches is nearer), and
the list indexes that migration 0002 makes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from peewee import PostgresqlDatabase

from core.app import migration_packages
from core.db import Migration, db, migrate
from plugins.rtcstats.viewer_tokens import read_token
from tests.plugins.rtcstats.test_api_common import API, account_id, make_session

pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)

T0 = dt.datetime(2026, 3, 1, 9, 0, 0)
MATCHING = 18  # Chrome sessions of the account; 5 more are Firefox, 3 belong to another account


def analysed(browser: str) -> dict:
    return {"userAgentData": {"browser": browser}, "experienceScore": 70, "observations": []}


@pytest.fixture
def stored(app, auth, new_key):
    """The account's sessions newest first (as rtcstatsIds, all and Chrome only). Several share a
    created_at, so the order between them is the id's, in both directions."""
    owner = account_id(app)
    made = []
    for n in range(MATCHING + 5):
        browser = "Firefox" if n % 4 == 3 else "Chrome"
        created = T0 + dt.timedelta(minutes=n // 3)  # three sessions a minute: ties
        made.append((created, n, browser, make_session(app, owner, analysed(browser), created_at=created)))
    new_key("rtcstats:read", account="other")
    other = account_id(app, "other")
    for n in range(3):
        make_session(app, other, analysed("Chrome"), created_at=T0 + dt.timedelta(minutes=n))
    newest_first = sorted(made, key=lambda m: (m[0], m[1]), reverse=True)
    return {
        "all": [m[3] for m in newest_first],
        "Chrome": [m[3] for m in newest_first if m[2] == "Chrome"],
    }


def page(client, auth, limit: int, offset: int, **filters) -> tuple[list[str], int]:
    response = client.get(
        f"{API}/sessions", query_string={"limit": limit, "offset": offset, **filters}, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    return [item["rtcstatsId"] for item in response.get_json()["data"]], int(
        response.headers["X-Total-Count"]
    )


def test_every_page_is_the_slice_of_the_newest_first_order(client, auth, stored):
    """Deep offsets are read from the oldest end: every (limit, offset), filtered or not, must still
    give exactly that slice of the newest-first order, and nothing of the other account."""
    assert len(stored["Chrome"]) == MATCHING
    for limit in (1, 4, 10, 30):
        for offset in range(len(stored["all"]) + 2):
            ids, total = page(client, auth, limit, offset)
            assert (ids, total) == (stored["all"][offset : offset + limit], len(stored["all"])), (
                limit,
                offset,
            )
            ids, total = page(client, auth, limit, offset, browser="Chrome")
            assert (ids, total) == (stored["Chrome"][offset : offset + limit], MATCHING), (limit, offset)


def test_a_page_carries_one_viewer_token_per_session(app, client, auth, stored):
    """rtcstatsUrl and embedUrl of an item share its token (signed once); another item has its own."""
    items = client.get(f"{API}/sessions?limit=2", headers=auth).get_json()["data"]
    tokens = [{url.split("?token=")[1] for url in (i["rtcstatsUrl"], i["embedUrl"])} for i in items]
    assert [len(t) for t in tokens] == [1, 1] and tokens[0] != tokens[1]
    with app.app_context():
        payload = read_token(tokens[0].pop(), max_age=60)
    assert payload["a"] == account_id(app) and payload["s"] == items[0]["rtcstatsId"]


def list_indexes(database) -> dict[str, list[str]]:
    return {
        index.name: index.columns
        for table in ("rtcstats_session", "rtcstats_session_label")
        for index in database.get_indexes(table)
    }


def test_migration_0002_makes_the_list_indexes_and_drops_the_old_ones(app):
    """Also on a database made before 0002 (the old indexes present): they are replaced."""
    with app.app_context(), db.connection_context():
        database = db.obj
        database.execute_sql(
            "CREATE INDEX rtcstats_session_account_id_created_at "
            'ON rtcstats_session ("account_id", "created_at")'
        )
        database.execute_sql(
            "CREATE INDEX rtcstats_session_label_account_id_kind_value "
            'ON rtcstats_session_label ("account_id", "kind", "value")'
        )
        database.execute_sql("DROP INDEX rtcstats_session_list")
        Migration.delete().where(Migration.plugin == "rtcstats", Migration.name.startswith("0002")).execute()
    with app.app_context():
        assert migrate(migration_packages(app)) == ["rtcstats:0002_session_list_indexes"]
    with app.app_context(), db.connection_context():
        indexes = list_indexes(db.obj)
        assert indexes["rtcstats_session_list"][:3] == ["account_id", "created_at", "id"]
        assert indexes["rtcstats_session_label_account_id_kind_value_session_id"] == [
            "account_id",
            "kind",
            "value",
            "session_id",
        ]
        assert "rtcstats_session_account_id_created_at" not in indexes
        assert "rtcstats_session_label_account_id_kind_value" not in indexes
        if isinstance(db.obj, PostgresqlDatabase):
            (definition,) = db.obj.execute_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'rtcstats_session_list'"
            ).fetchone()
            assert "INCLUDE (browser, browser_version, os," in definition


def test_migration_0004_adds_the_narrow_order_index_on_postgresql(app):
    """The unfiltered list's count and offsets read (account_id, created_at, id) without the covered
    columns; on SQLite the list index is that already, and no second copy is made."""
    with app.app_context(), db.connection_context():
        indexes = list_indexes(db.obj)
        if isinstance(db.obj, PostgresqlDatabase):
            assert indexes["rtcstats_session_order"] == ["account_id", "created_at", "id"]
        else:
            assert "rtcstats_session_order" not in indexes
            assert indexes["rtcstats_session_list"] == ["account_id", "created_at", "id"]
