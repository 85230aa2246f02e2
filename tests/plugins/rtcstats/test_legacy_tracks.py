"""The delta-built stat tracks of legacy getstats lines equal the tracks of appending every merged report.

The reference below is the straightforward decompression (keep each PC's merged reports, append all of
them to their StatTrack after every line); the parser builds the same tracks from the deltas only
(plugins/rtcstats/parsing/legacy_tracks.py). Random files exercise what real dumps rarely hold: reports
removed by a null or (v2) by their absence and sent again with fewer properties, timestamps 0, absent,
null or their own, explicit null values, a `type` that comes late or is no string, `id` keys.
"""

from __future__ import annotations

import json
import random

import pytest

from plugins.rtcstats.parsed_dump import PeerConnection
from plugins.rtcstats.parsing.legacy import parse_legacy
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names


def _reference_tracks(raw: bytes, semantics: str) -> dict[str, PeerConnection]:
    """Every getstats line merged into the PC's reports, every merged report appended (the old parser)."""
    pcs: dict[str, PeerConnection] = {}
    bases: dict[str, dict[str, dict]] = {}
    for line in raw.splitlines():
        item = json.loads(line)
        if item[0] != "getstats":
            continue
        pc = pcs.setdefault(item[1], PeerConnection(item[1]))
        value, time = item[2], float(item[3])
        stamp = value["timestamp"] if isinstance(value.get("timestamp"), (int, float)) else time
        base = bases.setdefault(pc.id, {})
        if semantics == "v2" and len(pc.snapshot_times):
            for stat_id in [s for s in base if s not in value]:
                del base[stat_id]
        for stat_id, report in value.items():
            if stat_id == "timestamp":
                continue
            if report is None:
                base.pop(stat_id, None)
                continue
            own = report.get("timestamp")
            zero = own == 0 and not isinstance(own, bool)
            known = base.get(stat_id)
            if known is None:
                base[stat_id] = report
                if own is None or zero:
                    report["timestamp"] = stamp
            else:
                kept = known.get("timestamp")
                known.update(report)
                if zero:
                    known["timestamp"] = stamp
                elif own is None:
                    known["timestamp"] = kept
        pc.snapshot_times.append(time)
        for stat_id, report in base.items():
            track = pc.stats.get(stat_id)
            if track is None:
                kind = report.get("type")
                track = pc.track(stat_id, kind if isinstance(kind, str) else None)
            track.append(time, report)
    return pcs


def _tracks(pc: PeerConnection) -> list:
    """Everything a reader of the tracks can see, columns as stored (their length too) and padded."""
    return [
        (
            t.id,
            t.type,
            t.times,
            t.report_times,
            list(t.props),
            {p: list(c) for p, c in t.props.items()},
            {p: t._column(p) for p in t.props},
        )
        for t in pc.stats.values()
    ]


def _random_file(seed: int, v2: bool) -> bytes:
    rng = random.Random(seed)
    ids = [f"S{i}" for i in range(6)]
    props = ["a", "b", "c", "d", "kind", "id"]  # `id` is no column, like timestamp and type
    lines = [["connectionInfo", None, {"statsFormat": "chrome_standard"}, 1_000]]
    alive: set[str] = set()
    for n in range(40):
        value: dict = {"timestamp": 2_000 + 1000 * n} if rng.random() < 0.7 else {}
        for stat_id in ids:
            roll = rng.random()
            if stat_id in alive and roll < 0.1:
                if not v2:
                    value[stat_id] = None  # a tombstone
                alive.discard(stat_id)
                continue
            if stat_id not in alive and roll < 0.5:
                continue
            if v2 and n > 0 and stat_id in alive and roll < 0.6:
                value[stat_id] = {"timestamp": 0}  # v2: kept unchanged
                continue
            report: dict = {}
            stamp = rng.choice([0, 0, 0, None, "absent", 5_000 + n, True])
            if stamp != "absent":
                report["timestamp"] = stamp
            if stat_id not in alive or rng.random() < 0.3:
                if rng.random() < 0.8:
                    report["type"] = rng.choice(["inbound-rtp", "codec", None, 7])  # 7: str() of it
            for prop in rng.sample(props, rng.choice([0, 1, 1, 2, len(props)])):
                report[prop] = rng.choice([n, n * 1.5, None, "x", [n], {"k": n}])
            if not v2 and set(report) <= {"timestamp"}:
                report["a"] = n  # a report of only its timestamp would make the file v2
            value[stat_id] = report
            alive.add(stat_id)
        if v2 and n > 0:
            # v2 is detected from a report reduced to its timestamp after the PC's first line
            value.setdefault("S0", {"timestamp": 0})
            alive.add("S0")
        lines.append(["getstats", "PC_0", value, 2_000 + 1000 * n])
    return "\n".join(json.dumps(line) for line in lines).encode()


@pytest.mark.parametrize("seed", range(60))
def test_random_files_give_the_reference_tracks(seed):
    raw = _random_file(seed, v2=seed % 2 == 1)
    dump = parse_legacy(raw)
    semantics = dump.format_detail["legacy_delta_semantics"]
    reference = _reference_tracks(raw, semantics)
    assert list(dump.peer_connections) == list(reference)
    for pc_id, pc in dump.peer_connections.items():
        assert pc.snapshot_times == reference[pc_id].snapshot_times
        assert _tracks(pc) == _tracks(reference[pc_id])


def test_random_files_cover_both_conventions_and_sent_again_reports():
    """The random files above do hold what they are meant to: v1 and v2, and reports sent again."""
    semantics = {
        parse_legacy(_random_file(s, v2=s % 2 == 1)).format_detail["legacy_delta_semantics"]
        for s in range(60)
    }
    assert semantics == {"v1", "v2"}
    gaps = 0
    for seed in range(60):
        for pc in parse_legacy(_random_file(seed, v2=seed % 2 == 1)).peer_connections.values():
            for track in pc.stats.values():
                times = track.times
                gaps += any(b - a > 1000 for a, b in zip(times, times[1:], strict=False))
    assert gaps > 20


@pytest.mark.parametrize("name", fixture_names("jitsi_legacy_"))
def test_legacy_fixtures_give_the_reference_tracks(name):
    raw = dump_bytes(name)
    dump = parse_legacy(raw)
    reference = _reference_tracks(raw, dump.format_detail["legacy_delta_semantics"])
    for pc_id, pc in dump.peer_connections.items():
        if pc.stats or pc_id in reference:
            assert _tracks(pc) == _tracks(reference[pc_id])
