"""Events fired by the report plugin (implemented by e.g. analytics to build sessions)."""

from core.hookspecs import hookspec


@hookspec
def report_room_started(account_id, room_id, started_at):
    """A room received its first report, or its first report after going idle.

    Fired after the report is committed, inside the ingest request: handlers must be quick
    (enqueue a job for anything slow).

    :param account_id: owner account id.
    :param room_id: the room id as sent by the SDK.
    :param started_at: server time of that report, epoch seconds (float).
    """


@hookspec
def report_room_idle(account_id, room_id, active_since, last_seen_at):
    """A room had no report for ``live_window_seconds``; fired once by the idle-check job.

    :param account_id: owner account id.
    :param room_id: the room id.
    :param active_since: epoch seconds when this stretch of activity began.
    :param last_seen_at: epoch seconds of its newest report.
    """
