"""A stand-in for the `livekit.rtc` module, for the live worker's room glue (transcription/live_room.py).

No LiveKit server runs here (../shared/reference/stack.md), and the SDK's Room talks to one through its
native library, so a room is faked at the SDK's own surface, the only part the adapter uses:

- `Room()` with `.on(event, callback)`, `await .connect(url, token, RoomOptions)`, `.remote_participants`
  ({identity: participant with `.identity`, `.name`, `.track_publications` {sid: publication with
  `.sid`, `.kind`, `.track`}}) and `await .disconnect()`; events `track_subscribed(track, publication,
  participant)`, `track_unsubscribed(...)` and `disconnected(reason)` with the SDK's argument order.
- `AudioStream(track, sample_rate=, num_channels=)`: an async iterator of events whose `.frame` is a
  real `livekit.rtc.AudioFrame`, 10 ms each, and `await .aclose()`. Unlike the SDK (which resamples
  natively) it yields the track's own rate and channels; the worker's recognizer resamples those.
- `TrackKind` and `RoomOptions` are the SDK's own.

`connect` checks the token as LiveKit would for this use: signed with the server's key and secret,
for this room, hidden, subscribe only. Audio is paced in real time unless `speed` says otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from livekit import rtc as real_rtc

TrackKind = real_rtc.TrackKind
RoomOptions = real_rtc.RoomOptions
AudioFrame = real_rtc.AudioFrame


@dataclass
class FakeTrack:
    sid: str
    pcm: bytes
    sample_rate: int
    channels: int
    kind: int = TrackKind.KIND_AUDIO
    hold_open: bool = False  # after its audio, the track stays open and silent-less (a live mic)


@dataclass
class FakePublication:
    sid: str
    kind: int
    track: FakeTrack | None


@dataclass
class FakeParticipant:
    identity: str
    name: str
    track_publications: dict = field(default_factory=dict)


class FakeServer:
    """What LiveKit holds: one room, its participants and their tracks; which tokens joined it. Its
    methods are called from the test's thread; rooms receive the events on their own loop."""

    def __init__(self, api_key: str, api_secret: str, room_name: str, speed: float = 1.0):
        self.api_key = api_key
        self.api_secret = api_secret
        self.room_name = room_name
        self.speed = speed
        self.participants: dict[str, FakeParticipant] = {}
        self.rooms: list[Room] = []
        self.claims = []
        self.refuse: Exception | None = None

    def publish(self, identity: str, name: str, track: FakeTrack) -> None:
        """A participant publishes an audio track; rooms already joined get track_subscribed."""
        participant = self.participants.setdefault(identity, FakeParticipant(identity, name))
        publication = FakePublication(track.sid, track.kind, track)
        participant.track_publications[track.sid] = publication
        for room in self.rooms:
            room.remote_participants[identity] = participant
            room.emit_soon("track_subscribed", track, publication, participant)

    def unpublish(self, identity: str, sid: str) -> None:
        participant = self.participants[identity]
        publication = participant.track_publications.pop(sid)
        for room in self.rooms:
            room.emit_soon("track_unsubscribed", publication.track, publication, participant)

    def close(self) -> None:
        """LiveKit ends the connection (room deleted)."""
        for room in list(self.rooms):
            room.emit_soon("disconnected", "ROOM_DELETED")


class Room:
    server: FakeServer  # set by FakeRtc

    def __init__(self):
        self.handlers: dict[str, list] = {}
        self.remote_participants: dict[str, FakeParticipant] = {}
        self.connected = False

    def on(self, event: str, callback=None):
        def register(function):
            self.handlers.setdefault(event, []).append(function)
            return function

        return register(callback) if callback is not None else register

    def emit(self, event: str, *args) -> None:
        for handler in self.handlers.get(event, []):
            handler(*args)

    def emit_soon(self, event: str, *args) -> None:
        """From the test's thread: the SDK emits its events on the loop the room connected from."""
        self.loop.call_soon_threadsafe(self.emit, event, *args)

    async def connect(self, url: str, token: str, options=None) -> None:
        from livekit.api import TokenVerifier

        server = self.server
        if server.refuse is not None:
            raise server.refuse
        claims = TokenVerifier(server.api_key, server.api_secret).verify(token)
        video = claims.video
        assert video.room_join and video.room == server.room_name, video
        assert video.hidden and video.can_subscribe and not video.can_publish and not video.can_publish_data
        server.claims.append((url, claims))
        self.loop = asyncio.get_running_loop()
        await asyncio.sleep(0)
        self.connected = True
        # as LiveKit: participants already in the room are known once connected, their tracks
        # subscribed (auto_subscribe) right after
        self.remote_participants.update(server.participants)
        server.rooms.append(self)
        for participant in list(server.participants.values()):
            for publication in participant.track_publications.values():
                self.emit("track_subscribed", publication.track, publication, participant)

    async def disconnect(self) -> None:
        if self in self.server.rooms:
            self.server.rooms.remove(self)
        self.connected = False


class _FrameEvent:
    def __init__(self, frame):
        self.frame = frame


class AudioStream:
    speed = 1.0

    def __init__(self, track: FakeTrack, sample_rate: int = 48000, num_channels: int = 1, **_):
        self.track = track
        self.closed = asyncio.Event()

    def __aiter__(self):
        return self._frames()

    async def _frames(self):
        track = self.track
        samples = track.sample_rate // 100
        size = samples * 2 * track.channels
        for at in range(0, len(track.pcm) - size + 1, size):
            if self.closed.is_set():
                return
            yield _FrameEvent(
                AudioFrame(track.pcm[at : at + size], track.sample_rate, track.channels, samples)
            )
            await asyncio.sleep(0.01 / self.speed)
        if track.hold_open:
            await self.closed.wait()

    async def aclose(self) -> None:
        self.closed.set()


class FakeRtc:
    """The module-like object LiveKitRoom(rtc=...) takes."""

    TrackKind = TrackKind
    RoomOptions = RoomOptions

    def __init__(self, server: FakeServer):
        self.server = server
        self.Room = type("Room", (Room,), {"server": server})
        self.AudioStream = type("AudioStream", (AudioStream,), {"speed": server.speed})
