"""Plugin manager facade: discover plugins, validate their config, order them by `requires`."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

import plugins as builtin_plugins
from core import events, hookspecs
from core.config import ConfigError, PluginConfigSchema, load_section

ENTRY_POINT_GROUP = "mediaplane.plugins"
log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    name: str
    version: str
    description: str
    requires: list[str]
    module: ModuleType
    source: str
    enabled: bool = False
    settings: dict = field(default_factory=dict)


def _info_of(module: ModuleType, source: str) -> PluginInfo:
    info = getattr(module, "INFO", None)
    if not isinstance(info, dict) or "name" not in info:
        raise ConfigError(f"plugin module {module.__name__} has no INFO dict with a name")
    return PluginInfo(
        name=info["name"],
        version=str(info.get("version", "0")),
        description=info.get("description", ""),
        requires=list(info.get("requires", [])),
        module=module,
        source=source,
    )


def discover() -> dict[str, PluginInfo]:
    """Every plugin that could be enabled: built-ins under plugins/, then entry points."""
    found: dict[str, PluginInfo] = {}
    for mod in sorted(pkgutil.iter_modules(builtin_plugins.__path__), key=lambda m: m.name):
        if mod.ispkg and importlib.util.find_spec(f"plugins.{mod.name}.plugin"):
            info = _info_of(importlib.import_module(f"plugins.{mod.name}.plugin"), "builtin")
            found[info.name] = info
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        info = _info_of(ep.load(), f"entry point {ep.value}")
        if info.name in found:
            raise ConfigError(f"plugins.{info.name}: {info.source} clashes with {found[info.name].source}")
        found[info.name] = info
    return found


def _order(enabled: dict[str, PluginInfo], known: dict[str, PluginInfo]) -> list[str]:
    """Topological order by `requires`, alphabetical among equals; explains what is missing."""
    for info in enabled.values():
        for need in info.requires:
            if need not in known:
                raise ConfigError(f"plugins.{info.name}: requires plugin '{need}', which is not installed")
            if need not in enabled:
                raise ConfigError(
                    f"plugins.{info.name}: requires plugin '{need}'; set plugins.{need}.enabled = true"
                )
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: list[str]) -> None:
        if name in order:
            return
        if name in visiting:
            raise ConfigError(f"plugins.{name}: circular requires: {' -> '.join(chain + [name])}")
        visiting.add(name)
        for need in sorted(enabled[name].requires):
            visit(need, chain + [name])
        visiting.discard(name)
        order.append(name)

    for name in sorted(enabled):
        visit(name, [])
    return order


class Plugins:
    """The enabled plugins of one app, in dependency order, behind one pluggy manager."""

    def __init__(self, raw_plugins_config: dict[str, Any] | None, known: dict[str, PluginInfo] | None = None):
        raw = raw_plugins_config or {}
        self.known = discover() if known is None else known
        for name in raw:
            if name not in self.known:
                raise ConfigError(
                    f"plugins.{name}: unknown plugin (installed: {', '.join(sorted(self.known))})"
                )
        for info in self.known.values():
            schema_fn = getattr(info.module, "register_config_schema", None)
            schema_cls = schema_fn() if schema_fn else PluginConfigSchema
            info.settings = load_section(schema_cls(), raw.get(info.name), f"plugins.{info.name}")
            info.enabled = bool(info.settings.get("enabled"))
        enabled = {n: i for n, i in self.known.items() if i.enabled}
        self.order = _order(enabled, self.known)
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.add_hookspecs(events)
        for name in self.order:
            own_specs = self._own_hookspecs(self.known[name].module)
            if own_specs is not None:
                self.pm.add_hookspecs(own_specs)
        for name in self.order:
            try:
                self.pm.register(self.known[name].module, name=name)
            except pluggy.PluginValidationError as err:
                raise ConfigError(f"plugins.{name}: {' '.join(str(err).split())}") from None
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as err:
            raise ConfigError(
                f"plugins.{self.pm.get_name(err.plugin)}: {' '.join(str(err).split())}"
            ) from None

    @staticmethod
    def _own_hookspecs(module: ModuleType) -> ModuleType | None:
        package = module.__name__.rpartition(".")[0]
        if package and importlib.util.find_spec(f"{package}.hookspecs"):
            return importlib.import_module(f"{package}.hookspecs")
        return None

    def enabled(self) -> list[PluginInfo]:
        return [self.known[name] for name in self.order]

    def is_enabled(self, name: str) -> bool:
        return name in self.order

    def settings(self, name: str) -> dict:
        if name not in self.order:
            raise KeyError(f"plugin {name} is not enabled")
        return self.known[name].settings

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call one hook on every enabled plugin in dependency order: [(plugin name, result)].

        Plugins that do not implement the hook are skipped; None results are dropped.
        """
        out = []
        for name in self.order:
            result = self.call_one(name, hook_name, **kwargs)
            if result is not None:
                out.append((name, result))
        return out

    def call_one(self, name: str, hook_name: str, **kwargs) -> Any:
        """Call one plugin's implementation of a hook (None if it has none)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == name:
                return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        return None


def current_plugins() -> Plugins:
    from flask import current_app  # not at import: CLI commands discover plugins without flask

    return current_app.extensions["mediaplane"].plugins


def plugin_settings(name: str) -> dict:
    """The validated settings of plugin `name` in the current app."""
    return current_plugins().settings(name)
