"""recording plugin hooks: config, tables, the /v1 recording routes, egress events, reconcile job, errors."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so importing
# this module must stay cheap (no flask, minio or livekit code).

INFO = {
    "name": "recording",
    "version": "0.1.0",
    "description": "Room recordings: LiveKit egress to MinIO / S3; list, download, delete (/v1).",
    "requires": ["room"],
    "scopes": {"recording:admin": "start and stop room recordings; list, download and delete recordings"},
}


@hookimpl
def register_config_schema():
    from plugins.recording.schemas import RecordingConfigSchema

    return RecordingConfigSchema


@hookimpl
def register_models():
    from plugins.recording.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.recording import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.recording.api import make_blueprint

    return [make_blueprint(plugin_settings("recording"))]


@hookimpl
def register_jobs():
    from plugins.recording import jobs

    return {"reconcile_recordings": jobs.reconcile_recordings}


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule

    return [Schedule("reconcile_recordings", settings["reconcile_interval_seconds"])]


@hookimpl
def register_console_pages():
    from plugins.recording.pages import console_pages

    return console_pages()


@hookimpl
def egress_updated(account_id, room_name, egress_id, status, info, updated_at):
    # A quick row update; events it leads to are fired by the service (their handlers only enqueue).
    from plugins.recording import service

    service.apply_egress(account_id, egress_id, status, info, updated_at)


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from core.plugins import plugin_settings
    from core.storage import StorageUnavailable
    from plugins.recording import service

    if isinstance(exception, service.NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, service.Conflict):
        return Problem(409, "Conflict", str(exception))
    if isinstance(exception, service.StorageNotUsable | StorageUnavailable):
        retry = str(plugin_settings("recording")["retry_after_seconds"])
        detail = str(exception)
        if isinstance(exception, StorageUnavailable):
            detail = f"Recording storage is unavailable: {detail}"
        return Problem(503, "Service unavailable", detail, headers={"Retry-After": retry})
    return None
