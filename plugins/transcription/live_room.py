"""The live worker's view of a LiveKit room: join with the rtc SDK, hand over each audio track's PCM.

The only module of the plugin that touches `livekit.rtc` (a native library that calls back from its
own threads, so it never runs in a gevent-patched process: only `mediaplane transcribe-live` imports
this). The worker sees `AudioTrack`s and nothing of the SDK, so the recognizer path is tested without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("plugins.transcription.live")

# Asked of the SDK's AudioStream, which resamples and downmixes natively; TrackRecognizer takes any
# rate and channel count, so a frame that arrives otherwise is still handled.
STREAM_RATE = 16000
STREAM_CHANNELS = 1


@dataclass
class AudioTrack:
    """One remote audio track: who speaks on it, and its frames as (s16le PCM, rate, channels)."""

    track_sid: str
    identity: str
    name: str
    frames: Callable[[], AsyncIterator[tuple[bytes, int, int]]]
    close: Callable[[], Awaitable[None]]


class LiveKitRoom:
    """Joins one room as a hidden subscriber and reports its audio tracks as they are subscribed.

    `rtc` is the `livekit.rtc` module (tests pass an object with the same surface: `Room`,
    `RoomOptions`, `AudioStream`, `TrackKind`). `on_track(AudioTrack)` is called for every audio
    track, those already published when joining included; `on_track_ended(track_sid)` when one is
    unsubscribed (its publisher left or unpublished it); `on_disconnected()` when LiveKit closed the
    connection (room deleted, server gone) for good.
    """

    def __init__(self, rtc=None):
        if rtc is None:
            from livekit import rtc
        self.rtc = rtc
        self.room = None
        self.seen: set[str] = set()

    async def join(
        self,
        url: str,
        token: str,
        on_track: Callable[[AudioTrack], None],
        on_track_ended: Callable[[str], None],
        timeout: float,
        on_disconnected: Callable[[], None] | None = None,
    ) -> None:
        """Connect and start reporting tracks.

        :raises Exception: the SDK's connection error, or TimeoutError after `timeout` seconds.
        """
        rtc = self.rtc
        room = self.room = rtc.Room()

        def subscribed(track, publication, participant):
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                self._report(track, participant, on_track)

        def unsubscribed(track, publication, participant):
            sid = getattr(publication, "sid", None) or getattr(track, "sid", "")
            if sid in self.seen:
                self.seen.discard(sid)
                on_track_ended(sid)

        room.on("track_subscribed", subscribed)
        room.on("track_unsubscribed", unsubscribed)
        if on_disconnected is not None:
            room.on("disconnected", lambda *reason: on_disconnected())
        await asyncio.wait_for(room.connect(url, token, rtc.RoomOptions(auto_subscribe=True)), timeout)
        # tracks published before we joined: subscribed already, or announced by track_subscribed later
        for participant in list(room.remote_participants.values()):
            for publication in list(participant.track_publications.values()):
                track = publication.track
                if track is not None and track.kind == rtc.TrackKind.KIND_AUDIO:
                    self._report(track, participant, on_track)

    def _report(self, track, participant, on_track) -> None:
        if track.sid in self.seen:  # both the publication walk and the event can name a track
            return
        self.seen.add(track.sid)
        rtc = self.rtc
        stream = rtc.AudioStream(track, sample_rate=STREAM_RATE, num_channels=STREAM_CHANNELS)

        async def frames():
            async for event in stream:
                frame = event.frame
                yield frame.data.tobytes(), frame.sample_rate, frame.num_channels

        on_track(
            AudioTrack(
                track_sid=track.sid,
                identity=participant.identity,
                name=participant.name or participant.identity,
                frames=frames,
                close=stream.aclose,
            )
        )

    async def leave(self) -> None:
        if self.room is not None:
            try:
                await self.room.disconnect()
            except Exception as error:  # noqa: BLE001 - leaving a broken connection is not worth a crash
                log.warning("leaving the room failed: %s", error)
            self.room = None
