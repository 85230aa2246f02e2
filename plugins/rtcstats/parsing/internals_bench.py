"""Manual check (not a test) of the webrtc-internals parser's speed and memory.

    .venv/bin/python -m plugins.rtcstats.parsing.internals_bench [DUMP] [--big MB]

* speed: parse(DUMP) against json.loads of the same bytes (best of several runs), default DUMP is the
  shared fixture internals_chrome144_p2p_audio_video.txt;
* memory (--big): builds a synthetic long-call dump of about MB megabytes from DUMP (every series
  stretched to the page's 1000-point cap, PCs replicated), then parses it in a fresh process and
  prints the peak RSS against the file size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "fixtures"
    / "dumps"
    / "internals_chrome144_p2p_audio_video.txt"
)


def _best(func, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def speed(path: Path, runs: int = 7) -> None:
    from plugins.rtcstats.parsing import parse

    data = path.read_bytes()
    t_json = _best(lambda: json.loads(data), runs)
    t_parse = _best(lambda: parse(data), runs)
    print(f"{path.name}: {len(data) / 1e6:.2f} MB")
    print(f"  json.loads  {t_json * 1000:8.1f} ms")
    print(f"  parse()     {t_parse * 1000:8.1f} ms   ratio {t_parse / t_json:.1f}x")


def make_big(source: Path, target_mb: float, out: Path) -> None:
    """A long call: each series tiled to 1000 points (timestamps continued 1 s apart), PCs replicated."""
    doc = json.loads(source.read_bytes())
    pcs = doc["PeerConnections"]
    stretched = {}
    for pc_id, pc in pcs.items():
        for key, series in pc["stats"].items():
            values = json.loads(series["values"])
            if not values:
                continue
            if key.endswith("-timestamp"):
                first = values[0]
                values = [first + 1000.0 * i for i in range(1000)]
            else:
                values = (values * (1000 // len(values) + 1))[:1000]
            series["values"] = json.dumps(values, separators=(",", ":"))
        stretched[pc_id] = pc
    one = len(json.dumps(stretched, indent=1))
    copies = max(1, int(target_mb * 1e6 / one))
    doc["PeerConnections"] = {
        f"{pc_id}{'' if n == 0 else f'-copy{n}'}": pc
        for n in range(copies)
        for pc_id, pc in stretched.items()
    }
    out.write_text(json.dumps(doc, indent=1))


def _rss_now() -> int:
    """Current resident set size in bytes (Linux /proc; falls back to the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(path: str) -> None:
    from plugins.rtcstats.parsing import parse

    base = _rss_now()
    data = Path(path).read_bytes()
    gc.collect()
    before = _rss_now()
    start = time.perf_counter()
    dump = parse(data)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    samples = sum(len(t) for pc in dump.peer_connections.values() for t in pc.stats.values())
    size = len(data)
    print(
        f"  {size / 1e6:.1f} MB, {len(dump.peer_connections)} PCs, {samples} track samples, "
        f"stats_truncated={dump.stats_truncated}, parse {elapsed:.2f} s"
    )
    print(f"  RSS of the interpreter {base / 1e6:.0f} MB; with the file bytes read {before / 1e6:.0f} MB")
    print(
        f"  peak RSS {peak / 1e6:.0f} MB = {peak / size:.2f}x the file "
        f"({(peak - base) / size:.2f}x without the interpreter); after parse {_rss_now() / 1e6:.0f} MB"
    )


def memory(source: Path, target_mb: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big_internals_dump.txt"
        make_big(source, target_mb, big)
        print(f"synthetic long-call dump from {source.name}:")
        subprocess.run(
            [sys.executable, "-m", "plugins.rtcstats.parsing.internals_bench", "--child", str(big)],
            check=True,
            cwd=Path(__file__).resolve().parents[3],
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dump", nargs="?", default=str(DEFAULT))
    parser.add_argument(
        "--big", type=float, default=0.0, help="also check memory on a synthetic dump of this many MB"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    speed(Path(args.dump))
    if args.big:
        memory(Path(args.dump), args.big)


if __name__ == "__main__":
    main()
