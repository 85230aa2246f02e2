"""Live collection: an rtcstats-js client (subprotocol rtcstats#5.0) streams its trace over a WebSocket.

Each message is written to a spool file as it arrives (collector_dump.py); when the socket closes,
idles or breaks a limit, the file is stored like an uploaded dump, a session is created and its
analysis queued. Refusals and limits close the socket with the codes of CLOSE_CODES (docs/rtcstats-
collector.md). The WebSocket itself is simple-websocket's, which runs on the socket that gunicorn's
gevent worker hands to the WSGI app (`gunicorn.socket`; collector_socket.py), served past the
handshake from the event loop, so that the request ends (collector_handoff.py, collector_watch.py):
RtcstatsSocket below is called for each message. The route itself (credentials, the account's place,
which protocol) is collector_route.py; the jitsi protocol is collector_jitsi.py.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from pathlib import Path

import peewee
import redis
from flask import Response, current_app, request
from playhouse.pool import MaxConnectionsExceeded
from simple_websocket import ConnectionClosed, Server

from core.auth import actor_from_bearer, actor_from_headers
from core.db import db
from core.errors import Problem
from core.redact import redact_query
from plugins.rtcstats import metrics, service
from plugins.rtcstats.collector_dump import FILE_FORMAT, DumpWriter, message_line
from plugins.rtcstats.collector_recovery import recover, rtcstats_id_of, spool_name
from plugins.rtcstats.collector_socket import GOING_AWAY, Refused
from plugins.rtcstats.service.live import client_facts, open_live, open_marks_key

log = logging.getLogger("rtcstats")

SUBPROTOCOL = "rtcstats#5.0"
METRICS_PROTOCOL = "rtcstats"  # the `protocol` label of the collector's metrics (jitsi: "jitsi")
TOKEN_PARAM = "rtcstats-token"
SCOPE = "rtcstats:write"
BURST_SECONDS = 5  # the message rate is judged over bursts this long
OPEN_SESSION_TTL = 3600  # an open-socket mark of a worker that died is forgotten after this long
OPEN_SESSION_REFRESH = 60
SWEEP_INTERVAL = 60  # seconds between two looks of one worker for dumps of lost sockets

# Close codes: the standard ones where they fit, 4xxx (application range) for the limits.
NORMAL, POLICY, TOO_BIG, TRY_LATER, ABNORMAL, NO_STATUS = 1000, 1008, 1009, 1013, 1006, 1005
NO_CREDITS, TOO_MANY_SESSIONS, IDLE, SESSION_TOO_LARGE, RATE_LIMITED = 4002, 4003, 4008, 4009, 4029
CLOSE_CODES = {
    POLICY: "missing, invalid or expired credentials, or a key without rtcstats:write",
    TOO_BIG: "a message larger than collector_max_message_bytes",
    TRY_LATER: "the database or Redis is unavailable, or the worker holds collector_max_sockets_per_worker "
    "sockets; retry later",
    GOING_AWAY: "the server stops (a restart or deploy): what was received is stored; reconnect",
    NO_CREDITS: "no credits left this month",
    TOO_MANY_SESSIONS: "the account has collector_max_sessions_per_account sockets open",
    IDLE: "nothing received for collector_idle_timeout_seconds",
    SESSION_TOO_LARGE: "the dump reached collector_max_session_bytes",
    RATE_LIMITED: "more than collector_max_messages_per_second messages per second",
}
CLOSE_REASONS = {
    POLICY: "unauthorized",
    TOO_BIG: "message_too_big",
    TRY_LATER: "unavailable",
    GOING_AWAY: "going_away",
    ABNORMAL: "lost",
    NO_CREDITS: "no_credits",
    TOO_MANY_SESSIONS: "too_many_sockets",
    IDLE: "idle",
    SESSION_TOO_LARGE: "session_too_large",
    RATE_LIMITED: "rate_limited",
}
# A socket the client ended: `client`, but for these (what simple-websocket reports, not a client's own
# code: a client may close with any code, 4008 included, and is not thereby "idle").
CLIENT_REASONS = {ABNORMAL: "lost", TOO_BIG: "message_too_big"}
METRICS_FLUSH_SECONDS = 10  # a socket adds its counts to the shared metrics this often (and at its end)
_TOKEN_IN_URL = re.compile(r"([?&]rtcstats-token=)[^&#]*")


def spool_dir() -> Path:
    """Where open sockets write their dumps: this machine's data dir."""
    path = Path(current_app.extensions["mediaplane"].config["core"]["data_dir"]) / "rtcstats-collector"
    path.mkdir(parents=True, exist_ok=True)
    return path


def authenticate():
    """The caller: `rtcstats-token` in the query (an API key, or an HS256 JWT signed with a key's
    secret, which is what a browser holds), else the usual headers.

    :raises Refused: POLICY for bad or missing credentials or scope; TRY_LATER when the database fails.
    """
    try:
        # A jitsi client appends `/<meeting>?statsSessionId=...` to the endpoint: when that ends in
        # `?rtcstats-token=...`, the token is what comes before the first `/` (no token has one).
        token = request.args.get(TOKEN_PARAM, "").partition("/")[0]
        actor = actor_from_bearer(token) if token else actor_from_headers()
    except Problem as problem:
        raise Refused(POLICY, problem.detail or "unauthorized") from None
    except peewee.PeeweeException as err:
        raise Refused(TRY_LATER, f"database unavailable: {type(err).__name__}") from None
    if actor is None:
        raise Refused(POLICY, f"send credentials: ?{TOKEN_PARAM}=<JWT or API key>, or X-API-Key")
    if not actor.has_scope(SCOPE):
        raise Refused(POLICY, f"the key lacks the '{SCOPE}' scope")
    return actor


class OpenSessions:
    """The account's open collector sockets, across all workers: a Redis sorted set of socket ids
    scored by when each mark expires (a worker that dies cannot remove its marks; they lapse)."""

    def __init__(self, conn: redis.Redis, account_id: int, socket_id: str):
        self.conn = conn
        self.key = open_marks_key(account_id)
        self.socket_id = socket_id  # the hex of the socket's session id (service/live.py)
        self.members = set()  # the socket's own mark, and a jitsi socket's further sessions' ones
        self.refreshed = 0.0

    def enter(self, limit: int, member: str | None = None) -> None:
        """Take a place: the socket's own (`member` None) or one more of the same socket.

        :raises Refused: TOO_MANY_SESSIONS at the limit; TRY_LATER when Redis fails.
        """
        member = member or self.socket_id
        now = time.time()
        try:
            pipe = self.conn.pipeline()
            pipe.zremrangebyscore(self.key, "-inf", now)
            pipe.zadd(self.key, {member: now + OPEN_SESSION_TTL})
            pipe.zcard(self.key)
            pipe.expire(self.key, OPEN_SESSION_TTL)
            count = pipe.execute()[2]
        except redis.RedisError as err:
            raise Refused(TRY_LATER, f"Redis unavailable: {type(err).__name__}") from None
        self.refreshed = now
        self.members.add(member)
        if count > limit:
            self.leave(member)
            raise Refused(TOO_MANY_SESSIONS, f"the account has {limit} collector sessions open")

    def refresh(self) -> None:
        now = time.time()
        if now - self.refreshed < OPEN_SESSION_REFRESH:
            return
        self.refreshed = now
        try:
            self.conn.zadd(self.key, dict.fromkeys(self.members, now + OPEN_SESSION_TTL))
        except redis.RedisError:
            pass  # the mark lapses at worst; the socket goes on

    def leave(self, member: str | None = None) -> None:
        """Give back one place, or (`member` None) all of the socket's."""
        members = [member] if member else list(self.members)
        self.members.difference_update(members)
        if not members:
            return
        try:
            self.conn.zrem(self.key, *members)
        except redis.RedisError:
            pass  # it lapses after OPEN_SESSION_TTL


class RateLimit:
    """A token bucket for one socket: `rate` messages per second with bursts of BURST_SECONDS."""

    def __init__(self, rate: int):
        self.rate = rate
        self.capacity = rate * BURST_SECONDS
        self.tokens = float(self.capacity)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def request_metadata() -> dict:
    """The metadata line of the handshake's request: what the reference server writes, credentials in
    the url masked (read while the request is there: the socket is served past it)."""
    url = _TOKEN_IN_URL.sub(r"\1redacted", redact_query(request.full_path.rstrip("?")))
    meta = {
        "url": url,
        "origin": request.headers.get("Origin"),
        "userAgent": request.headers.get("User-Agent"),
        "startTime": round(time.time() * 1000),
        "remoteAddresses": [request.remote_addr] if request.remote_addr else [],
        "clientProtocol": request.headers.get("Sec-WebSocket-Protocol"),
        "fileFormat": FILE_FORMAT,
    }
    return {k: v for k, v in meta.items() if v is not None}


def client_code(ws: Server) -> int:
    """The close code of a socket the client ended, as the reference server records it: the client's,
    1005 for a close frame without a code (rtcstats-js's `trace.close()` sends such a frame), 1006
    when the connection ended without a close frame, 1009 for a message over the size limit.
    simple-websocket reports 1005 for both of the first; only a received close frame sets its
    close_message (to "" when the frame had no reason)."""
    if ws.max_message_size and ws.incoming_message_len > ws.max_message_size:
        return TOO_BIG  # simple-websocket sent the 1009 itself
    if ws.close_reason is None or (ws.close_reason == NO_STATUS and ws.close_message is None):
        return ABNORMAL
    return ws.close_reason


def _store(account_id: int, writer: DumpWriter) -> str | None:
    """Store the finished dump as a session and queue its analysis; its id (None when empty)."""
    if writer.messages == 0:
        writer.discard()  # a socket that sent nothing is no session (as the reference server)
        return None
    with open(writer.path, "rb") as file:
        rtcstats_id = service.store_collected(
            account_id, file, writer.size, rtcstats_id=rtcstats_id_of(writer.path)
        )
    writer.path.unlink(missing_ok=True)
    return str(rtcstats_id)


def close_socket(ws: Server, code: int, reason: str) -> None:
    try:
        ws.close(code, reason[:120])  # a close frame's reason has at most 123 bytes
    except ConnectionClosed:
        pass


def socket_over(handler, err: ConnectionClosed | Refused) -> None:
    """A socket's end, told to its protocol's handler (RtcstatsSocket, collector_jitsi.JitsiSocket):
    by the client (its close code, as client_code says) or by the server (Refused: a limit, idling,
    a stop; the close frame is sent here)."""
    ws = handler.ws
    if isinstance(err, Refused):
        code, reason = err.code, handler.close_reasons[err.code]
        close_socket(ws, err.code, err.reason)
    else:
        code = client_code(ws)
        reason = CLIENT_REASONS.get(code, "client")  # the client's own code is not one of our refusals
    handler.ended(code, reason)


_last_sweep = 0.0  # per process: when this worker last looked for dumps of lost sockets


def sweep_orphans(cfg: dict) -> None:
    """Now and then (a socket's connect is the occasion), store the dumps of sockets whose worker
    died: in a greenlet of its own, so that the new socket does not wait for it."""
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep < SWEEP_INTERVAL and _last_sweep:
        return
    _last_sweep = now
    app = current_app._get_current_object()
    spool = spool_dir()

    def sweep():
        with app.app_context():
            try:
                recover(
                    spool,
                    cfg["collector_idle_timeout_seconds"],
                    service.store_collected,
                    cfg["collector_reconnect_seconds"],
                )
            finally:
                release_database()

    threading.Thread(target=sweep, name="rtcstats-collector-sweep", daemon=True).start()


def release_database() -> None:
    """Give this greenlet's database connection back to the pool: a socket lives for minutes and
    needs the database only at its start and end, so it must not hold a pooled connection between."""
    if not db.is_closed():
        db.close()


class LiveRow:
    """Lists the socket's session as live once its first message is spooled (service/live.py)."""

    def __init__(self, account_id: int, socket_id: str, metadata: dict):
        self.account_id = account_id
        self.rtcstats_id = uuid.UUID(socket_id)
        self.metadata = metadata

    def first_message(self, line: bytes) -> None:
        metadata, self.metadata = self.metadata, None  # needed once: not kept for the socket's life
        try:
            open_live(
                self.account_id, self.rtcstats_id, client_facts(metadata, line), metadata.get("startTime")
            )
        except (peewee.PeeweeException, MaxConnectionsExceeded) as err:
            # Not listed while live; the dump is still stored as a session when the socket ends. (A
            # pool with no connection free for core.database_pool_timeout is no reason to end the socket.)
            log.warning("collector session %s not listed as live: %s", self.rtcstats_id, err)
        finally:
            release_database()


class _Counts:
    """What one socket wrote that the shared metrics do not have yet (one Redis call per flush,
    not per message)."""

    def __init__(self, writer: DumpWriter):
        self.writer = writer
        self.messages, self.size = 0, writer.size  # the header is ours, not received
        self.at = time.monotonic()

    def flush(self, now: bool = False) -> None:
        if not now and time.monotonic() - self.at < METRICS_FLUSH_SECONDS:
            return
        self.at = time.monotonic()
        metrics.COLLECTOR_MESSAGES.inc(self.writer.messages - self.messages, protocol=METRICS_PROTOCOL)
        metrics.received("collector", self.writer.size - self.size)
        self.messages, self.size = self.writer.messages, self.writer.size


class RtcstatsSocket:
    """Serves an rtcstats#5.0 socket from its first message to its stored session, a call per step
    (collector_watch.Handler): every message is written to the spool file as it comes."""

    __slots__ = (
        "ws",
        "account_id",
        "places",
        "idle",
        "max_bytes",
        "metadata",
        "writer",
        "rate",
        "counts",
        "live",
    )
    close_reasons = CLOSE_REASONS

    def __init__(self, ws: Server, account_id: int, cfg: dict, places: OpenSessions, metadata: dict):
        """`metadata`: the dump's metadata line, request_metadata()."""
        self.ws = ws
        self.account_id = account_id
        self.places = places
        self.idle = cfg["collector_idle_timeout_seconds"]
        self.max_bytes = cfg["collector_max_session_bytes"]
        self.rate = RateLimit(cfg["collector_max_messages_per_second"])
        self.metadata = metadata  # until the spool file is opened
        self.writer = self.counts = self.live = None

    def opened(self) -> bool:
        metrics.COLLECTOR_SOCKETS.inc(protocol=METRICS_PROTOCOL, event="opened")
        metadata, self.metadata = self.metadata, None
        self.writer = DumpWriter(spool_dir() / spool_name(self.account_id, self.places.socket_id), metadata)
        self.counts = _Counts(self.writer)
        self.live = LiveRow(self.account_id, self.places.socket_id, metadata)
        return True

    def message(self, message: str | bytes) -> None:
        if not self.rate.take():
            raise Refused(RATE_LIMITED, f"more than {self.rate.rate} messages per second")
        line = message_line(message)
        if line is None:
            return  # not a JSON array: dropped (docs/rtcstats-collector.md)
        writer = self.writer
        if not writer.fits(line, self.max_bytes):
            raise Refused(SESSION_TOO_LARGE, f"the dump reached {self.max_bytes} bytes")
        writer.write(line)
        if writer.messages == 1:
            self.live.first_message(line)
        self.places.refresh()
        self.counts.flush()

    def ended(self, code: int, reason: str) -> None:
        """Close line written, place given back, then the dump stored as a session."""
        writer = self.writer
        try:
            metrics.COLLECTOR_SOCKETS.inc(protocol=METRICS_PROTOCOL, event="closed")
            metrics.COLLECTOR_CLOSES.inc(protocol=METRICS_PROTOCOL, reason=reason)
            self.counts.flush(now=True)
            writer.finish(code)
            self.places.leave()  # the socket is over: its place is free before the dump is stored
        except BaseException:
            self.broke()
            raise
        try:
            rtcstats_id = _store(self.account_id, writer)
        except Exception:  # noqa: BLE001 - storage / database / Redis down: the spool file stays
            log.exception("collector dump %s could not be stored; it stays in the spool", writer.path.name)
            return
        if rtcstats_id:
            metrics.COLLECTOR_SESSIONS.inc(protocol=METRICS_PROTOCOL, how="socket")
            log.info(
                "collector session %s stored (%d messages, %d bytes)",
                rtcstats_id,
                writer.messages,
                writer.size,
            )

    def broke(self) -> None:
        """A bug or a kill mid-session: the spool file keeps what was received."""
        if self.writer is not None and not self.writer.file.closed:
            self.writer.file.close()
        self.places.leave()


def socket_done(ws: Server) -> Response:
    """What the view returns once the socket is over: nothing more may be written to it."""

    class WebSocketDone(Response):
        def __call__(self, environ, start_response):
            if ws.mode == "gunicorn":
                # gunicorn's async workers end the connection quietly on StopIteration.
                raise StopIteration()
            if ws.mode == "werkzeug":
                return super().__call__(environ, start_response)
            return []

    return WebSocketDone()
