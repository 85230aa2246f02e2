"""Load generator for POST /report/metrics: a gevent HTTP/1.1 keep-alive client, run as its own process.

Run by scripts/bench/report_ingest.py, which reads the JSON summary this prints on stdout:

    python scripts/bench/load_client.py --port P --key K closed --requests N --concurrency C
    python scripts/bench/load_client.py --port P --key K open --rate R --requests N --connections C

`closed` keeps C requests in flight (peak throughput); `open` sends on a fixed schedule of R requests
per second whatever the answers do, and times each request from its scheduled start, so a slow server
cannot hide its queueing by slowing the client down (coordinated omission). A request is counted as
200 only if its body is the success envelope.

The client speaks raw HTTP on gevent sockets instead of using requests/urllib3: on a 2-core machine the
load generator shares the CPU with the server, and a heavier client would lower both figures.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import deque

import gevent
from gevent import socket
from gevent.lock import BoundedSemaphore

HOST = "127.0.0.1"  # never anything else: this tool must not load a remote machine
PATH = "/report/metrics"
USERS = ("u1", "u2", "u3")
RESOLUTIONS = ((1280, 720), (960, 540), (640, 360))
REQUEST_TIMEOUT = 10.0  # far above any healthy latency; a wedged worker must not stall a run
MAX_OPEN_IN_FLIGHT = 900  # below gunicorn's worker_connections, so the server never refuses a connection
OK_MARKER = b'"code":0'


# -- reports --------------------------------------------------------------------------------------


def build_report(seq: int, room_id: str, rng: random.Random) -> dict:
    """Report number `seq`: users take turns, each posting its own camera and mic streams (2 samples)."""
    user_id = USERS[seq % len(USERS)]
    now = int(time.time())
    width, height = RESOLUTIONS[(seq // len(USERS)) % len(RESOLUTIONS)]
    camera = {
        "stream_id": "camera",
        "direction": "send",
        "video": {
            "timestamp": now,
            "frame_rate": rng.choice((15, 24, 25, 30)),
            "width": width,
            "height": height,
            "bitrate": round(rng.uniform(300, 2500), 1),
        },
        "network": _network(rng),
    }
    mic = {
        "stream_id": "mic",
        "direction": "send",
        "audio": {
            "timestamp": now,
            "sample_rate": 48000,
            "channels": rng.choice((1, 2)),
            "bitrate": rng.choice((24, 32, 48, 64)),
        },
        "network": _network(rng),
    }
    return {
        "user_id": user_id,
        "room_id": room_id,
        "sdk_version": "1.2.0",
        "report_time": now,
        "metrics": [{"user_id": user_id, "streams": [camera, mic]}],
    }


def _network(rng: random.Random) -> dict:
    return {
        "rtt": rng.randint(8, 180),
        "packet_loss": min(100.0, round(rng.expovariate(2.0), 2)),  # mostly < 1 %, a few bad spikes
        "jitter": rng.randint(1, 30),
    }


def encode_request(port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"X-API-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


# -- HTTP -----------------------------------------------------------------------------------------


class StaleConnection(Exception):
    """A reused connection was closed by the server before it answered (keep-alive expiry)."""


class Connection:
    """One keep-alive connection; requests on it are sequential (no pipelining)."""

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.used = False

    def open(self) -> None:
        self.sock = socket.create_connection((HOST, self.port), timeout=REQUEST_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.used = False

    def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.open()
        reused, self.used = self.used, True
        try:
            self.sock.sendall(payload)
            return self._read_response(reused)
        except BaseException:
            self.close()
            raise

    def _read_response(self, reused: bool) -> tuple[int, bytes]:
        buf = bytearray()
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                if reused and not buf:
                    raise StaleConnection()
                raise ConnectionError("connection closed in the response head")
            buf += chunk
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        if "content-length" not in headers:
            raise ConnectionError(f"HTTP {status} without Content-Length")  # never sent by gunicorn/Flask
        length = int(headers["content-length"])
        body = buf[end + 4 :]
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the response body")
            body += chunk
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, bytes(body[:length])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Recorder:
    """Latencies, status counts and transport errors of one run."""

    def __init__(self):
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.retries = 0

    def send(self, conn: Connection, payload: bytes, started: float) -> None:
        """Send one request; latency counts from `started` (the scheduled time in open loop)."""
        try:
            try:
                status, body = conn.request(payload)
            except StaleConnection:
                # Nothing reached the application (the server had closed the idle socket): safe to resend.
                self.retries += 1
                status, body = conn.request(payload)
        except Exception as err:  # noqa: BLE001 - every failure is counted, none may stop the run
            name = type(err).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            return
        self.latencies.append(time.perf_counter() - started)
        label = str(status) if status != 200 or OK_MARKER in body else "200-bad-body"
        self.statuses[label] = self.statuses.get(label, 0) + 1

    def summary(self, elapsed: float, **extra) -> dict:
        ordered = sorted(self.latencies)
        ok = self.statuses.get("200", 0)
        return {
            "elapsed_s": round(elapsed, 3),
            "completed": len(ordered),
            "ok": ok,
            "rps": round(len(ordered) / elapsed, 1) if elapsed > 0 else 0.0,
            "ok_rps": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": _percentile_ms(ordered, 50),
            "p90_ms": _percentile_ms(ordered, 90),
            "p99_ms": _percentile_ms(ordered, 99),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
            "statuses": self.statuses,
            "errors": self.errors,
            "stale_retries": self.retries,
            **extra,
        }


def _percentile_ms(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1] * 1000, 2)


# -- load shapes ----------------------------------------------------------------------------------


def run_closed(args, recorder: Recorder, payloads) -> dict:
    """`concurrency` connections, each sending its next request as soon as the previous one answered."""
    counter = itertools.count()

    def loop():
        conn = Connection(args.port)
        while next(counter) < args.requests:
            payload = next(payloads)
            recorder.send(conn, payload, time.perf_counter())
        conn.close()

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(loop) for _ in range(args.concurrency)])
    return recorder.summary(time.perf_counter() - started, concurrency=args.concurrency)


def run_open(args, recorder: Recorder, payloads) -> dict:
    """Request i starts at t0 + i/rate, on an idle pooled connection (a new one when none is idle)."""
    # Opened before the clock starts: connection setup is not what the open loop measures.
    idle = deque(Connection(args.port) for _ in range(args.connections))
    for conn in idle:
        conn.open()
        conn.used = True  # idle until needed: the server may close it like any kept-alive socket
    in_flight = BoundedSemaphore(MAX_OPEN_IN_FLIGHT)
    interval = 1.0 / args.rate
    max_late = 0.0

    def one(payload: bytes, scheduled: float):
        # FIFO: requests spread over all open connections, so over the workers that accepted them
        # (LIFO would keep reusing the few newest connections, often all held by one worker).
        conn = idle.popleft() if idle else Connection(args.port)
        try:
            recorder.send(conn, payload, scheduled)
        finally:
            idle.append(conn)
            in_flight.release()

    started = time.perf_counter()
    greenlets = []
    for i in range(args.requests):
        scheduled = started + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        payload = next(payloads)  # late sends still count from `scheduled`: lag is never hidden
        in_flight.acquire()
        max_late = max(max_late, time.perf_counter() - scheduled)
        greenlets.append(gevent.spawn(one, payload, scheduled))
    gevent.joinall(greenlets)
    for conn in idle:
        conn.close()
    return recorder.summary(
        time.perf_counter() - started,
        target_rate=args.rate,
        max_send_lag_ms=round(max_late * 1000, 2),
        connections=len(idle),
    )


def payload_stream(args):
    rng = random.Random(args.seed)
    for seq in itertools.count():
        body = json.dumps(build_report(seq, args.room, rng), separators=(",", ":")).encode()
        yield encode_request(args.port, args.key, body)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="Port on 127.0.0.1.")
    parser.add_argument("--key", required=True, help="Sent as X-API-Key.")
    parser.add_argument("--room", default="bench-room", help="Room id of every report.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the metric values.")
    parser.add_argument("--time-limit", type=float, default=300.0, help="Hard stop, seconds.")
    modes = parser.add_subparsers(dest="mode", required=True)
    closed = modes.add_parser("closed", help="Fixed concurrency, as fast as answers come.")
    closed.add_argument("--requests", type=int, required=True)
    closed.add_argument("--concurrency", type=int, required=True)
    opened = modes.add_parser("open", help="Fixed arrival rate.")
    opened.add_argument("--requests", type=int, required=True)
    opened.add_argument("--rate", type=float, required=True, help="Requests per second.")
    opened.add_argument("--connections", type=int, default=0, help="Connections opened before the start.")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    recorder = Recorder()
    run = run_closed if args.mode == "closed" else run_open
    started = time.perf_counter()
    try:
        with gevent.Timeout(args.time_limit):
            result = run(args, recorder, payload_stream(args))
    except gevent.Timeout:
        # Partial figures are still printed: the caller treats timed_out as a failed run.
        result = recorder.summary(time.perf_counter() - started, timed_out=True)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
