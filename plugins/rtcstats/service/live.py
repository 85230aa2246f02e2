"""Live sessions: the session of an open collector socket, listed with state `live` before it is stored.

A socket's session row is made when its first message is spooled (a socket that sends nothing leaves
no session), with what is known then: when the socket opened, the page's origin and user agent, the
browser and system (the `create` message's client hints, else the User-Agent header), for a jitsi
session the ids of its `identity`, and the uploader. The row has status `live` and keeps those
facts in its `abstract` column (a live row has no abstract yet, and the list reads that column
anyway), with the id of its socket's open mark. When the socket ends, `store_collected`
takes the row over: status pending, then analysed as an upload is. Until then GET /sessions/{id}
answers 409 `session_live`.

A row whose worker died is finalized with its spool file by the recovery of its machine
(collector_recovery.py). Should that machine never come back, `fail_lost` ends the row: live for
more than LOST_AFTER_SECONDS without an open-socket mark in Redis (an open socket renews its mark
every minute, and a mark lasts an hour).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid

import orjson

from core.db import utcnow
from plugins.rtcstats.models import FAILED, LIVE, PENDING, READY, Session
from plugins.rtcstats.service.config import dump_key, processor_version
from plugins.rtcstats.service.errors import AnalysisPending
from plugins.rtcstats.service.wire import clean_text, iso, title_for, uploader_uuid

log = logging.getLogger("rtcstats")

SOURCE = "collector"
STATES = {LIVE: "live", PENDING: "pending", READY: "analyzed", FAILED: "failed"}
CREATE_METHODS = ("create", 39)  # rtcstats-js sends its method names compressed (39 is `create`)
LIVE_RETRY_AFTER = 30  # seconds: the Retry-After of a 409 session_live (a call lasts minutes)
SOCKET_KEY = "socket"  # in a live row's stored facts: its socket's mark (not shown in the list)
OPEN_MARK_TTL = 3600  # seconds an open-socket mark lasts unless its socket renews it
LOST_AFTER_SECONDS = OPEN_MARK_TTL  # a live row older than a mark's lifetime needs a mark to stay live
LOST_ERROR = (
    "the collector socket ended with its web worker and its dump was not recovered (the spool "
    "of that machine is stored when the machine serves again)"
)


class SessionLive(AnalysisPending):
    """The session's collector socket is still open: nothing is stored or analysed yet."""


def open_marks_key(account_id: int) -> str:
    """The Redis sorted set of the account's open collector sockets (ids scored by expiry)."""
    return f"rtcstats:collector:open:{account_id}"


def state_of(status: str) -> str:
    """The list's `state` of a session status."""
    return STATES.get(status, status)


def collector_file_name(started_ms: int | None = None) -> str:
    moment = time.gmtime(started_ms / 1000 if started_ms else None)
    return f"collector-{time.strftime('%Y%m%dT%H%M%SZ', moment)}.rtcstats"


def _client_hints(first_line: bytes):
    """userAgentData of an rtcstats-js `create` message ([39, null, {...}, t]), if it is one."""
    try:
        message = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return None
    if len(message) >= 3 and message[0] in CREATE_METHODS and isinstance(message[2], dict):
        return message[2].get("userAgentData")
    return None


def client_facts(metadata: dict, first_line: bytes) -> dict:
    """What a live session shows: from the dump's metadata line and its first message."""
    from plugins.rtcstats.analysis.useragent import parse_user_agent

    agent = parse_user_agent(metadata.get("userAgent"), _client_hints(first_line))
    started = metadata.get("startTime")
    return {
        "startedAt": iso(dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=started)) if started else None,
        "origin": clean_text(metadata.get("origin"), 500),
        "userAgent": clean_text(metadata.get("userAgent"), 500),
        "clientProtocol": clean_text(metadata.get("clientProtocol")),
        "browser": agent.browser,
        "browserVersion": agent.browser_version,
        "os": agent.os,
        "osVersion": agent.os_version,
    }


def jitsi_facts(info: dict, identity: dict, session_id: str, started_ms: int) -> dict:
    """What a live jitsi session shows: its socket's connectionInfo (collector_jitsi.py) and, when
    its first line is an `identity`, the conference, participant and session ids the analysis will
    read from it (the same keys as parsing/legacy.py); else its statsSessionId as its session id."""
    from plugins.rtcstats.parsing.legacy import _IDENTITY_GENERIC

    metadata = {
        "startTime": started_ms,
        **{k: info.get(k) for k in ("origin", "userAgent", "clientProtocol")},
    }
    facts = client_facts(metadata, b"")
    for generic, sources in _IDENTITY_GENERIC.items():
        given = (identity.get(key) for key in sources)
        value = next(
            (v for v in given if isinstance(v, (str, int)) and not isinstance(v, bool) and v != ""), None
        )
        facts[generic] = clean_text(value, 255)
    facts["sessionId"] = facts["sessionId"] or session_id
    return facts


def open_live(
    account_id: int,
    rtcstats_id: uuid.UUID,
    facts: dict,
    started_ms: int | None,
    name: str | None = None,
    socket_id: str | None = None,
) -> None:
    """Make the live row of a socket (or jitsi session) that just sent its first message.
    `socket_id`: its socket's mark in the open set, when not the session's own id (jitsi)."""
    name = name or collector_file_name(started_ms)
    stored_facts = {**facts, SOCKET_KEY: socket_id or rtcstats_id.hex}
    Session.create(
        rtcstats_id=rtcstats_id,
        account_id=account_id,
        status=LIVE,
        source=SOURCE,
        file_name=name,
        file_size=0,
        dump_key=dump_key(account_id, rtcstats_id),
        title=title_for(name),
        abstract=json.dumps(stored_facts, separators=(",", ":")),
        session_start=facts.get("startedAt"),
        browser=facts.get("browser"),
        browser_version=facts.get("browserVersion"),
        os=facts.get("os"),
        os_version=facts.get("osVersion"),
        user_id=facts.get("userId"),
        conference_id=facts.get("conferenceId"),
        session_ident=facts.get("sessionId"),
    )


def _stored_facts(row: Session) -> dict:
    try:
        facts = json.loads(row.abstract) if row.abstract else {}
    except ValueError:
        facts = {}
    return facts if isinstance(facts, dict) else {}


def live_facts(row: Session) -> dict:
    """The list item's `live` object: the facts known so far and the uploader."""
    facts = _stored_facts(row)
    facts.pop(SOCKET_KEY, None)
    return {**facts, "uploadedBy": uploader_uuid(row.account_id)}


def take_over(account_id: int, rtcstats_id: uuid.UUID, values: dict) -> Session | None:
    """The collector row `rtcstats_id`, now stored: `values` (status pending, size, credit, the
    stored file's name and title...) written over its live state. None when there is no such row
    (it was never made: the database was down at the first message; or its owner deleted it after
    it was given up as lost)."""
    updated = (
        Session.update(
            **values,
            abstract=None,
            error=None,
            failed_version=None,
            session_start=None,
        )
        .where(
            Session.rtcstats_id == rtcstats_id,
            Session.account_id == account_id,
            Session.source == SOURCE,
            (Session.status == LIVE) | ((Session.status == FAILED) & (Session.error == LOST_ERROR)),
        )
        .execute()
    )
    return Session.get(Session.rtcstats_id == rtcstats_id) if updated else None


def rebind(account_id: int, rtcstats_id: uuid.UUID, socket_id: str) -> None:
    """A live row's session now held by another socket (a resumed jitsi session): name its mark."""
    row = Session.get_or_none(
        Session.rtcstats_id == rtcstats_id, Session.account_id == account_id, Session.status == LIVE
    )
    if row is None:
        return
    facts = {**_stored_facts(row), SOCKET_KEY: socket_id}
    Session.update(abstract=json.dumps(facts, separators=(",", ":"))).where(
        Session.id == row.id, Session.status == LIVE
    ).execute()


def fail_lost(is_open, now: dt.datetime | None = None) -> int:
    """End the live rows whose socket is gone without a spool file to recover here: live longer than
    LOST_AFTER_SECONDS and `is_open(account_id, socket_id)` (the mark of the row's socket) false.
    They become failed (their dump, if it turns up, is still stored: take_over accepts a failed
    collector row). How many."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=LOST_AFTER_SECONDS)
    rows = Session.select(Session.id, Session.account_id, Session.rtcstats_id, Session.abstract).where(
        Session.status == LIVE, Session.created_at < cutoff
    )
    lost = [
        row.id
        for row in rows
        if not is_open(row.account_id, _stored_facts(row).get(SOCKET_KEY) or row.rtcstats_id.hex)
    ]
    if not lost:
        return 0
    ended = (
        Session.update(status=FAILED, error=LOST_ERROR, failed_version=processor_version(), abstract=None)
        .where(Session.id.in_(lost), Session.status == LIVE)
        .execute()
    )
    log.warning("%d live collector sessions had no socket left and were ended as failed", ended)
    return ended


def open_in_redis(conn):
    """`is_open` for fail_lost: the socket's mark in the account's open set has not lapsed."""

    def is_open(account_id: int, socket_id: str) -> bool:
        score = conn.zscore(open_marks_key(account_id), socket_id)
        return score is not None and score > time.time()

    return is_open
