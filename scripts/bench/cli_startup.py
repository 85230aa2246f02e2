"""Cold start-up of the `mediaplane` command beside baselines measured in the same run.

Each run is a new process (the OS file cache is warm, as it is for an operator typing commands). Timed
with hyperfine when it is installed (`apt-get install hyperfine`), else with a plain loop. Measured:

- baselines: `python -c pass` (the interpreter alone) and `python -c "import flask"` (the web stack
  that the command line should not need), with the same interpreter;
- `mediaplane --help`, and `mediaplane rtcstats analyze DUMP` of a small dump (the analysis itself
  takes a few ms; the rest is start-up: click, the settings check, numpy and the analysis code);
- with `--also PATH`, the same two commands of another installed `mediaplane` (e.g. an older build).

    .venv/bin/python scripts/bench/cli_startup.py [--runs N] [--dump FILE] [--also /other/venv/bin/mediaplane]

PYTHONDONTWRITEBYTECODE is removed from the measured commands' environment, so their modules are
byte-compiled once (in the warm-up) and then loaded from bytecode, as in an installed wheel.
Settings come from the environment as usual; the targets (0.25 s and 0.35 s on a quiet machine) are
printed beside the figures, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_meter import machine_ticks  # noqa: E402 - a sibling script module

REPO = Path(__file__).resolve().parents[2]
# The real 477-byte dump copied into the repository (MIT, see its NOTICE).
SMALL_DUMP = REPO / "tests" / "fixtures" / "dumps" / "internals_chrome142_getusermedia_only.gz"
TARGETS = {"--help": 0.25, "rtcstats analyze": 0.35}


def with_hyperfine(commands: dict[str, list[str]], runs: int, env: dict, folder: Path) -> dict[str, dict]:
    export = folder / "hyperfine.json"
    args = [
        "hyperfine",
        "-N",
        "--style",
        "none",
        "--warmup",
        "3",
        "--runs",
        str(runs),
        "--export-json",
        str(export),
    ]
    for label, argv in commands.items():
        args += ["--command-name", label, shlex.join(argv)]
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    out = {}
    for result in json.loads(export.read_text())["results"]:
        out[result["command"]] = {
            "mean": result["mean"],
            "median": result["median"],
            "min": result["min"],
            "cpu": result["user"] + result["system"],
        }
    return out


def with_loop(commands: dict[str, list[str]], runs: int, env: dict) -> dict[str, dict]:
    out = {}
    for label, argv in commands.items():
        for _ in range(3):
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        times, cpu = [], []
        for _ in range(runs):
            before = os.times()
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
            after = os.times()
            cpu.append(
                after.children_user - before.children_user + after.children_system - before.children_system
            )
        out[label] = {
            "mean": statistics.mean(times),
            "median": statistics.median(times),
            "min": min(times),
            "cpu": statistics.mean(cpu),
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="Timed runs per command (default 20).")
    parser.add_argument("--dump", type=Path, help="Dump file for `rtcstats analyze` (default: a small one).")
    parser.add_argument(
        "--mediaplane",
        default=str(Path(sys.executable).parent / "mediaplane"),
        help="The command to measure (default: the one beside this Python).",
    )
    parser.add_argument("--also", action="append", default=[], help="Another mediaplane command to compare.")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="mp_cli_bench_") as tmp:
        folder = Path(tmp)
        dump = args.dump or SMALL_DUMP
        python = str(Path(args.mediaplane).parent / "python")
        commands = {
            "baseline: python -c pass": [python, "-c", "pass"],
            "baseline: python -c 'import flask'": [python, "-c", "import flask"],
        }
        for label, command in [("", args.mediaplane)] + [(f" [{p}]", p) for p in args.also]:
            commands[f"mediaplane --help{label}"] = [command, "--help"]
            commands[f"mediaplane rtcstats analyze{label}"] = [command, "rtcstats", "analyze", str(dump)]
        for argv_ in commands.values():  # fail early, with the command's own message
            done = subprocess.run(argv_, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{shlex.join(argv_)} failed:\n{done.stdout}{done.stderr}", file=sys.stderr)
                return 1
        tool = "hyperfine" if shutil.which("hyperfine") else "a timing loop (hyperfine is not installed)"
        busy0, total0 = machine_ticks()
        load0 = os.getloadavg()[0]
        results = (
            with_hyperfine(commands, args.runs, env, folder)
            if shutil.which("hyperfine")
            else with_loop(commands, args.runs, env)
        )
        busy1, total1 = machine_ticks()

    base = results["baseline: python -c pass"]["mean"]
    print(f"mediaplane CLI start-up, cold (a new process per run), {args.runs} runs each, timed by {tool}")
    print(f"dump: {dump} ({dump.stat().st_size} bytes)" if dump.exists() else f"dump: {dump}")
    print(f"{'command':<58}{'mean s':>8}{'median':>8}{'min':>8}{'CPU s':>8}{'- pass':>8}  target")
    for label, r in results.items():
        target = next(
            (
                f"<= {t} s (quiet machine)"
                for key, t in TARGETS.items()
                if label.startswith(f"mediaplane {key}")
            ),
            "",
        )
        print(
            f"{label:<58}{r['mean']:>8.3f}{r['median']:>8.3f}{r['min']:>8.3f}{r['cpu']:>8.3f}"
            f"{r['mean'] - base:>8.3f}  {target}"
        )
    busy = 100 * (busy1 - busy0) / max(1, total1 - total0)
    print(
        f"machine CPU busy during the run: {busy:.0f} % of {os.cpu_count()} CPUs (load average {load0:.1f} "
        f"at the start). The measurement itself is one busy CPU ({100 / (os.cpu_count() or 1):.0f} %); above "
        "that, other work shared the machine and every figure, the baselines too, is inflated."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
