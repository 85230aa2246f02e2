"""Where the machine's CPU went during one load run: server under test, database, client, other.

The benchmark shares its machine with PostgreSQL, Redis and whatever else runs there. A run during
which other processes used a large share of the CPU is not comparable with a quiet one; the
"other" share makes that visible in the report instead of hiding it in the figures.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

DATABASE_COMMANDS = ("postgres", "redis-server")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def process_ticks(server_pgid: int) -> tuple[int, int]:
    """(server group, database processes) user+system ticks of the processes alive now."""
    server = database = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        if int(fields[2]) == server_pgid:
            server += ticks
        elif command.startswith(DATABASE_COMMANDS):
            database += ticks
    return server, database


def children_seconds() -> float:
    """CPU of this process's ended children: the load clients, which are run to completion."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Snapshot at start, `shares()` at the end: percent of the whole machine (all CPUs = 100), and the
    CPU seconds of the server and the database (less disturbed by other load than the rates are)."""

    def __init__(self, server_pgid: int):
        self.server_pgid = server_pgid
        self.hz = os.sysconf("SC_CLK_TCK")
        self.start = (machine_ticks(), process_ticks(server_pgid), children_seconds())

    def shares(self) -> dict:
        (busy0, total0), (server0, db0), client0 = self.start
        (busy1, total1), (server1, db1), client1 = (
            machine_ticks(),
            process_ticks(self.server_pgid),
            children_seconds(),
        )
        total = max(1, total1 - total0)
        server, database = server1 - server0, db1 - db0
        client = round((client1 - client0) * self.hz)
        # Processes that started and ended within the run are only in `busy`: they land in "other".
        other = max(0, (busy1 - busy0) - server - database - client)
        return {
            "server_s": round(server / self.hz, 2),
            "database_s": round(database / self.hz, 2),
            "busy": _pct(busy1 - busy0, total),
            "server": _pct(server, total),
            "database": _pct(database, total),
            "client": _pct(client, total),
            "other": _pct(other, total),
        }


def _pct(ticks: int, total: int) -> float:
    return round(100 * ticks / total, 1)
