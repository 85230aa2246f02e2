"""Plugin manager facade: discovery, enabling, `requires` order, validation, what a disabled one lacks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.config import ConfigError, read_raw
from core.hookspecs import hookimpl
from core.plugins import Plugins
from tests.core import plugin_modules
from tests.core.gadget import plugin as gadget


def plugins_with(monkeypatch, *modules, **sections):
    plugin_modules.install(monkeypatch, *modules)
    raw = read_raw(overrides={"plugins": sections} if sections else None, environ={})
    return Plugins(raw.get("plugins"))


def test_builtin_report_is_enabled_by_default_and_third_party_is_not(monkeypatch):
    plugins = plugins_with(monkeypatch, gadget)
    # Built-ins are on by default (each engineer's plugin joins the list); a third-party one is not.
    assert {"analytics", "report", "rtcstats"} <= set(plugins.order)
    assert "gadget" not in plugins.order
    assert plugins.known["gadget"].source.startswith("entry point")
    assert plugins.known["gadget"].version == "9.9.9"


def test_requires_orders_plugins(monkeypatch):
    first = plugin_modules.plugin_module("zeta")
    second = plugin_modules.plugin_module("alpha", requires=["zeta"])
    plugins = plugins_with(monkeypatch, first, second, zeta={"enabled": True}, alpha={"enabled": True})
    assert plugins.order.index("zeta") < plugins.order.index("alpha")


def test_required_plugin_disabled_stops_startup(monkeypatch):
    needy = plugin_modules.plugin_module("needy", requires=["report"])
    with pytest.raises(
        ConfigError, match=r"plugins\.needy: requires plugin 'report'; set plugins\.report\.enabled"
    ):
        plugins_with(monkeypatch, needy, needy={"enabled": True}, report={"enabled": False})


def test_required_plugin_missing_stops_startup(monkeypatch):
    needy = plugin_modules.plugin_module("needy", requires=["ghost"])
    with pytest.raises(ConfigError, match="requires plugin 'ghost', which is not installed"):
        plugins_with(monkeypatch, needy, needy={"enabled": True})


def test_circular_requires_stops_startup(monkeypatch):
    a = plugin_modules.plugin_module("a", requires=["b"])
    b = plugin_modules.plugin_module("b", requires=["a"])
    with pytest.raises(ConfigError, match="circular requires"):
        plugins_with(monkeypatch, a, b, a={"enabled": True}, b={"enabled": True})


def test_misspelled_hook_is_caught_by_check_pending(monkeypatch):
    with pytest.raises(ConfigError, match=r"plugins\.typo: .*register_blueprintz"):
        plugins_with(monkeypatch, plugin_modules.misspelled_module(), typo={"enabled": True})


def test_hook_with_wrong_arguments_is_refused(monkeypatch):
    @hookimpl
    def check_environment(settings, surprise):
        return []

    bad = plugin_modules.plugin_module("bad", check_environment=check_environment)
    with pytest.raises(ConfigError, match=r"plugins\.bad: .*surprise"):
        plugins_with(monkeypatch, bad, bad={"enabled": True})


def test_name_clash_with_a_builtin_is_refused(monkeypatch):
    with pytest.raises(ConfigError, match="clashes"):
        plugins_with(monkeypatch, plugin_modules.plugin_module("report"))


def test_disabled_plugin_has_no_routes_jobs_schedules_tables_or_commands(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    from core.plugins import discover

    builtins = [name for name, info in discover().items() if info.source == "builtin"]
    app = make_app({"plugins": {name: {"enabled": False} for name in builtins}})
    state = app.extensions["mediaplane"]
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert not any(
        r.startswith(("/report", "/gadget", "/api/rtcstats", "/v1.0", "/v2/analytics")) for r in rules
    )
    assert state.jobs == {} and state.schedules == []
    from core.app import migration_packages

    with app.app_context():
        assert [owner for owner, _ in migration_packages(app)] == ["core"]
    from core.db import db

    with app.app_context(), db.connection_context():
        tables = db.get_tables()
    assert "core_account" in tables
    assert not any(t.startswith(tuple(f"{name}_" for name in [*builtins, "gadget"])) for t in tables)
    assert app.test_client().get("/report/rooms").status_code == 404


def test_enabled_third_party_plugin_gets_everything(make_app, monkeypatch):
    plugin_modules.install(monkeypatch, gadget)
    app = make_app({"plugins": {"gadget": {"enabled": True, "greeting": "hi"}}})
    state = app.extensions["mediaplane"]
    assert {"gadget", "report", "rtcstats"} <= set(state.plugins.order)
    assert state.plugins.settings("gadget")["greeting"] == "hi"
    assert "gadget.make_gadget" in state.jobs
    assert ("gadget.make_gadget", gadget.Schedule("make_gadget", 3600)) in state.schedules
    assert any(rule.rule == "/gadget/items" for rule in app.url_map.iter_rules())


def test_plugins_command_lists_versions_and_state(monkeypatch):
    from core.cli import cli

    plugin_modules.install(monkeypatch, gadget)
    result = CliRunner().invoke(cli, ["plugins"], env={"MEDIAPLANE__PLUGINS__GADGET__ENABLED": "true"})
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()}
    assert lines["gadget"][1:3] == ["9.9.9", "enabled"]
    assert lines["report"][1:3] == ["0.1.0", "enabled"]


def test_each_builtin_plugin_can_be_disabled_alone(make_app):
    """Hooks that one plugin implements for another (e.g. transcription's room_capabilities) are
    optional: disabling any single built-in plugin leaves the others starting."""
    from core.plugins import discover

    builtins = [name for name, info in discover().items() if info.source == "builtin"]
    for name in builtins:
        requiring = [other for other, info in discover().items() if name in info.requires]
        app = make_app({"plugins": {n: {"enabled": False} for n in [name, *requiring]}})
        assert not app.extensions["mediaplane"].plugins.is_enabled(name)
