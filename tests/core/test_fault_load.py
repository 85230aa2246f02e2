"""Fault tests under load, against a real gunicorn server on loopback: Redis stopped and restarted (a
redis-server of the test's own), PostgreSQL backends of the server terminated mid-load. A bounded
load of report ingest, HMAC-signed ingest and chunked uploads with assembles runs meanwhile.

Asserted: no answer is a 500; every failure is a 503 with Retry-After, and the client's retry of that
same operation succeeds once the dependency is back; every acknowledged (2xx) item is stored, and
nothing else (no session left behind by a failed assemble)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import urllib3

from tests.conftest import EXAMPLE_REPORT, PgSchema
from tests.faults import OwnRedis, Server, application_name, terminate_backends, with_application_name

pytestmark = pytest.mark.slow

API = "/api/rtcstats/v1.0"
CLIENTS = 4  # client threads; each runs its operations one after the other
LOAD_SECONDS = 9.0  # new operations start only within this time
RETRY_SECONDS = 30.0  # an operation still failing this long after the load ended fails the test
DUMP = json.dumps({"peerConnections": {}, "UserAgent": "Mozilla/5.0 Firefox/118.0"}).encode()
http = urllib3.PoolManager(retries=False, timeout=20, maxsize=CLIENTS)


@dataclass
class Outcome:
    """What the clients saw and what the server acknowledged."""

    statuses: Counter = field(default_factory=Counter)
    reports: dict[str, list[int]] = field(default_factory=dict)  # room -> acknowledged report_time
    sessions: list[str] = field(default_factory=list)  # acknowledged rtcstatsIds
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One client thread: ingest, signed ingest and upload + assemble in turn; each retried after a
    503 (waiting its Retry-After, capped to keep the test short) until it succeeds."""

    def __init__(self, number: int, base: str, token: str, outcome: Outcome, load_ends: float):
        self.number, self.base, self.token, self.outcome = number, base, token, outcome
        self.key_id, self.secret = token.split(".", 1)
        self.load_ends = load_ends
        self.room = f"room-{number}"
        self.sequence = 0

    def request(self, method: str, path: str, body: bytes | None = None, headers=None, fields=None):
        if fields is not None:
            response = http.request(method, self.base + path, fields=fields, headers=headers)
        else:
            response = http.request(method, self.base + path, body=body, headers=headers)
        with self.outcome.lock:
            self.outcome.statuses[response.status] += 1
        return response

    def until_done(self, name: str, attempt) -> urllib3.BaseHTTPResponse | None:
        """Run `attempt()` until it answers 2xx; a 503 waits and retries, anything else is a problem."""
        give_up = self.load_ends + RETRY_SECONDS
        while True:
            response = attempt()
            if 200 <= response.status < 300:
                return response
            if response.status != 503 or "Retry-After" not in response.headers:
                self.problem(f"{name}: {response.status} {response.data[:300]!r}")
                return None
            if time.monotonic() > give_up:
                self.problem(f"{name}: still 503 {RETRY_SECONDS} s after the load ended")
                return None
            time.sleep(min(0.5, float(response.headers["Retry-After"])))

    def problem(self, text: str) -> None:
        with self.outcome.lock:
            self.outcome.problems.append(f"client {self.number} {text}")

    def report(self) -> tuple[bytes, int]:
        self.sequence += 1
        report_time = 1746616000 + self.sequence
        body = {**EXAMPLE_REPORT, "room_id": self.room, "report_time": report_time}
        return json.dumps(body).encode(), report_time

    def ingest(self) -> None:
        body, report_time = self.report()
        headers = {"X-API-Key": self.token, "Content-Type": "application/json"}
        if self.until_done("ingest", lambda: self.request("POST", "/report/metrics", body, headers)):
            self.acknowledge(report_time)

    def signed_ingest(self) -> None:
        body, report_time = self.report()

        def attempt():
            ts = str(int(time.time()))
            digest = hashlib.sha256(body).hexdigest()
            message = f"POST\n/report/metrics\n{ts}\n{digest}".encode()
            signature = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
            headers = {
                "X-API-Key": self.key_id,
                "X-RTCstack-Timestamp": ts,
                "X-RTCstack-Signature": f"sha256={signature}",
                "Content-Type": "application/json",
            }
            return self.request("POST", "/report/metrics", body, headers)

        if self.until_done("signed ingest", attempt):
            self.acknowledge(report_time)

    def upload(self) -> None:
        file_id = f"dump-{self.number}-{uuid.uuid4().hex[:8]}"
        auth = {"Authorization": f"Bearer {self.token}"}
        parts = [DUMP[:25], DUMP[25:]]
        for index, part in enumerate(parts):
            fields = {
                "chunk": ("blob", part, "application/octet-stream"),
                "fileId": file_id,
                "chunkIndex": str(index),
                "totalChunks": str(len(parts)),
                "fileName": "dump.json",
            }
            if not self.until_done(
                "chunk", lambda f=fields: self.request("POST", f"{API}/upload", fields=f, headers=auth)
            ):
                return
        body = json.dumps({"fileId": file_id, "assemble": True}).encode()
        headers = {**auth, "Content-Type": "application/json"}
        response = self.until_done("assemble", lambda: self.request("POST", f"{API}/upload", body, headers))
        if response is not None:
            with self.outcome.lock:
                self.outcome.sessions.append(json.loads(response.data)["rtcstatsId"])

    def acknowledge(self, report_time: int) -> None:
        with self.outcome.lock:
            self.outcome.reports.setdefault(self.room, []).append(report_time)

    def run(self) -> None:
        operations = (self.ingest, self.signed_ingest, self.ingest, self.upload)
        turn = self.number
        try:
            while time.monotonic() < self.load_ends:
                operations[turn % len(operations)]()
                turn += 1
                time.sleep(0.02)
        except Exception as err:  # noqa: BLE001 - a failed client is reported, not swallowed
            self.problem(f"raised {type(err).__name__}: {err}")


def run_load(server: Server, fault) -> Outcome:
    """CLIENTS threads of load for LOAD_SECONDS while `fault()` runs in this thread."""
    outcome = Outcome()
    load_ends = time.monotonic() + LOAD_SECONDS
    clients = [Client(n, server.base, server.key, outcome, load_ends) for n in range(CLIENTS)]
    threads = [threading.Thread(target=c.run, name=f"client-{c.number}") for c in clients]
    for thread in threads:
        thread.start()
    try:
        fault()
    finally:
        for thread in threads:
            thread.join(LOAD_SECONDS + RETRY_SECONDS + 60)
    return outcome


def check_stored(server: Server, outcome: Outcome) -> None:
    """Every acknowledged report and session is stored, and no session beyond them exists."""
    auth = {"Authorization": f"Bearer {server.key}"}
    for room, times in outcome.reports.items():
        response = http.request("GET", f"{server.base}/report/history/{room}?limit=1000", headers=auth)
        assert response.status == 200, response.data
        stored = sorted(item["report_time"] for item in json.loads(response.data)["data"])
        assert stored == sorted(times), f"{room}: acknowledged {len(times)}, stored {len(stored)}"
    listed = set()
    while True:
        page = f"{server.base}{API}/sessions?limit=100&offset={len(listed)}"
        response = http.request("GET", page, headers=auth)
        assert response.status == 200, response.data
        assert int(response.headers["X-Total-Count"]) == len(outcome.sessions)
        items = json.loads(response.data)["data"]
        listed |= {item["rtcstatsId"] for item in items}
        if len(items) < 100:
            break
    assert listed == set(outcome.sessions)
    for rtcstats_id in outcome.sessions:
        # no worker runs: each session waits for its queued analysis (a failed one would be 422)
        response = http.request("GET", f"{server.base}{API}/sessions/{rtcstats_id}", headers=auth)
        assert response.status == 409, response.data


def assert_no_500_and_nothing_lost(server: Server, outcome: Outcome, expect_503: bool) -> None:
    acknowledged = sum(len(t) for t in outcome.reports.values())
    print(f"answers {dict(outcome.statuses)}; reports {acknowledged}, sessions {len(outcome.sessions)}")
    log = server.log.read_text()
    assert not outcome.problems, "\n".join(outcome.problems) + "\n" + log[-3000:]
    assert not [s for s in outcome.statuses if s >= 500 and s != 503], outcome.statuses
    if expect_503:
        assert outcome.statuses[503] > 0, outcome.statuses  # the fault did hit the load
    assert outcome.sessions and acknowledged > 0
    check_stored(server, outcome)
    assert "Traceback" not in log, log[-3000:]


def test_redis_stopped_and_restarted_under_load(tmp_path, database_url):
    with OwnRedis() as redis_server:
        env = {
            "MEDIAPLANE__CORE__REDIS_URL": redis_server.url,
            "MEDIAPLANE__CORE__DATABASE_URL": database_url,
            "MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT": "1000/second",
        }
        with Server(tmp_path, env, workers=2) as server:

            def fault():
                time.sleep(2.0)
                redis_server.stop()
                time.sleep(3.0)
                redis_server.start()  # same port, empty (no persistence): as after a crash

            outcome = run_load(server, fault)
            assert_no_500_and_nothing_lost(server, outcome, expect_503=True)


def test_postgresql_backends_terminated_under_load(tmp_path, redis_url):
    name = application_name()
    with PgSchema() as schema:
        env = {
            "MEDIAPLANE__CORE__REDIS_URL": redis_url,
            "MEDIAPLANE__CORE__DATABASE_URL": with_application_name(schema.url, name),
            "MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT": "1000/second",
        }
        with Server(tmp_path, env, workers=2) as server:
            killed = []

            def fault():
                for _ in range(3):
                    time.sleep(2.0)
                    killed.append(terminate_backends(name))

            outcome = run_load(server, fault)
            assert sum(killed) >= 3, killed  # the server's pooled connections were there to kill
            assert_no_500_and_nothing_lost(server, outcome, expect_503=False)
