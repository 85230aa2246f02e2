"""rtcstats plugin hooks: config, tables, routes, jobs, schedules, CLI and error mapping."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so
# importing this module must stay cheap (no flask, redis or analysis code).

INFO = {
    "name": "rtcstats",
    "version": "0.1.0",
    "description": "WebRTC stats dumps: chunked upload, analysis, observations, scores, sessions, quota "
    "(/api/rtcstats/v1.0 and /v1.0).",
    "requires": [],
    "scopes": {
        "rtcstats:write": "upload, analyze and live-collect dumps, delete sessions",
        "rtcstats:read": "read quota, sessions and the observation catalogue (also over MCP)",
    },
}


@hookimpl
def register_config_schema():
    from plugins.rtcstats.schemas import RtcstatsConfigSchema

    return RtcstatsConfigSchema


@hookimpl
def register_models():
    from plugins.rtcstats.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.rtcstats import migrations

    return migrations


def _log_parser_path() -> None:
    """One line when the web tier starts: compiled parser modules or the Python fallback (and why)."""
    import logging

    from plugins.rtcstats.compiled import summary

    logging.getLogger("rtcstats").info("rtcstats parser: %s", summary())


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.rtcstats.api import ALIAS_PREFIX, PREFIX, make_blueprint
    from plugins.rtcstats.mcp import make_mcp_blueprint
    from plugins.rtcstats.viewer import make_viewer_blueprint

    _log_parser_path()
    settings = plugin_settings("rtcstats")
    # The vendor moved its base path from /api/rtcstats/v1.0 to /v1.0: clients use either.
    return [
        make_blueprint(settings, "rtcstats", PREFIX),
        make_blueprint(settings, "rtcstats_v1", ALIAS_PREFIX),
        make_mcp_blueprint(settings, "rtcstats_mcp", PREFIX + "/mcp"),
        make_mcp_blueprint(settings, "rtcstats_mcp_v1", ALIAS_PREFIX + "/mcp"),
        make_viewer_blueprint(settings),
    ]


@hookimpl
def register_mcp_tools():
    from plugins.rtcstats.mcp import mcp_tools

    return mcp_tools()


@hookimpl
def register_jobs():
    from plugins.rtcstats import jobs

    return {
        "analyze_upload": jobs.analyze_upload,
        "reprocess_session": jobs.reprocess_session,
        "measure_series": jobs.measure_series,
        "purge_uploads": jobs.purge_uploads,
        "recover_collector_dumps": jobs.recover_collector_dumps,
    }


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule

    return [
        Schedule("purge_uploads", settings["purge_interval_seconds"]),
        # A lost socket's dump is an orphan after twice the idle timeout: look about that often.
        Schedule("recover_collector_dumps", 2 * settings["collector_idle_timeout_seconds"]),
    ]


@hookimpl
def register_cli_commands():
    from plugins.rtcstats.cli import rtcstats

    return [rtcstats]


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.rtcstats import service, uploads
    from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge

    if isinstance(exception, uploads.MissingChunks):
        return Problem(
            400,
            "Invalid request",
            str(exception),
            code="invalid_request",
            extra={"missingChunks": exception.missing},
        )
    mapping = (
        (uploads.InvalidUpload, 400, "Invalid request", "invalid_request"),
        (service.InvalidRequest, 400, "Invalid request", "invalid_request"),
        (service.InsufficientCredits, 402, "Payment required", "insufficient_credits"),
        (service.NotFound, 404, "Not found", "not_found"),
        (service.SessionLive, 409, "Conflict", "session_live"),
        (service.AnalysisPending, 409, "Conflict", "analysis_pending"),
        (uploads.UploadTooLarge, 413, "Payload too large", "file_too_large"),
        (DumpTooLarge, 413, "Payload too large", "file_too_large"),
        (DumpFormatError, 415, "Unsupported media type", "parsing_issue"),
        (service.AnalysisFailed, 422, "Unprocessable", "analysis_failed"),
        (service.ReprocessFailed, 422, "Unprocessable", "reprocess_failed"),
    )
    for cls, status, title, code in mapping:
        if isinstance(exception, cls):
            headers = {"Retry-After": "2"} if status == 409 else None
            if isinstance(exception, service.SessionLive):
                # Live for as long as the call lasts: a client polls slowly; `state` as the list has it.
                headers = {"Retry-After": str(service.LIVE_RETRY_AFTER)}
                return Problem(
                    status, title, str(exception), code=code, headers=headers, extra={"state": "live"}
                )
            return Problem(status, title, str(exception), code=code, headers=headers)
    return None


@hookimpl
def register_console_pages():
    from plugins.rtcstats.pages import console_pages

    return console_pages()


@hookimpl
def shutdown(app):
    # A gunicorn worker that stops gracefully: its collector sockets are closed with 1001 and their
    # dumps stored (collector_handoff.py). Only where a socket was served (the module is loaded).
    import sys

    handoff = sys.modules.get("plugins.rtcstats.collector_handoff")
    if handoff is not None:
        handoff.stop_all()
