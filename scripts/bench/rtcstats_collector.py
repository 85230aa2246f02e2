"""Benchmark of the rtcstats collector WebSocket, next to a bare echo WebSocket server in the same run.

    .venv/bin/python scripts/bench/rtcstats_collector.py [--sessions 1000] [--speed 10] [--seconds 20]
        [--flood 30] [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--redis-url redis://127.0.0.1:6379/14] [--json FILE]

Everything runs on 127.0.0.1 with ONE gunicorn gevent worker per server, so every socket lands on
the same worker process:

* collector: `mediaplane serve --workers 1` on a fresh PostgreSQL schema `mp_bench_coll_<pid>` of
  --database-url (migrated, one account and a key with rtcstats:write, dropped at the end), the
  Redis db of --redis-url (its collector keys are removed at the end) and a temp data dir. No job
  worker runs: each finished dump is stored and its analysis queued, as in production, but not
  analysed (that is scripts/bench/rtcstats_analyze.py's subject).
* echo (the baseline): scripts/bench/echo_ws_app.py, the same WebSocket library and options on the
  same gunicorn options (core.server.gunicorn_options), sending each message back.

Both get the same environment: `core.server.worker_connections` = sessions + 200 (gunicorn's limit
of open connections per worker; its default 1000 would refuse the echo's sockets past it: a
collector socket counts only during its handshake), and for the collector
collector_max_sockets_per_worker and sessions per account above --sessions, the per-socket
message rate limit out of the way of the flood and enough monthly credits. RLIMIT_NOFILE is raised
to its hard limit here, which the servers and the load client inherit (one descriptor per socket on
each side, plus the spool files).

The load (scripts/bench/collector_load.py, one asyncio process of the `websockets` client) replays
the real rtcstats-js dump tests/fixtures/dumps/rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl in a
loop on every socket at --speed times its own pace, and measures (see its docstring for how):

* worker RSS growth per open session: (RSS with all sockets open - RSS before) / sessions;
* messages/s and worker CPU per 1,000 messages while paced, and p50/p99 message-to-disk latency
  (collector: message sent -> seen in its spool file; echo: the round trip);
* messages/s of a flood at the end (every socket sends --flood messages back to back and closes):
  the most each server takes.

Then it checks that every collector socket became a stored session (rows in rtcstats_session) within
STORE_WAIT_SECONDS, or else is still in the spool (its store failed; the recovery sweep stores it
later: the server log's exceptions are printed). Targets (issue 15): >= 1,000 concurrent sessions
on the worker, flood messages/s >= 0.5 x echo's, RSS growth <= 20 kB per open session. They are
reported, not enforced; the script exits 1 when a socket failed, a message was not confirmed, or
a dump is neither stored nor in the spool.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from collector_load import raise_fd_limit  # noqa: E402
from cpu_meter import CpuMeter  # noqa: E402
from report_ingest import (  # noqa: E402
    HOST,
    BenchError,
    Server,
    free_port,
    mediaplane_command,
    run_cli,
    run_with_cleanup,
)
from rtcstats_memory import web_worker_pid  # noqa: E402
from service_args import add_service_args  # noqa: E402

PATH = "/api/rtcstats/v1.0/collector"
WARMUP_SOCKETS = 20  # collector_load.WARMUP_SOCKETS: each of them is a stored session too
TARGET_SESSIONS = 1000
TARGET_RATIO = 0.5
TARGET_RSS_PER_SESSION = 20_000
STORE_WAIT_SECONDS = 60


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000, help="Sockets open at once.")
    parser.add_argument("--speed", type=float, default=10.0, help="Replay speed-up over the dump's own pace.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of the paced window, s.")
    parser.add_argument("--flood", type=int, default=30, help="Messages per socket in the flood at the end.")
    parser.add_argument("--json", type=Path, help="Also write the raw figures to this file.")
    add_service_args(parser)
    return parser.parse_args(argv)


def server_env(args, url: str, data_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDIAPLANE") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    rtcstats = "MEDIAPLANE__PLUGINS__RTCSTATS__"
    env.update(
        {
            "MEDIAPLANE__CORE__DATABASE_URL": url,
            "MEDIAPLANE__CORE__REDIS_URL": args.redis_url,
            "MEDIAPLANE__CORE__DATA_DIR": str(data_dir),
            "MEDIAPLANE__CORE__SERVER__HOST": HOST,
            "MEDIAPLANE__CORE__SERVER__WORKER_CONNECTIONS": str(args.sessions + 200),
            f"{rtcstats}COLLECTOR_MAX_SESSIONS_PER_ACCOUNT": str(args.sessions + 100),
            f"{rtcstats}COLLECTOR_MAX_SOCKETS_PER_WORKER": str(args.sessions + 100),
            f"{rtcstats}COLLECTOR_MAX_MESSAGES_PER_SECOND": "1000000",
            f"{rtcstats}MONTHLY_CREDITS": str(10 * (args.sessions + WARMUP_SOCKETS)),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_load(args, server: Server, mode: str, key: str, spool: Path | None) -> dict:
    """One collector_load.py run against `server`'s single worker, with the machine's CPU shares."""
    command = [
        sys.executable, str(BENCH_DIR / "collector_load.py"),
        "--url", f"ws://{HOST}:{server.port}{PATH}?rtcstats-token={key}",
        "--mode", mode,
        "--sessions", str(args.sessions),
        "--speed", str(args.speed),
        "--seconds", str(args.seconds),
        "--flood", str(args.flood),
        "--worker-pid", str(web_worker_pid(server)),
    ] + (["--spool", str(spool)] if spool else [])  # fmt: skip
    meter = CpuMeter(server.proc.pid)
    load0 = os.getloadavg()[0]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 600)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{mode} load client did not finish") from None
    if done.returncode != 0:
        raise BenchError(f"{mode} load client failed:\n{done.stderr.strip()[-3000:]}\n{server.log_tail()}")
    return json.loads(done.stdout) | {"cpu": meter.shares(), "loadavg": (load0, os.getloadavg()[0])}


def stored_sessions(url: str, expected: int) -> int:
    """Collector sessions in the schema once `expected` are there, or what there is after the wait."""
    deadline = time.monotonic() + STORE_WAIT_SECONDS
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        while True:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM rtcstats_session")
                count = cur.fetchone()[0]
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.5)


# -- report ---------------------------------------------------------------------------------------


def row(label, collector="", echo="", target="", result="") -> str:
    return f"| {label:<46} | {collector!s:>12} | {echo!s:>12} | {target:<10} | {result:<6} |"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(args, coll: dict, echo: dict, stored: int) -> tuple[str, list[str]]:
    """The side-by-side table, and the reasons the run is invalid (empty when it is not)."""
    per_session = [(r["rss_open"] - r["rss_before"]) / r["sessions"] for r in (coll, echo)]
    ratio = coll["flood"]["messages_per_s"] / echo["flood"]["messages_per_s"]
    open_sockets = coll["sessions"] - sum(coll["connect_errors"].values())

    def per_1000(r, phase):
        return f"{1000 * r[phase]['cpu_s'] / max(1, r[phase]['messages']):.2f}"

    def both(fn):
        return fn(coll), fn(echo)

    def cpu_split(r):
        return "/".join(f"{r['cpu'][k]:.0f}" for k in ("server", "database", "client", "other"))

    def client_cpu(r):
        paced, flood = r["paced"], r["flood"]
        cpu = f"{paced['client_cpu_s']:.1f}/{flood['client_cpu_s']:.1f}"
        return f"{cpu} ({paced['seconds']:.0f}/{flood['seconds']:.0f})"

    def close_codes(r):
        return ",".join(f"{k}x{v}" for k, v in r["close_codes"].items())

    lines = [
        f"{args.sessions} sockets on one gevent worker, each replaying the rtcstats-js dump "
        f"at {args.speed:g}x in a loop; paced window {args.seconds:g} s, then a flood of {args.flood} "
        "messages per socket",
        "",
        row("figure", "collector", "echo", "target", "result"),
        f"|{'-' * 48}|{'-' * 14}|{'-' * 14}|{'-' * 12}|{'-' * 8}|",
        row(
            "sockets open at once on the worker",
            open_sockets,
            echo["sessions"] - sum(echo["connect_errors"].values()),
            f">= {TARGET_SESSIONS}",
            verdict(open_sockets >= TARGET_SESSIONS and not coll["failed_sockets"]),
        ),
        row("ramp: all sockets connected in, s", *both(lambda r: f"{r['ramp_s']:.1f}")),
        row("worker RSS before, MB", *both(lambda r: f"{r['rss_before'] / 1e6:.1f}")),
        row(
            "worker RSS all open / at end of window, MB",
            *both(lambda r: f"{r['rss_open'] / 1e6:.1f}/{r['rss_open_end'] / 1e6:.1f}"),
        ),
        row(
            "RSS growth per open session, kB",
            f"{per_session[0] / 1000:.1f}",
            f"{per_session[1] / 1000:.1f}",
            f"<= {TARGET_RSS_PER_SESSION // 1000}",
            verdict(per_session[0] <= TARGET_RSS_PER_SESSION),
        ),
        row("paced: offered messages/s", *both(lambda r: f"{r['paced']['offered_per_s']:.0f}")),
        row(
            "paced: messages/s reaching the server's end",
            *both(lambda r: f"{r['paced']['messages_per_s']:.0f}"),
        ),
        row("paced: worker CPU s per 1,000 messages", *both(lambda r: per_1000(r, "paced"))),
        row("paced: latency p50, ms (echo: round trip)", *both(lambda r: r["paced"]["p50_ms"])),
        row("paced: latency p99, ms (echo: round trip)", *both(lambda r: r["paced"]["p99_ms"])),
        row("paced: latency max, ms", *both(lambda r: r["paced"]["max_ms"])),
        row("paced: client's worst send lag, ms", *both(lambda r: f"{r['paced']['client_send_lag_ms']:.0f}")),
        row("flood: messages/s", *both(lambda r: f"{r['flood']['messages_per_s']:.0f}")),
        row(
            "flood: collector / echo messages/s",
            f"{ratio:.2f}",
            "",
            f">= {TARGET_RATIO}",
            verdict(ratio >= TARGET_RATIO),
        ),
        row("flood: worker CPU s per 1,000 messages", *both(lambda r: per_1000(r, "flood"))),
        row("client CPU s paced / flood (its wall time)", *both(client_cpu)),
        row("CPU % server/db/client/other, whole run", *both(cpu_split)),
        row("load average at start/end", *both(lambda r: "/".join(f"{v:.1f}" for v in r["loadavg"]))),
        row("close codes seen by the client", *both(close_codes)),
        row("collector sessions stored / expected", f"{stored}/{open_sockets + WARMUP_SOCKETS}"),
        row("  dumps left in the spool for recovery", coll["left_in_spool"]),
    ]
    reasons = []
    for name, r in (("collector", coll), ("echo", echo)):
        if r["failed_sockets"]:
            failed = f"{r['connect_errors']} {r['socket_errors']}"
            reasons.append(f"{name}: {r['failed_sockets']} sockets failed: {failed}")
        if r["unconfirmed"]:
            lost = f"{r['unconfirmed']} of {r['sent']} messages"
            reasons.append(f"{name}: {lost} never reached the server's end")
    missing = open_sockets + WARMUP_SOCKETS - stored - coll["left_in_spool"]
    if missing:
        reasons.append(f"collector: {missing} dumps neither stored nor in the spool")
    return "\n".join(lines), reasons


# -- main -----------------------------------------------------------------------------------------


def run(args, cleanup: contextlib.ExitStack) -> int:
    raise_fd_limit()
    schema = f"mp_bench_coll_{os.getpid()}"
    admin = psycopg2.connect(args.database_url)
    admin.autocommit = True
    cleanup.callback(admin.close)
    admin.cursor().execute(f"CREATE SCHEMA {schema}")  # mp_bench_coll_<digits>: nothing to quote
    cleanup.callback(lambda: admin.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    cleanup.callback(_forget_redis, args.redis_url)
    work = Path(tempfile.mkdtemp(prefix="mp-bench-coll-"))
    cleanup.callback(shutil.rmtree, work, ignore_errors=True)
    url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    env = server_env(args, url, work / "data")
    run_cli(env, "migrate")
    run_cli(env, "accounts", "create", "bench")
    made = run_cli(env, "keys", "create", "--account", "bench", "--scopes", "rtcstats:write")
    key = made.strip().splitlines()[-1]  # the CLI prints the key alone on its last line
    spool = work / "data" / "rtcstats-collector"
    spool.mkdir(parents=True)  # watched before the first socket makes it

    port = free_port()
    command = mediaplane_command() + ["serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    with Server("mediaplane", command, env, port, work / "mediaplane.log") as server:
        coll = run_load(args, server, "collector", key, spool)
        opened = coll["sessions"] - sum(coll["connect_errors"].values())
        stored = stored_sessions(url, opened + WARMUP_SOCKETS)
        # Dumps whose store failed (e.g. no pooled database connection in time) stay in the spool
        # for the recovery sweep: kept, not lost; the log says why.
        coll["left_in_spool"] = len(list(spool.glob("*.rtcstats")))
        if stored < opened + WARMUP_SOCKETS:
            coll["server_log"] = server.log_tail()
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "echo_ws_app.py"), "--port", str(port)]
    with Server("echo", command, env, port, work / "echo.log") as server:
        echo = run_load(args, server, "echo", key, None)
    table, reasons = render(args, coll, echo, stored)
    print(table)
    for reason in reasons:
        print(f"invalid run: {reason}")
    if "server_log" in coll:
        print(f"\nnot every dump was stored within {STORE_WAIT_SECONDS} s; collector {coll['server_log']}")
    if args.json:
        args.json.write_text(json.dumps({"collector": coll, "echo": echo, "stored": stored}, indent=1) + "\n")
    return 1 if reasons else 0


def _forget_redis(url: str) -> None:
    """The bench's keys in the shared Redis db: the open-socket marks, queued analyses, metrics."""
    conn = redis.Redis.from_url(url)
    for pattern in ("rtcstats:*", "rq:*", "mediaplane:*"):
        for key in conn.scan_iter(pattern):
            conn.delete(key)


def main(argv=None) -> int:
    return run_with_cleanup(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
