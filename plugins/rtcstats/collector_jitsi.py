"""The jitsi rtcstats protocol (npm `@jitsi/rtcstats`, subprotocol `3.1_STANDARD`) on the collector endpoint.

A jitsi socket carries JSON objects `{"statsSessionId", "type", "data"}`, and one socket may carry
several sessions. Each statsSessionId becomes a dump of its own, in the line format jitsi's
rtcstats-server writes and parsing/legacy.py (and jitsi's feature extractor) read::

    ["connectionInfo", null, {"path", "origin", "url", "userAgent", "clientProtocol", "statsFormat",
     "clientType"}, <ms since the epoch>]
    <every identity and stats-entry line of that session, as the client sent it>

`identity` carries the line as an array, `stats-entry` as a JSON string (an array is taken too);
`keepalive` writes nothing and keeps the session and socket alive; `close` ends that session: its dump
is stored and analysed while the socket goes on. The socket's end (closed by the client or a limit)
ends all its sessions; a socket that broke or went idle leaves them for its client's reconnect
(`isReconnect=true`) within `collector_reconnect_seconds` (collector_jitsi_resume.py). The client sends
nothing until the server's first message, `{"type": "sn", "body": {"value": <the last sequence number
stored>, "state": "initial"}}` (0 for a new socket).

Limits are the collector's (docs/rtcstats-collector.md): bytes per session, messages per second per
session (a socket with N sessions may send N times the rate), the idle timeout per socket and per
session, and the account's open places, where a socket with N sessions takes N.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid

import orjson
import peewee
from flask import current_app, request
from simple_websocket import Server

from plugins.rtcstats import collector, collector_jitsi_resume, metrics, service
from plugins.rtcstats.collector import (
    ABNORMAL,
    BURST_SECONDS,
    IDLE,
    METRICS_FLUSH_SECONDS,
    NORMAL,
    RATE_LIMITED,
    SESSION_TOO_LARGE,
    TOKEN_PARAM,
    OpenSessions,
    RateLimit,
    Refused,
    close_socket,
    release_database,
    spool_dir,
)
from plugins.rtcstats.collector_dump import DumpWriter, parsed_line
from plugins.rtcstats.collector_jitsi_resume import (
    ACK_SECONDS,
    ACK_STATE,
    RECONNECT_REFUSED,
    RESUMABLE_CODES,
    plain_path,
    reconnect_target,
    sequence_number,
    sn_message,
)
from plugins.rtcstats.collector_recovery import lock, rtcstats_id_of, spool_name
from plugins.rtcstats.service import live

log = logging.getLogger("rtcstats")

# What the browser client offers: `<iteration>_STANDARD` (or `_LEGACY` when told to use legacy stats).
BROWSER_PROTOCOL = re.compile(r"\d+(?:\.\d+)*_(?:STANDARD|LEGACY)")
# jitsi's backend services speak the same envelope, but their entries are not WebRTC dumps.
BACKEND_PROTOCOL = re.compile(r"JVB|JICOFO|JIGASI|JIBRI")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]+")
WRITTEN_TYPES = ("identity", "stats-entry")
METRICS_PROTOCOL = "jitsi"  # the `protocol` label of the collector's metrics
SESSION_CHECK_SECONDS = 1.0  # how often the sessions of a busy socket are looked at for idling

# Close codes of this protocol (the collector's others apply too). The client gives up on 3001
# (its "conference left" code) and reconnects after any other.
UNSUPPORTED, BAD_SESSION_ID = 1003, 1007
CLOSE_CODES = {
    RECONNECT_REFUSED: "isReconnect=true with no session of the account to resume (unknown, stored, or "
    "past collector_reconnect_seconds)",
    UNSUPPORTED: "a jitsi backend client (JVB, Jicofo, Jigasi, Jibri): its entries are not WebRTC dumps",
    BAD_SESSION_ID: "a statsSessionId missing, not a string, or not 1 to collector_max_session_id_chars "
    "of [A-Za-z0-9_-]",
}
# The `reason` label of a server-side close or refusal (metrics.COLLECTOR_CLOSES); a socket the client
# ended is `client`, or collector.CLIENT_REASONS' (its own close code is not ours: 3001 is its normal leave).
CLOSE_REASONS = {
    **collector.CLOSE_REASONS,
    RECONNECT_REFUSED: "reconnect_refused",
    UNSUPPORTED: "unsupported_client",
    BAD_SESSION_ID: "bad_session_id",
}


def offered_protocol(header: str | None) -> str | None:
    """The jitsi subprotocol of a handshake's Sec-WebSocket-Protocol, if it offers one."""
    for name in (header or "").split(","):
        name = name.strip()
        if BROWSER_PROTOCOL.fullmatch(name) or BACKEND_PROTOCOL.search(name):
            return name
    return None


def refusal(protocol: str) -> Refused | None:
    """Why a jitsi socket is refused before its first message, if it is."""
    if BACKEND_PROTOCOL.search(protocol) and not BROWSER_PROTOCOL.fullmatch(protocol):
        return Refused(UNSUPPORTED, CLOSE_CODES[UNSUPPORTED])
    return None


def meeting_path() -> str:
    """The path the client appended to the endpoint (`/<meetingFqn>`): from the route, or, when the
    endpoint ended in `?rtcstats-token=...`, from what follows the token's first `/`."""
    meeting = (request.view_args or {}).get("meeting")
    if meeting is None:
        tail = request.args.get(TOKEN_PARAM, "").partition("/")[2]
        meeting = tail.partition("?")[0]
    return "/" + meeting


def stats_format(user_agent: str) -> str:
    """The `statsFormat` jitsi's server derives from the browser (its values)."""
    if "Firefox/" in user_agent:
        return "firefox"
    if user_agent.startswith("react-native") or re.search(r"Chrom(e|ium)/|Edg/|Electron/", user_agent):
        return "chrome_standard"
    if "Safari/" in user_agent:
        return "safari"
    return "unsupported"


def connection_info(protocol: str) -> dict:
    """connectionInfo as jitsi's server writes it (no credentials: the token is not in `path`)."""
    origin = request.headers.get("Origin", "")
    user_agent = request.headers.get("User-Agent", "")
    path = meeting_path()
    return {
        "path": path,
        "origin": origin,
        "url": origin + path,
        "userAgent": user_agent,
        "clientProtocol": protocol,
        "statsFormat": stats_format(user_agent),
        "clientType": "RTCSTATS_CLIENT",
    }


class JitsiDumpWriter(DumpWriter):
    """A jitsi dump: a connectionInfo line first, no close line (jitsi's format has none). Its file has
    a resumable name and is locked while a socket holds it (collector_recovery.py)."""

    def __init__(self, path, metadata: dict):
        super().__init__(path, metadata)
        lock(self.file)  # a new name: nobody else has it open

    @classmethod
    def reopened(cls, resumed: collector_jitsi_resume.Resumed) -> JitsiDumpWriter:
        """The writer of a resumed session's file (locked, at its end)."""
        writer = cls.__new__(cls)
        writer.path, writer.file = resumed.path, resumed.file
        writer.size = resumed.file.seek(0, os.SEEK_END)
        writer.messages = resumed.messages
        writer.last_message = time.time()
        return writer

    def head(self, metadata: dict) -> bytes:
        return orjson.dumps(["connectionInfo", None, metadata, round(time.time() * 1000)]) + b"\n"

    def finish(self, code: int) -> None:
        """Ended: renamed out of reach of a reconnect while still locked, then closed."""
        final = plain_path(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path, final)
            self.path = final
        self.file.close()

    def suspend(self) -> None:
        """Left for a reconnect: the window counts from now; closing the file unlocks it."""
        with contextlib.suppress(OSError):
            os.utime(self.path)
        self.file.close()


class Session:
    """One statsSessionId of a socket: its dump, when it was last heard of and, when resumed, the
    sequence number up to which the client's resent entries are already in the dump."""

    __slots__ = ("session_id", "writer", "heard", "extra_place", "floor")

    def __init__(self, session_id: str, writer: JitsiDumpWriter, extra_place: str | None, floor: int = 0):
        self.session_id = session_id
        self.writer = writer
        self.heard = time.monotonic()
        self.extra_place = extra_place  # its mark in OpenSessions beyond the socket's own
        self.floor = floor


def _file_name(session: Session) -> str:
    """A jitsi session's file name: `collector-<UTC time>-<statsSessionId>.jsonl`."""
    return f"collector-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{session.session_id}.jsonl"


def entry_line(kind: str, data) -> bytes | None:
    """The dump line of an identity or stats-entry's data (None: not a JSON array, dropped)."""
    entry = entry_of(kind, data)
    return entry[0] if entry is not None else None


def entry_of(kind: str, data) -> tuple[bytes, int | None] | None:
    """(entry_line, its sequence number if it has one), or None."""
    if isinstance(data, list):
        return orjson.dumps(data) + b"\n", sequence_number(data)
    if kind == "stats-entry" and isinstance(data, str) and (parsed := parsed_line(data)) is not None:
        return parsed[0], sequence_number(parsed[1])
    return None


class JitsiSocket:
    """Serves one jitsi socket from its first message to its end, a call per step
    (collector_watch.Handler); its sessions are stored as they end."""

    __slots__ = (
        "ws", "account_id", "cfg", "places", "info", "sessions", "rate_per_session", "rate", "idle",
        "max_id", "checked", "unflushed_messages", "unflushed_bytes", "flushed", "reconnect_id", "app",
        "window", "last_sequence", "acked", "acked_at",
    )  # fmt: skip
    close_reasons = CLOSE_REASONS

    def __init__(self, ws: Server, account_id: int, cfg: dict, places: OpenSessions, protocol: str):
        self.ws = ws
        self.account_id = account_id
        self.cfg = cfg
        self.places = places
        self.info = connection_info(protocol)
        self.sessions: dict[str, Session] = {}
        self.rate_per_session = cfg["collector_max_messages_per_second"]
        self.rate = RateLimit(self.rate_per_session)
        self.idle = cfg["collector_idle_timeout_seconds"]
        self.max_id = cfg["collector_max_session_id_chars"]
        self.checked = time.monotonic()
        self.unflushed_messages = self.unflushed_bytes = 0
        self.flushed = time.monotonic()
        self.reconnect_id = reconnect_target()
        self.app = current_app._get_current_object()  # for the timer that stores suspended sessions
        self.window = cfg["collector_reconnect_seconds"]
        self.last_sequence = self.acked = 0  # the client's sequence numbers: last written, last told
        self.acked_at = time.monotonic()

    def opened(self) -> bool:
        """Resume the session a reconnect names, then tell the client where to go on from (the
        `initial` sn; it sends nothing before). False: a refused reconnect, closed here.

        :raises ConnectionClosed: the client went away before its sn was sent.
        """
        try:
            first_sn = self._resume()
        except Refused as err:  # a refused reconnect counts as a refusal, not as an opened socket
            metrics.COLLECTOR_CLOSES.inc(protocol=METRICS_PROTOCOL, reason=CLOSE_REASONS[err.code])
            close_socket(self.ws, err.code, err.reason)
            self.places.leave()
            return False
        metrics.COLLECTOR_SOCKETS.inc(protocol=METRICS_PROTOCOL, event="opened")
        self.ws.send(sn_message(first_sn, "initial"))
        return True

    def ended(self, code: int, reason: str) -> None:
        """A broken or idle socket's sessions (and those of a stopping worker) wait for a reconnect;
        the others are ended and stored."""
        suspended, ended = self._close_sessions(code)
        metrics.COLLECTOR_SOCKETS.inc(protocol=METRICS_PROTOCOL, event="closed")
        metrics.COLLECTOR_CLOSES.inc(protocol=METRICS_PROTOCOL, reason=reason)
        self._flush_counts(now=True)
        if suspended and ended:
            paths = [session.writer.path for session in ended]
            collector_jitsi_resume.hold_places(self.places, self.account_id, paths, self.window)
            collector_jitsi_resume.finalize_later(self.app, paths, self.window)
            return
        for session in ended:
            self._store(session)

    def broke(self) -> None:
        """A bug or a kill: every session's file is closed and waits for a reconnect (as after 1006);
        the spool keeps what came."""
        self._close_sessions(ABNORMAL)

    def _close_sessions(self, code: int) -> tuple[bool, list[Session]]:
        """Close every session's file, suspended (`code` resumable) or finished with `code`, and give
        back the socket's places; (whether suspended, the sessions)."""
        ended = list(self.sessions.values())
        self.sessions.clear()
        suspended = code in RESUMABLE_CODES and self.window > 0
        try:
            for session in ended:
                if suspended:
                    session.writer.suspend()
                else:
                    session.writer.finish(code)
        finally:
            self.places.leave()
        return suspended, ended

    def _resume(self) -> int:
        """Take over the session a reconnect names; the sequence number the first `sn` tells the
        client (the last one in that session's dump; 0 for a socket that is no reconnect).

        :raises Refused: RECONNECT_REFUSED with nothing to resume, TRY_LATER while it is still held.
        """
        session_id = self.reconnect_id
        if session_id is None:
            return 0
        valid = len(session_id) <= self.max_id and SESSION_ID.fullmatch(session_id)
        if not (valid and self.window > 0):
            raise Refused(RECONNECT_REFUSED, collector_jitsi_resume.NOTHING_TO_RESUME)
        resumed = collector_jitsi_resume.resume(spool_dir(), self.account_id, session_id, self.window)
        writer = JitsiDumpWriter.reopened(resumed)
        self.sessions[session_id] = Session(session_id, writer, None, floor=resumed.last_sequence)
        self._set_rate()
        collector_jitsi_resume.take_over(self.places, self.account_id, writer.path)
        self.last_sequence = self.acked = resumed.last_sequence
        log.info(
            "jitsi collector session %s (statsSessionId %s) resumed after sequence number %d",
            rtcstats_id_of(writer.path),
            session_id,
            resumed.last_sequence,
        )
        return resumed.last_sequence

    def message(self, message: str | bytes) -> None:
        """One envelope: a session's line written, a session opened, kept alive or ended.

        :raises Refused: a limit or a bad statsSessionId ends the socket.
        """
        if not self.rate.take():
            limit = self.rate_per_session
            raise Refused(RATE_LIMITED, f"more than {limit} messages per second per session")
        self._end_idle_sessions()
        try:
            envelope = orjson.loads(message)
        except orjson.JSONDecodeError:
            return  # not JSON: dropped, as the rtcstats#5.0 protocol does
        if not isinstance(envelope, dict):
            return
        session_id = envelope.get("statsSessionId")
        if not (
            isinstance(session_id, str)
            and len(session_id) <= self.max_id
            and SESSION_ID.fullmatch(session_id)
        ):
            raise Refused(
                BAD_SESSION_ID, f"statsSessionId: send 1 to {self.max_id} characters of [A-Za-z0-9_-]"
            )
        kind = envelope.get("type")
        session = self.sessions.get(session_id)
        if kind == "close":
            if session is not None:
                self._end_session(session, NORMAL)
            return
        if kind == "keepalive":
            if session is not None:
                session.heard = time.monotonic()
                with contextlib.suppress(OSError):
                    os.utime(session.writer.path)  # a recovery sweep must see the file in use
            return
        entry = entry_of(kind, envelope.get("data")) if kind in WRITTEN_TYPES else None
        if entry is None:
            return  # an unknown type or a data that is no JSON array: dropped
        line, sequence = entry
        if session is None:
            session = self._open_session(session_id)
        elif sequence is not None and sequence <= session.floor:
            session.heard = time.monotonic()
            return  # resent after a reconnect and already in the dump
        max_bytes = self.cfg["collector_max_session_bytes"]
        if not session.writer.fits(line, max_bytes):
            raise Refused(SESSION_TOO_LARGE, f"session {session_id} reached {max_bytes} bytes")
        session.writer.write(line)
        if session.writer.messages == 1:
            self._list_live(session, kind, envelope.get("data"))
        session.heard = time.monotonic()
        self.unflushed_messages += 1
        self.unflushed_bytes += len(line)
        self.places.refresh()
        self._flush_counts()
        if sequence is not None:
            self.last_sequence = sequence
            self._acknowledge()

    def _acknowledge(self) -> None:
        """Every ACK_SECONDS, tell the client the last sequence number written: it drops what came up
        to it from its buffer, which then holds only what a reconnect may have to resend."""
        if self.last_sequence == self.acked or time.monotonic() - self.acked_at < ACK_SECONDS:
            return
        self.ws.send(sn_message(self.last_sequence, ACK_STATE))
        self.acked, self.acked_at = self.last_sequence, time.monotonic()

    def _open_session(self, session_id: str) -> Session:
        """A new session's dump; beyond the socket's first, it takes one more of the account's places.

        :raises Refused: TOO_MANY_SESSIONS when the account has no place left.
        """
        extra = None
        if self.sessions:
            extra = f"{self.places.socket_id}/{session_id}"
            self.places.enter(self.cfg["collector_max_sessions_per_account"], member=extra)
        # The hex: its session's id; the statsSessionId: for a reconnect to find it.
        path = spool_dir() / spool_name(self.account_id, uuid.uuid4().hex, session_id)
        session = Session(session_id, JitsiDumpWriter(path, self.info), extra)
        self.sessions[session_id] = session
        self._set_rate()
        return session

    def _list_live(self, session: Session, kind: str, data) -> None:
        """List the session as live from its first line (service/live.py)."""
        identity = data[2] if kind == "identity" and isinstance(data, list) and len(data) > 2 else None
        started = round(time.time() * 1000)
        facts = live.jitsi_facts(
            self.info, identity if isinstance(identity, dict) else {}, session.session_id, started
        )
        try:
            live.open_live(
                self.account_id,
                rtcstats_id_of(session.writer.path),
                facts,
                started,
                name=_file_name(session),
                socket_id=self.places.socket_id,
            )
        except peewee.PeeweeException as err:
            # Not listed while live; the dump is still stored as a session when it ends.
            log.warning("jitsi collector session %s not listed as live: %s", session.session_id, err)
        finally:
            release_database()

    def _end_session(self, session: Session, code: int) -> None:
        """Finish and store one session while the socket goes on."""
        del self.sessions[session.session_id]
        session.writer.finish(code)
        freed = session.extra_place
        if freed is None:
            # It held the socket's own place, which stays while the socket does: another session
            # takes that one and gives back its own, so that N open sessions still take N places.
            heir = next(iter(self.sessions.values()), None)
            if heir is not None:
                freed, heir.extra_place = heir.extra_place, None
        if freed is not None:
            self.places.leave(member=freed)
        self._set_rate()
        self._store(session)

    def _end_idle_sessions(self) -> None:
        """A session silent for the idle timeout ends (the socket lives on for the others)."""
        now = time.monotonic()
        if now - self.checked < SESSION_CHECK_SECONDS:
            return
        self.checked = now
        for session in [s for s in self.sessions.values() if now - s.heard >= self.idle]:
            metrics.COLLECTOR_CLOSES.inc(protocol=METRICS_PROTOCOL, reason="session_idle")
            self._end_session(session, IDLE)

    def _set_rate(self) -> None:
        """The socket's message rate: the per-session rate times its open sessions (at least one);
        a new session brings its own burst allowance."""
        capacity = self.rate.capacity
        self.rate.rate = self.rate_per_session * max(1, len(self.sessions))
        self.rate.capacity = self.rate.rate * BURST_SECONDS
        self.rate.tokens += max(0, self.rate.capacity - capacity)

    def _store(self, session: Session) -> None:
        """Store a finished session's dump and queue its analysis (one that wrote nothing is dropped),
        then give the database connection back: the socket may go on, or store its next session after
        waiting for a store turn (service/collected.py)."""
        writer = session.writer
        if writer.messages == 0:
            writer.discard()
            return
        try:
            with open(writer.path, "rb") as file:
                rtcstats_id = service.store_collected(
                    self.account_id,
                    file,
                    writer.size,
                    name=_file_name(session),
                    rtcstats_id=rtcstats_id_of(writer.path),
                )
        except Exception:  # noqa: BLE001 - storage / database / Redis down: the spool file stays
            log.exception("jitsi collector dump %s could not be stored; it stays in the spool", writer.path)
            return
        finally:
            release_database()
        writer.path.unlink(missing_ok=True)
        metrics.COLLECTOR_SESSIONS.inc(protocol=METRICS_PROTOCOL, how="socket")
        log.info(
            "jitsi collector session %s (statsSessionId %s) stored (%d messages, %d bytes)",
            rtcstats_id,
            session.session_id,
            writer.messages,
            writer.size,
        )

    def _flush_counts(self, now: bool = False) -> None:
        """Add what was written to the shared metrics every few seconds (not one Redis call per message)."""
        if not now and time.monotonic() - self.flushed < METRICS_FLUSH_SECONDS:
            return
        self.flushed = time.monotonic()
        metrics.COLLECTOR_MESSAGES.inc(self.unflushed_messages, protocol=METRICS_PROTOCOL)
        metrics.received("collector", self.unflushed_bytes)
        self.unflushed_messages = self.unflushed_bytes = 0
