"""report plugin hooks: config, tables, routes, jobs, schedules and error mapping."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so
# importing this module must stay cheap (no flask, redis or analysis code).

INFO = {
    "name": "report",
    "version": "0.1.0",
    "description": "SDK quality metrics ingest, live rooms, latest metrics and history (/report).",
    "requires": [],
    "scopes": {
        "report:ingest": "post metrics (safe to embed in SDKs: reads nothing)",
        "report:read": "read rooms, metrics and history",
    },
}


@hookimpl
def register_config_schema():
    from plugins.report.schemas import ReportConfigSchema

    return ReportConfigSchema


@hookimpl
def register_models():
    from plugins.report.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.report import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.report.api import make_blueprint

    return [make_blueprint(plugin_settings("report"))]


@hookimpl
def register_jobs():
    from plugins.report import jobs

    return {"mark_idle_rooms": jobs.mark_idle_rooms, "purge_expired": jobs.purge_expired}


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule

    return [
        Schedule("mark_idle_rooms", settings["idle_check_interval_seconds"]),
        Schedule("purge_expired", settings["purge_interval_seconds"]),
    ]


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.report.service import BadCursor, NotFound, TooLarge

    if isinstance(exception, NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, BadCursor):
        return Problem(400, "Invalid request", str(exception))
    if isinstance(exception, TooLarge):
        return Problem(413, "Payload too large", str(exception))
    return None


@hookimpl
def register_console_pages():
    from plugins.report.pages import console_pages

    return console_pages()
