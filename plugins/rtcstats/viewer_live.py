"""The viewer of a live session: what its collector socket has received so far, refreshed until the
session is stored and analysed (then the ordinary viewer shows the analysis).

"So far" is the socket's spool file (a jitsi session's own), read up to its last whole line, closed
in memory with the close line a lost rtcstats#5.0 socket gets, then parsed and analysed as a stored
dump is. The collector only
appends to that file, so reading it never holds the socket up. The cost is bounded three ways:
one reading per session per `live_view_refresh_seconds` (cached in Redis, one reader at a time),
none above `analyze_inline_max_bytes`, and the parsing runs in a native thread under the gevent
worker, so that the worker's collector sockets are served meanwhile.

The spool file lives on the machine whose worker holds the socket: on another machine the page
shows the session's facts and says so.
"""

from __future__ import annotations

import json
import logging
import uuid

from flask import current_app
from redis.exceptions import RedisError

from plugins.rtcstats import service
from plugins.rtcstats.models import Session
from plugins.rtcstats.service.live import live_facts

log = logging.getLogger("rtcstats")

LOCK_SECONDS = 60  # a reader that died frees the session's reading after this long
CACHE_SECONDS = 600
CLOSE_LINE = b'["close",null,1006,0]'  # what the recovery of a lost socket adds (the call so far)


def _cache_key(rtcstats_id) -> str:
    return f"mediaplane:rtcstats:live:{rtcstats_id}"


def received_so_far(path, size: int, limits) -> tuple[dict, dict]:
    """(AnalyzeResponseData, viewer timeseries) of the first `size` bytes of a spool file. Pure:
    runs outside the app context, in a native thread.

    :raises DumpFormatError: not readable yet (no message line).
    """
    from plugins.rtcstats.analysis import analyze
    from plugins.rtcstats.analysis.metrics import compute_metrics
    from plugins.rtcstats.collector_dump import HEADER as V3_HEADER
    from plugins.rtcstats.parsing import parse
    from plugins.rtcstats.service.stored_analysis import _finite
    from plugins.rtcstats.viewer_series import timeseries_of

    with open(path, "rb") as file:
        data = file.read(size)
    data = data[: data.rfind(b"\n") + 1]  # a line being written is left for later
    if data.startswith(V3_HEADER):
        data += CLOSE_LINE  # a jitsi dump has no close line in its format
    dump = parse(data, limits)
    result = _finite(analyze(dump, file_name=path.name, file_size=len(data)))
    return result, timeseries_of(compute_metrics(dump))


def _off_the_event_loop(fn, *args):
    """Run CPU-heavy work of a page in a native thread when the worker is gevent's (its greenlets,
    among them the collector's sockets, keep running while it parses); else just call it."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of `serve`
        return fn(*args)
    if not monkey.is_module_patched("threading"):
        return fn(*args)
    return get_hub().threadpool.apply(fn, args)


def snapshot(row: Session, cfg: dict) -> tuple[dict | None, str | None]:
    """({data, timeseries, bytes} of what was received so far, or None; why not, or None).

    Read at most once per refresh period per session across workers; otherwise the cached reading.
    """
    from plugins.rtcstats.collector import spool_dir
    from plugins.rtcstats.collector_recovery import spool_name
    from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge

    redis = current_app.extensions["mediaplane"].redis
    key = _cache_key(row.rtcstats_id)
    try:
        cached = redis.get(key)
        # One reader per refresh period: whoever sets the lock reads, the others serve the cache.
        reader = redis.set(f"{key}:lock", 1, nx=True, ex=max(1, cfg["live_view_refresh_seconds"]))
    except RedisError as err:
        log.warning("live viewer: Redis unavailable: %s", err)
        return None, "what was received so far cannot be read now (Redis is unavailable)"
    cached = json.loads(cached) if cached else None
    if not reader:
        return cached, None if cached else "the first reading of this session is under way"
    path = spool_dir() / spool_name(row.account_id, uuid.UUID(str(row.rtcstats_id)).hex)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return (
            cached,
            None if cached else "its socket is served by another machine: the analysis follows its end",
        )
    if cached and cached["bytes"] == size:
        return cached, None
    if size > cfg["analyze_inline_max_bytes"]:
        return (
            cached,
            f"the dump has grown past {cfg['analyze_inline_max_bytes']} bytes: too large to read live",
        )
    try:
        data, series = _off_the_event_loop(received_so_far, path, size, service.limits(cfg))
    except (DumpFormatError, DumpTooLarge) as err:
        return cached, f"not readable yet: {err}"
    except FileNotFoundError:
        return cached, "the socket has just closed: the analysis follows"
    reading = {"data": data, "timeseries": series, "bytes": size}
    try:
        redis.set(key, json.dumps(reading, separators=(",", ":")), ex=CACHE_SECONDS)
    except RedisError:
        pass
    return reading, None


def live_session(row: Session, cfg: dict) -> tuple[dict, dict | None, dict]:
    """(the session in GET /sessions/{id}'s shape, its timeseries, the page's live block)."""
    from plugins.rtcstats.service.wire import iso

    facts = live_facts(row)
    reading, why_not = snapshot(row, cfg)
    data = dict(reading["data"]) if reading else {}
    if not reading:
        data["userAgentData"] = {k: facts.get(k) for k in ("browser", "browserVersion", "os", "osVersion")}
        data["callStart"] = facts.get("startedAt")
    data.update(title=row.title, fileName=row.file_name, created_at=iso(row.created_at))
    session = {"data": data, "rtcstatsId": str(row.rtcstats_id), "processorVersion": None}
    block = {
        **facts,
        "bytes": reading["bytes"] if reading else None,
        "unread": why_not,
        "refresh": cfg["live_view_refresh_seconds"],
    }
    return session, reading["timeseries"] if reading else None, block
