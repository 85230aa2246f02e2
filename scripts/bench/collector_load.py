"""The load side of scripts/bench/rtcstats_collector.py: N WebSockets replaying a real rtcstats-js dump.

Run by rtcstats_collector.py in a process of its own (its CPU is not the server's), once against the
collector and once against the echo server, with the same arguments:

    python scripts/bench/collector_load.py --url ws://127.0.0.1:P/path?rtcstats-token=KEY \
        --mode collector|echo --sessions N --speed 10 --seconds S --flood F --worker-pid PID \
        [--spool DIR] [--fixture FILE]

One asyncio process with the `websockets` client (C-accelerated framing; no compression, no pings,
as both would add work the servers' comparison does not need). Phases, all sockets at once:

1. warm-up: WARMUP_SOCKETS sockets replay the dump once and close (imports, pools, first sweep);
   then the worker's RSS is read: the baseline.
2. ramp: N sockets connect (CONNECT_CONCURRENCY handshakes in flight); each replays the dump's
   messages in a loop with the dump's own time deltas divided by --speed, on a fixed schedule.
3. paced window (--seconds, after all are open and SETTLE_SECONDS passed): worker RSS and CPU,
   messages that reached the server's end, and each message's latency:
   - collector: from just before the client sends it to when it is seen in its spool file. Each
     socket's URL carries `bench=<n>`, which the collector writes into the file's metadata line, so
     the file is matched to its socket; inotify (IN_MODIFY) wakes this process on every write, and the
     file's size says how many of the socket's messages are on disk (they are written as sent, one
     line each). This includes the wait for this process's event loop to take the event.
   - echo: from the same point to when the echo is back at the client (a round trip).
4. flood: every socket sends --flood messages back to back (each starts at its next paced send,
   so within one pause of the dump); messages/s = N x F over the time from the flood's start to
   when the last socket's last message reached the server's end (seen in the spool file, or
   echoed back). Only then do the sockets close: closing and storing the dumps is not timed.
5. every collector socket's spool file is closed by the server (IN_CLOSE_WRITE: the close line is
   written) before the run ends.

Prints one JSON object. Sockets that fail to connect, close early or do not finish are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import resource
import time
import urllib.parse
from pathlib import Path

from websockets.asyncio.client import connect

SUBPROTOCOL = "rtcstats#5.0"
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "dumps"
FIXTURE = FIXTURES / "rtcstatsv3_rtcstatsjs_getusermedia_only.jsonl"
WARMUP_SOCKETS = 20
CONNECT_CONCURRENCY = 32
SETTLE_SECONDS = 3.0
END_TIMEOUT = 120.0  # seconds the flood may take to end before the remaining sockets count as failed
CLK_TCK = os.sysconf("SC_CLK_TCK")


def replay(fixture: Path) -> tuple[list[str], list[float]]:
    """The dump's messages and the pause before each, in seconds: the message's own timeDelta (the
    last element) for all but the first; before the first, the close line's delta, so that the
    loop restarts after the pause the client had before it closed."""
    lines = fixture.read_text().splitlines()[2:]
    messages = [line for line in lines if line and not line.startswith('["close"')]
    close = next(json.loads(line) for line in lines if line.startswith('["close"'))
    gaps = [close[-1] / 1000] + [json.loads(m)[-1] / 1000 for m in messages[1:]]
    return messages, gaps


def worker_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_cpu(pid: int) -> float:
    """User + system CPU seconds of the worker so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Window:
    """Messages that reached the server's end between `start` and `stop`, and their latencies."""

    def __init__(self):
        self.start = self.stop = None
        self.latencies: list[float] = []

    def record(self, sent: float, seen: float) -> None:
        if self.start is not None and self.start <= seen and (self.stop is None or seen < self.stop):
            self.latencies.append(seen - sent)


class Session:
    """One socket: what it sent that the server's end has not confirmed yet, oldest first."""

    def __init__(self, number: int):
        self.number = number
        self.pending: collections.deque[tuple[int, float]] = collections.deque()  # (bytes up to it, sent at)
        self.sent_bytes = 0
        self.sent = 0
        self.confirmed = 0
        self.drained = asyncio.Event()  # set once the flood's messages all reached the server's end
        self.flooded = False
        self.ended = asyncio.Event()
        self.error: str | None = None

    def sending(self, message: str) -> None:
        self.sent_bytes += len(message.encode()) + 1  # the collector writes it with a newline
        self.sent += 1
        self.pending.append((self.sent_bytes, time.monotonic()))

    def confirm(self, upto_bytes: int, seen: float, window: Window) -> None:
        while self.pending and self.pending[0][0] <= upto_bytes:
            _, sent = self.pending.popleft()
            self.confirmed += 1
            window.record(sent, seen)
        if self.flooded and not self.pending:
            self.drained.set()


class SpoolWatch:
    """The collector's spool directory under inotify: each write to a file confirms its socket's
    messages up to the file's size; IN_CLOSE_WRITE ends the socket."""

    def __init__(self, spool: Path, sessions: dict[int, Session], window: Window):
        self.spool, self.sessions, self.window = spool, sessions, window
        self.files: dict[str, tuple[Session, int] | None] = {}  # name -> (session, header bytes)

    def _identify(self, name: str) -> tuple[Session, int] | None:
        """The file's socket (from `bench=` in its metadata url) and header size, once both lines are in."""
        with contextlib.suppress(FileNotFoundError), open(self.spool / name, "rb") as file:
            head = file.readline()
            meta = file.readline()
            if not meta.endswith(b"\n"):
                return None  # not yet written whole: a later event
            query = urllib.parse.urlsplit(json.loads(meta)["url"]).query
            number = urllib.parse.parse_qs(query).get("bench", [""])[0]
            session = self.sessions.get(int(number)) if number.isdigit() else None
            self.files[name] = (session, len(head) + len(meta)) if session else None
        return self.files.get(name)

    async def run(self) -> None:
        from asyncinotify import Inotify, Mask

        with Inotify() as inotify:
            inotify.add_watch(self.spool, Mask.MODIFY | Mask.CLOSE_WRITE)
            async for event in inotify:
                name = str(event.name)
                known = self.files[name] if name in self.files else self._identify(name)
                if known is None:
                    continue  # a warm-up socket's file, or its metadata is not written yet
                session, header = known
                now = time.monotonic()
                with contextlib.suppress(FileNotFoundError):  # stored and removed meanwhile
                    session.confirm(os.stat(self.spool / name).st_size - header, now, self.window)
                if event.mask & Mask.CLOSE_WRITE:
                    session.ended.set()


class Load:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.messages, self.gaps = replay(args.fixture)
        self.window = Window()
        self.flood_start = asyncio.Event()
        self.flood_over = asyncio.Event()  # every socket's flood reached the server's end (or timed out)
        self.connected = 0
        self.connect_errors: collections.Counter[str] = collections.Counter()
        self.close_codes: collections.Counter[str] = collections.Counter()
        self.send_lag = 0.0  # the most a paced send started after its scheduled time: client health

    def url(self, tag: str) -> str:
        return f"{self.args.url}&bench={tag}"

    async def open(self, tag: str, gate: asyncio.Semaphore):
        async with gate:
            return await connect(
                self.url(tag),
                subprotocols=[SUBPROTOCOL],
                compression=None,
                ping_interval=None,
                open_timeout=120,
                close_timeout=60,
                max_queue=None,
            )

    async def echoes(self, ws, session: Session) -> None:
        """Echo mode: each message back confirms the oldest one sent."""
        with contextlib.suppress(Exception):
            async for _ in ws:
                if session.pending:
                    session.confirm(session.pending[0][0], time.monotonic(), self.window)
        session.ended.set()

    async def warm_up(self, gate: asyncio.Semaphore) -> None:
        async def one(n: int):
            async with await self.open(f"w{n}", gate) as ws:
                for message in self.messages:
                    await ws.send(message)
                if self.args.mode == "echo":
                    for _ in self.messages:
                        await ws.recv()

        await asyncio.gather(*(one(n) for n in range(WARMUP_SOCKETS)))

    async def socket(self, session: Session, gate: asyncio.Semaphore) -> None:
        try:
            ws = await self.open(str(session.number), gate)
        except Exception as err:  # noqa: BLE001 - counted and reported: the run is judged by them
            self.connect_errors[type(err).__name__] += 1
            session.error = f"connect: {err}"
            session.ended.set()
            return
        self.connected += 1
        reader = asyncio.create_task(self.echoes(ws, session)) if self.args.mode == "echo" else None
        try:
            await self.paced(ws, session)
            for i in range(self.args.flood):
                session.sending(self.messages[i % len(self.messages)])
                await ws.send(self.messages[i % len(self.messages)])
            session.flooded = True
            if not session.pending:
                session.drained.set()
            # Closed once every socket's flood is through: an echo server drops what it has not
            # echoed at a close, and the collector's end-of-session work (storing the dump) is not
            # message throughput, so it must not overlap the flood of other sockets.
            await self.flood_over.wait()
            await ws.close()
        except Exception as err:  # noqa: BLE001 - a socket closed by the server early: reported
            session.error = f"{type(err).__name__}: {err}"
            session.ended.set()
        self.close_codes[str(ws.close_code)] += 1
        if reader:
            await reader

    async def paced(self, ws, session: Session) -> None:
        """Replay on a fixed schedule (lateness is not carried over) until the flood starts."""
        loop = asyncio.get_running_loop()
        at = loop.time()
        i = 0
        while not self.flood_start.is_set():
            index = i % len(self.messages)
            if i:
                at += self.gaps[index] / self.args.speed
                await asyncio.sleep(max(0.0, at - loop.time()))  # cheaper than a wait_for per message
                if self.flood_start.is_set():
                    return
                self.send_lag = max(self.send_lag, loop.time() - at)
            session.sending(self.messages[index])
            await ws.send(self.messages[index])
            i += 1

    async def run(self) -> dict:
        args = self.args
        pid = args.worker_pid
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        sessions = {n: Session(n) for n in range(args.sessions)}
        watcher = None
        if args.mode == "collector":
            watcher = asyncio.create_task(SpoolWatch(args.spool, sessions, self.window).run())
        await self.warm_up(gate)
        await asyncio.sleep(SETTLE_SECONDS)
        result = {"mode": args.mode, "sessions": args.sessions, "rss_before": worker_rss(pid)}

        ramp_start = time.monotonic()
        tasks = [asyncio.create_task(self.socket(s, gate)) for s in sessions.values()]
        while self.connected + sum(self.connect_errors.values()) < args.sessions:
            await asyncio.sleep(0.1)
        result["ramp_s"] = time.monotonic() - ramp_start
        await asyncio.sleep(SETTLE_SECONDS)

        confirmed0, cpu0, own0 = (
            sum(s.confirmed for s in sessions.values()),
            worker_cpu(pid),
            time.process_time(),
        )
        result["rss_open"] = worker_rss(pid)
        self.window.start = time.monotonic()
        await asyncio.sleep(args.seconds)
        self.window.stop = time.monotonic()
        cpu1, confirmed1, own1 = (
            worker_cpu(pid),
            sum(s.confirmed for s in sessions.values()),
            time.process_time(),
        )
        result["rss_open_end"] = worker_rss(pid)
        window = self.window.stop - self.window.start
        paced = confirmed1 - confirmed0
        period = sum(self.gaps) / args.speed
        result["paced"] = {
            "seconds": window,
            "messages": paced,
            "messages_per_s": paced / window,
            "offered_per_s": self.connected * len(self.messages) / period,
            "cpu_s": cpu1 - cpu0,
            "client_cpu_s": own1 - own0,  # this process: near `seconds` would mean the client is the limit
            "latencies": len(self.window.latencies),
            "p50_ms": _ms(percentile(self.window.latencies, 0.50)),
            "p99_ms": _ms(percentile(self.window.latencies, 0.99)),
            "max_ms": _ms(max(self.window.latencies, default=None)),
            "client_send_lag_ms": self.send_lag * 1000,
        }

        flood_cpu0, own0 = worker_cpu(pid), time.process_time()
        flood_start = time.monotonic()
        self.flood_start.set()
        waits = [asyncio.wait_for(s.drained.wait(), END_TIMEOUT) for s in sessions.values() if not s.error]
        timed_out = await _timeouts(waits)
        flood_s = time.monotonic() - flood_start
        self.flood_over.set()
        result["flood"] = {
            "messages": args.flood * self.connected,
            "seconds": flood_s,
            "messages_per_s": args.flood * self.connected / flood_s,
            "cpu_s": worker_cpu(pid) - flood_cpu0,
            "client_cpu_s": time.process_time() - own0,
            "timed_out": timed_out,
        }
        await asyncio.gather(*tasks)
        # Every collector socket's file is closed by the server (its close line written) before the end.
        ends = [asyncio.wait_for(s.ended.wait(), END_TIMEOUT) for s in sessions.values() if not s.error]
        unfinished = await _timeouts(ends)
        if watcher:
            watcher.cancel()
        result["connect_errors"] = dict(self.connect_errors)
        result["close_codes"] = dict(self.close_codes)
        result["socket_errors"] = sorted({s.error for s in sessions.values() if s.error})[:5]
        result["failed_sockets"] = sum(1 for s in sessions.values() if s.error) + timed_out + unfinished
        result["sent"] = sum(s.sent for s in sessions.values())
        result["unconfirmed"] = sum(len(s.pending) for s in sessions.values())
        return result


async def _timeouts(waits) -> int:
    """Await all; how many timed out."""
    results = await asyncio.gather(*waits, return_exceptions=True)
    return sum(isinstance(r, asyncio.TimeoutError) for r in results)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def raise_fd_limit() -> None:
    """One descriptor per socket: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws:// URL with its query (the token); bench= is added")
    parser.add_argument("--mode", choices=("collector", "echo"), required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--flood", type=int, default=30, help="Messages per socket sent back to back at the end."
    )
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--spool", type=Path, help="The collector's spool directory (collector mode).")
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    if args.mode == "collector" and not args.spool:
        parser.error("--spool is needed in collector mode")
    raise_fd_limit()
    print(json.dumps(asyncio.run(Load(args).run())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
