"""analytics plugin hooks: config, tables, routes, jobs, schedules, events of other plugins, errors."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so
# importing this module must stay cheap.

INFO = {
    "name": "analytics",
    "version": "0.1.0",
    "description": "100ms-style peer quality stats and Agora-style call analytics from report, room and "
    "rtcstats data (/v2/analytics, /beta).",
    "requires": [],
    "scopes": {"analytics:read": "read sessions, peers and quality statistics"},
}


@hookimpl
def register_config_schema():
    from plugins.analytics.agora_schemas import AgoraSettingsMixin
    from plugins.analytics.schemas import AnalyticsConfigSchema

    class AnalyticsSettingsSchema(AnalyticsConfigSchema, AgoraSettingsMixin):
        """The plugin's settings and those of its Agora-style endpoints (agora_*)."""

    return AnalyticsSettingsSchema


@hookimpl
def register_models():
    from plugins.analytics.agora_models import MODELS as AGORA_MODELS
    from plugins.analytics.models import MODELS

    return MODELS + AGORA_MODELS


@hookimpl
def register_migrations():
    from plugins.analytics import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.analytics import agora_api
    from plugins.analytics.peer_stats_api import make_blueprint

    settings = plugin_settings("analytics")
    return [make_blueprint(settings), agora_api.make_blueprint(settings)]


@hookimpl
def register_cli_commands():
    from plugins.analytics.agora_cli import analytics

    return [analytics]


@hookimpl
def register_jobs():
    from plugins.analytics import jobs

    return {
        "rollup_calls": jobs.rollup_calls,
        "rollup_call": jobs.rollup_call,
        "ingest_rtcstats": jobs.ingest_rtcstats,
        "purge_expired": jobs.purge_expired,
    }


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule

    return [
        Schedule("rollup_calls", settings["rollup_interval_seconds"]),
        Schedule("purge_expired", settings["purge_interval_seconds"]),
    ]


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.analytics.service import NotEnded, NotFound

    if isinstance(exception, NotFound | NotEnded):
        return Problem(404, "Not found", str(exception))
    return None


# -- events of other plugins: each source is optional, so these hooks are too ---------------------
# Handlers run inside the request or job that fired the event: one or two row writes each; reading
# samples and dumps is left to jobs.


@hookimpl(optionalhook=True)
def report_room_started(account_id, room_id, started_at):
    from plugins.analytics import ingest

    ingest.report_room_started(account_id, room_id, started_at)


@hookimpl(optionalhook=True)
def report_room_idle(account_id, room_id):
    from core.queue import enqueue
    from plugins.analytics import ingest

    call_pk = ingest.report_room_idle(account_id, room_id)
    if call_pk is not None:
        enqueue("analytics.rollup_call", call_pk)


@hookimpl
def room_started(account_id, room_name, started_at):
    from plugins.analytics import ingest

    ingest.room_started(account_id, room_name, started_at)


@hookimpl
def room_finished(account_id, room_name, finished_at):
    from core.queue import enqueue
    from plugins.analytics import ingest

    call_pk = ingest.room_finished(account_id, room_name, finished_at)
    if call_pk is not None:
        enqueue("analytics.rollup_call", call_pk)


@hookimpl
def participant_joined(account_id, room_name, identity, joined_at):
    from plugins.analytics import ingest

    ingest.participant_joined(account_id, room_name, identity, joined_at)


@hookimpl
def participant_left(account_id, room_name, identity, left_at):
    from plugins.analytics import ingest

    ingest.participant_left(account_id, room_name, identity, left_at)


@hookimpl
def track_published(account_id, room_name, identity, track_sid, kind, source, published_at):
    from plugins.analytics import ingest

    ingest.track_published(account_id, room_name, identity, track_sid, kind, source, published_at)


@hookimpl(optionalhook=True)
def rtcstats_session_analyzed(account_id, rtcstats_id):
    from core.queue import enqueue

    enqueue("analytics.ingest_rtcstats", account_id, str(rtcstats_id))
