"""Every hookspec has a docstring and a test here named test_hook_<name>; gadget implements them."""

from __future__ import annotations

import functools
import gc
import inspect
import sys
import types
import weakref

import pytest
from rq import SimpleWorker

from core import events, hookspecs
from core.config import ConfigError
from core.db import db
from core.queue import enqueue, set_worker_app
from tests.core import plugin_modules
from tests.core.gadget import plugin as gadget

SPEC_MODULES = [
    hookspecs,
    events,
    "plugins.report.hookspecs",
    "plugins.rtcstats.hookspecs",
    "plugins.room.hookspecs",
]


def all_specs():
    import importlib

    for module in SPEC_MODULES:
        module = importlib.import_module(module) if isinstance(module, str) else module
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if hasattr(fn, "mediaplane_spec"):
                yield name, fn


def test_every_hookspec_has_a_docstring_and_a_test():
    tests = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    specs = dict(all_specs())
    assert len(specs) >= 18
    for name, fn in specs.items():
        assert (fn.__doc__ or "").strip(), f"hookspec {name} has no docstring"
        assert f"test_hook_{name}" in tests, f"hookspec {name} has no test_hook_{name}"


@pytest.fixture
def gadget_app(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    gadget.CALLS.clear()
    return make_app({"plugins": {"gadget": {"enabled": True, "greeting": "hi"}}})


def test_hook_register_config_schema(gadget_app):
    assert gadget_app.extensions["mediaplane"].plugins.settings("gadget") == {
        "enabled": True,
        "greeting": "hi",
        "fail_check": False,
    }


def test_hook_check_environment(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    gadget.CALLS.clear()
    make_app({"plugins": {"gadget": {"enabled": True}}})
    assert ("check_environment", "hello") in gadget.CALLS
    with pytest.raises(ConfigError, match="plugins.gadget: the gadget driver is missing"):
        make_app({"plugins": {"gadget": {"enabled": True, "fail_check": True}}})


def test_hook_register_models(gadget_app):
    plugins = gadget_app.extensions["mediaplane"].plugins
    models = dict(plugins.call_each("register_models"))
    assert [m.__name__ for m in models["gadget"]] == ["Gadget"]
    with gadget_app.app_context(), db.connection_context():
        for owner_models in models.values():
            for model in owner_models:
                assert model.table_exists(), model  # migrations created every registered table
                assert model._meta.table_name.startswith(f"{model.__module__.split('.')[-2]}_")


def test_hook_register_migrations(gadget_app):
    from core.db import Migration

    with gadget_app.app_context(), db.connection_context():
        names = [
            m.name for m in Migration.select().where(Migration.plugin == "gadget").order_by(Migration.id)
        ]
        assert names == ["0001_initial", "0002_colour"]
        columns = [c.name for c in db.get_columns("gadget_gadget")]
    assert "colour" in columns


def test_hook_register_blueprints(gadget_app):
    client = gadget_app.test_client()
    response = client.get("/gadget/items?size=3", headers={"X-Gadget-Account": "7"})
    assert response.status_code == 200
    assert response.get_json() == {"size": 3, "account_id": 7}
    assert "/gadget/items" in client.get("/openapi.json").get_json()["paths"]


def test_hook_register_jobs(gadget_app):
    with gadget_app.app_context():
        enqueue("gadget.make_gadget", "sprocket")
    set_worker_app(gadget_app)
    SimpleWorker(["default"], connection=gadget_app.extensions["mediaplane"].redis).work(burst=True)
    assert ("make_gadget", "sprocket") in gadget.CALLS


def test_hook_register_schedules(gadget_app):
    from core.queue import enqueue_due_schedules

    assert "gadget.make_gadget" in enqueue_due_schedules(gadget_app)
    assert "gadget.make_gadget" not in enqueue_due_schedules(gadget_app)


def test_hook_register_cli_commands(monkeypatch):
    from click.testing import CliRunner

    from core import cli

    plugin_modules.install(monkeypatch, gadget)
    monkeypatch.setenv("MEDIAPLANE__PLUGINS__GADGET__ENABLED", "true")
    result = CliRunner().invoke(cli.cli, ["gadget-hello"])
    assert result.exit_code == 0 and result.output == "hello from gadget\n"
    assert "gadget-hello" in CliRunner().invoke(cli.cli, ["--help"]).output

    # A disabled plugin has no commands.
    monkeypatch.setenv("MEDIAPLANE__PLUGINS__GADGET__ENABLED", "false")
    result = CliRunner().invoke(cli.cli, ["gadget-hello"])
    assert result.exit_code == 2 and "No such command 'gadget-hello'" in result.output
    assert "gadget-hello" not in CliRunner().invoke(cli.cli, ["--help"]).output


def test_hook_register_mcp_tools(gadget_app):
    tools = dict(gadget_app.extensions["mediaplane"].plugins.call_each("register_mcp_tools"))["gadget"]
    assert tools[0]["name"] == "count_gadgets"
    assert tools[0]["handler"]({}) == {"count": 0}


def test_hook_register_console_pages(gadget_app):
    client = gadget_app.test_client()
    # The gadget's pages are mounted by the console, behind the gadget's own scope and authentication.
    response = client.get("/console/gadget/gadgets", headers={"X-Gadget-Account": "4"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Gadgets of account 4" in page
    assert '<a href="/console/gadget/gadgets" aria-current="page">Gadgets</a>' in page  # in the navigation
    overview = client.get("/console/", headers={"X-Gadget-Account": "4"}).get_data(as_text=True)
    assert '<p id="gadget-card">account 4</p>' in overview
    assert client.get("/console/gadget/gadgets").status_code == 401


def test_without_the_console_nobody_mounts_console_pages(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    app = make_app({"plugins": {"gadget": {"enabled": True}, "console": {"enabled": False}}})
    assert "/console/gadget/gadgets" not in {r.rule for r in app.url_map.iter_rules()}


def test_hook_actor_from_request(gadget_app):
    client = gadget_app.test_client()
    assert client.get("/gadget/items?size=1").status_code == 401
    assert client.get("/gadget/items?size=1", headers={"X-Gadget-Account": "3"}).get_json()["account_id"] == 3


def test_hook_problem_from_exception(gadget_app):
    response = gadget_app.test_client().get("/gadget/items?size=9", headers={"X-Gadget-Account": "3"})
    assert response.status_code == 409
    assert response.get_json()["detail"] == "size 9 conflicts"


def test_hook_startup(gadget_app):
    assert ("startup", "mediaplane") in gadget.CALLS


def test_hook_shutdown(make_app, monkeypatch):
    registered = []
    monkeypatch.setattr("core.app.atexit.register", lambda fn, *a: registered.append(fn))
    plugin_modules.install(monkeypatch, gadget)
    gadget.CALLS.clear()
    make_app({"plugins": {"gadget": {"enabled": True}}})
    for fn in registered:
        fn()
    assert ("shutdown", "mediaplane") in gadget.CALLS


def test_the_exit_hook_does_not_keep_an_unused_app_alive(monkeypatch, tmp_path):
    """atexit holds the app weakly: an app nobody uses any more is freed with all it holds (the suite
    makes thousands; holding them grew one pytest process past 9 GB)."""
    from core.app import create_app
    from tests.conftest import REDIS_URL

    registered = []
    monkeypatch.setattr("core.app.atexit.register", lambda fn, *a: registered.append(fn))
    app = create_app(config={"core": {"data_dir": str(tmp_path), "redis_url": REDIS_URL}}, environ={})
    app_ref = weakref.ref(app)
    del app
    gc.collect()
    assert registered and app_ref() is None
    for fn in registered:
        fn()  # nothing left to shut down: no error


def test_hook_room_started(gadget_app):
    with gadget_app.app_context():
        events.fire("room_started", account_id=1, room_name="r1", started_at=0.0)
    assert ("room_started", "r1") in gadget.CALLS


def test_hook_room_finished(gadget_app):
    seen = []

    class Listener:
        @hookspecs.hookimpl
        def room_finished(self, account_id, room_name, finished_at):
            seen.append(room_name)

        @hookspecs.hookimpl
        def participant_joined(self, account_id, room_name, identity, joined_at):
            raise RuntimeError("a broken listener must not stop the others")

    gadget_app.extensions["mediaplane"].plugins.pm.register(Listener())
    with gadget_app.app_context():
        events.fire("room_finished", account_id=1, room_name="r2", finished_at=1.0)
        events.fire("participant_joined", account_id=1, room_name="r2", identity="i", joined_at=1.0)
    assert seen == ["r2"]


def test_hook_participant_joined(gadget_app):
    seen = []

    class Listener:
        @hookspecs.hookimpl
        def participant_joined(self, account_id, room_name, identity, joined_at):
            seen.append(identity)

    gadget_app.extensions["mediaplane"].plugins.pm.register(Listener())
    with gadget_app.app_context():
        events.fire("participant_joined", account_id=1, room_name="r", identity="alice", joined_at=1.0)
    assert seen == ["alice"]


def test_hook_participant_left(gadget_app):
    seen = []

    class Listener:
        @hookspecs.hookimpl
        def participant_left(self, account_id, room_name, identity, left_at):
            seen.append((identity, left_at))

    gadget_app.extensions["mediaplane"].plugins.pm.register(Listener())
    with gadget_app.app_context():
        events.fire("participant_left", account_id=1, room_name="r", identity="bob", left_at=2.0)
    assert seen == [("bob", 2.0)]


def _fired_to_listener(app, event: str, **kwargs) -> list[dict]:
    """Fire `event` with kwargs to a listener that takes every argument of its hookspec; what it got."""
    seen = []

    # pluggy reads a hookimpl's argument names from the unwrapped function: wrapping the spec gives
    # the listener exactly the spec's arguments.
    @functools.wraps(getattr(events, event))
    def record(**got):
        seen.append(got)

    app.extensions["mediaplane"].plugins.pm.register(
        types.SimpleNamespace(**{event: hookspecs.hookimpl(record)}), name=f"listener-{event}"
    )
    with app.app_context():
        events.fire(event, **kwargs)
    return seen


def test_hook_track_published(gadget_app):
    sent = dict(
        account_id=1,
        room_name="r",
        identity="alice",
        track_sid="TR_1",
        kind="audio",
        source="microphone",
        published_at=3.0,
    )
    assert _fired_to_listener(gadget_app, "track_published", **sent) == [sent]


def test_hook_ingress_started(gadget_app):
    sent = dict(account_id=1, room_name="r", ingress_id="IN_1", started_at=4.0)
    assert _fired_to_listener(gadget_app, "ingress_started", **sent) == [sent]


def test_hook_ingress_stopped(gadget_app):
    sent = dict(account_id=1, room_name="r", ingress_id="IN_1", stopped_at=5.0)
    assert _fired_to_listener(gadget_app, "ingress_stopped", **sent) == [sent]


def test_hook_egress_updated(gadget_app):
    sent = dict(
        account_id=1,
        room_name="r",
        egress_id="EG_1",
        status="EGRESS_ACTIVE",
        info={"egressId": "EG_1"},
        updated_at=6.0,
    )
    assert _fired_to_listener(gadget_app, "egress_updated", **sent) == [sent]


def test_hook_recording_started(gadget_app):
    sent = dict(account_id=1, room_name="r", recording_id="rec_1", egress_id="EG_1", started_at=7.0)
    assert _fired_to_listener(gadget_app, "recording_started", **sent) == [sent]


def test_hook_recording_stopped(gadget_app):
    sent = dict(
        account_id=1, room_name="r", recording_id="rec_1", egress_id="EG_1", stopped_at=8.0, status="complete"
    )
    assert _fired_to_listener(gadget_app, "recording_stopped", **sent) == [sent]


def test_hook_recording_ready(gadget_app):
    """Fired by the recording plugin once a recording's file is complete; the flow test asserts it is
    fired exactly once with the file's key, size and duration."""
    from tests.plugins.recording import test_flow

    sent = dict(
        account_id=1,
        room_name="r",
        recording_id="EG_1",
        file_key="recordings/1/r/x.mp4",
        size=1024,
        duration=60.0,
        ready_at=8.5,
    )
    assert _fired_to_listener(gadget_app, "recording_ready", **sent) == [sent]
    assert "recording_ready" in inspect.getsource(
        test_flow.test_a_recording_lands_in_s3_and_is_downloaded_and_deleted
    )


def test_hook_transcription_completed(gadget_app):
    sent = dict(account_id=1, transcription_id="tr_1", recording_id="rec_1", room_name="r", completed_at=9.0)
    assert _fired_to_listener(gadget_app, "transcription_completed", **sent) == [sent]


def test_hook_report_room_started():
    """Fired by report ingest; asserted in test_ingest.test_room_started_fires_once_then_again_after_idle."""
    from tests.plugins.report import test_ingest

    assert "report_room_started" in inspect.getsource(
        test_ingest.test_room_started_fires_once_then_again_after_idle
    )


def test_hook_report_room_idle():
    """Fired by report.mark_idle_rooms: covered by the same ingest test, which asserts the idle event."""
    from tests.plugins.report import test_ingest

    assert "report_room_idle" in inspect.getsource(
        test_ingest.test_room_started_fires_once_then_again_after_idle
    )


def test_hook_rtcstats_session_analyzed():
    """Fired after a stored analysis; asserted in tests/plugins/rtcstats (jobs and sessions tests)."""
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1] / "plugins" / "rtcstats"
    firing = [p.name for p in tests.glob("test_*.py") if "rtcstats_session_analyzed" in p.read_text()]
    assert firing, "no rtcstats test asserts the rtcstats_session_analyzed event"


def test_hook_room_capabilities(make_app):
    """Plugins add capabilities to GET /v1/health; a later answer wins over the contract's defaults."""
    app = make_app()

    class Transcription:
        @hookspecs.hookimpl
        def room_capabilities(self):
            return {"transcriptionLive": True, "transcriptionPost": False}

    class Quiet:
        @hookspecs.hookimpl
        def room_capabilities(self):
            return None

    pm = app.extensions["mediaplane"].plugins.pm
    before = app.test_client().get("/v1/health").get_json()["capabilities"]
    assert before == {"transcriptionLive": False, "transcriptionPost": False, "livekit": False}
    pm.register(Transcription())
    pm.register(Quiet())
    after = app.test_client().get("/v1/health").get_json()["capabilities"]
    assert after == {"transcriptionLive": True, "transcriptionPost": False, "livekit": False}
