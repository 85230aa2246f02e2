"""Speech for the live transcription tests: two speakers' tracks as raw PCM, cut into LiveKit-sized frames."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.plugins.transcription.speech import SENTENCES, Speech, make_recording, require_tools

# Two speakers, two tracks, the post-call tests' sentences and phrase hints. Alice says the first two,
# Bob the same two the other way round. Measured: the third sentence ("감사합니다 ...") comes out
# exactly only after other speech on the same recognizer (espeak's robotic voice and Vosk's online
# adaptation), so neither track opens with it; the grammar still holds it.
ALICE = [SENTENCES[0], SENTENCES[1]]
BOB = [SENTENCES[1], SENTENCES[0]]
PHRASES = SENTENCES
FRAME_SECONDS = 0.01  # LiveKit's AudioStream yields 10 ms frames


def pcm(path: Path, rate: int, channels: int, trailing_silence: float = 1.5) -> bytes:
    """The recording's audio as s16le PCM at `rate` with `channels`, plus trailing silence (a track
    that goes quiet, as a participant who stopped talking)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-ac", str(channels), "-ar", str(rate)]
        + ["-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return raw + bytes(int(trailing_silence * rate) * 2 * channels)


def frames(data: bytes, rate: int, channels: int, seconds: float = FRAME_SECONDS):
    size = int(rate * seconds) * 2 * channels
    for at in range(0, len(data), size):
        yield data[at : at + size]


def speakers(directory: Path) -> dict[str, Speech]:
    """Alice's and Bob's speech (espeak-ng), each an m4a with its spoken times."""
    require_tools()
    return {
        "alice": make_recording(directory / "alice", ALICE, video=False),
        "bob": make_recording(directory / "bob", BOB, video=False),
    }
