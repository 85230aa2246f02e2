"""Benchmark of POST /report/metrics: mediaplane against a bare Flask ceiling under the same gunicorn.

    .venv/bin/python scripts/bench/report_ingest.py [--requests N] [--concurrency C] [--workers W]

Everything runs on 127.0.0.1 (docs/benchmarks.md has the details and the measured figures):

1. A fresh PostgreSQL schema `mp_bench_<pid>` in database `test` (user postgres) and a temp data dir.
   mediaplane is configured only through MEDIAPLANE__* environment variables: that schema, Redis db 14,
   the ingest rate limit raised so it never caps the run (it is still checked on every request).
   Then `mediaplane migrate`, `accounts create bench`, `keys create` and `mediaplane serve --workers W`.
2. Phase 1, peak: after a warm-up, a closed loop of N requests at concurrency C from a separate gevent
   client process (scripts/bench/load_client.py). Phase 2, latency: an open loop on a fixed arrival
   schedule at 80 % of that peak rate.
3. The same against scripts/bench/bare_app.py, a Flask app that only answers 200, served with the same
   gunicorn options (the ceiling). Its open loop runs at the mediaplane rate, so both latency columns
   are taken at the same offered load.
4. Every request is one user's report with 2 streams (camera: video + network; mic: audio + network),
   users u1-u3 of one room taking turns: each 200 must leave 2 rows in report_sample, which are counted.

Prints one table with the targets (ratio >= 0.40, p99 <= 50 ms at 80 % of peak, zero lost) and the
CPU split of the machine during each run. Exits 1 if an acknowledged sample is missing, a request
was not answered 200 or a run timed out; the performance targets are reported, not enforced (they
depend on the machine). Servers, schema and temp dir are removed on exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg2
from cpu_meter import CpuMeter

HOST = "127.0.0.1"
PG = {"host": HOST, "port": 5432, "user": "postgres", "dbname": "test"}
REDIS_URL = f"redis://{HOST}:6379/14"
SAMPLES_PER_REPORT = 2  # one user's report: camera + mic
OPEN_LOOP_SHARE = 0.8
TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
STARTUP_SECONDS = 60
STOP_SECONDS = 40  # above gunicorn's graceful_timeout (30 s)
WARMUP_SECONDS = 60.0
NOISY_OTHER_CPU = 10.0  # percent of the machine used by unrelated processes during a measured run
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exceeded|Timeout)\b.*")  # last line of a traceback


class BenchError(Exception):
    """The benchmark could not run (a server did not start, a client failed); the message says why."""


# -- setup ----------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000, help="Requests of each peak run.")
    parser.add_argument("--concurrency", type=int, default=32, help="Connections of the peak runs.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers.")
    parser.add_argument("--warmup", type=int, default=500, help="Requests before each measured run.")
    parser.add_argument("--open-seconds", type=float, default=15.0, help="Length of each open-loop run.")
    parser.add_argument("--time-limit", type=float, default=300.0, help="Hard limit of each load run, s.")
    parser.add_argument("--json", type=Path, help="Also write the raw figures to this file.")
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.workers) < 1 or args.warmup < 0:
        parser.error("--requests, --concurrency and --workers must be positive")
    return args


def free_port() -> int:
    # Another process may take the port before the server binds it; the health check then fails loudly.
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pg_connect():
    conn = psycopg2.connect(**PG)
    conn.autocommit = True
    return conn


def create_schema(schema: str) -> None:
    with contextlib.closing(pg_connect()) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")  # schema is mp_bench_<digits>: nothing to quote


def drop_schema(schema: str) -> None:
    with contextlib.closing(pg_connect()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def count_rows(schema: str, table: str) -> int:
    with contextlib.closing(pg_connect()) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {schema}.{table}")
        return cur.fetchone()[0]


def server_env(schema: str, data_dir: Path) -> dict:
    """The parent environment without any mediaplane setting, plus the benchmark's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDIAPLANE") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        MEDIAPLANE__CORE__DATABASE_URL=(
            f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{PG['dbname']}"
            f"?options=-csearch_path%3D{schema}"
        ),
        MEDIAPLANE__CORE__REDIS_URL=REDIS_URL,
        MEDIAPLANE__CORE__DATA_DIR=str(data_dir),
        MEDIAPLANE__CORE__SERVER__HOST=HOST,
        MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT="1000000/second",
        PYTHONUNBUFFERED="1",
    )
    return env


def mediaplane_command() -> list[str]:
    script = Path(sys.executable).parent / "mediaplane"
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def run_cli(env: dict, *args: str) -> str:
    done = subprocess.run(
        mediaplane_command() + list(args), env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise BenchError(f"mediaplane {' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def prepare_mediaplane(env: dict) -> str:
    """Migrate the fresh schema, create the account and an ingest key; returns the key."""
    run_cli(env, "migrate")
    run_cli(env, "accounts", "create", "bench")
    out = run_cli(env, "keys", "create", "--account", "bench", "--scopes", "report:ingest,report:read")
    return out.strip().splitlines()[-1]  # the CLI prints the key alone on its last line


# -- servers --------------------------------------------------------------------------------------


class Server:
    """A gunicorn server in its own process group, so that stopping it also stops its workers."""

    def __init__(self, name: str, command: list[str], env: dict, port: int, log_path: Path):
        self.name, self.command, self.env, self.port, self.log_path = name, command, env, port, log_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=REPO, stdout=log, stderr=log, start_new_session=True
            )
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer /healthz in {STARTUP_SECONDS} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGTERM is gunicorn's graceful stop; the whole group, in case the master is already gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, lines: int = 12) -> str:
        """The distinct exceptions the server logged (most frequent first), then its last lines."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        raised = Counter(line for line in text if EXCEPTION_LINE.match(line))
        summary = [f"  {n} x {line}" for line, n in raised.most_common(5)]
        return "\n".join(["exceptions in the log:", *summary, "last lines:", *text[-lines:]])


def mediaplane_server(env: dict, port: int, workers: int, log_dir: Path) -> Server:
    command = mediaplane_command() + ["serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    return Server("mediaplane", command, env, port, log_dir / "mediaplane.log")


def bare_server(env: dict, port: int, workers: int, log_dir: Path) -> Server:
    command = [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port), "--workers", str(workers)]
    return Server("bare ceiling", command, env, port, log_dir / "bare.log")


# -- load -----------------------------------------------------------------------------------------


def run_load(server: Server, key: str, time_limit: float, seed: int, *mode: str) -> dict:
    """One load_client.py run in its own process (its CPU is not the server's); returns its summary
    with the machine's CPU shares during the run."""
    command = [
        sys.executable,
        str(BENCH_DIR / "load_client.py"),
        "--port", str(server.port),
        "--key", key,
        "--seed", str(seed),
        "--time-limit", str(time_limit),
        *mode,
    ]  # fmt: skip
    meter = CpuMeter(server.proc.pid)  # the server's process group id: it leads its own session
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"load client did not stop within {time_limit + 30:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(f"load client failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout) | {"cpu": meter.shares()}


def measure(server: Server, key: str, args: argparse.Namespace, open_rate: float | None) -> dict:
    """Warm-up, closed-loop peak, then an open loop at `open_rate` (default: 80 % of this peak)."""
    limit = args.time_limit
    closed = ("closed", "--concurrency", str(args.concurrency), "--requests")
    runs = {}
    if args.warmup:
        # Imports, pooled database connections and caches of every worker are set up here, not measured.
        runs["warmup"] = run_load(server, key, min(limit, WARMUP_SECONDS), 1, *closed, str(args.warmup))
        bad, kinds = failures({"warm-up": runs["warmup"]})
        if bad:
            # Measuring a server that already fails would only add minutes of timeouts.
            raise BenchError(
                f"{server.name} fails under load already in the warm-up ({'; '.join(kinds)}); "
                f"from its log:\n{server.log_tail()}"
            )
    runs["peak"] = run_load(server, key, limit, 2, *closed, str(args.requests))
    rate = open_rate or OPEN_LOOP_SHARE * runs["peak"]["ok_rps"]
    if rate <= 0:
        raise BenchError(f"{server.name}: no request succeeded in the peak run: {runs['peak']}")
    count = max(1, round(rate * args.open_seconds))
    opened = (
        "open",
        "--rate",
        f"{rate:.1f}",
        "--requests",
        str(count),
        "--connections",
        str(args.concurrency),
    )
    runs["open"] = run_load(server, key, limit, 3, *opened)
    return runs


# -- report ---------------------------------------------------------------------------------------


def failures(runs: dict) -> tuple[int, list[str]]:
    """Requests not answered 200 with the success envelope, and a description of each kind."""
    count, kinds = 0, []
    for phase, result in runs.items():
        bad = {k: v for k, v in result["statuses"].items() if k != "200"} | result["errors"]
        count += sum(bad.values())
        kinds += [f"{phase}: {kind} x{n}" for kind, n in bad.items()]
        if result.get("timed_out"):
            count += 1
            kinds.append(f"{phase}: timed out")
    return count, kinds


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def row(label, app="", bare="", target="", result="") -> str:
    return f"{label:<36}{app!s:>14}{bare!s:>14}   {target:<12}{result}"


def cpu_split(result: dict) -> str:
    cpu = result["cpu"]
    return f"{cpu['server']:.0f}/{cpu['database']:.0f}/{cpu['client']:.0f}/{cpu['other']:.0f}"


def cpu_per_request(result: dict) -> str:
    """Server and database CPU milliseconds per answered request."""
    done = max(1, result["completed"])
    return f"{result['cpu']['server_s'] * 1000 / done:.2f}/{result['cpu']['database_s'] * 1000 / done:.2f}"


def performance_rows(app: dict, bare: dict) -> list[str]:
    ratio = app["peak"]["ok_rps"] / bare["peak"]["ok_rps"] if bare["peak"]["ok_rps"] else 0.0
    p99_open = app["open"]["p99_ms"] if app["open"]["p99_ms"] is not None else float("inf")
    peak, opened = (app["peak"], bare["peak"]), (app["open"], bare["open"])
    return [
        row("peak throughput, req/s", *(r["ok_rps"] for r in peak)),
        row("  p50 at peak, ms", *(r["p50_ms"] for r in peak)),
        row("  p99 at peak, ms", *(r["p99_ms"] for r in peak)),
        row(
            "ratio app/ceiling", f"{ratio:.2f}", "", f">= {TARGET_RATIO:.2f}", verdict(ratio >= TARGET_RATIO)
        ),
        row("open loop at 80 % of app peak, req/s", *(r["target_rate"] for r in opened)),
        row("  achieved, req/s", *(r["ok_rps"] for r in opened)),
        row("  p50 at 80 % of peak, ms", *(r["p50_ms"] for r in opened)),
        row(
            "  p99 at 80 % of peak, ms",
            *(r["p99_ms"] for r in opened),
            f"<= {TARGET_P99_MS:g} ms",
            verdict(p99_open <= TARGET_P99_MS),
        ),
        row("  client send lag max, ms", *(r["max_send_lag_ms"] for r in opened)),
        row("CPU ms per request server/db, peak", *(cpu_per_request(r) for r in peak)),
        row("CPU % server/db/client/other, peak", *(cpu_split(r) for r in peak)),
        row("CPU % server/db/client/other, open", *(cpu_split(r) for r in opened)),
    ]


def data_rows(app: dict, bare: dict, stored: int, snapshots: int) -> tuple[list[str], list[str]]:
    """Rows of the data checks, and the reasons they failed (empty: every acknowledged sample is stored)."""
    accepted = sum(r["ok"] for r in app.values())
    expected = accepted * SAMPLES_PER_REPORT
    lost, extra = max(0, expected - stored), max(0, stored - expected)
    app_bad, app_kinds = failures(app)
    bare_bad, bare_kinds = failures(bare)
    rows = [
        row("non-200 / transport errors", app_bad, bare_bad, "0", verdict(app_bad == 0 and bare_bad == 0)),
        row("reports acknowledged / stored", f"{accepted}/{snapshots}"),
        row(f"samples expected ({SAMPLES_PER_REPORT} per 200) / stored", f"{expected}/{stored}"),
        row("samples lost", lost, "", "0", verdict(lost == 0)),
    ]
    reasons = [f"failed request: {k}" for k in app_kinds] + [
        f"failed request (ceiling): {k}" for k in bare_kinds
    ]
    if lost or snapshots < accepted:
        reasons.append(f"{lost} acknowledged samples are not in the database")
    if extra or snapshots > accepted:
        # Requests the client gave up on can still commit: stored, but never acknowledged.
        reasons.append(f"{extra} samples stored without an acknowledgement (client timeouts)")
    return rows, reasons


def render(args, app: dict, bare: dict, stored: int, snapshots: int) -> tuple[str, list[str]]:
    """The side-by-side table, and the reasons the data checks failed (empty when they passed)."""
    checks, reasons = data_rows(app, bare, stored, snapshots)
    lines = [
        f"POST /report/metrics on {HOST}: gunicorn gevent, {args.workers} workers per server; "
        f"peak: closed loop, {args.requests} requests at concurrency {args.concurrency}; "
        f"open loop: {args.open_seconds:g} s on a fixed schedule",
        row("", "mediaplane", "bare ceiling", "target", "result"),
        *performance_rows(app, bare),
        *checks,
        *(f"  {reason}" for reason in reasons),
    ]
    other = max(r["cpu"]["other"] for runs in (app, bare) for phase, r in runs.items() if phase != "warmup")
    if other > NOISY_OTHER_CPU:
        lines.append(
            f"note: other processes used up to {other:.0f} % of the machine during a measured run; "
            "the figures are disturbed, rerun on a quiet machine"
        )
    return "\n".join(lines), reasons


# -- main -----------------------------------------------------------------------------------------


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the cleanup below


def run(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> int:
    schema = f"mp_bench_{os.getpid()}"
    work_dir = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    cleanup.callback(shutil.rmtree, work_dir, ignore_errors=True)
    create_schema(schema)
    cleanup.callback(drop_schema, schema)  # runs after the servers stop (LIFO): nothing holds the schema
    env = server_env(schema, work_dir / "data")
    key = prepare_mediaplane(env)

    logs = {}  # the server logs of runs with failed requests, read before the temp dir goes
    with mediaplane_server(env, free_port(), args.workers, work_dir) as server:
        app = measure(server, key, args, None)
        if failures(app)[0]:
            logs[server.name] = server.log_tail()
    with bare_server(env, free_port(), args.workers, work_dir) as server:
        bare = measure(server, key, args, app["open"]["target_rate"])
        if failures(bare)[0]:
            logs[server.name] = server.log_tail()
    table, reasons = render(
        args, app, bare, count_rows(schema, "report_sample"), count_rows(schema, "report_snapshot")
    )
    print(table)
    for name, log in logs.items():
        print(f"\n{name} answered requests with errors; {log}")
    if args.json:
        args.json.write_text(json.dumps({"mediaplane": app, "bare": bare}, indent=2) + "\n")
    return 1 if reasons else 0


def run_with_cleanup(run_bench, args: argparse.Namespace) -> int:
    """`run_bench(args, cleanup)`, whose cleanup callbacks run also on SIGTERM or Ctrl-C; a BenchError
    is printed and exits 1 (also used by other benches)."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with contextlib.ExitStack() as cleanup:
        try:
            return run_bench(args, cleanup)
        except BenchError as err:
            print(f"benchmark failed: {err}", file=sys.stderr)
            return 1


def main(argv=None) -> int:
    return run_with_cleanup(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
