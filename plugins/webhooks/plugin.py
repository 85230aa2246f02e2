"""webhooks plugin hooks: config, tables, routes, jobs, schedules, metrics, error mapping, core events."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so
# importing this module must stay cheap (no flask, redis or urllib3).

INFO = {
    "name": "webhooks",
    "version": "0.1.0",
    "description": "Signed outgoing webhooks of room, recording, ingress and transcription events with "
    "retries and a delivery log (/v1/webhooks).",
    "requires": [],
    "scopes": {"webhooks:admin": "create, read, change, delete and test webhooks; read their deliveries"},
}


@hookimpl
def register_config_schema():
    from plugins.webhooks.schemas import WebhooksConfigSchema

    return WebhooksConfigSchema


@hookimpl
def check_environment(settings):
    import os

    if settings["ca_file"] and not os.path.isfile(settings["ca_file"]):
        return [f"ca_file: {settings['ca_file']} is not a file"]
    return []


@hookimpl
def register_models():
    from plugins.webhooks.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.webhooks import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.webhooks.api import make_blueprint

    return [make_blueprint(plugin_settings("webhooks"))]


@hookimpl
def register_jobs():
    from plugins.webhooks import jobs

    return {
        "deliver": jobs.deliver,
        "sweep_deliveries": jobs.sweep_deliveries,
        "purge_deliveries": jobs.purge_deliveries,
    }


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule
    from plugins.webhooks.jobs import QUEUE

    return [
        Schedule("sweep_deliveries", settings["sweep_interval_seconds"], QUEUE),
        Schedule("purge_deliveries", settings["purge_interval_seconds"], QUEUE),
    ]


@hookimpl
def startup(app):
    from core.metrics import add_scrape_collector
    from plugins.webhooks.metrics import BACKLOG

    add_scrape_collector(BACKLOG)


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.webhooks.service import BadInput, NotFound, TooMany

    if isinstance(exception, NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, BadInput):
        field = exception.field
        return Problem(400, "Invalid request", f"{field}: {exception}", errors={field: [str(exception)]})
    if isinstance(exception, TooMany):
        return Problem(409, "Conflict", str(exception))
    return None


# -- core events: each becomes a contract event delivered to the matching webhooks ----------------


def _publish(account_id, event, occurred_at, data):
    from plugins.webhooks.service import iso, publish

    # Times in `data` are ISO strings like every time of the contract.
    publish(account_id, event, {k: iso(v) if k.endswith("At") else v for k, v in data.items()}, occurred_at)


@hookimpl
def room_started(account_id, room_name, started_at):
    _publish(account_id, "room_created", started_at, {"roomId": room_name, "startedAt": started_at})


@hookimpl
def room_finished(account_id, room_name, finished_at):
    _publish(account_id, "room_closed", finished_at, {"roomId": room_name, "closedAt": finished_at})


@hookimpl
def participant_joined(account_id, room_name, identity, joined_at):
    _publish(
        account_id,
        "participant_joined",
        joined_at,
        {"roomId": room_name, "participantId": identity, "joinedAt": joined_at},
    )


@hookimpl
def participant_left(account_id, room_name, identity, left_at):
    _publish(
        account_id,
        "participant_left",
        left_at,
        {"roomId": room_name, "participantId": identity, "leftAt": left_at},
    )


@hookimpl
def track_published(account_id, room_name, identity, track_sid, kind, source, published_at):
    _publish(
        account_id,
        "track_published",
        published_at,
        {
            "roomId": room_name,
            "participantId": identity,
            "trackSid": track_sid,
            "kind": kind,
            "source": source,
            "publishedAt": published_at,
        },
    )


@hookimpl
def recording_started(account_id, room_name, recording_id, egress_id, started_at):
    _publish(
        account_id,
        "recording_started",
        started_at,
        {"roomId": room_name, "recordingId": recording_id, "egressId": egress_id, "startedAt": started_at},
    )


@hookimpl
def recording_stopped(account_id, room_name, recording_id, egress_id, stopped_at, status):
    _publish(
        account_id,
        "recording_stopped",
        stopped_at,
        {
            "roomId": room_name,
            "recordingId": recording_id,
            "egressId": egress_id,
            "status": status,
            "stoppedAt": stopped_at,
        },
    )


@hookimpl
def ingress_started(account_id, room_name, ingress_id, started_at):
    _publish(
        account_id,
        "ingress_started",
        started_at,
        {"roomId": room_name, "ingressId": ingress_id, "startedAt": started_at},
    )


@hookimpl
def ingress_stopped(account_id, room_name, ingress_id, stopped_at):
    _publish(
        account_id,
        "ingress_stopped",
        stopped_at,
        {"roomId": room_name, "ingressId": ingress_id, "stoppedAt": stopped_at},
    )


@hookimpl
def transcription_completed(account_id, transcription_id, recording_id, room_name, completed_at):
    _publish(
        account_id,
        "transcription_completed",
        completed_at,
        {
            "roomId": room_name,
            "transcriptionId": transcription_id,
            "recordingId": recording_id,
            "completedAt": completed_at,
        },
    )
