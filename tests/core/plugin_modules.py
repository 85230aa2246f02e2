"""Small plugin modules for dependency and validation tests, loaded through fake entry points."""

from __future__ import annotations

from types import ModuleType

from core.hookspecs import hookimpl  # noqa: F401 - re-exported for tests


def plugin_module(name: str, requires=(), **functions) -> ModuleType:
    module = ModuleType(f"fake_{name}")
    module.INFO = {"name": name, "version": "1.0", "requires": list(requires)}
    for attr, fn in functions.items():
        setattr(module, attr, fn)
    return module


def misspelled_module() -> ModuleType:
    @hookimpl
    def register_blueprintz():
        return []

    return plugin_module("typo", register_blueprintz=register_blueprintz)


class FakeEntryPoint:
    def __init__(self, module: ModuleType):
        self.module = module
        self.value = f"{module.__name__}:plugin"

    def load(self):
        return self.module


def install(monkeypatch, *modules: ModuleType) -> None:
    """Make core.plugins.discover() find `modules` as third-party plugins."""
    points = [FakeEntryPoint(m) for m in modules]
    monkeypatch.setattr(
        "core.plugins.entry_points", lambda group: points if group == "mediaplane.plugins" else []
    )
