"""Collector dumps left in the spool by a worker that died or restarted mid-socket: finished and stored.

A spool file is `<account id>-<session id as hex>.rtcstats` (the id of the socket's live session).
While its socket is open it is written at least every idle timeout (else the socket is closed); so
a file untouched for twice that long has no socket left. Such a file is claimed by renaming it
(only one process wins a rename), cut back to its last whole line (the worker may have died
mid-write), given the close line of a broken connection (1006) unless it has one (its worker
finished it but could not store it), and stored like any collected dump: its live session, if
listed, becomes that stored session. A jitsi dump (collector_jitsi.py, one file per
statsSessionId) is only cut back: its format has no close line.

A jitsi session whose socket broke may still be resumed by its client's reconnect: while it may,
its file is named `<account id>-<hex>.<statsSessionId>.rtcstats` (a resumable name), and such a file
is an orphan only once untouched for the reconnect window too. Whoever takes a spool file (a socket
resuming it, or a claim here) holds an exclusive `flock` on it first, so that a resume and a claim
cannot both win.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from pathlib import Path

from plugins.rtcstats import metrics
from plugins.rtcstats.collector_dump import HEADER as V3_HEADER

log = logging.getLogger("rtcstats")

SUFFIX = ".rtcstats"
CLAIMED = ".recovering"
ABNORMAL = 1006
TAIL_BYTES = 64 * 1024


def spool_name(account_id: int, token: str, stats_session_id: str | None = None) -> str:
    """A spool file's name; with a jitsi statsSessionId, the resumable name of that session."""
    if stats_session_id is None:
        return f"{account_id}-{token}{SUFFIX}"
    return f"{account_id}-{token}.{stats_session_id}{SUFFIX}"


def is_resumable(path: Path) -> bool:
    """Named after a jitsi statsSessionId that its client may still resume (spool_name)."""
    return path.suffix == SUFFIX and path.name.count(".") == 2


def resumable_files(spool: Path, account_id: int, stats_session_id: str) -> list[Path]:
    """The account's spool files of that statsSessionId (the id is of [A-Za-z0-9_-]: no glob pattern)."""
    return sorted(spool.glob(f"{account_id}-*.{stats_session_id}{SUFFIX}"))


def lock(file) -> bool:
    """Take the exclusive lock of an open spool file without waiting; False: another holds it."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def still_named(file, path: Path) -> bool:
    """The open file is still the one at `path` (not renamed away by a claim meanwhile)."""
    try:
        return os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return False


def rtcstats_id_of(path: Path) -> uuid.UUID | None:
    """The session id a spool file is named after (the socket's live session), if it names one."""
    token = path.name.split(".", 1)[0].split("-", 1)[-1]
    try:
        return uuid.UUID(hex=token)
    except ValueError:
        return None


def _account_of(path: Path) -> int | None:
    head = path.name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def cutoff_of(path: Path, idle_seconds: int, resume_seconds: int, now: float | None = None) -> float:
    """The time before which a spool file untouched has no socket left: twice the idle timeout, and
    for a resumable jitsi session also the reconnect window."""
    wait = 2 * idle_seconds
    if is_resumable(path):
        wait = max(wait, resume_seconds)
    return (now or time.time()) - wait


def orphans(spool: Path, idle_seconds: int, resume_seconds: int = 0, now: float | None = None) -> list[Path]:
    """Spool files (unclaimed or claimed by a process that died) untouched for twice the idle timeout
    (a resumable jitsi one: and for the reconnect window)."""
    found = []
    for path in spool.glob("*"):
        if path.suffix not in (SUFFIX, CLAIMED):
            continue
        try:
            if path.stat().st_mtime < cutoff_of(path, idle_seconds, resume_seconds, now):
                found.append(path)
        except FileNotFoundError:
            continue  # finished or claimed meanwhile
    return sorted(found)


def _claim(path: Path, cutoff: float) -> Path | None:
    """Rename an orphan to claim it, under its lock and only if still untouched since `cutoff` (a
    socket may have resumed it since it was listed); None when another took it first."""
    claimed = path.with_suffix(CLAIMED)
    if path.suffix == CLAIMED:
        # A claim older than the cutoff: its process died while storing. Renew the claim's time so
        # that one process retries it, not every sweeper at once.
        claimed = path.with_suffix(f".{os.getpid()}{CLAIMED}")
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below, after the rename
    except FileNotFoundError:
        return None  # another process claimed it first
    with file:
        if not lock(file) or not still_named(file, path) or os.fstat(file.fileno()).st_mtime >= cutoff:
            return None  # a socket holds or resumed it, or another process claimed it
        path.rename(claimed)
    os.utime(claimed)
    return claimed


def finish_file(path: Path) -> int:
    """Cut a partial last line; the number of message lines. A v3 dump (rtcstats#5.0) also gets the
    1006 close line unless it has one; a jitsi dump (collector_jitsi.py) has no close line in its format.
    """
    v3 = _is_v3(path)
    with open(path, "r+b") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - TAIL_BYTES))
        tail = file.read()
        if not tail.endswith(b"\n"):
            last_newline = tail.rfind(b"\n")
            start = max(0, size - TAIL_BYTES)
            last_line = tail[last_newline + 1 :]
            if v3 and last_line.startswith(b'["close",null,'):
                return _count_lines(path) - 3  # finished by its worker; the close line is no message
            file.truncate(start + last_newline + 1 if last_newline >= 0 else 0)
        if not v3:
            return _count_lines(path) - 1  # after the connectionInfo line
        file.seek(0, os.SEEK_END)
        file.write(json.dumps(["close", None, ABNORMAL, 0]).encode())
    return _count_lines(path) - 3  # after the header and metadata, without the close line


def _is_v3(path: Path) -> bool:
    """A v3 dump (rtcstats#5.0), else a jitsi one (collector_jitsi.py): told by the first line."""
    with open(path, "rb") as file:
        return file.read(len(V3_HEADER)) == V3_HEADER


def _count_lines(path: Path) -> int:
    with open(path, "rb") as file:
        return sum(1 for _ in file)


def recover(spool: Path, idle_seconds: int, store, resume_seconds: int = 0) -> list[str]:
    """Store every orphaned spool file with `store(account_id, file, size, rtcstats_id=...) -> id`
    (the socket's live session, finalized); the stored ids (counted in the collector's metrics as
    `recovered`, by protocol). `resume_seconds`: the jitsi reconnect window.

    A file that fails to store is put back for a later sweep; one with no message is deleted.
    """
    stored = []
    for path in orphans(spool, idle_seconds, resume_seconds):
        rtcstats_id = recover_file(path, cutoff_of(path, idle_seconds, resume_seconds), store)
        if rtcstats_id is not None:
            stored.append(str(rtcstats_id))
    return stored


def recover_file(path: Path, cutoff: float, store) -> uuid.UUID | None:
    """Claim one spool file untouched since `cutoff`, finish and store it (recover); the stored
    session's id, or None (claimed by another, resumed, empty, or failed to store: kept)."""
    account_id = _account_of(path)
    claimed = _claim(path, cutoff)
    if claimed is None:
        return None
    if account_id is None:
        log.warning("collector spool file %s names no account; left alone", claimed.name)
        return None
    try:
        messages = finish_file(claimed)
        if messages <= 0:
            claimed.unlink(missing_ok=True)
            return None
        with open(claimed, "rb") as file:
            rtcstats_id = store(account_id, file, claimed.stat().st_size, rtcstats_id=rtcstats_id_of(claimed))
    except Exception:  # noqa: BLE001 - storage / database down: a later sweep retries
        log.exception("collector spool file %s could not be recovered; kept", claimed.name)
        return None
    protocol = "rtcstats" if _is_v3(claimed) else "jitsi"
    claimed.unlink(missing_ok=True)
    metrics.COLLECTOR_SESSIONS.inc(protocol=protocol, how="recovered")
    log.info("collector dump %s of a lost socket stored as session %s", claimed.name, rtcstats_id)
    return rtcstats_id
