"""Several hosts as one deployment: two `mediaplane serve` and two `mediaplane worker` processes, each
with a data directory of its own, sharing one PostgreSQL schema, one Redis db and one S3 store (moto),
agree on keys, rate limits, uploads, jobs and reads. The setup of docs/deployment.md ("Several hosts")."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import urllib3
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from core.auth import KEY_CACHE_SECONDS
from tests.conftest import EXAMPLE_REPORT, REDIS_URL, PgSchema
from tests.core.test_server import free_port

pytestmark = pytest.mark.slow

MEDIAPLANE = str(Path(sys.executable).parent / "mediaplane")
RTCSTATS = "/api/rtcstats/v1.0"
INGEST_LIMIT = 24  # per key and day: a window the test cannot straddle, except at midnight UTC
SECRET_KEY = "q0ZLxsLhTuYbx0-nfUtByQ3OUqxmFPUhVOBIyVeQk3Y="  # one Fernet key for every process
http = urllib3.PoolManager(retries=False, timeout=30)


class Deployment:
    """Two web servers (a, b), two job workers and the CLI, all with the same settings."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        self.servers: dict[str, str] = {}

    def start(self, name: str, *args: str) -> None:
        data = self.root / name
        data.mkdir()
        log = data / "log.txt"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [MEDIAPLANE, *args],
                env={**self.env, "MEDIAPLANE__CORE__DATA_DIR": str(data)},
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((process, log))

    def serve(self, name: str) -> None:
        port = free_port()
        self.start(name, "serve", "--port", str(port), "--workers", "1")
        self.servers[name] = f"http://127.0.0.1:{port}"

    def cli(self, *args: str) -> str:
        """Run a command as an operator would, on a third machine (a data directory of its own)."""
        env = {**self.env, "MEDIAPLANE__CORE__DATA_DIR": str(self.root / "cli")}
        done = subprocess.run(
            [MEDIAPLANE, *args], env=env, cwd=self.root, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def logs(self) -> str:
        return "\n".join(f"--- {log.parent.name}\n{log.read_text()}" for _, log in self.processes)

    def stop(self) -> None:
        for process, _ in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def call(base: str, method: str, path: str, key: str | None = None, **kwargs) -> tuple[int, object]:
    headers = kwargs.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = http.request(method, base + path, headers=headers, **kwargs)
    return response.status, (json.loads(response.data) if response.data else None)


def wait_until(check, seconds: float, what: str, logs=lambda: ""):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds} s\n{logs()}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("deployment")
    s3_port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port)
    s3.start()
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    deployment = None
    try:
        with PgSchema() as schema:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
            env.update(
                MEDIAPLANE__CORE__DATABASE_URL=schema.url,
                MEDIAPLANE__CORE__REDIS_URL=REDIS_URL,
                MEDIAPLANE__CORE__SECRET_KEY=SECRET_KEY,
                MEDIAPLANE__CORE__LOG_LEVEL="INFO",
                MEDIAPLANE__CORE__STORAGE__BACKEND="s3",
                MEDIAPLANE__CORE__STORAGE__ENDPOINT=f"127.0.0.1:{s3_port}",
                MEDIAPLANE__CORE__STORAGE__ACCESS_KEY="scale-out",
                MEDIAPLANE__CORE__STORAGE__SECRET_KEY="scale-out-secret",
                MEDIAPLANE__CORE__STORAGE__REGION="us-east-1",
                MEDIAPLANE__CORE__STORAGE__SECURE="false",
                MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT=f"{INGEST_LIMIT}/day",
            )
            deployment = Deployment(root, env)
            deployment.cli("migrate")
            deployment.cli("accounts", "create", "acme")
            for name in ("web-a", "web-b"):
                deployment.serve(name)
            deployment.start("worker-1", "worker")
            deployment.start("worker-2", "worker")
            for base in deployment.servers.values():
                wait_until(lambda base=base: _ready(base), 60, f"{base}/readyz answers 200", deployment.logs)
            wait_until(lambda: len(Worker.all(connection=store)) == 2, 60, "two workers", deployment.logs)
            yield deployment
            deployment.stop()
            assert "Traceback" not in deployment.logs(), deployment.logs()
    finally:
        if deployment is not None:
            deployment.stop()
        s3.stop()
        store.flushdb()
        store.close()


def _ready(base: str) -> bool:
    with contextlib.suppress(urllib3.exceptions.HTTPError):
        return call(base, "GET", "/readyz")[0] == 200
    return False


def new_key(deployment: Deployment, scopes: str) -> str:
    return deployment.cli("keys", "create", "--account", "acme", "--scopes", scopes).strip().splitlines()[-1]


def signed_headers(key: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """The rtcstats-style HMAC signature (README, auth style 5)."""
    key_id, secret = key.split(".", 1)
    timestamp = str(int(time.time()))
    message = f"{method}\n{path}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}"
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Api-Key": key_id,
        "X-RTCstack-Timestamp": timestamp,
        "X-RTCstack-Signature": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def test_a_key_works_on_every_server_and_a_revoked_one_on_none(deployment):
    a, b = deployment.servers["web-a"], deployment.servers["web-b"]
    key = new_key(deployment, "report:read,report:ingest")
    for base in (a, b):
        assert call(base, "GET", "/report/rooms", key) == (200, {"code": 0, "message": "success", "data": []})

    # A signed request made for one server is good on the other, once: the used signature is in Redis.
    body = json.dumps(EXAMPLE_REPORT).encode()
    headers = signed_headers(key, "POST", "/report/metrics", body)
    assert call(b, "POST", "/report/metrics", body=body, headers=dict(headers))[0] == 200
    status, answer = call(a, "POST", "/report/metrics", body=body, headers=dict(headers))
    assert (status, answer["message"]) == (
        401,
        "this request signature was used already; sign each request anew",
    )

    deployment.cli("keys", "revoke", key.split(".")[0])
    revoked = time.monotonic()
    # Each server may still accept it from its verified-key cache, for KEY_CACHE_SECONDS at most.
    for base in (a, b):
        wait_until(
            lambda base=base: call(base, "GET", "/report/rooms", key)[0] == 401,
            KEY_CACHE_SECONDS + 3 - (time.monotonic() - revoked),
            f"{base} refuses the revoked key",
        )
    for base in (a, b):
        status, answer = call(base, "GET", "/report/rooms", key)
        assert (status, answer["message"]) == (401, "invalid API key")


def test_the_ingest_rate_limit_is_shared_by_the_servers(deployment):
    a, b = deployment.servers["web-a"], deployment.servers["web-b"]
    for _attempt in range(2):  # again if the day's window changed during the first attempt
        day = int(time.time()) // 86400
        key = new_key(deployment, "report:ingest")
        statuses = {a: [], b: []}
        for i in range(INGEST_LIMIT + 10):
            base = (a, b)[i % 2]
            report = {**EXAMPLE_REPORT, "user_id": f"limited-{i}"}
            statuses[base].append(call(base, "POST", "/report/metrics", key, json=report)[0])
        if int(time.time()) // 86400 == day:
            break
    # Half of the limit on each server, then both refuse: together they admitted exactly the limit.
    for base in (a, b):
        assert statuses[base] == [200] * (INGEST_LIMIT // 2) + [429] * 5, (base, statuses)


def test_reports_and_sessions_read_the_same_on_every_server(deployment):
    a, b = deployment.servers["web-a"], deployment.servers["web-b"]
    key = new_key(deployment, "report:ingest,report:read,rtcstats:read")
    report = {**EXAMPLE_REPORT, "room_id": "shared-room"}
    assert call(a, "POST", "/report/metrics", key, json=report)[0] == 200
    reads = [call(base, "GET", "/report/metrics/shared-room/u1", key) for base in (a, b)]
    assert reads[0] == reads[1] and reads[0][0] == 200
    assert reads[0][1]["data"]["streams"][0]["network"]["rtt"] == 45
    assert call(a, "GET", "/report/history/shared-room", key) == call(
        b, "GET", "/report/history/shared-room", key
    )
    assert call(a, "GET", f"{RTCSTATS}/sessions", key) == call(b, "GET", f"{RTCSTATS}/sessions", key)


def small_dump() -> bytes:
    """An rtcstats v3 dump (getUserMedia only, no peer connection), written here."""
    agent = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36"
    )
    head = {"url": "/scale-out", "origin": "https://check.invalid", "userAgent": agent}
    head.update(startTime=1760000000000, clientProtocol="rtcstats#4.0", fileFormat=3)
    lines = [
        "RTCStatsDump",
        json.dumps(head),
        '[60,null,{"audio":true,"video":false},"60-0",100]',
        '[61,null,[["audio","track-1","stream-1"]],"60-0",50]',
        '["close",null,1001,1000]',
    ]
    return ("\n".join(lines) + "\n").encode()


def test_an_upload_sent_to_one_server_and_assembled_on_the_other_is_analysed_once(deployment):
    a, b = deployment.servers["web-a"], deployment.servers["web-b"]
    key = new_key(deployment, "rtcstats:write,rtcstats:read")
    dump = small_dump()
    third = len(dump) // 3
    chunks = [dump[:third], dump[third : 2 * third], dump[2 * third :]]
    for index in (2, 0, 1):  # any order, all to server a
        fields = {"fileId": "split-1", "chunkIndex": str(index), "chunk": ("blob", chunks[index])}
        assert call(a, "POST", f"{RTCSTATS}/upload", key, fields=fields) == (200, {"success": True})
    status, made = call(b, "POST", f"{RTCSTATS}/upload", key, json={"fileId": "split-1", "assemble": True})
    assert status == 200, made
    session = made["rtcstatsId"]

    answer = wait_until(
        lambda: (found := call(a, "GET", f"{RTCSTATS}/sessions/{session}", key))[0] != 409 and found,
        60,
        "the session is analysed",
        deployment.logs,
    )
    assert answer[0] == 200, answer
    data = answer[1]["data"]
    assert (data["metadata"]["format"], data["fileSize"], data["id"]) == ("rtcstats-v3", len(dump), session)
    # The same stored analysis from the other server (only the viewer links differ: they name the
    # host that answered and carry a fresh token).
    status, again = call(b, "GET", f"{RTCSTATS}/sessions/{session}", key)
    assert status == 200 and again["data"] == data
    assert again["processorVersion"] == answer[1]["processorVersion"]

    # Exactly one analysis job ran, on one of the two workers, and nothing is left running or failed.
    store = redis.Redis.from_url(REDIS_URL)
    queue = Queue("rtcstats", connection=store)
    finished = [queue.fetch_job(job_id) for job_id in FinishedJobRegistry(queue=queue).get_job_ids()]
    # core.queue runs every job through one function: (job name, args, kwargs).
    analyses = [job for job in finished if tuple(job.args[:2]) == ("rtcstats.analyze_upload", [session])]
    assert len(analyses) == 1, [(job.func_name, job.args) for job in finished]
    workers = {worker.name for worker in Worker.all(connection=store)}
    assert analyses[0].worker_name in workers and len(workers) == 2
    assert FailedJobRegistry(queue=queue).get_job_ids() == []
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert queue.count == 0
    store.close()
