"""room plugin hooks: config, tables, the /v1 routes, health capabilities and LiveKit error mapping."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so importing
# this module must stay cheap (no flask, livekit or protobuf code).

INFO = {
    "name": "room",
    "version": "0.1.0",
    "description": "LiveKit rooms, join tokens, participants and ingress (/v1, rooms-api.md).",
    "requires": [],
    "scopes": {"room:admin": "rooms, participants, ingress and join tokens"},
}

# LiveKit's Twirp codes -> (HTTP status, title) of the answer; see docs/room.md.
TWIRP_STATUS = {
    "not_found": 404,
    "bad_route": 502,  # our client called a method this LiveKit does not have: an upgrade mismatch
    "invalid_argument": 400,
    "malformed": 400,
    "out_of_range": 400,
    "already_exists": 409,
    "aborted": 409,
    "failed_precondition": 409,
    "resource_exhausted": 503,
    "unavailable": 503,
    "deadline_exceeded": 503,
    "canceled": 503,
    # LiveKit refused our key or secret (or the key lacks a grant): our configuration is wrong,
    # which the operator must fix; a 503 with the cause, as for any misconfigured dependency.
    "unauthenticated": 503,
    "permission_denied": 503,
}


@hookimpl
def register_config_schema():
    from plugins.room.schemas import RoomConfigSchema

    return RoomConfigSchema


@hookimpl
def register_models():
    from plugins.room.models import MODELS

    return MODELS


@hookimpl
def register_migrations():
    from plugins.room import migrations

    return migrations


@hookimpl
def register_blueprints():
    from core.plugins import plugin_settings
    from plugins.room.api import make_blueprint
    from plugins.room.livekit_webhook import make_blueprint as make_webhook_blueprint

    settings = plugin_settings("room")
    return [make_blueprint(settings), make_webhook_blueprint(settings)]


@hookimpl
def register_jobs():
    from plugins.room import jobs

    return {"purge_livekit_events": jobs.purge_livekit_events}


@hookimpl
def register_schedules(settings):
    from core.queue import Schedule

    return [Schedule("purge_livekit_events", settings["livekit_webhook_purge_interval_seconds"])]


@hookimpl
def room_capabilities():
    from core.plugins import plugin_settings
    from plugins.room import service

    return {"livekit": service.livekit_usable(plugin_settings("room"))}


def _retry_after() -> dict:
    from core.plugins import plugin_settings

    return {"Retry-After": str(plugin_settings("room")["livekit_retry_after_seconds"])}


@hookimpl
def problem_from_exception(exception):
    import logging

    from core.errors import Problem
    from plugins.room.livekit import LiveKitError, LiveKitNotConfigured, LiveKitUnavailable
    from plugins.room.service import NotFound

    if isinstance(exception, NotFound):
        return Problem(404, "Not found", str(exception))
    if isinstance(exception, LiveKitNotConfigured):
        return Problem(503, "Service unavailable", exception.msg, headers=_retry_after())
    if isinstance(exception, LiveKitUnavailable):
        return Problem(
            503, "Service unavailable", f"LiveKit is unavailable: {exception.msg}", headers=_retry_after()
        )
    if isinstance(exception, LiveKitError):
        code = exception.code or "unknown"
        status = TWIRP_STATUS.get(code, 502)
        log = logging.getLogger("plugins.room")
        if "not connected" in (exception.msg or ""):
            # "ingress not connected (redis required)": LiveKit runs without its ingress or egress
            # service (or without the Redis they need), a deployment matter like LiveKit being down.
            log.error("LiveKit lacks a service: %s", exception.msg)
            return Problem(
                503,
                "Service unavailable",
                f"LiveKit cannot serve this: {exception.msg}; the operator must run LiveKit's ingress "
                "and egress services (which need LiveKit with Redis)",
                headers=_retry_after(),
            )
        if code in ("unauthenticated", "permission_denied"):
            log.error(
                "LiveKit refused our credentials (%s: %s): check plugins.room.livekit_api_key/secret",
                code,
                exception.msg,
            )
            detail = (
                f"LiveKit refused this server's API key or secret ({code}: {exception.msg}); "
                "the operator must check plugins.room.livekit_api_key and livekit_api_secret"
            )
        elif status == 404:
            from plugins.room.service import _not_found

            detail = str(_not_found(exception))
        elif status >= 500:
            log.warning("LiveKit error %s: %s", code, exception.msg)
            detail = f"LiveKit failed ({code}): {exception.msg}"
        else:
            detail = f"LiveKit refused the request ({code}): {exception.msg}"
        headers = _retry_after() if status == 503 else None
        return Problem(status, "LiveKit error", detail, headers=headers)
    return None
