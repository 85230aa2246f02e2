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


@hookspec
def track_published(account_id, room_name, identity, track_sid, kind, source, published_at):
    """A participant published a track (LiveKit).

    :param kind: "audio" or "video"; :param source: "camera", "microphone", "screen_share",
        "screen_share_audio" or "unknown"; :param published_at: epoch seconds. Returns nothing.
    """


@hookspec
def ingress_started(account_id, room_name, ingress_id, started_at):
    """An ingress (RTMP / WHIP) began publishing into a room (LiveKit). Returns nothing."""


@hookspec
def ingress_stopped(account_id, room_name, ingress_id, stopped_at):
    """An ingress stopped publishing (LiveKit). Returns nothing."""


@hookspec
def egress_updated(account_id, room_name, egress_id, status, info, updated_at):
    """LiveKit reported an egress change (its egress_started, egress_updated or egress_ended webhook).

    :param status: LiveKit's EgressStatus name, e.g. "EGRESS_STARTING", "EGRESS_ACTIVE",
        "EGRESS_COMPLETE", "EGRESS_FAILED", "EGRESS_ABORTED".
    :param info: the EgressInfo as LiveKit's protojson dict (camelCase keys), file results included.
    :param updated_at: epoch seconds. Returns nothing.
    """


@hookspec
def recording_started(account_id, room_name, recording_id, egress_id, started_at):
    """A recording of a room started (recording plugin). Returns nothing."""


@hookspec
def recording_stopped(account_id, room_name, recording_id, egress_id, stopped_at, status):
    """A recording ended. :param status: "complete", "failed" or "stopped". Returns nothing."""


@hookspec
def recording_ready(account_id, room_name, recording_id, file_key, size, duration, ready_at):
    """A recording's file is complete in the object storage and can be read (recording plugin), once
    per recording, right after its recording_stopped with status "complete".

    Fired from a LiveKit webhook request or the reconcile job: a handler only enqueues work (the
    transcription plugin queues a post-call transcription when auto_transcribe is on).

    :param recording_id: the recording's id (LiveKit's egress id); read it through
        ``plugins.recording.interface`` (get_recording, open_recording).
    :param file_key: its object key; :param size: bytes (None if LiveKit did not say);
    :param duration: seconds (None if LiveKit did not say); :param ready_at: epoch seconds.
    Returns nothing.
    """


@hookspec
def transcription_completed(account_id, transcription_id, recording_id, room_name, completed_at):
    """A post-call transcription finished (transcription plugin). Returns nothing."""


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
