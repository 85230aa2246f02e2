"""Benchmark of the analytics reads on PostgreSQL: a 3-hour call of 50 users with 1 s report samples.

    .venv/bin/python scripts/bench/analytics_queries.py [--users 50] [--hours 3] [--repeat 200]
        [--database-url postgresql://postgres@127.0.0.1:5432/mp_analytics] [--redis-url redis://127.0.0.1:6379/6]

1. A fresh schema `mp_bench_analytics_<pid>` in the given database, migrated; an account and a key.
2. Insert: every user reports once per second for the whole call (a send stream with video, audio and
   network, and a receive stream), written with COPY straight into report_snapshot / report_sample
   (the rows POST /report/metrics would have stored), then the call is opened as report_room_started
   does, ended, and rolled up by the rollup job's code (timed: the whole call in one run); then the
   analytics tables are ANALYZEd, as autovacuum would shortly after.
3. Queries, each `--repeat` times, p50/p95/max in ms, all in this process on the same connection pool:
   * GET /v2/analytics/peer-stats of one peer (Flask test client: auth, validation, JSON included);
   * call/details: GET /beta/analytics/call/details when the Agora routes are mounted, else the read
     layer it is built on (calls -> call_peers -> peer_minutes of the 10 latest users, the contract's
     maximum), which the output says;
   * plain indexed SELECTs of the same rows with psycopg2 (the floor): the peer's track minutes, and
     the track minutes of the call;
   * for scale: a plain indexed SELECT of one user's raw samples (what an endpoint reading samples
     instead of rollups would have to fetch).
Prints a table; the schema is dropped on exit. Target (issue 11): call/details p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from service_args import add_service_args  # noqa: E402  (beside this script)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed(fn, repeat: int) -> dict:
    fn()  # warm: plans cached, pool connected
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": statistics.median(times), "p95": percentile(times, 0.95), "max": max(times)}


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def insert_samples(url: str, account_id: int, room: str, users: int, base: int, seconds: int) -> int:
    """COPY the snapshots and samples of `users` reporting every second; returns the sample count."""
    snapshot_cols = [
        "id",
        "account_id",
        "room_id",
        "user_id",
        "sdk_version",
        "report_time",
        "received_at",
        "body",
    ]
    sample_cols = [
        "snapshot_id", "account_id", "room_id", "user_id", "sdk_version", "report_time", "received_at",
        "stream_id", "direction", "frame_rate", "width", "height", "video_bitrate", "audio_bitrate",
        "rtt", "packet_loss", "jitter",
    ]  # fmt: skip
    conn = psycopg2.connect(url)
    samples = 0
    snapshot_id = 0
    with conn, conn.cursor() as cur:
        for u in range(users):
            user = f"user-{u:02d}"
            snaps, rows = [], []
            for t in range(base, base + seconds):
                snapshot_id += 1
                loss = 8.0 if (t - base) % 600 < 30 and u % 5 == 0 else 0.2
                send = {
                    "stream_id": "camera",
                    "direction": "send",
                    "video": {"frame_rate": 30, "width": 1280, "height": 720, "bitrate": 1500},
                    "audio": {"bitrate": 32},
                    "network": {"rtt": 40 + u % 7, "packet_loss": 0.2, "jitter": 4},
                }
                recv = {
                    "stream_id": "remote",
                    "direction": "recv",
                    "video": {
                        "frame_rate": 30 if t % 97 else 0,
                        "width": 1280,
                        "height": 720,
                        "bitrate": 2400,
                    },
                    "audio": {
                        "bitrate": 64,
                        "concealed_samples": (t - base) * 3,
                        "total_samples_received": (t - base) * 48000,
                    },
                    "network": {"rtt": 45, "packet_loss": loss, "jitter": 6},
                }
                body = {
                    "user_id": user,
                    "room_id": room,
                    "sdk_version": "2.4.1",
                    "report_time": t,
                    "platform": "Web",
                    "metrics": [{"user_id": user, "streams": [send, recv]}],
                }
                snaps.append(
                    (
                        snapshot_id,
                        account_id,
                        room,
                        user,
                        "2.4.1",
                        t,
                        t + 0.2,
                        json.dumps(body, separators=(",", ":")).replace("\\", "\\\\"),
                    )
                )
                for s in (send, recv):
                    v, a, n = s["video"], s["audio"], s["network"]
                    head = (snapshot_id, account_id, room, user, "2.4.1", t, t + 0.2, s["stream_id"])
                    video = (v["frame_rate"], v["width"], v["height"], v["bitrate"], a["bitrate"])
                    rows.append((*head, s["direction"], *video, n["rtt"], n["packet_loss"], n["jitter"]))
            copy_rows(cur, "report_snapshot", snapshot_cols, snaps)
            copy_rows(cur, "report_sample", sample_cols, rows)
            samples += len(rows)
        cur.execute("SELECT setval(pg_get_serial_sequence('report_snapshot', 'id'), %s)", (snapshot_id,))
        cur.execute("ANALYZE report_snapshot; ANALYZE report_sample")
    conn.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=200)
    add_service_args(parser)
    args = parser.parse_args()

    from core.app import create_app, migration_packages
    from core.db import db, migrate

    schema = f"mp_bench_analytics_{os.getpid()}"
    admin = psycopg2.connect(args.database_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    data_dir = tempfile.mkdtemp(prefix="mp-bench-analytics-")
    try:
        config = {
            "core": {"data_dir": data_dir, "database_url": url, "redis_url": args.redis_url},
            # The contract's 1/s per key would refuse all but one call a second: this measures the query.
            "plugins": {"analytics": {"agora_call_details_rate_limit": "100000/second"}},
        }
        app = create_app(config=config, environ={})
        with app.app_context():
            migrate(migration_packages(app))
        from core.auth import create_account, create_key

        with app.app_context(), db.connection_context():
            account = create_account("bench")
            key = create_key("bench", ["*"])[1]
        seconds = int(args.hours * 3600)
        base = int(time.time()) // 60 * 60 - seconds - 600
        room = "bench-room"

        started = time.perf_counter()
        samples = insert_samples(url, account.id, room, args.users, base, seconds)
        insert_s = time.perf_counter() - started
        print(
            f"inserted {samples:,} samples ({args.users} users x {seconds:,} s x 2 streams) "
            f"in {insert_s:.1f} s"
        )

        from plugins.analytics import rollup, service
        from plugins.analytics.models import Call, TrackMinute

        with app.app_context(), db.connection_context():
            call = service.open_call(account.id, room, base, "report")
            service.finish_call(Call.get_by_id(call.id), base + seconds)
            started = time.perf_counter()
            span = rollup.roll_call(call.id, time.time())
            rollup.roll_accounts({span[0]: (span[1], span[2])}, time.time())
            rollup_s = time.perf_counter() - started
            call = Call.get_by_id(call.id)
            minutes = TrackMinute.select().where(TrackMinute.call == call.id).count()
            peers = service.call_peers(account.id, call.id)
        # Fresh planner statistics, as PostgreSQL's autovacuum gathers them shortly after the rollup wrote
        # its rows (test databases often run without autovacuum: with no statistics at all the planner
        # walked the account's (account_id, minute) index instead of the tracks' (track, minute) one).
        analyze = psycopg2.connect(url)
        with analyze, analyze.cursor() as cur:
            cur.execute(
                "ANALYZE analytics_call; ANALYZE analytics_peer; ANALYZE analytics_track;"
                " ANALYZE analytics_track_minute; ANALYZE analytics_account_minute"
            )
        analyze.close()
        print(f"rollup of the whole ended call in one run: {rollup_s:.1f} s: {minutes:,} track minutes")

        client = app.test_client()
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        peer = peers[0]

        def peer_stats():
            response = client.get(
                "/v2/analytics/peer-stats",
                query_string={"peer_id": peer["peer_id"], "session_id": call.call_id},
                headers=auth,
            )
            assert response.status_code == 200, response.data
            return response

        agora = any(rule.rule == "/beta/analytics/call/details" for rule in app.url_map.iter_rules())
        if agora:
            from plugins.analytics.agora_projects import appid_of

            with app.app_context(), db.connection_context():
                appid = appid_of(account.id)  # the account's App ID, made on first use

        def details_http():
            from base64 import b64encode

            key_id, secret = key.split(".", 1)
            basic = {"Authorization": "Basic " + b64encode(f"{key_id}:{secret}".encode()).decode()}
            response = client.get(
                "/beta/analytics/call/details",
                query_string={
                    "start_ts": base,
                    "end_ts": base + seconds,
                    "call_id": call.call_id,
                    "appid": appid,
                },
                headers=basic,
            )
            assert response.status_code == 200, response.data

        def details_read_layer():
            with app.app_context(), db.connection_context():
                found = service.calls_between(account.id, base, base + seconds)
                chosen = service.call_peers(account.id, found[0]["pk"])[:10]
                service.peer_minutes(account.id, found[0]["pk"], [p["pk"] for p in chosen])

        raw = psycopg2.connect(url)
        cur = raw.cursor()

        def select(sql, params):
            def run():
                cur.execute(sql, params)
                cur.fetchall()

            return run

        rows = {
            "peer minutes": select(
                "SELECT * FROM analytics_track_minute WHERE call = %s AND peer = %s", (call.id, peer["pk"])
            ),
            "call minutes": select("SELECT * FROM analytics_track_minute WHERE call = %s", (call.id,)),
            "raw samples of 1 user": select(
                "SELECT * FROM report_sample WHERE account_id = %s AND room_id = %s AND user_id = %s"
                " AND report_time >= %s AND report_time < %s",
                (account.id, room, peer["user_id"], base, base + seconds),
            ),
        }
        results = [("GET /v2/analytics/peer-stats (1 peer, HTTP in-process)", timed(peer_stats, args.repeat))]
        if agora:
            results.append(
                ("GET /beta/analytics/call/details (HTTP in-process)", timed(details_http, args.repeat))
            )
        else:
            results.append(
                (
                    "call/details read layer (10 users; Agora routes not mounted)",
                    timed(details_read_layer, args.repeat),
                )
            )
        for name, fn in rows.items():
            results.append((f"plain indexed SELECT: {name}", timed(fn, args.repeat)))
        body = peer_stats().get_data()
        raw.close()
        print(f"peer-stats body: {len(body):,} bytes; repeat {args.repeat}")
        print(f"{'query':<70} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, r in results:
            print(f"{name:<70} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f}")
        details = results[1][1]["p95"]
        print(
            f"target call/details p95 <= 200 ms: {'met' if details <= 200 else 'MISSED'} ({details:.1f} ms)"
        )
        with app.app_context():
            if hasattr(db.obj, "close_all"):
                db.obj.close_all()
    finally:
        admin.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
