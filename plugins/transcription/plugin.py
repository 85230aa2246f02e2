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
    from plugins.transcription.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.transcription import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.transcription.api import make_blueprint

    return [make_blueprint(plugin_settings("transcription"))]


@hookimpl
def register_jobs():
    from plugins.transcription import jobs

    return {"transcribe_recording": jobs.transcribe_recording}


@hookimpl
def problem_from_exception(exception):
    from core.errors import Problem
    from plugins.transcription import engine, service

    if isinstance(exception, service.NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, service.NotReady | service.NotCompleted):
        return Problem(409, "Conflict", str(exception))
    if isinstance(exception, engine.ModelUnavailable):
        from core.plugins import plugin_settings

        retry = str(plugin_settings("transcription")["retry_after_seconds"])
        return Problem(503, "Service unavailable", str(exception), headers={"Retry-After": retry})
    return None


# Optional: with the room plugin disabled its hookspec is absent, and this one must not stop startup.
@hookimpl(optionalhook=True)
def room_capabilities():
    from plugins.transcription import service

    return {"transcriptionPost": service.post_call_usable()}


@hookimpl
def recording_ready(account_id, recording_id):
    # Cheap: a row and an enqueue (the recognition is the job's); off unless auto_transcribe is set.
    from core.plugins import plugin_settings

    settings = plugin_settings("transcription")
    if settings["auto_transcribe"]:
        from plugins.transcription import service

        service.auto_transcribe(settings, account_id, recording_id)
