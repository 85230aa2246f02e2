"""transcription plugin hooks: config, tables, the /v1 transcription routes, the job and error mapping."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so importing
# this module must stay cheap (no flask, vosk or audio code).

INFO = {
    "name": "transcription",
    "version": "0.1.0",
    "description": "Post-call and live speech recognition of recordings and rooms with Vosk (/v1).",
    "requires": [],
    "scopes": {"transcription:admin": "queue, read and delete transcriptions; phrase hints"},
}


@hookimpl
def register_config_schema():
    from plugins.transcription.schemas import TranscriptionConfigSchema

    return TranscriptionConfigSchema


@hookimpl
def register_models():
    from plugins.transcription.live_models import LIVE_MODELS
    from plugins.transcription.models import MODELS

    return MODELS + LIVE_MODELS


@hookimpl
def register_migrations():
    from plugins.transcription import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.transcription.api import make_blueprint
    from plugins.transcription.live_api import make_live_blueprint

    settings = plugin_settings("transcription")
    return [make_blueprint(settings), make_live_blueprint(settings)]


@hookimpl
def register_cli_commands():
    from plugins.transcription.live_cli import transcribe_live

    return [transcribe_live]


@hookimpl
def register_console_pages():
    from plugins.transcription.pages import console_pages

    return console_pages()


@hookimpl
def register_jobs():
    from plugins.transcription import jobs

    return {"transcribe_recording": jobs.transcribe_recording}


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.transcription import engine, live_service, service

    if isinstance(exception, service.NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, service.NotReady | service.NotCompleted):
        return Problem(409, "Conflict", str(exception))
    if isinstance(exception, engine.ModelUnavailable | live_service.LiveUnavailable):
        from core.plugins import plugin_settings

        retry = str(plugin_settings("transcription")["retry_after_seconds"])
        return Problem(503, "Service unavailable", str(exception), headers={"Retry-After": retry})
    return None


# Optional: with the room plugin disabled its hookspec is absent, and this one must not stop startup.
@hookimpl(optionalhook=True)
def room_capabilities():
    from plugins.transcription import live_api, service

    return {"transcriptionPost": service.post_call_usable(), "transcriptionLive": live_api.live_usable()}


@hookimpl
def recording_ready(account_id, recording_id):
    # Cheap: a row and an enqueue (the recognition is the job's); off unless auto_transcribe is set.
    from core.plugins import plugin_settings

    settings = plugin_settings("transcription")
    if settings["auto_transcribe"]:
        from plugins.transcription import service

        service.auto_transcribe(settings, account_id, recording_id)


@hookimpl
def room_finished(account_id, room_name, finished_at):
    # A room that ended has nothing left to transcribe: its live transcription stops (the worker leaves).
    from flask import current_app

    from plugins.transcription import live_service

    live_service.stop_finished_room(
        current_app.extensions["mediaplane"].redis, account_id, room_name, finished_at
    )
