"""Domain logic of the report plugin: ingest, live rooms, latest metrics, history, idle and purge."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import weakref
from collections.abc import Callable, Sequence
from statistics import fmean

import msgspec
import peewee

from core.batching import GroupCall
from core.db import db, write_atomic
from plugins.report.models import Room, Sample, Snapshot

VIDEO_COLUMNS = {
    "timestamp": "video_timestamp",
    "frame_rate": "frame_rate",
    "width": "width",
    "height": "height",
    "bitrate": "video_bitrate",
}
AUDIO_COLUMNS = {
    "timestamp": "audio_timestamp",
    "sample_rate": "sample_rate",
    "channels": "channels",
    "bitrate": "audio_bitrate",
}
NETWORK_COLUMNS = {"rtt": "rtt", "packet_loss": "packet_loss", "jitter": "jitter"}
TOUCH_EVERY_SECONDS = 1.0  # a busy room's row is rewritten at most this often
# Rooms this process touched in the last TOUCH_EVERY_SECONDS: such a room exists and cannot be idle
# (idle needs live_window_seconds >= 1 s of silence), so the next reports skip the room row entirely.
_recently_touched: dict[tuple[int, str], float] = {}


_json_encoder = msgspec.json.Encoder()  # compact JSON, several times faster than json.dumps
_json_decoder = msgspec.json.Decoder()  # keeps each number's JSON type, as json.loads does


def _to_json(value) -> str:
    return _json_encoder.encode(value).decode()


class ReportError(Exception):
    """Base of the report plugin's domain errors."""


class NotFound(ReportError):
    """No such room or user for this account."""


class TooLarge(ReportError):
    """A report exceeds a configured limit; the message names it."""


def _sample_rows(account_id: int, report: dict, received_at: float) -> list[dict]:
    """One row per stream of the report (without its snapshot id, which the insert supplies)."""
    rows = []
    for entry in report["metrics"]:
        for stream in entry["streams"]:
            row = {
                "account_id": account_id,
                "room_id": report["room_id"],
                "user_id": entry["user_id"],
                "sdk_version": report["sdk_version"],
                "report_time": report["report_time"],
                "received_at": received_at,
                "stream_id": stream["stream_id"],
                "direction": stream.get("direction", "send"),
            }
            for part, columns in (
                ("video", VIDEO_COLUMNS),
                ("audio", AUDIO_COLUMNS),
                ("network", NETWORK_COLUMNS),
            ):
                values = stream.get(part) or {}
                for key, column in columns.items():
                    row[column] = values.get(key)
            rows.append(row)
    return rows


def _newer(report_time: int) -> peewee.Case:
    """SQL for max(last_report_time, report_time) that SQLite and PostgreSQL both understand."""
    return peewee.Case(None, [(Room.last_report_time < report_time, report_time)], Room.last_report_time)


def _touch_room(account_id: int, room_id: str, report_time: int, now: float) -> bool:
    """Record activity; True when the room starts (first report, or first after going idle)."""
    room = Room.get_or_none(Room.account_id == account_id, Room.room_id == room_id)
    if room is None:
        inserted = (
            Room.insert(
                account_id=account_id,
                room_id=room_id,
                first_seen_at=now,
                active_since=now,
                last_seen_at=now,
                last_report_time=report_time,
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        if inserted:
            return True
        room = Room.get(Room.account_id == account_id, Room.room_id == room_id)
    if room.idle:
        woke = (
            Room.update(idle=False, active_since=now, last_seen_at=now, last_report_time=_newer(report_time))
            .where(Room.id == room.id, Room.idle == True)  # noqa: E712 - peewee expression
            .execute()
        )
        if woke:
            return True
    if now - room.last_seen_at >= TOUCH_EVERY_SECONDS or report_time > room.last_report_time:
        Room.update(last_seen_at=now, last_report_time=_newer(report_time)).where(
            Room.id == room.id
        ).execute()
    return False


def ingest(account_id: int, report: dict, max_streams: int, now: float | None = None) -> dict:
    """Store one validated report. Returns {"room_started": bool, "samples": n, "received_at": epoch s}.

    :raises TooLarge: more streams than `max_streams`.
    """
    now = time.time() if now is None else now
    stream_count = sum(len(entry["streams"]) for entry in report["metrics"])
    if stream_count > max_streams:
        raise TooLarge(f"metrics: {stream_count} streams in one report; the limit is {max_streams}")
    # The room row is shared by every reporter of the room: touching it in its own short statement
    # keeps the inserts below from queueing behind that row's lock.
    started = False
    room_key = (account_id, report["room_id"])
    last_touch = _recently_touched.get(room_key)
    if last_touch is None or now - last_touch >= TOUCH_EVERY_SECONDS:
        if len(_recently_touched) > 100_000:
            _recently_touched.clear()
        # Claim the touch before it starts: the other requests of this process that arrive meanwhile
        # skip it, instead of all queueing on the room row's lock, one commit after the other.
        _recently_touched[room_key] = now
        try:
            with write_atomic():
                started = _touch_room(account_id, report["room_id"], report["report_time"], now)
        except BaseException:
            _recently_touched.pop(room_key, None)  # the next report of the room tries again
            raise
    snapshot = {
        "account_id": account_id,
        "room_id": report["room_id"],
        "user_id": report["user_id"],
        "sdk_version": report["sdk_version"],
        "report_time": report["report_time"],
        "received_at": now,
        "body": _to_json(report),
    }
    rows = _sample_rows(account_id, report, now)
    # While this request waits for the grouped write, only the caller that writes needs a database
    # connection: give ours back to the pool, or waiting requests would hold the pool empty.
    if not db.is_closed() and not db.in_transaction():
        db.close()
    _writer()((snapshot, rows))  # returns once the report is committed
    return {"room_started": started, "samples": len(rows), "received_at": now}


_group_write: GroupCall | None = None


def _writer() -> GroupCall:
    """The process's grouped writer: reports in flight together are stored in one statement.

    Built on first use, in the serving process (a gevent worker must have patched threading first).
    """
    global _group_write
    if _group_write is None:
        _group_write = GroupCall(_store)
    return _group_write


def _store(reports: Sequence[tuple[dict, list[dict]]]) -> list[None]:
    """Store (snapshot, sample rows) pairs atomically, all or nothing."""
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        _insert_in_one_statement(reports)
    else:
        with write_atomic():
            for snapshot, rows in reports:
                snapshot_id = Snapshot.insert(**snapshot).execute()
                if rows:
                    Sample.insert_many([{**row, "snapshot": snapshot_id} for row in rows]).execute()
    return [None] * len(reports)


# PostgreSQL types of the peewee field types used by Snapshot and Sample.
_PG_TYPES = {
    "INT": "integer",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "TEXT": "text",
}


def _record_type(model: type[peewee.Model], columns: Sequence[str]) -> str:
    fields = model._meta.fields
    return ", ".join(["n integer", *(f"{c} {_PG_TYPES[fields[c].field_type]}" for c in columns)])


@functools.lru_cache(maxsize=8)
def _insert_sql(snapshot_columns: tuple[str, ...], sample_columns: tuple[str, ...]) -> tuple[str, str]:
    """(statement name, body) of the grouped insert for these columns, with parameters $1 and $2:
    reports and samples as two JSON arrays of records, numbered by `n`.

    Two parameters instead of one per value: psycopg2 adapts every bind parameter in Python, which
    cost more than the rest of the statement. Snapshot ids are drawn from the table's sequence first
    (`ids`), so that each sample finds its snapshot's id by the report number `n`.
    """
    snapshots, samples = Snapshot._meta.table_name, Sample._meta.table_name
    snap_cols, sample_cols = ", ".join(snapshot_columns), ", ".join(sample_columns)
    snapshot_record = _record_type(Snapshot, snapshot_columns)
    sql = (
        f"WITH r AS (SELECT * FROM json_to_recordset($1::json) AS r({snapshot_record})), "
        f"ids AS MATERIALIZED (SELECT n, nextval(pg_get_serial_sequence('{snapshots}', 'id')) AS id FROM r), "
        f"s AS (INSERT INTO {snapshots} (id, {snap_cols}) "
        f"SELECT ids.id, {', '.join('r.' + c for c in snapshot_columns)} FROM r JOIN ids USING (n)) "
    )
    if not sample_columns:
        sql += "SELECT count(*) FROM ids"
    else:
        sample_record = _record_type(Sample, sample_columns)
        sql += (
            f"INSERT INTO {samples} (snapshot_id, {sample_cols}) "
            f"SELECT ids.id, {', '.join('v.' + c for c in sample_columns)} "
            f"FROM json_to_recordset($2::json) AS v({sample_record}) JOIN ids USING (n)"
        )
    # Named after its text: a connection never runs an older statement under a reused name.
    return f"report_insert_{hashlib.sha1(sql.encode()).hexdigest()[:16]}", sql


# Statements prepared on each pooled connection (weak keys: a closed connection drops out).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
INVALID_STATEMENT_NAME = "26000"


def _execute_prepared(name: str, body: str, params: list) -> None:
    """EXECUTE a statement prepared once per connection: PostgreSQL then skips parsing and planning,
    which was half of its work per grouped insert. A connection that lost it (e.g. behind a pooler
    such as PgBouncer in transaction mode) gets it prepared again, once."""
    types = ", ".join(["json"] * len(params))
    placeholders = ", ".join(["%s"] * len(params))
    for attempt in range(2):
        # Looked up after each statement: the database replaces a connection found dead in the pool
        # and runs the statement again on the new one (core.db.RecentlyCheckedPool).
        names = _prepared.setdefault(db.connection(), set())
        if name not in names:
            db.execute_sql(f"PREPARE {name} ({types}) AS {body}")
            names = _prepared.setdefault(db.connection(), set())
            names.add(name)
        try:
            db.execute_sql(f"EXECUTE {name} ({placeholders})", params)
            return
        except peewee.DatabaseError as err:
            if getattr(getattr(err, "orig", None), "pgcode", None) != INVALID_STATEMENT_NAME or attempt:
                raise
            names.discard(name)


def _insert_in_one_statement(reports: Sequence[tuple[dict, list[dict]]]) -> None:
    """Snapshots and samples of many reports in one statement: one round trip and one commit for
    all of them (a single statement is atomic), which is most of the ingest cost."""
    snapshot_columns = tuple(reports[0][0])
    sample_columns = next((tuple(rows[0]) for _, rows in reports if rows), ())
    snapshots = [{"n": n, **snapshot} for n, (snapshot, _) in enumerate(reports, 1)]
    params = [_to_json(snapshots)]
    if sample_columns:
        samples = [{"n": n, **row} for n, (_, rows) in enumerate(reports, 1) for row in rows]
        params.append(_to_json(samples))
    _execute_prepared(*_insert_sql(snapshot_columns, sample_columns), params)


def list_rooms(
    account_id: int, live_window: int, include_idle: bool = False, now: float | None = None
) -> list[str]:
    now = time.time() if now is None else now
    query = Room.select(Room.room_id).where(Room.account_id == account_id)
    if not include_idle:
        query = query.where(Room.last_seen_at >= now - live_window)
    return [r.room_id for r in query.order_by(Room.room_id)]


def get_room(account_id: int, room_id: str) -> Room:
    """:raises NotFound: the account has no such room."""
    room = Room.get_or_none(Room.account_id == account_id, Room.room_id == room_id)
    if room is None:
        raise NotFound(f"room '{room_id}' not found")
    return room


def _stream_out(sample: Sample, sent: dict | None = None) -> dict:
    """The stream's metrics; from `sent` (the stream as its report sent it) when given, else from the
    sample's columns (whose DOUBLE columns turn every number into a float)."""

    def part(name: str, columns: dict) -> dict | None:
        if sent is not None:
            given = sent.get(name) if isinstance(sent.get(name), dict) else {}
            values = {key: given.get(key) for key in columns}
        else:
            values = {key: getattr(sample, column) for key, column in columns.items()}
        return values if any(v is not None for v in values.values()) else None

    return {
        "stream_id": sample.stream_id,
        "direction": sample.direction,
        "video": part("video", VIDEO_COLUMNS),
        "audio": part("audio", AUDIO_COLUMNS),
        "network": part("network", NETWORK_COLUMNS),
    }


SNAPSHOTS_PER_QUERY = 500  # ids in one IN (...): far below SQLite's bound-parameter limit


def _as_sent(samples: list[Sample]) -> dict[int, dict]:
    """The streams of `samples` as their reports sent them, by sample id.

    Read from the stored snapshot bodies, which keep each number's JSON type (25 stays 25, 25.0 stays
    25.0); the sample columns cannot, so answers are built from the bodies. A stream sent twice in one
    report is its last copy, as the newest sample is. Reads only: ingest is untouched.
    """
    ids = sorted({s.snapshot_id for s in samples})
    bodies: dict[int, dict] = {}
    for start in range(0, len(ids), SNAPSHOTS_PER_QUERY):
        chosen = ids[start : start + SNAPSHOTS_PER_QUERY]
        for row in Snapshot.select(Snapshot.id, Snapshot.body).where(Snapshot.id.in_(chosen)):
            bodies[row.id] = _json_decoder.decode(row.body)
    found = {}
    for sample in samples:
        body = bodies.get(sample.snapshot_id) or {}
        for entry in body.get("metrics") or []:
            if entry.get("user_id") != sample.user_id:
                continue
            for stream in entry.get("streams") or []:
                if stream.get("stream_id") == sample.stream_id and stream.get("direction", "send") == (
                    sample.direction
                ):
                    found[sample.id] = stream
    return found


def _latest_per_stream(samples: list[Sample], key: Callable[[Sample], tuple]) -> list[Sample]:
    """Keep the newest sample of each key; `samples` must come newest first."""
    seen: dict[tuple, Sample] = {}
    for sample in samples:
        seen.setdefault(key(sample), sample)
    return list(seen.values())


def _user_view(room_id: str, user_id: str, samples: list[Sample], sent: dict[int, dict]) -> dict:
    newest = max(samples, key=lambda s: (s.report_time, s.id))
    return {
        "room_id": room_id,
        "user_id": user_id,
        "sdk_version": newest.sdk_version,
        "report_time": newest.report_time,
        "streams": [
            _stream_out(s, sent.get(s.id)) for s in sorted(samples, key=lambda s: (s.stream_id, s.direction))
        ],
    }


def user_metrics(account_id: int, room_id: str, user_id: str, window: int) -> dict:
    """Newest metrics of each stream of one user (streams reported within `window` s of the newest).

    :raises NotFound: unknown room or user.
    """
    get_room(account_id, room_id)
    base = Sample.select().where(
        Sample.account_id == account_id, Sample.room_id == room_id, Sample.user_id == user_id
    )
    newest = base.select(peewee.fn.MAX(Sample.report_time)).scalar()
    if newest is None:
        raise NotFound(f"user '{user_id}' not found in room '{room_id}'")
    samples = list(
        base.where(Sample.report_time >= newest - window).order_by(
            Sample.report_time.desc(), Sample.id.desc()
        )
    )
    latest = _latest_per_stream(samples, lambda s: (s.stream_id, s.direction))
    return _user_view(room_id, user_id, latest, _as_sent(latest))


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return round(fmean(present), 3) if present else None


def _max(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _total(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present), 3) if present else None


def _value(stream: dict, part: str, key: str):
    return (stream.get(part) or {}).get(key)


def aggregate(streams: list[dict]) -> dict:
    """Room totals over the newest metrics of every stream (as _stream_out gives them). Bitrates are
    summed per direction: what users send and what they receive are different traffic and must not
    be added together. Sums and maxima keep the type of what was sent (integers give an integer);
    means are floats."""
    video = [
        s
        for s in streams
        if any(_value(s, "video", k) is not None for k in ("bitrate", "frame_rate", "width"))
    ]
    audio = [s for s in streams if any(_value(s, "audio", k) is not None for k in ("bitrate", "sample_rate"))]

    def bitrates(chosen: list[dict], part: str) -> dict:
        return {
            f"{direction}_bitrate": _total(
                [_value(s, part, "bitrate") for s in chosen if s["direction"] == direction]
            )
            for direction in ("send", "recv")
        }

    def network(key: str) -> list:
        return [_value(s, "network", key) for s in streams]

    return {
        "video": {
            **bitrates(video, "video"),
            "frame_rate": _mean([_value(s, "video", "frame_rate") for s in video]),
            "streams": len(video),
        },
        "audio": {**bitrates(audio, "audio"), "streams": len(audio)},
        "network": {
            "rtt": _mean(network("rtt")),
            "rtt_max": _max(network("rtt")),
            "packet_loss": _mean(network("packet_loss")),
            "packet_loss_max": _max(network("packet_loss")),
            "jitter": _mean(network("jitter")),
            "jitter_max": _max(network("jitter")),
        },
    }


def room_metrics(account_id: int, room_id: str, window: int) -> dict:
    """Aggregate of the room and the newest metrics of each user seen within `window` s of the newest report.

    :raises NotFound: unknown room.
    """
    room = get_room(account_id, room_id)
    newest = room.last_report_time
    samples = list(
        Sample.select()
        .where(
            Sample.account_id == account_id, Sample.room_id == room_id, Sample.report_time >= newest - window
        )
        .order_by(Sample.report_time.desc(), Sample.id.desc())
    )
    latest = _latest_per_stream(samples, lambda s: (s.user_id, s.stream_id, s.direction))
    sent = _as_sent(latest)
    by_user: dict[str, list[Sample]] = {}
    for sample in latest:
        by_user.setdefault(sample.user_id, []).append(sample)
    return {
        "room_id": room_id,
        "report_time": max((s.report_time for s in latest), default=newest),
        "user_count": len(by_user),
        "stream_count": len(latest),
        "aggregate": aggregate([_stream_out(s, sent.get(s.id)) for s in latest]),
        "users": [_user_view(room_id, user, by_user[user], sent) for user in sorted(by_user)],
    }


CURSOR_RE = re.compile(r"([0-9]{1,10})\.([0-9]{1,18})")  # ASCII digits that fit a 64-bit column


class BadCursor(ReportError):
    """A history cursor that this server did not hand out."""


def history(
    account_id: int, room_id: str, since: int | None, until: int | None, limit: int, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    """Accepted reports of the room, newest first, and the cursor of the next (older) page or None.

    The cursor is "<report_time>.<snapshot id>" of the last item: report_time alone has one-second
    resolution, so paging by `until` would skip reports sharing the boundary second.

    :raises NotFound: unknown room.
    :raises BadCursor: malformed cursor.
    """
    get_room(account_id, room_id)
    query = Snapshot.select(Snapshot.id, Snapshot.report_time, Snapshot.body).where(
        Snapshot.account_id == account_id, Snapshot.room_id == room_id
    )
    if since is not None:
        query = query.where(Snapshot.report_time >= since)
    if until is not None:
        query = query.where(Snapshot.report_time < until)
    if cursor:
        match = CURSOR_RE.fullmatch(cursor)
        if not match:
            raise BadCursor("cursor: not a cursor from X-Next-Cursor")
        last_time, last_id = int(match.group(1)), int(match.group(2))
        query = query.where(
            (Snapshot.report_time < last_time)
            | ((Snapshot.report_time == last_time) & (Snapshot.id < last_id))
        )
    rows = list(query.order_by(Snapshot.report_time.desc(), Snapshot.id.desc()).limit(limit))
    next_cursor = f"{rows[-1].report_time}.{rows[-1].id}" if len(rows) == limit else None
    return [json.loads(row.body) for row in rows], next_cursor


def samples_between(account_id: int, room_id: str, since: int | None, until: int | None) -> list[dict]:
    """Every stored sample of a room in [since, until), oldest first, as plain dicts (for other plugins)."""
    query = Sample.select().where(Sample.account_id == account_id, Sample.room_id == room_id)
    if since is not None:
        query = query.where(Sample.report_time >= since)
    if until is not None:
        query = query.where(Sample.report_time < until)
    return [
        {"user_id": s.user_id, "report_time": s.report_time, "received_at": s.received_at, **_stream_out(s)}
        for s in query.order_by(Sample.report_time, Sample.id)
    ]


def samples_as_sent_between(
    account_id: int, room_id: str, since: int | None, until: int | None
) -> list[dict]:
    """As samples_between, plus what each report sent beyond the stored columns (for analytics).

    Each sample also has `sdk_version`, `sent` (the stream exactly as its report sent it, unknown
    fields included: SDKs add e.g. freeze events or simulcast rids) and `report` (the report's
    top-level fields other than `metrics`, e.g. a platform or network type). Its video, audio and
    network values are those of the body, as the read routes answer them. Reads the stored snapshot
    bodies, so it costs more than samples_between: call it from jobs, on bounded windows.
    """
    query = Sample.select(
        Sample.snapshot,
        Sample.user_id,
        Sample.report_time,
        Sample.received_at,
        Sample.sdk_version,
        Sample.stream_id,
        Sample.direction,
    ).where(Sample.account_id == account_id, Sample.room_id == room_id)
    if since is not None:
        query = query.where(Sample.report_time >= since)
    if until is not None:
        query = query.where(Sample.report_time < until)
    # Tuples, not models: a job reads tens of thousands of samples at a time.
    samples = list(query.order_by(Sample.report_time, Sample.id).tuples())
    bodies: dict[int, dict] = {}
    ids = sorted({row[0] for row in samples})
    for start in range(0, len(ids), SNAPSHOTS_PER_QUERY):
        chosen = ids[start : start + SNAPSHOTS_PER_QUERY]
        rows = Snapshot.select(Snapshot.id, Snapshot.body).where(Snapshot.id.in_(chosen)).tuples()
        for snapshot_id, body in rows:
            bodies[snapshot_id] = _json_decoder.decode(body)
    streams: dict[tuple, dict] = {}
    tops: dict[int, dict] = {}
    for snapshot_id, body in bodies.items():
        tops[snapshot_id] = {k: v for k, v in body.items() if k != "metrics"}
        for entry in body.get("metrics") or []:
            for stream in entry.get("streams") or []:
                key = (
                    snapshot_id,
                    entry.get("user_id"),
                    stream.get("stream_id"),
                    stream.get("direction", "send"),
                )
                streams[key] = stream  # a stream sent twice in one report: its last copy, as in the columns

    def part(sent: dict, name: str, columns: dict) -> dict | None:
        given = sent.get(name)
        if not isinstance(given, dict):
            return None
        values = {key: given.get(key) for key in columns}
        return values if any(v is not None for v in values.values()) else None

    out = []
    for snapshot_id, user_id, report_time, received_at, sdk_version, stream_id, direction in samples:
        sent = streams.get((snapshot_id, user_id, stream_id, direction)) or {}
        out.append(
            {
                "user_id": user_id,
                "report_time": report_time,
                "received_at": received_at,
                "sdk_version": sdk_version,
                "stream_id": stream_id,
                "direction": direction,
                "video": part(sent, "video", VIDEO_COLUMNS),
                "audio": part(sent, "audio", AUDIO_COLUMNS),
                "network": part(sent, "network", NETWORK_COLUMNS),
                "sent": sent,
                "report": tops.get(snapshot_id) or {},
            }
        )
    return out


def mark_idle_rooms(live_window: int, now: float | None = None) -> list[Room]:
    """Flag rooms without a report for `live_window` s; returns the rooms that just went idle."""
    now = time.time() if now is None else now
    cutoff = now - live_window
    went_idle = []
    candidates = Room.select().where(Room.idle == False, Room.last_seen_at < cutoff)  # noqa: E712
    for room in candidates:
        changed = (
            Room.update(idle=True)
            .where(Room.id == room.id, Room.idle == False, Room.last_seen_at < cutoff)  # noqa: E712
            .execute()
        )
        if changed:  # another worker may have won the race
            went_idle.append(room)
    return went_idle


def purge_expired(retention_days: int, now: float | None = None, batch: int = 5000) -> dict:
    """Delete reports received before the retention period and rooms silent since then."""
    now = time.time() if now is None else now
    cutoff = now - retention_days * 86400
    deleted = {"snapshots": 0, "samples": 0, "rooms": 0}
    while True:
        with write_atomic():
            ids = [
                s.id for s in Snapshot.select(Snapshot.id).where(Snapshot.received_at < cutoff).limit(batch)
            ]
            if not ids:
                break
            # Deleted explicitly: SQLite only cascades with foreign_keys on, and old files may lack it.
            deleted["samples"] += Sample.delete().where(Sample.snapshot.in_(ids)).execute()
            deleted["snapshots"] += Snapshot.delete().where(Snapshot.id.in_(ids)).execute()
    deleted["rooms"] = Room.delete().where(Room.last_seen_at < cutoff).execute()
    return deleted
