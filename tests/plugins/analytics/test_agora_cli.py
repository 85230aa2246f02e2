"""`mediaplane analytics appid`: the App ID an account's Agora-style requests name, made on first use,
replaceable; driven through click's CliRunner on the database of a test app, then used over HTTP."""

from __future__ import annotations

import os
import re
import time

import pytest
from click.testing import CliRunner

from core.cli import cli
from core.db import db
from tests.plugins.analytics.agora_support import analytics_config, assert_error, basic, make_key

APPID_RE = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def run(tmp_path, database_url, redis_url, monkeypatch):
    for name in list(os.environ):
        if name.startswith("MEDIAPLANE"):
            monkeypatch.delenv(name)
    env = {
        "MEDIAPLANE_CONFIG": None,
        "MEDIAPLANE__CORE__DATA_DIR": str(tmp_path / "data"),
        "MEDIAPLANE__CORE__DATABASE_URL": database_url,
        "MEDIAPLANE__CORE__REDIS_URL": redis_url,
    }

    def invoke(*args: str):
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        if db.obj is not None and hasattr(db.obj, "close_all"):
            db.obj.close_all()
        return result

    return invoke


def test_appid_is_made_once_shown_again_and_replaced(run, make_app):
    app = make_app(analytics_config())  # same data dir and database as the CLI: migrated, with the account
    token, key_id, secret = make_key(app)
    first = run("analytics", "appid", "--account", "acme")
    assert first.exit_code == 0, first.output
    appid = first.stdout.strip()
    assert APPID_RE.match(appid)
    assert run("analytics", "appid", "--account", "acme").stdout.strip() == appid

    now = int(time.time())
    query = {"start_ts": now - 600, "end_ts": now, "metric": "pcu", "appid": appid}
    client, auth = app.test_client(), basic(key_id, secret)
    assert client.get("/beta/live/scale/by_time", query_string=query, headers=auth).status_code == 200

    replaced = run("analytics", "appid", "--account", "acme", "--new")
    assert replaced.exit_code == 0, replaced.output
    new = replaced.stdout.strip()
    assert APPID_RE.match(new) and new != appid
    assert_error(client.get("/beta/live/scale/by_time", query_string=query, headers=auth), 403, "appid")
    query["appid"] = new
    assert client.get("/beta/live/scale/by_time", query_string=query, headers=auth).status_code == 200


def test_unknown_account_is_a_clean_error(run, make_app):
    make_app(analytics_config())
    result = run("analytics", "appid", "--account", "nobody")
    assert result.exit_code != 0
    assert "no account named 'nobody'" in result.output
