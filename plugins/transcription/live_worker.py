"""The live transcription worker (`mediaplane transcribe-live`): an asyncio process, no gevent.

It beats a heartbeat in Redis (the API answers 503 without one), watches the database for rooms whose
live transcription is active (woken through Redis pub/sub, and re-reading on a timer), claims each
room in Redis so that one worker serves it, joins it as a hidden subscriber, and runs one
`TrackRecognizer` per audio track with the participant's identity as speaker. Segments go to the
database. SIGTERM stops it cleanly: every track's last utterance is flushed as final first.

Blocking work runs off the event loop: Vosk in a thread pool (it is C and releases the GIL), the
database in one thread, Redis in another (so a slow database never delays the heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from plugins.transcription import live_service, metrics
from plugins.transcription.live_recognizer import CHUNK_SECONDS, SegmentUpdate, TrackRecognizer

log = logging.getLogger("plugins.transcription.live")

IDENTITY_PREFIX = "mediaplane-transcriber-"
CLAIM_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) "
    "else return 0 end"
)
CLAIM_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)


class RoomSession:
    """One room this worker listens to: its LiveKit connection and one recognizer task per track."""

    def __init__(self, worker: LiveWorker, info: dict):
        self.worker = worker
        self.info = info
        self.room = worker.room_factory()
        self.tracks: dict[str, asyncio.Task] = {}
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.failed = False
        self.disconnected = False

    @property
    def transcription_id(self) -> str:
        return self.info["id"]

    async def run(self) -> None:
        worker = self.worker
        try:
            url, token = await worker.in_db(
                worker.listener_token, self.info["livekit_room"], IDENTITY_PREFIX + worker.worker_id
            )
            await self.room.join(
                url,
                token,
                self.on_track,
                self.on_track_ended,
                worker.settings["live_join_timeout_seconds"],
                on_disconnected=self.on_disconnected,
            )
            log.info("transcribing room %s (%s)", self.info["livekit_room"], self.transcription_id)
            await worker.in_db(metrics.live_joined, "ok")
            await worker.in_db(live_service.set_error, self.transcription_id, None)
            await self.stopping.wait()
            if self.disconnected:
                await worker.in_db(
                    live_service.set_error, self.transcription_id, "LiveKit closed the connection; rejoining"
                )
        except asyncio.CancelledError:
            pass
        except Exception as error:  # noqa: BLE001 - any failure to join is retried after a pause
            self.failed = True
            reason = f"the live worker cannot join the room: {type(error).__name__}: {error}"
            log.warning("%s (%s)", reason, self.transcription_id)
            try:
                await worker.in_db(metrics.live_joined, "failed")
                await worker.in_db(live_service.set_error, self.transcription_id, reason)
            except Exception as db_error:  # noqa: BLE001
                log.warning("cannot record the join failure: %s", db_error)
        finally:
            await self.close()

    def on_disconnected(self) -> None:
        # the session ends; the worker rejoins after live_retry_seconds while the transcription is active
        self.disconnected = True
        self.stopping.set()

    def on_track(self, track) -> None:
        if track.track_sid not in self.tracks and not self.stopping.is_set():
            self.tracks[track.track_sid] = asyncio.ensure_future(self.consume(track))

    def on_track_ended(self, track_sid: str) -> None:
        task = self.tracks.get(track_sid)
        if task is not None:
            task.cancel()  # consume() flushes the last utterance as final

    async def consume(self, track) -> None:
        worker = self.worker
        settings = worker.settings
        recognizer = TrackRecognizer(
            worker.model,
            track_sid=track.track_sid,
            speaker_id=track.identity,
            phrases=self.info["phrases"],
            partial_interval=settings["live_partial_interval_seconds"],
            gap=settings["segment_gap_seconds"],
        )
        started_at: float | None = None
        pending = bytearray()
        audio_format = (0, 0)
        try:
            async for pcm, rate, channels in track.frames():
                if started_at is None:  # the first frame's first sample, in wall-clock time
                    started_at = time.time() - len(pcm) / (2 * rate * channels)
                if (rate, channels) != audio_format and pending:
                    await self.recognize(recognizer, track, started_at, bytes(pending), *audio_format)
                    pending.clear()
                audio_format = (rate, channels)
                pending += pcm
                # Vosk gets ~100 ms at a time: one thread hop per 10 ms frame would cost more than it does
                if len(pending) >= CHUNK_SECONDS * rate * channels * 2:
                    await self.recognize(recognizer, track, started_at, bytes(pending), *audio_format)
                    pending.clear()
        except asyncio.CancelledError:
            pass
        except Exception as error:  # noqa: BLE001 - one broken track must not end the room's others
            log.warning("track %s of %s failed: %s", track.track_sid, self.transcription_id, error)
        finally:
            try:
                if started_at is not None:
                    updates = []
                    if pending:
                        updates += await worker.in_vosk(recognizer.push, bytes(pending), *audio_format)
                    updates += await worker.in_vosk(recognizer.finish)
                    await self.write(track, started_at, updates)
            except Exception as error:  # noqa: BLE001
                log.warning("flushing track %s failed: %s", track.track_sid, error)
            try:
                await track.close()
            except Exception:  # noqa: BLE001, S110 - the stream may be gone with the room
                pass

    async def recognize(self, recognizer, track, started_at, pcm, rate, channels) -> None:
        updates = await self.worker.in_vosk(recognizer.push, pcm, rate, channels)
        if updates:
            await self.write(track, started_at, updates)

    async def write(self, track, started_at: float, updates: list) -> None:
        if not self.info["partials"]:
            updates = [u for u in updates if not (isinstance(u, SegmentUpdate) and not u.final)]
        if updates:
            await self.worker.in_db(
                live_service.write_updates,
                self.transcription_id,
                updates,
                track_started_at=started_at,
                speaker_name=track.name,
            )

    async def stop(self) -> None:
        """Flush every track and leave the room (transcription stopped, claim lost, shutdown)."""
        self.stopping.set()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    async def close(self) -> None:
        self.stopping.set()
        tasks = list(self.tracks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.room.leave()


class LiveWorker:
    """The process's loop: heartbeat, claims, rooms. `room_factory()` makes a LiveKitRoom-like object
    (tests pass one over a fake SDK); `model` is a loaded Vosk model (None: loaded by `run`)."""

    def __init__(self, app, *, room_factory=None, model=None, worker_id: str | None = None):
        from core.plugins import plugin_settings

        self.app = app
        with app.app_context():
            self.settings = plugin_settings("transcription")
            self.data_dir = app.extensions["mediaplane"].config["core"]["data_dir"]
        self.redis_conn = app.extensions["mediaplane"].redis
        if room_factory is None:
            from plugins.transcription.live_room import LiveKitRoom

            room_factory = LiveKitRoom
        self.room_factory = room_factory
        self.model = model
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sessions: dict[str, RoomSession] = {}
        self.retry_at: dict[str, float] = {}
        self.db_pool = ThreadPoolExecutor(1, thread_name_prefix="live-db")
        self.redis_pool = ThreadPoolExecutor(1, thread_name_prefix="live-redis")
        self.vosk_pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), thread_name_prefix="live-vosk")
        self.wake = None

    # -- off-loop helpers ----------------------------------------------------------------------

    def _with_app(self, function, *args, **kwargs):
        from core.db import db

        with self.app.app_context(), db.connection_context():
            return function(*args, **kwargs)

    async def in_db(self, function, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_pool, lambda: self._with_app(function, *args, **kwargs))

    async def in_redis(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.redis_pool, function, *args)

    async def in_vosk(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.vosk_pool, function, *args)

    @staticmethod
    def listener_token(livekit_room: str, identity: str) -> tuple[str, str]:
        from core.plugins import plugin_settings
        from plugins.room import interface

        ttl = plugin_settings("transcription")["live_token_ttl_seconds"]
        return interface.listener_token(livekit_room, identity, ttl)

    # -- Redis ---------------------------------------------------------------------------------

    def _claim_key(self, transcription_id: str) -> str:
        return live_service.CLAIM_PREFIX + transcription_id

    def _ttl(self) -> int:
        return max(1, int(self.settings["live_heartbeat_seconds"]))

    def claim(self, transcription_id: str) -> bool:
        return bool(
            self.redis_conn.set(self._claim_key(transcription_id), self.worker_id, nx=True, ex=self._ttl())
        )

    def refresh(self) -> list[str]:
        """Beat, and extend this worker's claims; returns the transcriptions whose claim was lost."""
        live_service.beat(self.redis_conn, self.worker_id, self.settings["live_heartbeat_seconds"])
        lost = []
        for transcription_id in list(self.sessions):
            key = self._claim_key(transcription_id)
            if not self.redis_conn.eval(CLAIM_REFRESH, 1, key, self.worker_id, self._ttl()):
                lost.append(transcription_id)
        return lost

    def release(self, transcription_id: str) -> None:
        self.redis_conn.eval(CLAIM_RELEASE, 1, self._claim_key(transcription_id), self.worker_id)

    def _listen(self, loop: asyncio.AbstractEventLoop, stopped: threading.Event) -> None:
        """Wake-ups from the API (a thread: redis-py's pub/sub is blocking)."""
        while not stopped.is_set():
            try:
                pubsub = self.redis_conn.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(live_service.WAKE_CHANNEL)
                while not stopped.is_set():
                    if pubsub.get_message(timeout=1.0):
                        loop.call_soon_threadsafe(self.wake.set)
            except Exception as error:  # noqa: BLE001 - Redis down: the timer still re-reads
                log.warning("wake-up channel: %s", error)
                stopped.wait(2)

    # -- the loop ------------------------------------------------------------------------------

    async def load_model(self) -> None:
        """:raises engine.ModelUnavailable: the model is not configured or cannot be loaded."""
        if self.model is None:
            from plugins.transcription import engine, service

            cache = service.model_cache_dir(self.settings, self.data_dir)
            self.model = await self.in_vosk(engine.load_model, self.settings["model_path"], cache)

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve rooms until `stopping` is set, then flush and leave every room."""
        loop = asyncio.get_running_loop()
        await self.load_model()
        self.wake = asyncio.Event()
        stopped = threading.Event()
        listener = threading.Thread(target=self._listen, args=(loop, stopped), daemon=True, name="live-wake")
        listener.start()
        poll_every = self.settings["live_poll_seconds"]
        next_poll = 0.0
        # The heartbeat has a task of its own: a slow database read never delays it past its TTL.
        heart = asyncio.ensure_future(self.beat_until(stopping))
        log.info("live transcription worker %s started", self.worker_id)
        try:
            while not stopping.is_set():
                now = time.monotonic()
                if now >= next_poll or self.wake.is_set():
                    self.wake.clear()
                    next_poll = now + poll_every
                    try:
                        await self.reconcile()
                    except Exception as error:  # noqa: BLE001 - database or Redis down: try again later
                        log.warning("reading live transcriptions failed: %s", error)
                timeout = max(0.05, next_poll - time.monotonic())
                waiters = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(self.wake.wait())]
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            stopped.set()
            for transcription_id in list(self.sessions):
                await self.drop(transcription_id)
            heart.cancel()
            await asyncio.gather(heart, return_exceptions=True)
            try:
                await self.in_redis(live_service.retire, self.redis_conn, self.worker_id)
            except Exception as error:  # noqa: BLE001
                log.warning("leaving the heartbeat failed: %s", error)
            listener.join(3)
            for pool in (self.vosk_pool, self.db_pool, self.redis_pool):
                pool.shutdown(wait=True)
            log.info("live transcription worker %s stopped", self.worker_id)

    async def beat_until(self, stopping: asyncio.Event) -> None:
        """Beat every third of the heartbeat TTL (claims are extended with it) until stopping."""
        every = self.settings["live_heartbeat_seconds"] / 3
        while not stopping.is_set():
            try:
                for transcription_id in await self.in_redis(self.refresh):
                    log.warning("claim of %s lost: leaving its room", transcription_id)
                    await self.drop(transcription_id, release=False)
            except Exception as error:  # noqa: BLE001 - Redis down: no heartbeat, so the API says 503
                log.warning("heartbeat failed: %s", error)
            try:
                await asyncio.wait_for(stopping.wait(), every)
            except TimeoutError:
                pass

    async def reconcile(self) -> None:
        """Leave rooms whose transcription stopped; join active ones nobody serves (up to the limit)."""
        active = {info["id"]: info for info in await self.in_db(live_service.active_transcriptions)}
        for transcription_id, session in list(self.sessions.items()):
            if transcription_id not in active:
                await self.drop(transcription_id)
            elif session.task is not None and session.task.done():
                # it failed to join or lost the room: try again after a pause
                await self.drop(transcription_id)
                self.retry_at[transcription_id] = time.monotonic() + self.settings["live_retry_seconds"]
        now = time.monotonic()
        for transcription_id, info in active.items():
            if transcription_id in self.sessions or self.retry_at.get(transcription_id, 0) > now:
                continue
            if len(self.sessions) >= self.settings["live_max_rooms_per_worker"]:
                break
            if not await self.in_redis(self.claim, transcription_id):
                continue  # another worker serves it
            session = RoomSession(self, info)
            self.sessions[transcription_id] = session
            session.task = asyncio.ensure_future(session.run())
        self.retry_at = {k: v for k, v in self.retry_at.items() if k in active}

    async def drop(self, transcription_id: str, release: bool = True) -> None:
        session = self.sessions.pop(transcription_id, None)
        if session is not None:
            await session.stop()
        if release:
            try:
                await self.in_redis(self.release, transcription_id)
            except Exception as error:  # noqa: BLE001 - the claim expires by itself
                log.warning("releasing the claim of %s failed: %s", transcription_id, error)


def serve(app) -> None:
    """Run a LiveWorker until SIGTERM or SIGINT (the CLI command)."""
    import signal

    async def main():
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await LiveWorker(app).run(stopping)

    asyncio.run(main())
