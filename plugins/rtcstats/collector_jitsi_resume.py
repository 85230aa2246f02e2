"""Resuming a jitsi session whose socket broke (collector_jitsi.py; docs/rtcstats-collector.md).

`@jitsi/rtcstats` (trace-ws.js) reconnects after any close but its own 3001/3002, with backoff
(2^n s + up to 10 s, for at most 10 minutes), to `...?statsSessionId=<id>&isReconnect=true`. It keeps
every entry it traced (up to 1000) until the server's `{"type": "sn", "body": {"value": N}}` tells it
that entries up to sequence number N (the line's fifth element) arrived; on an `initial` sn it
resends the entries after N. So:

- while a socket is open, the collector acknowledges what it wrote every ACK_SECONDS (an sn whose
  state is not `initial`: the client drops those entries from its buffer and keeps room for what it
  may have to resend);
- a socket that broke (1006) or went idle (4008) leaves its sessions' files in the spool under their
  resumable names (collector_recovery.spool_name), unlocked, for `collector_reconnect_seconds`;
- a reconnect of the same account and statsSessionId locks that file, answers an `initial` sn with
  the last sequence number in it, and appends what the client resends, dropping entries with a
  sequence number not above it;
- a file not resumed within the window is stored by a timer of the worker that suspended it, or by
  the recovery sweep (after a restart), exactly as a lost socket's file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import orjson
import peewee
import redis
from flask import request

from plugins.rtcstats import service
from plugins.rtcstats.collector import (
    ABNORMAL,
    GOING_AWAY,
    IDLE,
    TOKEN_PARAM,
    TRY_LATER,
    Refused,
    release_database,
)
from plugins.rtcstats.collector_recovery import (
    SUFFIX,
    lock,
    recover_file,
    resumable_files,
    rtcstats_id_of,
    still_named,
)
from plugins.rtcstats.service import live

log = logging.getLogger("rtcstats")

# The client gives up on these two (its "conference left" and "dump error"); after any other close it
# reconnects. 3001 also refuses a reconnect that has nothing to resume.
RECONNECT_REFUSED, DUMP_ERROR = 3001, 3002
# A session is kept for its client's reconnect after these ends of its socket: a broken connection
# (also a worker killed or restarted: nothing ran) and a socket silent for the idle timeout (a network
# that dropped without a FIN). A close by the client with any code, and the collector's limits, end it.
# A worker that stops (1001, collector_handoff.py) keeps them too: its client reconnects to another.
RESUMABLE_CODES = (ABNORMAL, IDLE, GOING_AWAY)
NOTHING_TO_RESUME = "reconnect: this account has no session of that statsSessionId to resume"
ACK_SECONDS = 5.0  # how often an open socket tells its client what it wrote
ACK_STATE = "ack"  # the client only tells `initial` (resend) from any other state (drop from buffer)
FINALIZE_SLACK_SECONDS = 1.0  # the timer fires this long after the window, so the file is past it


def sequence_number(entry: list) -> int | None:
    """The client's sequence number of an entry line (trace-ws.js appends time, then it)."""
    value = entry[4] if len(entry) > 4 else None
    return value if type(value) is int else None


def sn_message(value: int, state: str) -> str:
    return orjson.dumps({"type": "sn", "body": {"value": value, "state": state}}).decode()


def reconnect_target() -> str | None:
    """The statsSessionId of a reconnect (`isReconnect=true`), else None. The id is in the query, or,
    when the endpoint ended in `?rtcstats-token=...`, in the query after the token's `/<meeting>?`."""
    if request.args.get("isReconnect") != "true":
        return None
    session_id = request.args.get("statsSessionId")
    if session_id is None:
        tail = request.args.get(TOKEN_PARAM, "").partition("?")[2]
        session_id = urllib.parse.parse_qs(tail).get("statsSessionId", [""])[0]
    return session_id


@dataclass
class Resumed:
    """A suspended session's spool file, locked by the socket that resumed it."""

    path: Path
    file: object  # unbuffered, read and write, positioned at its end
    last_sequence: int  # of its last line (0: none)
    messages: int  # lines after connectionInfo


def resume(spool: Path, account_id: int, session_id: str, window: int) -> Resumed:
    """Lock the newest resumable file of the account's statsSessionId.

    :raises Refused: TRY_LATER while a socket still holds it (its previous socket not yet seen to
        break: the client retries with backoff); RECONNECT_REFUSED when there is none (never seen,
        another account's, already stored, or past the window).
    """
    held = False
    cutoff = time.time() - window
    files = sorted(resumable_files(spool, account_id, session_id), key=_mtime, reverse=True)
    for path in files:
        try:
            file = open(path, "r+b", buffering=0)  # noqa: SIM115 - kept open by the resumed session
        except FileNotFoundError:
            continue
        if not lock(file):
            held = True
            file.close()
            continue
        if not still_named(file, path) or os.fstat(file.fileno()).st_mtime < cutoff:
            file.close()  # claimed by the recovery meanwhile, or past the window (the recovery's)
            continue
        os.utime(path)  # in use again: no sweep takes it while this socket lives
        last_sequence, messages = _read_back(file)
        return Resumed(path, file, last_sequence, messages)
    if held:
        raise Refused(TRY_LATER, "reconnect: the session is still held by its previous socket; retry")
    raise Refused(RECONNECT_REFUSED, NOTHING_TO_RESUME)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _read_back(file) -> tuple[int, int]:
    """Cut a line a dying worker half wrote; (the last line's sequence number, 0 if none; the entry
    lines). The whole file is read, in chunks: the lines are counted (one read per reconnect)."""
    file.seek(0)
    lines, whole, last_line, pending = 0, 0, b"", b""
    while chunk := file.read(1 << 20):
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue  # a line longer than the chunk
        complete, pending = pending[:cut], pending[cut + 1 :]
        lines += complete.count(b"\n") + 1
        whole += cut + 1
        last_line = complete.rpartition(b"\n")[2]
    if pending:
        file.truncate(whole)
    file.seek(0, os.SEEK_END)
    if lines <= 1:
        return 0, 0  # only connectionInfo
    try:
        entry = orjson.loads(last_line)
    except orjson.JSONDecodeError:
        return 0, lines - 1
    return (sequence_number(entry) or 0) if isinstance(entry, list) else 0, lines - 1


def plain_path(path: Path) -> Path:
    """A resumable spool file's name once its session is ended (no reconnect can find it)."""
    return path.with_name(path.name.split(".", 1)[0] + SUFFIX)


def _waiting_mark(path: Path) -> str | None:
    """The open-set member of a suspended session (its place, and its live row's mark)."""
    rtcstats_id = rtcstats_id_of(path)
    return f"resume/{rtcstats_id.hex}" if rtcstats_id is not None else None


def hold_places(places, account_id: int, paths: list[Path], window: int) -> None:
    """Each suspended session keeps one of the account's places for the window, under a mark of its
    own that its live row names (a live row without a mark is ended as lost: service/live.py
    fail_lost); a reconnect moves both to its socket (take_over)."""
    marks = {mark: path for path in paths if (mark := _waiting_mark(path)) is not None}
    with contextlib.suppress(redis.RedisError):
        places.conn.zadd(places.key, dict.fromkeys(marks, time.time() + window))
    for mark, path in marks.items():
        _rebind(account_id, path, mark)


def take_over(places, account_id: int, path: Path) -> None:
    """The resumed session's live row names the socket that now holds it, whose place it uses: its
    waiting mark goes."""
    _rebind(account_id, path, places.socket_id)
    mark = _waiting_mark(path)
    if mark is not None:
        with contextlib.suppress(redis.RedisError):
            places.conn.zrem(places.key, mark)


def _rebind(account_id: int, path: Path, mark: str) -> None:
    rtcstats_id = rtcstats_id_of(path)
    if rtcstats_id is None:
        return
    try:
        live.rebind(account_id, rtcstats_id, mark)
    except peewee.PeeweeException as err:
        log.warning("jitsi collector session %s: its live row keeps its previous mark: %s", rtcstats_id, err)
    finally:
        release_database()


def finalize_later(app, paths: list[Path], window: int) -> None:
    """After the window, store each suspended file not resumed meanwhile (in a timer of the Flask
    `app`: the socket's request ends now). A worker that stops before leaves them to the recovery
    sweep."""

    def finalize():
        with app.app_context():
            try:
                for path in paths:
                    recover_file(path, time.time() - window, service.store_collected)
            finally:
                release_database()

    timer = threading.Timer(window + FINALIZE_SLACK_SECONDS, finalize)
    timer.daemon = True
    timer.start()
