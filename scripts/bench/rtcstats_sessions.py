"""Benchmark of GET /api/rtcstats/v1.0/sessions at scale on PostgreSQL: filters and paging, deep offsets too.

    .venv/bin/python scripts/bench/rtcstats_sessions.py [--sessions 100000] [--others 20000] [--repeat 100]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/14]

1. A fresh schema `mp_bench_sessions_<pid>` in the given database, migrated with `mediaplane migrate`
   (so the rtcstats migrations and their indexes are what is measured); 10 accounts, a key of the first.
2. Insert with COPY, as store_analysis would have left them: `--sessions` analysed sessions of the
   measured account and `--others` of each of the 9 other accounts, over the last 365 days (busier
   lately), with a spread of browsers and versions, operating systems, experience scores (a few
   unrated), observations drawn from the analyzer's catalogue (frequent ones often, rare ones
   rarely), some sessions with user/conference ids, 2 % still pending or failed. The abstract, its
   columns and the label rows are made by the service's own abstract_of / abstract_columns.
   Then VACUUM ANALYZE, as autovacuum would have done on a table that grew this big.
3. `mediaplane serve` (gunicorn, gevent, 2 workers) on that schema; a client in this process sends
   each request `--repeat` times over one keep-alive connection, one at a time, and times it whole
   (auth, validation, both queries, JSON). Query mixes: no filter; three filters (browser, an
   observation type, a score band); two filters on the list columns; each at the first page, the
   middle and the last page (the deep offsets). Each 200 is checked: its page size and X-Total-Count.
4. The floor, in the same run: the bare indexed SELECT of the first page (the list's columns of the
   account's newest 100 sessions) with psycopg2, and the same SQL the mix sends (count + page) bare.

Prints a table (p50 / p95 / max ms) and the target (issue 13): every mix's HTTP p95 <= 50 ms.
Server, schema and temp dir are removed on exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import psycopg2

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
sys.path.insert(0, str(REPO))

from report_ingest import HOST, BenchError, Server, free_port, mediaplane_command  # noqa: E402
from service_args import add_service_args  # noqa: E402

API = "/api/rtcstats/v1.0/sessions"
PAGE = 100
TARGET_P95_MS = 50.0
ACCOUNTS = 10
# Shares seen in WebRTC fleets: (browser, share, major versions); (os, share).
BROWSERS = (
    ("Chrome", 0.58, range(120, 143)),
    ("Safari", 0.14, range(16, 19)),
    ("Firefox", 0.1, range(120, 136)),
    ("Edge", 0.1, range(120, 143)),
    ("Opera", 0.03, range(100, 115)),
    ("Samsung Internet", 0.05, range(22, 28)),
)
SYSTEMS = (
    ("Windows", 0.4),
    ("macOS", 0.28),
    ("Android", 0.12),
    ("iPhone", 0.08),
    ("Linux", 0.07),
    ("iPad", 0.05),
)
SESSION_COLUMNS = [
    "rtcstats_id", "account_id", "created_at", "status", "source", "file_name", "file_size", "dump_key",
    "title", "credit_period", "credit_charged", "processor_version", "analyzed_at", "result", "error",
    "failed_version", "abstract", "session_start", "session_end", "browser", "browser_version", "os",
    "os_version", "user_id", "conference_id", "session_ident", "experience_score", "connectivity",
    "observations_critical", "observations_high", "observations_medium",
]  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed(fn, repeat: int) -> dict:
    fn()  # warm: plans cached, connections open
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": statistics.median(times), "p95": percentile(times, 0.95), "max": max(times)}


def pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


# -- data -----------------------------------------------------------------------------------------


class Generator:
    """Sessions with a realistic spread; the same seed gives the same rows."""

    def __init__(self, seed: int, catalogue: list[dict], version: str):
        from plugins.rtcstats.models import LABEL_COPIES
        from plugins.rtcstats.service.abstract import abstract_columns, abstract_of

        self.rng = random.Random(seed)
        self.abstract_of, self.abstract_columns = abstract_of, abstract_columns
        self.label_copies = LABEL_COPIES
        self.version = version
        entries = sorted(catalogue, key=lambda e: e["type"])
        # Zipf-like: the first types of a shuffled catalogue are common, the last ones rare.
        self.rng.shuffle(entries)
        self.entries = entries
        self.weights = [1 / (rank + 1) ** 1.1 for rank in range(len(entries))]
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def observations(self) -> list[dict]:
        rng = self.rng
        count = min(int(rng.expovariate(1 / 2.2)), 12)
        chosen = {e["type"]: e for e in rng.choices(self.entries, self.weights, k=count)}
        out = []
        for entry in chosen.values():
            severity = rng.choice(entry["severity"])
            out.append(
                {
                    "type": entry["type"],
                    "severity": severity,
                    "category": entry.get("category"),
                    "tags": entry["tags"],
                    "valueInPercent": round(rng.uniform(1, 40), 1),
                }
            )
        return out

    def session(self, account_id: int, index: int) -> tuple[list, list[tuple]]:
        rng = self.rng
        # Busier lately: a session's age in days is skewed towards today.
        age = dt.timedelta(days=365 * rng.random() ** 1.6, seconds=rng.randrange(86400))
        created = self.now - age
        browser, _, versions = BROWSERS[rng.choices(range(len(BROWSERS)), [b[1] for b in BROWSERS])[0]]
        os_name = pick(rng, SYSTEMS)
        observations = self.observations()
        severe = sum(1 for o in observations if o["severity"] in ("critical", "high", "medium"))
        unrated = rng.random() < 0.04
        score = None if unrated else round(max(0.0, min(100.0, rng.gauss(82 - 6 * severe, 11))), 1)
        room = f"room-{rng.randrange(2000):04d}"
        start_ms = int((created - dt.datetime(1970, 1, 1)).total_seconds() * 1000) - rng.randrange(7200_000)
        end_ms = start_ms + rng.randrange(60_000, 5400_000)
        data = {
            "title": f"{room}-{index}",
            "callStart": dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).isoformat()[:23] + "Z",
            "callEnd": dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC).isoformat()[:23] + "Z",
            "durationMs": end_ms - start_ms,
            "experienceScore": 0 if unrated else score,
            "audioScore": score,
            "videoScore": score,
            "connectivityScore": None if unrated else 90.0,
            "observationsScore": score,
            "hasMedia": not unrated,
            "connectivity": rng.choice(["direct-udp", "direct-udp", "direct-udp", "relay-udp", "relay-tcp"]),
            "observations": observations,
            "userAgentData": {
                "browser": {"name": browser, "version": f"{rng.choice(versions)}.0.0.0"},
                "os": {"name": os_name, "version": str(rng.randrange(10, 16))},
            },
            "metadata": (
                {
                    "userId": f"user-{rng.randrange(5000)}",
                    "conferenceId": room,
                    "sessionId": str(uuid.UUID(int=rng.getrandbits(128))),
                }
                if rng.random() < 0.3
                else {}
            ),
        }
        if unrated:
            data["experienceScore"] = None
        abstract = self.abstract_of(data)
        columns = self.abstract_columns(abstract)
        rtcstats_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        status = "ready" if rng.random() > 0.02 else rng.choice(["pending", "failed"])
        ready = status == "ready"
        file_name = f"{data['title']}.json.gz"
        row = [
            rtcstats_id, account_id, created, status, rng.choice(["upload", "analyze"]), file_name,
            rng.randrange(20_000, 4_000_000), f"rtcstats/{account_id}/dumps/{rtcstats_id}", data["title"],
            created.strftime("%Y-%m"), True, self.version if ready else None, created if ready else None,
            json.dumps(data, separators=(",", ":")) if ready else None,
            "the dump could not be parsed" if status == "failed" else None,
            self.version if status == "failed" else None,
            columns["abstract"] if ready else None,
            data["callStart"] if ready else None, data["callEnd"] if ready else None,
            *(
                (columns[k] for k in (
                    "browser", "browser_version", "os", "os_version", "user_id", "conference_id",
                    "session_ident", "experience_score", "connectivity", "observations_critical",
                    "observations_high", "observations_medium",
                ))
                if ready
                else (None,) * 9 + (0, 0, 0)
            ),
        ]  # fmt: skip
        labels = []
        if ready:  # each label row with its copy of the session's listed columns, as store_analysis
            copies = [created, *(columns[name] for name in self.label_copies)]
            labels = [("type", v, *copies) for v in abstract["observationTypes"]]
            labels += [("tag", v, *copies) for v in abstract["observationTags"]]
        return row, labels


def copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_rows(cursor, table: str, columns: list[str], rows: list) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(copy_value(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def insert_sessions(url: str, accounts: list[int], sessions: int, others: int, gen: Generator) -> dict:
    """COPY the sessions of every account and their labels; returns row counts."""
    conn = psycopg2.connect(url)
    counts = {"sessions": 0, "labels": 0}
    next_id = 0
    with conn, conn.cursor() as cur:
        for position, account_id in enumerate(accounts):
            total = sessions if position == 0 else others
            for start in range(0, total, 20000):
                rows, labels = [], []
                for index in range(start, min(total, start + 20000)):
                    next_id += 1
                    row, row_labels = gen.session(account_id, index)
                    rows.append([next_id, *row])
                    labels += [(next_id, account_id, *label) for label in row_labels]
                copy_rows(cur, "rtcstats_session", ["id", *SESSION_COLUMNS], rows)
                label_columns = ["session_id", "account_id", "kind", "value", "created_at", *gen.label_copies]
                copy_rows(cur, "rtcstats_session_label", label_columns, labels)
                counts["sessions"] += len(rows)
                counts["labels"] += len(labels)
        cur.execute("SELECT setval(pg_get_serial_sequence('rtcstats_session', 'id'), %s)", (next_id,))
    conn.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:  # what autovacuum does to a table that grew: statistics, visibility map
        cur.execute("VACUUM ANALYZE rtcstats_session")
        cur.execute("VACUUM ANALYZE rtcstats_session_label")
    conn.close()
    return counts


# -- measuring ------------------------------------------------------------------------------------


class Client:
    """GET requests over one keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"X-API-Key": key}

    def get(self, path: str, params: dict) -> tuple[int, dict, dict]:
        target = f"{path}?{urlencode(params, doseq=True)}"
        try:
            self.conn.request("GET", target, headers=self.headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closes a connection idle past its keep-alive (while the bare SQL runs): the
            # warm-up request of the next measurement opens a fresh one.
            self.conn.close()
            self.conn.request("GET", target, headers=self.headers)
            response = self.conn.getresponse()
        body = response.read()
        return response.status, dict(response.getheaders()), json.loads(body)

    def close(self) -> None:
        self.conn.close()


def matching(client: Client, filters: dict) -> int:
    status, headers, body = client.get(API, {**filters, "limit": 1})
    if status != 200:
        raise BenchError(f"GET /sessions {filters} answered {status}: {body}")
    return int(headers["X-Total-Count"])


def page_request(client: Client, filters: dict, offset: int, total: int):
    expected = max(0, min(PAGE, total - offset))

    def run():
        status, headers, body = client.get(API, {**filters, "limit": PAGE, "offset": offset})
        if status != 200 or len(body["data"]) != expected or int(headers["X-Total-Count"]) != total:
            raise BenchError(f"GET /sessions {filters} offset {offset}: {status} {str(body)[:300]}")

    return run


def sql_of_mix(app, account_id: int, filters: dict, offset: int, total: int) -> list[tuple[str, list]]:
    """The SQL the list runs for these filters (count, page), as peewee renders it."""
    from core.db import db
    from plugins.rtcstats.service import listing

    with app.app_context(), db.connection_context():
        parsed = listing.parse_filters(filters)  # as the route does: lists, flags
        count = listing.count_query(account_id, parsed)
        page = listing.page_query(account_id, parsed, PAGE, offset, total)
        return [count.sql(), page.sql()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="Sessions of the measured account.")
    parser.add_argument("--others", type=int, default=20_000, help="Sessions of each of the 9 others.")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    add_service_args(parser)
    args = parser.parse_args()

    schema = f"mp_bench_sessions_{os.getpid()}"
    admin = psycopg2.connect(args.database_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")  # mp_bench_sessions_<digits>: nothing to quote
    url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    work = Path(tempfile.mkdtemp(prefix="mp-bench-sessions-"))
    try:
        return run(args, url, work)
    finally:
        admin.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def run(args, url: str, work: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env.update(
        MEDIAPLANE__CORE__DATABASE_URL=url,
        MEDIAPLANE__CORE__REDIS_URL=args.redis_url,
        MEDIAPLANE__CORE__DATA_DIR=str(work / "data"),
        MEDIAPLANE__CORE__SERVER__HOST=HOST,
        PYTHONUNBUFFERED="1",
    )

    def cli(*words: str) -> str:
        import subprocess

        done = subprocess.run(
            mediaplane_command() + list(words), env=env, cwd=REPO, capture_output=True, text=True, timeout=180
        )
        if done.returncode != 0:
            raise BenchError(f"mediaplane {' '.join(words[:2])} failed: {done.stderr.strip() or done.stdout}")
        return done.stdout

    cli("migrate")
    from core.app import create_app
    from core.auth import create_account, create_key
    from core.db import db

    app = create_app(config={"core": {"data_dir": str(work / "data"), "database_url": url,
                                       "redis_url": args.redis_url}}, environ={})  # fmt: skip
    with app.app_context(), db.connection_context():
        accounts = [create_account(f"bench-{n}").id for n in range(ACCOUNTS)]
        key = create_key("bench-0", ["rtcstats:read"])[1]
        from plugins.rtcstats.analysis.observations import catalogue
        from plugins.rtcstats.service import processor_version

        gen = Generator(args.seed, catalogue(), processor_version())
    measured = accounts[0]

    started = time.perf_counter()
    counts = insert_sessions(url, accounts, args.sessions, args.others, gen)
    print(
        f"inserted {counts['sessions']:,} sessions ({args.sessions:,} of the measured account, "
        f"{args.others:,} of each of {ACCOUNTS - 1} others) and {counts['labels']:,} labels "
        f"in {time.perf_counter() - started:.1f} s (COPY, then VACUUM ANALYZE)"
    )

    common = psycopg2.connect(url)
    with common, common.cursor() as cur:  # the second most frequent type: common, not universal
        cur.execute(
            "SELECT value FROM rtcstats_session_label WHERE account_id = %s AND kind = 'type' "
            "GROUP BY value ORDER BY count(*) DESC, value LIMIT 1 OFFSET 1",
            (measured,),
        )
        observation_type = cur.fetchone()[0]
    common.close()
    mixes = {
        "no filter": {},
        "3 filters: browser, observationTypes, hasLowScore": {
            "browser": "Chrome",
            "observationTypes": observation_type,
            "hasLowScore": "true",
        },
        "2 filters: os, hasHigh": {"os": "Windows", "hasHigh": "true"},
    }
    port = free_port()
    command = mediaplane_command() + ["serve", "--host", HOST, "--port", str(port), "--workers", "2"]
    results = []
    with Server("mediaplane", command, env, port, work / "mediaplane.log") as server:
        client = Client(server.port, key)
        raw = psycopg2.connect(url)
        raw.autocommit = True  # no transaction left open: the schema is dropped at the end
        cur = raw.cursor()

        def bare(statements):
            def run_sql():
                for sql, params in statements:
                    cur.execute(sql, params)
                    cur.fetchall()

            return run_sql

        floor_sql = (
            "SELECT id, rtcstats_id, created_at, session_start, session_end, title, status, abstract "
            "FROM rtcstats_session WHERE account_id = %s ORDER BY created_at DESC, id DESC LIMIT %s"
        )
        results.append(
            (
                "bare indexed SELECT: newest page, no filter",
                "",
                timed(bare([(floor_sql, [measured, PAGE])]), args.repeat),
            )
        )
        for name, filters in mixes.items():
            total = matching(client, filters)
            for where, offset in (("first", 0), ("middle", total // 2), ("last", max(0, total - PAGE))):
                label = f"{name}, {where} page (offset {offset:,} of {total:,})"
                results.append(
                    (
                        f"HTTP  {label}",
                        "http",
                        timed(page_request(client, filters, offset, total), args.repeat),
                    )
                )
                sql = sql_of_mix(app, measured, filters, offset, total)
                results.append(("  bare SQL of it (count + page)", "", timed(bare(sql), args.repeat)))
        client.close()
        raw.close()
    with app.app_context():
        if hasattr(db.obj, "close_all"):
            db.obj.close_all()

    print(f"repeat {args.repeat}, limit {PAGE}, one at a time over keep-alive; gunicorn gevent, 2 workers")
    print(f"{'request':<92} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for name, _, r in results:
        print(f"{name:<92} {r['p50']:7.1f} {r['p95']:7.1f} {r['max']:7.1f}")
    worst = max(r["p95"] for _, kind, r in results if kind == "http")
    print(f"target GET /sessions p95 <= {TARGET_P95_MS:.0f} ms in every mix: "
          f"{'met' if worst <= TARGET_P95_MS else 'MISSED'} (worst p95 {worst:.1f} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
