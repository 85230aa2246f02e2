"""The `mediaplane` command driven through click's CliRunner, on the same database as a test app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.db import db
from tests.conftest import EXAMPLE_REPORT

TOKEN_RE = re.compile(r"mpk_[0-9a-f]{16}\.[A-Za-z0-9_\-]{20,128}")


@pytest.fixture
def run(tmp_path, database_url, redis_url, monkeypatch):
    """run("keys", "list") -> click Result, with config only from MEDIAPLANE__* variables given here."""
    for name in list(os.environ):
        if name.startswith("MEDIAPLANE"):
            monkeypatch.delenv(name)
    base_env = {
        "MEDIAPLANE_CONFIG": None,  # None removes it for the invocation
        "MEDIAPLANE__CORE__DATA_DIR": str(tmp_path / "data"),
        "MEDIAPLANE__CORE__DATABASE_URL": database_url,
        "MEDIAPLANE__CORE__REDIS_URL": redis_url,
    }
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        result = runner.invoke(cli, list(args), env={**base_env, **(env or {})}, catch_exceptions=False)
        # every invocation builds an app with its own pool; give its connections back now
        if db.obj is not None and hasattr(db.obj, "close_all"):
            db.obj.close_all()
        return result

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(result, message: str) -> str:
    assert result.exit_code != 0, result.output
    assert message in result.output, result.output
    return result.output


def last_line(output: str) -> str:
    return output.rstrip("\n").split("\n")[-1]


def test_migrate_twice(run):
    first = ok(run("migrate"))
    assert "applied core:0001_initial" in first
    assert "applied report:0001_initial" in first
    assert ok(run("migrate")).strip() == "nothing to migrate"


def test_accounts_create_and_list(run):
    ok(run("migrate"))
    assert re.fullmatch(r"created account acme \(id \d+\)\n", ok(run("accounts", "create", "acme")))
    ok(run("accounts", "create", "globex"))
    lines = ok(run("accounts", "list")).splitlines()
    assert [line.split("\t")[1] for line in lines] == ["acme", "globex"]
    for line in lines:
        assert re.fullmatch(r"\d+\tacme|\d+\tglobex", line.rsplit("\t", 1)[0])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", line.rsplit("\t", 1)[1])


def test_duplicate_account_fails_clearly(run):
    ok(run("migrate"))
    ok(run("accounts", "create", "acme"))
    fails(run("accounts", "create", "acme"), "account 'acme' exists already")
    assert len(ok(run("accounts", "list")).splitlines()) == 1


def test_keys_create_prints_a_working_key_on_its_last_line(run, make_app):
    ok(run("migrate"))
    ok(run("accounts", "create", "acme"))
    output = ok(run("keys", "create", "--account", "acme", "--scopes", "report:ingest,report:read"))
    token = last_line(output)
    assert TOKEN_RE.fullmatch(token), output
    assert output.count(token) == 1
    assert "report:ingest report:read" in output
    client = make_app().test_client()
    headers = {"X-API-Key": token}
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers).status_code == 200
    rooms = client.get("/report/rooms", headers=headers)
    assert rooms.status_code == 200
    assert rooms.get_json()["data"] == ["room-1"]


def test_keys_list_never_prints_the_secret(run):
    ok(run("migrate"))
    ok(run("accounts", "create", "acme"))
    ok(run("accounts", "create", "globex"))
    created = run("keys", "create", "--account", "acme", "--scopes", "report:read", "--name", "sdk")
    token = last_line(ok(created))
    other = last_line(ok(run("keys", "create", "--account", "globex", "--scopes", "*")))
    key_id, secret = token.split(".", 1)
    listing = ok(run("keys", "list"))
    assert secret not in listing and other.split(".", 1)[1] not in listing
    lines = listing.splitlines()
    assert lines[0].split("\t") == [key_id, "acme", "report:read", "active", "sdk"]
    assert lines[1].split("\t")[:4] == [other.split(".", 1)[0], "globex", "*", "active"]
    only_acme = ok(run("keys", "list", "--account", "acme")).splitlines()
    assert [line.split("\t")[0] for line in only_acme] == [key_id]


def test_keys_revoke_makes_the_key_fail(run, make_app):
    ok(run("migrate"))
    ok(run("accounts", "create", "acme"))
    token = last_line(ok(run("keys", "create", "--account", "acme", "--scopes", "report:read")))
    key_id = token.split(".", 1)[0]
    client = make_app().test_client()
    assert client.get("/report/rooms", headers={"X-API-Key": token}).status_code == 200
    assert ok(run("keys", "revoke", key_id)).strip() == f"revoked {key_id}"
    response = client.get("/report/rooms", headers={"X-API-Key": token})
    assert response.status_code == 401
    assert response.get_json() == {"code": 401, "message": "invalid API key", "data": None}
    listing = ok(run("keys", "list"))
    assert re.search(rf"^{key_id}\tacme\treport:read\trevoked \d{{4}}-\d\d-\d\d\t", listing, re.M)
    fails(run("keys", "revoke", key_id), f"no active key '{key_id}'")
    fails(run("keys", "revoke", "mpk_0000000000000000"), "no active key 'mpk_0000000000000000'")


def test_keys_create_rejects_unknown_scope_and_account(run):
    ok(run("migrate"))
    ok(run("accounts", "create", "acme"))
    fails(
        run("keys", "create", "--account", "acme", "--scopes", "report:read,video:read"),
        "unknown scope 'video:read'",
    )
    fails(
        run("keys", "create", "--account", "acme", "--scopes", "report"),
        "scope 'report' is not of the form plugin:action",
    )
    fails(
        run("keys", "create", "--account", "nobody", "--scopes", "report:read"),
        "no account named 'nobody'",
    )
    assert ok(run("keys", "list")) == ""


def test_bootstrap_prints_an_admin_key_once(run, make_app):
    first = ok(run("bootstrap"))
    token = last_line(first)
    assert TOKEN_RE.fullmatch(token), first
    assert "created account 'default'" in first
    second = ok(run("bootstrap"))
    assert TOKEN_RE.search(second) is None
    assert "accounts exist already" in second
    assert [line.split("\t")[1] for line in ok(run("accounts", "list")).splitlines()] == ["default"]
    assert len(ok(run("keys", "list")).splitlines()) == 1
    client = make_app().test_client()
    headers = {"X-API-Key": token}
    assert client.post("/report/metrics", json=EXAMPLE_REPORT, headers=headers).status_code == 200
    assert client.get("/report/history/room-1", headers=headers).status_code == 200


def test_messages_name_a_runnable_command(run, monkeypatch):
    """`mediaplane` is printed only when that name runs this installation; else its absolute path."""
    script = Path(sys.executable).parent / "mediaplane"
    ok(run("bootstrap"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert f"create keys with: {script.absolute()} keys create --account NAME" in ok(run("bootstrap"))
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert "create keys with: mediaplane keys create --account NAME" in ok(run("bootstrap"))


@pytest.mark.parametrize(("log_level", "job_lines_shown"), [("INFO", False), ("DEBUG", True)])
def test_worker_logs_job_runs_only_when_debug_is_asked_for(
    make_app, database_url, redis_url, tmp_path, log_level, job_lines_shown
):
    from rq.job import Job

    from core.queue import enqueue

    app = make_app()
    with app.app_context():
        job = enqueue("report.purge_expired")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.update(
        MEDIAPLANE__CORE__DATA_DIR=str(tmp_path / "data"),
        MEDIAPLANE__CORE__DATABASE_URL=database_url,
        MEDIAPLANE__CORE__REDIS_URL=redis_url,
        MEDIAPLANE__CORE__LOG_LEVEL=log_level,
    )
    worker = subprocess.run(
        [str(Path(sys.executable).parent / "mediaplane"), "worker", "--burst"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    output = worker.stdout + worker.stderr
    assert Job.fetch(job.id, connection=app.extensions["mediaplane"].redis).get_status() == "finished"
    assert "worker serving queues" in output
    # RQ names each job it runs by id ("default: report.purge_expired (<id>)", "Job OK (<id>)").
    assert (job.id in output) is job_lines_shown, output
    # A scheduled purge that found nothing is routine too.
    assert ("purged {'snapshots': 0" in output) is job_lines_shown, output


def test_bootstrap_with_account_name(run):
    output = ok(run("bootstrap", "--account", "ops"))
    assert "created account 'ops'" in output
    assert "\tops\t*\tactive\tadmin (bootstrap)" in ok(run("keys", "list"))


def test_plugins_lists_report_enabled(run):
    output = ok(run("plugins"))
    assert re.search(r"^report\s+0\.1\.0\s+enabled\s+builtin$", output, re.M), output


def test_plugins_shows_a_disabled_plugin(run):
    output = ok(run("plugins", env={"MEDIAPLANE__PLUGINS__REPORT__ENABLED": "false"}))
    assert re.search(r"^report\s+\S+\s+disabled\s", output, re.M), output


def test_config_reference_is_markdown(run):
    output = ok(run("config-reference"))
    assert output.startswith("# Configuration reference\n")
    assert "## `[core]`" in output
    assert "## `[core.server]`" in output
    assert "## `[plugins.report]`" in output
    assert "| setting | type | default | meaning |" in output
    assert "| `port` | int | `8180` |" in output
    assert "| `live_window_seconds` | int | `120` |" in output


@pytest.mark.parametrize("command", [("migrate",), ("accounts", "list"), ("bootstrap",)])
def test_bad_setting_names_its_dotted_key(run, command):
    result = run(*command, env={"MEDIAPLANE__CORE__SERVER__PORT": "notaport"})
    output = fails(result, "core.server.port")
    assert "configuration:" in output
    assert "Traceback" not in output


# An example command line for every command; the test below fails when a command is missing here.
EVERY_COMMAND = {
    ("serve",): ("--port", "8999"),
    ("worker",): ("--burst",),
    ("migrate",): (),
    ("plugins",): (),
    ("accounts", "create"): ("acme",),
    ("accounts", "list"): (),
    ("keys", "create"): ("--account", "acme", "--scopes", "report:ingest"),
    ("keys", "list"): (),
    ("keys", "revoke"): ("mpk_0000000000000000",),
    ("bootstrap",): (),
    ("config-reference",): (),
    ("rtcstats", "analyze"): (__file__,),
    ("rtcstats", "compiled"): (),
    ("rtcstats", "reprocess"): ("--dry-run",),
    ("rtcstats", "grant-credits"): ("acme", "5"),
    ("analytics", "appid"): ("--account", "acme"),
    ("transcribe-live",): (),
}


def command_paths(group, ctx, prefix=()) -> set[tuple[str, ...]]:
    """Every leaf command under `group` (plugin commands included), as name paths."""
    paths = set()
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths |= command_paths(command, ctx, prefix + (name,))
        else:
            paths.add(prefix + (name,))
    return paths


def test_every_command_is_checked_below(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MEDIAPLANE"):
            monkeypatch.delenv(name)
    assert command_paths(cli, click.Context(cli, info_name="mediaplane")) == set(EVERY_COMMAND)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("MEDIAPLANE__CORE__SERVER__PORT=notaport", "core.server.port: Not a valid integer."),
        (
            "MEDIAPLANE__PLUGINS__REPORT__HISTORY_DEFAULT_LIMIT=5000",
            "plugins.report.history_default_limit: must not exceed history_max_limit",
        ),
        ("MEDIAPLANE__PLUGINS__NOPE__ENABLED=true", "plugins.nope: unknown plugin"),
    ],
)
def test_every_command_refuses_a_bad_setting_alike(run, setting, message):
    name, value = setting.split("=")
    for path, args in [*EVERY_COMMAND.items(), ((), ("--help",))]:
        result = run(*path, *args, env={name: value})
        assert result.exit_code == 1, (path, result.output)
        # Nothing but the one line: the command did not start its work.
        assert result.stdout == "", (path, result.stdout)
        assert result.stderr.startswith(f"Error: configuration: {message}"), (path, result.stderr)
        assert result.stderr.count("\n") == 1, (path, result.stderr)


def test_version_needs_no_configuration(run):
    from core import __version__

    result = run("--version", env={"MEDIAPLANE__CORE__SERVER__PORT": "notaport"})
    assert ok(result) == f"mediaplane, version {__version__}\n"


def test_unknown_setting_names_its_dotted_key(run):
    result = run("migrate", env={"MEDIAPLANE__CORE__BOGUS": "1"})
    fails(result, "core.bogus")


def test_out_of_range_setting(run):
    fails(run("accounts", "list", env={"MEDIAPLANE__CORE__SERVER__PORT": "70000"}), "core.server.port")


def test_unknown_plugin_setting_for_plugins_command(run):
    result = run("plugins", env={"MEDIAPLANE__PLUGINS__REPORT__BOGUS": "1"})
    fails(result, "plugins.report.bogus")


def test_mediaplane_config_file_is_read(run, tmp_path):
    config = tmp_path / "extra.toml"
    config.write_text("[core.server]\nport = 'notaport'\n")
    fails(run("migrate", env={"MEDIAPLANE_CONFIG": str(config)}), "core.server.port")
    fails(run("migrate", env={"MEDIAPLANE_CONFIG": str(tmp_path / "missing.toml")}), "does not exist")
