"""The per-track path of live transcription: audio frames in, partial and final segments out.

Independent of the LiveKit SDK (the worker hands it the PCM of each frame), so it is tested by feeding
it frames of real speech. One `TrackRecognizer` per audio track: Vosk does not separate voices, but a
track is one participant, so its speaker is known.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np

from plugins.transcription import engine

# A frame's PCM is buffered up to this many seconds before Vosk sees it: LiveKit delivers 10 ms
# frames, and Vosk works best (and costs least per call) on chunks of 100-200 ms.
CHUNK_SECONDS = 0.1


class StreamingResampler:
    """s16le PCM of any rate and channel count to 16 kHz mono, frame by frame.

    Channels are averaged; the rate is changed by a windowed-sinc low-pass (below the lower Nyquist
    frequency, so nothing folds back into the speech band) and linear interpolation between the
    filtered samples. State carries over between frames, so frame boundaries leave no clicks.
    """

    TAPS = 63

    def __init__(self, rate_in: int, channels: int, rate_out: int = engine.SAMPLE_RATE):
        if rate_in <= 0 or channels <= 0:
            raise ValueError(f"bad audio format: {rate_in} Hz, {channels} channels")
        self.rate_in = rate_in
        self.channels = channels
        self.rate_out = rate_out
        self.step = rate_in / rate_out  # input samples per output sample
        self.filter = self._lowpass(min(rate_in, rate_out) / 2 / rate_in) if rate_in != rate_out else None
        self.history = np.zeros(self.TAPS - 1)  # the last inputs, for the filter
        self.pending = np.zeros(0)  # filtered inputs not yet fully used by interpolation
        self.position = 0.0  # of the next output sample, in `pending` samples

    def _lowpass(self, cutoff: float) -> np.ndarray:
        # cutoff in cycles per input sample; 0.9 of it leaves room for the filter's transition band
        n = np.arange(self.TAPS) - (self.TAPS - 1) / 2
        taps = 2 * cutoff * 0.9 * np.sinc(2 * cutoff * 0.9 * n) * np.hamming(self.TAPS)
        return taps / taps.sum()

    def push(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if self.channels > 1:
            samples = samples[: len(samples) // self.channels * self.channels]
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        if self.filter is None:
            return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
        joined = np.concatenate([self.history, samples])
        self.history = joined[-(self.TAPS - 1) :]
        filtered = np.convolve(joined, self.filter, mode="valid")
        self.pending = np.concatenate([self.pending, filtered])
        last = len(self.pending) - 1  # interpolation needs a sample on each side
        count = int(np.ceil((last - self.position) / self.step)) if last > self.position else 0
        positions = self.position + self.step * np.arange(count)
        out = np.interp(positions, np.arange(len(self.pending)), self.pending)
        self.position += self.step * len(positions)
        # keep the sample the next output interpolates from (position may already be past the end)
        used = min(int(np.floor(self.position)), max(0, len(self.pending) - 1))
        self.pending = self.pending[used:]
        self.position -= used
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


@dataclass
class SegmentUpdate:
    """A segment to write: a partial one (it may still change) or a final one.

    `utterance` counts Vosk utterances of the track; `part` numbers the segments one utterance was
    split into (a pause of segment_gap_seconds). (utterance, part) is stable: the partial of an
    utterance is part 0 until its final segments replace it. Times are seconds from the first frame
    of the track.
    """

    track_sid: str
    speaker_id: str
    utterance: int
    part: int
    final: bool
    start: float
    end: float
    text: str
    confidence: float | None
    words: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.track_sid}-{self.utterance}-{self.part}"


@dataclass
class Retraction:
    """The partial of an utterance whose final result held no words (noise, unknown speech): drop it."""

    track_sid: str
    utterance: int

    @property
    def key(self) -> str:
        return f"{self.track_sid}-{self.utterance}-0"


class TrackRecognizer:
    """One Vosk recognizer for one audio track.

    `push(pcm, rate, channels)` takes a frame and returns what changed: final segments when Vosk found
    the end of an utterance, and at most every `partial_interval` seconds of audio the partial of the
    utterance in progress (when its words changed). `finish()` flushes the last utterance as final
    (track ended, transcription stopped, worker shutting down).

    Partial times come from Vosk's partial words; they are only as good as a partial is.
    """

    def __init__(
        self,
        model,
        *,
        track_sid: str,
        speaker_id: str,
        phrases: list[str] | None = None,
        partial_interval: float = 0.5,
        gap: float = engine.DEFAULT_GAP_SECONDS,
        transcriber_factory=engine.Transcriber,
    ):
        self.track_sid = track_sid
        self.speaker_id = speaker_id
        self.partial_interval = partial_interval
        self.transcriber = transcriber_factory(
            model, phrases=phrases, speaker=speaker_id, partial_words=True, gap=gap
        )
        self.utterance = 0
        self.last_partial_text = ""
        self.last_partial_at = 0.0  # seconds of audio
        self.resampler: StreamingResampler | None = None
        self.buffer = bytearray()
        # Kaldi aborts the whole process when one recognizer is used by two threads at once: the worker
        # calls it from a thread pool, and a cancelled call may still be running when finish() comes.
        self.lock = threading.Lock()

    @property
    def ignored_words(self) -> list[str]:
        return self.transcriber.ignored_words

    @property
    def seconds(self) -> float:
        """Seconds of audio fed to Vosk so far."""
        return self.transcriber.seconds_fed

    def _to_16k_mono(self, pcm: bytes, sample_rate: int, channels: int) -> bytes:
        if sample_rate == engine.SAMPLE_RATE and channels == 1:
            return pcm
        if self.resampler is None or (self.resampler.rate_in, self.resampler.channels) != (
            sample_rate,
            channels,
        ):
            self.resampler = StreamingResampler(sample_rate, channels)
        return self.resampler.push(pcm)

    def push(
        self, pcm: bytes, sample_rate: int = engine.SAMPLE_RATE, channels: int = 1
    ) -> list[SegmentUpdate | Retraction]:
        with self.lock:
            return self._push(pcm, sample_rate, channels)

    def _push(self, pcm: bytes, sample_rate: int, channels: int) -> list[SegmentUpdate | Retraction]:
        self.buffer += self._to_16k_mono(pcm, sample_rate, channels)
        chunk = int(CHUNK_SECONDS * engine.BYTES_PER_SECOND)
        updates: list[SegmentUpdate | Retraction] = []
        while len(self.buffer) >= chunk:
            piece = bytes(self.buffer[:chunk])
            del self.buffer[:chunk]
            updates += self._feed(piece)
        return updates

    def _feed(self, pcm: bytes) -> list[SegmentUpdate | Retraction]:
        transcriber = self.transcriber
        transcriber.bytes_fed += len(pcm)
        # Not Transcriber.feed: an utterance that ended with no words (noise) ends all the same, and
        # its partial must go.
        if transcriber.recognizer.AcceptWaveform(pcm):
            return self._finals(self._segments(transcriber.recognizer.Result()))
        if self.seconds - self.last_partial_at < self.partial_interval:
            return []
        self.last_partial_at = self.seconds
        partial = self._partial()
        return [partial] if partial else []

    def _segments(self, raw: str) -> list[engine.Segment]:
        t = self.transcriber
        return engine.segments_from_result(json.loads(raw), t.offset, t.speaker, t.gap)

    def _partial(self) -> SegmentUpdate | None:
        raw = json.loads(self.transcriber.recognizer.PartialResult())
        words = [w for w in raw.get("partial_result") or [] if not engine.NON_WORD.match(w.get("word", ""))]
        text = " ".join(w["word"] for w in words)
        if not words or text == self.last_partial_text:
            return None
        self.last_partial_text = text
        return SegmentUpdate(
            track_sid=self.track_sid,
            speaker_id=self.speaker_id,
            utterance=self.utterance,
            part=0,
            final=False,
            start=round(float(words[0]["start"]), 3),
            end=round(float(words[-1]["end"]), 3),
            text=text,
            confidence=None,
            words=[
                {"word": w["word"], "start": round(float(w["start"]), 3), "end": round(float(w["end"]), 3)}
                for w in words
            ],
        )

    def _finals(self, segments: list[engine.Segment]) -> list[SegmentUpdate | Retraction]:
        updates: list[SegmentUpdate | Retraction] = []
        if not segments and self.last_partial_text:
            updates.append(Retraction(self.track_sid, self.utterance))
        for part, segment in enumerate(segments):
            updates.append(
                SegmentUpdate(
                    track_sid=self.track_sid,
                    speaker_id=self.speaker_id,
                    utterance=self.utterance,
                    part=part,
                    final=True,
                    start=segment.start,
                    end=segment.end,
                    text=segment.text,
                    confidence=segment.confidence,
                    words=segment.to_dict()["words"],
                )
            )
        if segments or self.last_partial_text:
            self.utterance += 1
        self.last_partial_text = ""
        return updates

    def finish(self) -> list[SegmentUpdate | Retraction]:
        """Feed what is buffered and flush the utterance in progress as final."""
        with self.lock:
            return self._finish()

    def _finish(self) -> list[SegmentUpdate | Retraction]:
        updates: list[SegmentUpdate | Retraction] = []
        if self.buffer:
            updates += self._feed(bytes(self.buffer))
            self.buffer.clear()
        return updates + self._finals(self._segments(self.transcriber.recognizer.FinalResult()))
