"""Web worker memory and ingest latency while rtcstats dumps and gzip bombs arrive, queued vs inline.

    .venv/bin/python scripts/bench/rtcstats_memory.py [--big-mb MB] [--bombs N] [--seconds S]

Everything runs on 127.0.0.1, twice, each time on a fresh PostgreSQL schema (database `test`), a Redis
db of its own (--redis-url, emptied after each run) and a temp data dir: `mediaplane bootstrap`,
then `mediaplane serve --workers 1 --with-worker`, so every request reaches
the same gunicorn worker, whose memory is read from /proc/<pid>/status (VmRSS sampled every 10 ms,
and VmHWM, the kernel's peak):

* queued: the defaults (`analyze_inline_max_bytes` 8 MiB): a big dump is stored and analysed by the
  job worker, /analyze answers 202;
* inline: `analyze_inline_max_bytes` = 1 GiB, so the web worker parses and analyses the big dump in
  the request, as every dump was before (the baseline of the same run).

Phases of each run, one after the other:

1. idle: report ingest (POST /report/metrics) from 4 client threads for S seconds: p50 / p99 / max;
2. bomb: N gzip bombs (1 GiB of zeros, ~1 MB compressed) to /analyze, each refused with 413;
3. loaded: the same ingest load while a client thread posts the big dump (a synthetic long-call
   webrtc-internals dump of about MB megabytes, gzip-compressed) to /analyze again and again (1 s
   apart; in the queued run the job worker is busy analysing them all the time);
4. jobs (queued run only): the same ingest load while the job worker works off the analyses queued
   in phase 3, with no big request reaching the web worker.

Targets: no request raises the web worker above 300 MB (peak RSS); refusing a bomb costs < 64 MB
(peak RSS during the bomb phase minus RSS before it); ingest p99 while big analyses run <= 2 x idle
p99 (judged in the loaded and jobs phases). The script
reports them (exit 0), and exits 1 only when it could not run or an answer was not the expected one.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import psutil
import redis
from report_ingest import (
    HOST,
    PG,
    REPO,
    BenchError,
    Server,
    create_schema,
    drop_schema,
    free_port,
    mediaplane_command,
)
from rtcstats_analyze import BIG_SOURCE, FIXTURES, make_big

MiB = 1024 * 1024
INGEST_THREADS = 4
BIG_PAUSE_SECONDS = 1.0  # between big-dump posts: one analysis takes longer, so the job worker stays busy
TARGET_RSS_MB = 300
TARGET_BOMB_MB = 64
TARGET_P99_FACTOR = 2.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=float, default=60, help="Size of the big dump before gzip, MB.")
    parser.add_argument("--bombs", type=int, default=3, help="Bombs posted in the bomb phase.")
    parser.add_argument("--seconds", type=float, default=15, help="Length of each ingest phase, s.")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/7", help="A Redis db of its own (emptied after)."
    )
    parser.add_argument("--json", type=Path, help="Also write the raw figures to this file.")
    return parser.parse_args(argv)


# -- inputs ---------------------------------------------------------------------------------------


def zero_bomb(expanded: int = 1024 * MiB) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    return b"".join(packer.compress(zeros) for _ in range(expanded // MiB)) + packer.flush()


def big_dump(work: Path, megabytes: float) -> bytes:
    plain = work / "big.json"
    make_big(FIXTURES / BIG_SOURCE, megabytes, plain)
    data = gzip.compress(plain.read_bytes(), 6)
    plain.unlink()
    return data


def report_body(seq: int) -> bytes:
    now = int(time.time())
    user = f"u{seq % 3}"
    stream = {
        "stream_id": "camera",
        "video": {"timestamp": now, "frame_rate": 25, "width": 1280, "height": 720, "bitrate": 1200},
        "network": {"rtt": 40, "packet_loss": 0.5, "jitter": 6},
    }
    body = {
        "user_id": user,
        "room_id": "bench-room",
        "sdk_version": "1.0",
        "report_time": now,
        "metrics": [{"user_id": user, "streams": [stream]}],
    }
    return json.dumps(body).encode()


# -- measuring ------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return out


class RssSampler(threading.Thread):
    """Samples one process's VmRSS every 10 ms; `peak` is the highest seen since the last reset."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0, threading.Event()

    def reset(self) -> int:
        self.peak = proc_status(self.pid)["VmRSS"]
        return self.peak

    def run(self):
        while not self.stopped.wait(0.01):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, proc_status(self.pid)["VmRSS"])


def web_worker_pid(server: Server) -> int:
    """The gunicorn worker: the child of the master that runs the same command line."""
    master = psutil.Process(server.proc.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = [c for c in master.children() if c.cmdline() == master.cmdline()]
        if len(workers) == 1:
            return workers[0].pid
        time.sleep(0.2)
    raise BenchError("no single gunicorn worker found")


def post(port: int, path: str, body: bytes, key: str, content_type: str, timeout: float = 300):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Authorization": f"Bearer {key}", "Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ingest_load(port: int, key: str, seconds: float) -> dict:
    """POST /report/metrics from INGEST_THREADS keep-alive connections for `seconds`: latencies."""
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(offset: int):
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        seq = offset
        while time.monotonic() < deadline:
            body = report_body(seq)
            start = time.perf_counter()
            conn.request("POST", "/report/metrics", body, headers)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                errors.append(str(response.status))
            seq += INGEST_THREADS
            time.sleep(0.02)  # a paced client, not a flood: latency, not throughput, is measured
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(INGEST_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else None

    return {"requests": len(ordered), "errors": errors, "p50": pct(50), "p99": pct(99), "max": pct(100)}


# -- one server -----------------------------------------------------------------------------------


def server_env(data_dir: Path, schema: str, redis_url: str, inline_max: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        MEDIAPLANE__CORE__DATA_DIR=str(data_dir),
        MEDIAPLANE__CORE__DATABASE_URL=(
            f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{PG['dbname']}"
            f"?options=-csearch_path%3D{schema}"
        ),
        MEDIAPLANE__CORE__REDIS_URL=redis_url,
        MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT="1000000/second",
        PYTHONUNBUFFERED="1",
    )
    if inline_max is not None:
        env["MEDIAPLANE__PLUGINS__RTCSTATS__ANALYZE_INLINE_MAX_BYTES"] = str(inline_max)
    return env


def run_mode(name: str, inline_max: int | None, args, work: Path, bomb: bytes, big: bytes) -> dict:
    schema = f"mp_bench_mem_{os.getpid()}_{name}"
    create_schema(schema)
    try:
        return _run_mode(name, schema, inline_max, args, work, bomb, big)
    finally:
        drop_schema(schema)
        redis.Redis.from_url(args.redis_url).flushdb()


def _run_mode(
    name: str, schema: str, inline_max: int | None, args, work: Path, bomb: bytes, big: bytes
) -> dict:
    env = server_env(work / name, schema, args.redis_url, inline_max)
    boot = subprocess.run(
        mediaplane_command() + ["bootstrap"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if boot.returncode != 0:
        raise BenchError(f"bootstrap failed: {boot.stderr}")
    key = boot.stdout.strip().splitlines()[-1]
    port = free_port()
    command = mediaplane_command() + ["serve", "--host", HOST, "--port", str(port), "--workers", "1"]
    command.append("--with-worker")
    with Server(name, command, env, port, work / f"{name}.log") as server:
        pid = web_worker_pid(server)
        sampler = RssSampler(pid)
        sampler.start()
        ingest_load(port, key, 3)  # warm-up: imports, connections, caches
        result = {"mode": name, "inline_max": inline_max}

        result["rss_idle"] = sampler.reset()
        result["idle"] = ingest_load(port, key, args.seconds)
        result["rss_idle_peak"] = sampler.peak

        before = sampler.reset()
        statuses = [
            post(port, "/api/rtcstats/v1.0/analyze", bomb, key, "application/gzip")[0]
            for _ in range(args.bombs)
        ]
        result["bomb"] = {"statuses": statuses, "before": before, "peak": sampler.peak}
        if set(statuses) != {413}:
            raise BenchError(f"{name}: bombs answered {statuses}, not 413")

        sampler.reset()
        big_results: list[tuple[int, float]] = []
        stop = threading.Event()

        def big_poster():
            while not stop.is_set():
                start = time.perf_counter()
                status, _ = post(port, "/api/rtcstats/v1.0/analyze", big, key, "application/octet-stream")
                big_results.append((status, time.perf_counter() - start))
                stop.wait(BIG_PAUSE_SECONDS)

        poster = threading.Thread(target=big_poster)
        poster.start()
        time.sleep(0.5)
        result["loaded"] = ingest_load(port, key, args.seconds)
        stop.set()
        poster.join()
        result["rss_loaded_peak"] = sampler.peak
        result["big"] = {
            "count": len(big_results),
            "statuses": sorted({s for s, _ in big_results}),
            "max_s": max((d for _, d in big_results), default=None),
        }
        if inline_max is None:
            # Jobs only: the big dumps posted above are still being analysed by the job worker
            # (Redis says how many wait), and no request of the web worker touches one.
            waiting = redis.Redis.from_url(args.redis_url).llen("rq:queue:rtcstats")
            result["jobs"] = {**ingest_load(port, key, args.seconds), "waiting": waiting}
        result["vm_hwm"] = proc_status(pid)["VmHWM"]
        sampler.stopped.set()
        expected = {202} if inline_max is None else {200}
        if set(result["big"]["statuses"]) != expected:
            raise BenchError(f"{name}: big dumps answered {result['big']['statuses']}, not {expected}")
    return result


# -- report ---------------------------------------------------------------------------------------


def mb(value) -> str:
    return f"{value / 1e6:.0f}" if value is not None else "-"


def ms(value) -> str:
    return f"{value:.1f}" if value is not None else "-"


def render(results: list[dict], args, bomb: bytes, big: bytes) -> str:
    by = {r["mode"]: r for r in results}
    q, i = by["queued"], by["inline"]
    lines = [
        f"big dump: {len(big) / 1e6:.1f} MB gzip ({args.big_mb:.0f} MB before gzip); "
        f"bomb: {len(bomb) / 1e6:.1f} MB gzip of 1 GiB of zeros, posted {args.bombs} times",
        "",
        f"| {'figure':<44} | {'queued (default)':>16} | {'inline (baseline)':>17} | target |",
        f"|{'-' * 46}|{'-' * 18}|{'-' * 19}|--------|",
    ]

    def row(label, a, b, target=""):
        lines.append(f"| {label:<44} | {a:>16} | {b:>17} | {target} |")

    row("web worker RSS idle, MB", mb(q["rss_idle"]), mb(i["rss_idle"]))
    row("web worker peak RSS during bombs, MB", mb(q["bomb"]["peak"]), mb(i["bomb"]["peak"]))
    row(
        "cost of refusing the bombs (peak - before), MB",
        mb(q["bomb"]["peak"] - q["bomb"]["before"]),
        mb(i["bomb"]["peak"] - i["bomb"]["before"]),
        f"< {TARGET_BOMB_MB}",
    )
    row(
        "web worker peak RSS during big dumps, MB",
        mb(q["rss_loaded_peak"]),
        mb(i["rss_loaded_peak"]),
        f"<= {TARGET_RSS_MB}",
    )
    row("web worker VmHWM at the end, MB", mb(q["vm_hwm"]), mb(i["vm_hwm"]), f"<= {TARGET_RSS_MB}")
    row(
        "big dumps posted / status",
        f"{q['big']['count']} / {q['big']['statuses']}",
        f"{i['big']['count']} / {i['big']['statuses']}",
    )
    row("slowest big-dump answer, s", ms(q["big"]["max_s"]), ms(i["big"]["max_s"]))
    for phase in ("idle", "loaded", "jobs"):
        for stat in ("p50", "p99", "max"):
            inline = ms(i[phase][stat]) if phase in i else "-"
            row(f"ingest {stat} {phase}, ms", ms(q[phase][stat]), inline)
    row("analyses waiting when the jobs phase began", str(q["jobs"]["waiting"]), "-")
    row(
        "ingest requests idle / loaded",
        f"{q['idle']['requests']} / {q['loaded']['requests']}",
        f"{i['idle']['requests']} / {i['loaded']['requests']}",
    )
    ratio_jobs = q["jobs"]["p99"] / q["idle"]["p99"]
    row("ingest p99 jobs / idle", f"{ratio_jobs:.2f}", "-", f"<= {TARGET_P99_FACTOR:.0f}")
    ratio_q = q["loaded"]["p99"] / q["idle"]["p99"]
    ratio_i = i["loaded"]["p99"] / i["idle"]["p99"]
    row("ingest p99 loaded / idle", f"{ratio_q:.2f}", f"{ratio_i:.2f}", f"<= {TARGET_P99_FACTOR:.0f}")
    errors = [
        e for r in (q, i) for phase in ("idle", "loaded", "jobs") for e in r.get(phase, {}).get("errors", [])
    ]
    lines += ["", f"ingest answers other than 200: {len(errors)}"]
    verdicts = {
        f"web worker peak RSS <= {TARGET_RSS_MB} MB": max(q["rss_loaded_peak"], q["vm_hwm"])
        <= TARGET_RSS_MB * 1e6,
        f"refusing a bomb < {TARGET_BOMB_MB} MB": q["bomb"]["peak"] - q["bomb"]["before"]
        < TARGET_BOMB_MB * 1e6,
        "ingest p99 jobs <= 2 x idle": ratio_jobs <= TARGET_P99_FACTOR,
        "ingest p99 loaded <= 2 x idle": ratio_q <= TARGET_P99_FACTOR,
    }
    lines += [f"target (queued column) {name}: {'met' if ok else 'MISSED'}" for name, ok in verdicts.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mp_bench_mem_"))
    try:
        bomb = zero_bomb()
        big = big_dump(work, args.big_mb)
        results = [
            run_mode("queued", None, args, work, bomb, big),
            run_mode("inline", 1024 * MiB, args, work, bomb, big),
        ]
        print(render(results, args, bomb, big))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0
    except BenchError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
