"""Core event hookspecs and `fire()`: plugins announce facts, others react (cheaply: enqueue work)."""

from __future__ import annotations

import logging

from core.hookspecs import hookspec

log = logging.getLogger(__name__)


# Events the core knows of; a plugin's own events live in its hookspecs.py.


@hookspec
def room_started(account_id, room_name, started_at):
    """A room began (LiveKit). :param started_at: epoch seconds. Returns nothing."""


@hookspec
def room_finished(account_id, room_name, finished_at):
    """A room ended (LiveKit). :param finished_at: epoch seconds. Returns nothing."""


@hookspec
def participant_joined(account_id, room_name, identity, joined_at):
    """A participant joined a room. Returns nothing."""


@hookspec
def participant_left(account_id, room_name, identity, left_at):
    """A participant left a room. Returns nothing."""


def fire(name: str, **kwargs) -> None:
    """Call every implementation of event `name`.

    A handler that raises is logged and skipped: one plugin's bug must not fail the request that
    fired the event, nor hide the event from the others.
    """
    from core.plugins import current_plugins

    caller = getattr(current_plugins().pm.hook, name)
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception:  # noqa: BLE001 - isolation between plugins is the point
            log.exception("event handler %s of plugin %s failed", name, impl.plugin_name)
