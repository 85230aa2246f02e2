"""Ours against jitsi/rtcstats-server's feature extractor on the jitsi-format dumps, interleaved in one run.

Used by ``rtcstats_analyze.py --jitsi-extractor PATH``. PATH is a checkout of jitsi/rtcstats-server with its
``npm install`` done, kept outside this repository (nothing of it is committed). Its extractor runs in one
long-lived Node process (``jitsi_extractor.js``), ours in this process; every round times each file once on
both sides, alternating which side goes first, so that both see the same machine load. The figure per file
is the median of the rounds, after warm-up rounds that are not counted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DRIVER = Path(__file__).resolve().with_name("jitsi_extractor.js")
ANSWER = "@@bench "
TARGET = 1.0


class JitsiExtractor:
    """The Node process that runs jitsi's extractor on request (see jitsi_extractor.js)."""

    def __init__(self, checkout: Path, workdir: Path):
        node = shutil.which("node")
        if node is None:
            raise SystemExit("--jitsi-extractor needs node on PATH")
        if not (checkout / "src" / "worker-pool" / "DumpFileProcessor.js").is_file():
            raise SystemExit(f"{checkout} is not a jitsi/rtcstats-server checkout")
        if not (checkout / "node_modules").is_dir():
            raise SystemExit(f"run `npm install` in {checkout} first")
        env = {**os.environ, "NODE_ENV": "production", "NODE_CONFIG_DIR": str(checkout / "config")}
        # cwd: its logger writes logs/ relative to the working directory
        self.proc = subprocess.Popen(
            [node, str(DRIVER), str(checkout)],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def call(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(ANSWER):
                answer = json.loads(line[len(ANSWER) :])
                if "error" in answer and "ok" not in answer:
                    raise RuntimeError(f"jitsi driver: {answer['error']}")
                return answer
        raise RuntimeError(f"the jitsi driver exited (code {self.proc.wait()})")

    def load(self, path: Path) -> str | None:
        """Load and extract once; the extractor's error message when it refuses the dump."""
        answer = self.call(op="load", path=str(path))
        return None if answer["ok"] else answer["error"]

    def run(self, path: Path) -> tuple[float, float]:
        """Wall and CPU seconds of one extraction, timed inside Node."""
        answer = self.call(op="run", path=str(path))
        return answer["ms"] / 1000.0, answer["cpuMs"] / 1000.0

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its log transports may keep the event loop alive
            self.proc.kill()
            self.proc.wait()


def jitsi_format_files(fixtures: Path, skip: set[str]) -> list[Path]:
    """The fixtures our format detection calls rtcstats-legacy (jitsi's JSON-lines dumps)."""
    from plugins.rtcstats.parsing import detect

    found = []
    for path in sorted(fixtures.iterdir()):
        if path.is_file() and path.name not in skip and path.read_bytes()[:2] != b"\x1f\x8b":
            if detect(path.read_bytes()) == "rtcstats-legacy":
                found.append(path)
    return found


def _timed(func: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU time of this process, all threads)."""
    cpu = time.process_time()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start, time.process_time() - cpu


def compare(fixtures: Path, checkout: Path, runs: int, warmup: int, skip: set[str], ours) -> None:
    """Time both extractors on every jitsi-format fixture, interleaved; print the table and the verdict.

    `ours(data, name)` is the code under test (parse + analyze).
    """
    files = jitsi_format_files(fixtures, skip)
    if not files:
        raise SystemExit(f"no jitsi-format (rtcstats-legacy) fixtures in {fixtures}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as workdir:
        jitsi = JitsiExtractor(checkout, Path(workdir))
        try:
            refused = {path: jitsi.load(path) for path in files}
            data = {path: path.read_bytes() for path in files}
            # side -> [(wall s, CPU s), ...]
            times: dict[Path, dict[str, list[tuple[float, float]]]] = {
                p: {"jitsi": [], "ours": []} for p in files
            }
            for round_no in range(warmup + runs):
                for path in files:
                    sides = [
                        ("jitsi", lambda p=path: jitsi.run(p)),
                        ("ours", lambda p=path: _timed(lambda: ours(data[p], p.name))),
                    ]
                    if round_no % 2:
                        sides.reverse()
                    for side, measure in sides:
                        if side == "jitsi" and refused[path]:
                            continue
                        seconds = measure()
                        if round_no >= warmup:
                            times[path][side].append(seconds)
        finally:
            jitsi.close()
    _print(files, data, times, refused, runs, warmup, load_before, os.getloadavg())


def _medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and median CPU seconds."""
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def _print(files, data, times, refused, runs, warmup, load_before, load_after) -> None:
    print(
        f"jitsi/rtcstats-server feature extractor vs our parse+analyze, median of {runs} interleaved runs "
        f"after {warmup} warm-up runs (load average before {load_before[0]:.2f}, after {load_after[0]:.2f})\n"
        "ms: wall time; cpu: CPU time of the measuring process (Node's process.cpuUsage, Python's "
        "process_time), less sensitive to other work on the machine\n"
    )
    print(
        "| file | MB | jitsi ms | ours ms | jitsi ms/MB | ours ms/MB | ours/jitsi | "
        "jitsi cpu ms/MB | ours cpu ms/MB | ours/jitsi cpu |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total_mb = 0.0
    totals = {"jitsi": [0.0, 0.0], "ours": [0.0, 0.0]}
    for path in files:
        mb = len(data[path]) / 1e6
        ours, ours_cpu = _medians(times[path]["ours"])
        if refused[path]:
            print(
                f"| {path.name} | {mb:.3f} | refused: {refused[path][:40]} | {ours * 1e3:.1f} | - | "
                f"{ours * 1e3 / mb:.1f} | - | - | {ours_cpu * 1e3 / mb:.1f} | - |"
            )
            continue
        theirs, theirs_cpu = _medians(times[path]["jitsi"])
        total_mb += mb
        for side, wall, cpu in (("jitsi", theirs, theirs_cpu), ("ours", ours, ours_cpu)):
            totals[side][0] += wall
            totals[side][1] += cpu
        print(
            f"| {path.name} | {mb:.3f} | {theirs * 1e3:.1f} | {ours * 1e3:.1f} | {theirs * 1e3 / mb:.1f} | "
            f"{ours * 1e3 / mb:.1f} | {ours / theirs:.2f} | {theirs_cpu * 1e3 / mb:.1f} | "
            f"{ours_cpu * 1e3 / mb:.1f} | {ours_cpu / theirs_cpu:.2f} |"
        )
    if not total_mb:
        print("\njitsi's extractor refused every file: no comparison")
        return
    (theirs, theirs_cpu), (ours, ours_cpu) = totals["jitsi"], totals["ours"]
    ratio = ours / theirs
    print(
        f"| total (files both read) | {total_mb:.3f} | {theirs * 1e3:.1f} | {ours * 1e3:.1f} | "
        f"{theirs * 1e3 / total_mb:.1f} | {ours * 1e3 / total_mb:.1f} | {ratio:.2f} | "
        f"{theirs_cpu * 1e3 / total_mb:.1f} | {ours_cpu * 1e3 / total_mb:.1f} | {ours_cpu / theirs_cpu:.2f} |"
    )
    verdict = "MET" if ratio <= TARGET else "MISSED"
    print(
        f"\ntarget ours/jitsi ms/MB <= {TARGET:g} over the files both read (wall): {verdict} ({ratio:.2f}; "
        f"CPU time {ours_cpu / theirs_cpu:.2f})"
    )
