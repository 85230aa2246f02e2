"""The rtcstats settings, the app's object storage, the parser's limits and the analyzer's version."""

from __future__ import annotations

from core.plugins import plugin_settings
from plugins.rtcstats.parsing import Limits


def settings() -> dict:
    return plugin_settings("rtcstats")


def object_storage():
    # The app's object storage (the core offers no accessor outside Flask's current_app).
    from flask import current_app

    return current_app.extensions["mediaplane"].storage


def limits(cfg: dict | None = None) -> Limits:
    cfg = cfg or settings()
    return Limits(cfg["max_uncompressed_bytes"], cfg["max_compression_ratio"])


def processor_version() -> str:
    from plugins.rtcstats.analysis import PROCESSOR_VERSION

    return PROCESSOR_VERSION


def dump_key(account_id: int, rtcstats_id) -> str:
    return f"rtcstats/{account_id}/dumps/{rtcstats_id}"
