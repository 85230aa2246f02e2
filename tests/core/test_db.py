"""Database binding and per-plugin migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import pkgutil

import pytest

from core.app import migration_packages
from core.db import Migration, db, migrate, pending
from tests.core import broken_migrations


def every_migration(packages) -> list[str]:
    """ "<owner>:<module>" of every migration module of the enabled plugins, in the order they run
    (owners in dependency order, modules by name): enabling a plugin adds its own."""
    return [
        f"{owner}:{module.name}"
        for owner, package in packages
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
    ]


def test_migrations_are_recorded_per_plugin_and_run_once(app):
    with app.app_context():
        packages = migration_packages(app)
        assert pending(packages) == []
        assert migrate(packages) == []
        with db.connection_context():
            rows = {(m.plugin, m.name) for m in Migration.select()}
    assert rows == {tuple(name.split(":")) for name in every_migration(packages)}
    assert {("core", "0001_initial"), ("report", "0001_initial"), ("rtcstats", "0001_initial")} <= rows


def test_pending_lists_what_a_fresh_database_needs(make_app):
    app = make_app(migrated=False)
    with app.app_context():
        packages = migration_packages(app)
        everything = every_migration(packages)
        assert everything[0] == "core:0001_initial"
        assert {"report:0001_initial", "rtcstats:0001_initial"} <= set(everything)
        assert pending(packages) == everything
        assert migrate(packages) == everything
        assert pending(packages) == []


def test_a_failing_migration_rolls_back_and_keeps_history(app):
    packages = [("broken", broken_migrations)]
    with app.app_context():
        with pytest.raises(RuntimeError, match="migration bug"):
            migrate(packages)
        with db.connection_context():
            assert [m.name for m in Migration.select().where(Migration.plugin == "broken")] == ["0001_table"]
            tables = db.get_tables()
        assert "broken_thing" in tables
        assert "broken_other" not in tables
        assert pending(packages) == ["broken:0002_fails"]


def test_each_request_gets_a_connection_and_returns_it(app, client, headers):
    assert client.get("/report/rooms", headers=headers).status_code == 200
    assert db.is_closed()
