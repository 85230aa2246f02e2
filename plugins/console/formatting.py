"""Jinja filters of the console: times as people read them (UTC)."""

from __future__ import annotations

import datetime as dt
import math


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def clock_time(epoch_seconds) -> str:
    """Unix seconds as "2026-02-03 09:14:50 UTC"."""
    if not _finite(epoch_seconds):
        return "—"
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(text) -> str:
    """An ISO 8601 time as "2026-02-03 09:14 UTC" (unparseable text is shown as it is)."""
    if not isinstance(text, str) or not text:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(epoch_seconds, now: float) -> str:
    """How long before `now`: "12 s ago", "5 min ago", "3 h ago", else the date."""
    if not _finite(epoch_seconds):
        return "—"
    seconds = max(0, int(now - epoch_seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return clock_time(epoch_seconds)
