"""Audio decoding with ffmpeg: any container to 16 kHz mono s16le PCM, streamed in chunks."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from plugins.transcription.engine import SAMPLE_RATE

# 0.25 s of PCM per read: small enough for steady progress, large enough that Python's per-call cost
# is nothing next to Vosk's.
CHUNK_BYTES = SAMPLE_RATE * 2 // 4
STDERR_TAIL = 600  # characters of ffmpeg's complaint kept for the readable error


class DecoderUnavailable(Exception):
    """ffmpeg / ffprobe is not installed or cannot start (an operator problem: the job is retried)."""


class DecodeError(Exception):
    """The file is not audio ffmpeg can read (corrupt, truncated, no audio stream): retrying won't help."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DecoderUnavailable(f"{name} is not installed (Debian: apt-get install ffmpeg)")
    return path


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL:] if text else "no error output"


def probe_duration(path: Path) -> float | None:
    """The media duration in seconds as the container states it, or None when it states none.

    :raises DecoderUnavailable: ffprobe is missing.
    :raises DecodeError: ffprobe cannot read the file.
    """
    result = subprocess.run(
        [
            _binary("ffprobe"),
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise DecodeError(f"the recording could not be read: {_tail(result.stderr)}")
    info = json.loads(result.stdout or b"{}")
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])):
        raise DecodeError("the recording has no audio stream")
    try:
        duration = float(info.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        return None
    return duration if duration > 0 else None


def pcm_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the audio of `path` as 16 kHz mono s16le PCM, `chunk_bytes` at a time (the last may be
    shorter); ffmpeg's output is read as it comes, never held whole.

    A file, not a pipe, is the input: MP4 files written by LiveKit egress keep their index (moov) at
    the end, which ffmpeg can only reach by seeking.

    :raises DecoderUnavailable: ffmpeg is missing.
    :raises DecodeError: ffmpeg failed on the file (its error output is in the message).
    """
    command = [
        _binary("ffmpeg"),
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(path),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    # stderr is read after stdout ends; ffmpeg at -loglevel error writes far less than a pipe buffer.
    try:
        while True:
            chunk = process.stdout.read(chunk_bytes)
            if not chunk:
                break
            yield chunk
        stderr = process.stderr.read()
        if process.wait() != 0:
            raise DecodeError(f"the recording could not be decoded: {_tail(stderr)}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
