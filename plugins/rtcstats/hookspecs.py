"""Events fired by the rtcstats plugin (implemented by e.g. analytics to index analysed sessions)."""

from core.hookspecs import hookspec


@hookspec
def rtcstats_session_analyzed(account_id, rtcstats_id):
    """A stored session has a new analysis: its first one, or a re-analysis by a newer analyzer.

    Fired after the analysis is committed, by the analysis job, by ``POST /analyze?save=true`` and
    by a read that re-analysed an outdated session: handlers must be quick (enqueue a job for
    anything slow) and read what they need through ``plugins.rtcstats.interface``.

    :param account_id: owner account id.
    :param rtcstats_id: the session's id (UUID string).
    """
