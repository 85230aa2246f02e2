"""`mediaplane rtcstats analyze | reprocess | grant-credits`."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from core.db import db
from plugins.rtcstats import analysis
from plugins.rtcstats.cli import rtcstats
from plugins.rtcstats.models import Session
from tests.plugins.rtcstats.fixtures import dump_path, truth
from tests.plugins.rtcstats.test_api_common import (
    API,
    FIREFOX,
    open_fixture,
    run_worker,
    upload,
)

# The shared fixtures (auth, fake_analyzer) live beside the helpers.
pytest_plugins = ("tests.plugins.rtcstats.test_api_common",)


@pytest.mark.parametrize(
    "name",
    [
        "jitsi_legacy_firefox-relay.jsonl",
        "internals_chrome144_p2p_audio_video.txt",
        "internals_chrome142_getusermedia_only.gz",
    ],
)
def test_analyze_prints_a_summary_offline(name):
    result = CliRunner().invoke(rtcstats, ["analyze", str(dump_path(name))])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"format                {truth(name)['format']}" in out
    assert f"peer connections      {truth(name)['pc_count']}" in out
    assert "experience score" in out and "observations" in out


def test_analyze_json_prints_the_whole_analysis():
    name = "jitsi_legacy_chrome-relay.jsonl"
    result = CliRunner().invoke(rtcstats, ["analyze", "--json", str(dump_path(name))])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["pConnectionsNumber"] == truth(name)["pc_count"]
    assert data["fileName"] == name and data["fileSize"] == dump_path(name).stat().st_size
    assert data["metadata"]["userId"] == "59e48073"


def test_analyze_names_the_problem_of_a_bad_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("these are not stats")
    result = CliRunner().invoke(rtcstats, ["analyze", str(bad)])
    assert result.exit_code == 1
    assert "notes.txt: not a webrtc-internals dump" in result.output
    missing = CliRunner().invoke(rtcstats, ["analyze", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2


def test_analyze_names_damaged_gzip_not_an_empty_file(tmp_path):
    data = dump_path("internals_chrome142_getusermedia_only.gz").read_bytes()
    cases = {
        "cut.gz": (data[: len(data) // 2], "truncated gzip"),
        "garbled.gz": (data[:10] + b"\xff" * 32 + data[42:], "damaged gzip stream"),
        "nothing.gz": (gzip.compress(b""), "the gzip stream is intact but the file inside it is empty"),
    }
    for name, (content, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        result = CliRunner().invoke(rtcstats, ["analyze", str(tmp_path / name)])
        assert result.exit_code == 1, result.output
        assert f"{name}: {words}" in result.output


@pytest.fixture
def cli_env(monkeypatch, tmp_path, database_url, redis_url):
    """The CLI builds its own app from the environment: point it at the test database and Redis."""
    monkeypatch.setenv("MEDIAPLANE__CORE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIAPLANE__CORE__DATABASE_URL", database_url)
    monkeypatch.setenv("MEDIAPLANE__CORE__REDIS_URL", redis_url)


def test_reprocess_queues_a_job_per_outdated_session(
    app, client, auth, fake_analyzer, monkeypatch, cli_env, new_key
):
    first = upload(client, auth, open_fixture(FIREFOX))
    second = upload(client, auth, open_fixture(FIREFOX))
    run_worker(app)
    new_key("rtcstats:read", account="globex")
    runner = CliRunner()
    assert runner.invoke(rtcstats, ["reprocess"]).output == "0 sessions queued for analyzer test-1\n"
    monkeypatch.setattr(analysis, "PROCESSOR_VERSION", "test-2")
    result = runner.invoke(rtcstats, ["reprocess", "--dry-run"])
    assert result.exit_code == 0 and result.output == "2 sessions would be queued for analyzer test-2\n"
    other = runner.invoke(rtcstats, ["reprocess", "--account", "globex"])
    assert other.output == "0 sessions queued for analyzer test-2\n"
    unknown = runner.invoke(rtcstats, ["reprocess", "--account", "nobody"])
    assert unknown.exit_code == 1 and "no account named 'nobody'" in unknown.output
    result = runner.invoke(rtcstats, ["reprocess", "--account", "acme"])
    assert result.output == "2 sessions queued for analyzer test-2\n"
    assert app.extensions["mediaplane"].redis.llen("rq:queue:rtcstats") == 2
    run_worker(app)
    with app.app_context(), db.connection_context():
        versions = {str(r.rtcstats_id): r.processor_version for r in Session.select()}
    assert versions == {first["rtcstatsId"]: "test-2", second["rtcstatsId"]: "test-2"}
    assert runner.invoke(rtcstats, ["reprocess"]).output == "0 sessions queued for analyzer test-2\n"


def test_grant_credits(app, client, auth, cli_env):
    result = CliRunner().invoke(rtcstats, ["grant-credits", "acme", "25"])
    assert result.exit_code == 0, result.output
    assert result.output == "acme: 1025 of 1025 credits left this month\n"
    assert client.get(f"{API}/quota", headers=auth).get_json()["allowedCredits"] == 1025
    assert CliRunner().invoke(rtcstats, ["grant-credits", "nobody", "1"]).exit_code == 1
