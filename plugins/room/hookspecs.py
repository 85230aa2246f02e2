"""Hooks of the room plugin that other plugins implement."""

from core.hookspecs import hookspec


@hookspec
def room_capabilities():
    """Say which of this plugin's features are usable right now, for ``GET /v1/health``.

    Called on every health request (in a request context): answer cheaply, caching any check of an
    outside service for a few seconds. Report what really works, not what is configured: e.g. the
    transcription plugin answers ``transcriptionLive`` true only while its live worker is alive.

    :returns: a dict of capability name (the contract's camelCase, e.g. ``"transcriptionLive"``) to
        bool, or None. Later plugins' keys win over earlier ones; the health answer starts from
        ``{"transcriptionLive": false, "transcriptionPost": false}``.
    """
