"""The PC metrics that go run by run (stretches of snapshots with one value) give exactly what the
snapshot-by-snapshot code gives. The selected pairs (one transport names the pair): on every fixture's
PCs, and on hand-built transports that switch pairs, lose the selection, name stale or unreported pairs,
and carry RTT and bitrate values of every kind. The DTLS states of the transports."""

from __future__ import annotations

import math
import random

import pytest

from plugins.rtcstats.analysis import metrics_pairs
from plugins.rtcstats.analysis.metrics import compute_metrics
from plugins.rtcstats.analysis.metrics_model import Series
from plugins.rtcstats.analysis.metrics_pairs import PairWalk, walk_selected_pairs
from plugins.rtcstats.analysis.metrics_pc import _add_numbers, dtls_from_stats
from plugins.rtcstats.analysis.metrics_streams import PcContext
from plugins.rtcstats.analysis.metrics_values import column, num, truthy
from plugins.rtcstats.parsed_dump import Dump
from plugins.rtcstats.parsing import parse
from tests.plugins.rtcstats.fixtures import dump_bytes, fixture_names


def _facts(walk: PairWalk) -> str:
    """Everything the walk found, as text: repr tells 0.0 from -0.0 and an int from a float."""
    pairs = [(p.pair_id, p.selection, p.first_seen_ms, p.last_seen_ms) for p in walk.pairs.values()]
    return repr(
        (
            pairs,
            walk.final,
            walk.switches,
            walk.rtt_times,
            walk.rtt_values,
            walk.goog_rtts,
            walk.available_times,
            walk.available,
        )
    )


def _both_walks(pc) -> tuple[bool, str, str]:
    """(whether the run walk applies, its facts, the snapshot walk's facts) of one parsed PC."""
    runs = metrics_pairs._transport_runs(PcContext.of(pc))
    fast = _facts(walk_selected_pairs(PcContext.of(pc)))
    slow = PairWalk(PcContext.of(pc))
    metrics_pairs._walk_snapshots(slow)
    return runs is not None, fast, _facts(slow)


def test_both_walks_agree_on_every_fixture():
    by_runs = 0
    for name in fixture_names():
        for pc_id, pc in parse(dump_bytes(name)).peer_connections.items():
            used_runs, fast, slow = _both_walks(pc)
            assert fast == slow, (name, pc_id)
            by_runs += used_runs
    assert by_runs >= 5  # the run walk is what most fixtures' PCs take


def _transport_dump(samples: list[tuple[float, dict]], pairs: dict[str, list[tuple[float, dict]]]) -> Dump:
    """One PC: a transport report per (time, properties), and candidate-pair reports per pair id."""
    dump = Dump(format="rtcstats-v3")
    pc = dump.pc("PC_0")
    for time, props in samples:
        pc.snapshot_times.append(time)
        pc.track("T01", "transport").append(time, {"type": "transport", **props})
    for pair_id, reports in pairs.items():
        for time, props in reports:
            pc.track(pair_id, "candidate-pair").append(time, {"type": "candidate-pair", **props})
    return dump


def _pair_reports(times: list[float], rtts: list, bitrates: list | None = None) -> list[tuple[float, dict]]:
    reports = []
    for i, (time, rtt) in enumerate(zip(times, rtts, strict=True)):
        props = {} if rtt is None else {"currentRoundTripTime": rtt}
        if bitrates is not None and i < len(bitrates) and bitrates[i] is not None:
            props["availableOutgoingBitrate"] = bitrates[i]
        reports.append((time, props))
    return reports


TIMES = [1000.0 * i for i in range(1, 13)]
SELECTIONS = ["A", "A", "A", "B", "B", None, "B", "A", "", "A", "C", "C"]


@pytest.mark.parametrize(
    "case",
    ["switches", "stale", "unreported", "values", "constant", "short_column", "rtt_overflow"],
)
def test_both_walks_agree_on_hand_built_transports(case):
    selections = ["A"] * len(TIMES) if case == "constant" else SELECTIONS
    samples = [
        (t, {} if s is None else {"selectedCandidatePairId": s})
        for t, s in zip(TIMES, selections, strict=True)
    ]
    rtts = [0.010 + i / 1000 for i in range(len(TIMES))]
    pairs = {
        "A": _pair_reports(TIMES, rtts, [3e5] * len(TIMES)),
        "B": _pair_reports(TIMES, rtts),
        "C": _pair_reports(TIMES, rtts, [1e6] * 5),
    }
    if case == "stale":  # B is not reported at the 5th and 7th snapshots
        pairs["B"] = [report for report in pairs["B"] if report[0] not in (TIMES[4], TIMES[6])]
    if case == "unreported":  # nothing tells what C is
        del pairs["C"]
    if case == "values":  # None, an int, a numeric string, a bool, inf, NaN, -0.0 and a huge int
        odd = [None, 1, " 0.5 ", True, math.inf, math.nan, -0.0, 10**400, 0.25, "x", 0, 2]
        pairs["A"] = _pair_reports(TIMES, odd, odd[::-1])
    if case == "short_column":  # the transport's column ends before its last samples
        samples = [(t, props) for t, props in samples[:9]] + [(t, {"bytesSent": 1}) for t in TIMES[9:]]
    if case == "rtt_overflow":
        pairs["B"] = [(t, {"currentRoundTripTime": 1e306}) for t, _ in pairs["B"]]  # x1000 overflows
    pc = _transport_dump(samples, pairs).peer_connections["PC_0"]
    used_runs, fast, slow = _both_walks(pc)
    assert used_runs
    assert fast == slow


def test_runs_of_a_transport_that_switches_pairs():
    samples = [(t, {"selectedCandidatePairId": s}) for t, s in zip(TIMES, SELECTIONS, strict=True) if s]
    rtts = [0.010 + i / 1000 for i in range(len(TIMES))]
    pairs = {pair_id: _pair_reports(TIMES, rtts) for pair_id in "ABC"}
    pairs["B"] = [report for report in pairs["B"] if report[0] != TIMES[6]]  # stale at the 7th snapshot
    walk = walk_selected_pairs(PcContext.of(_transport_dump(samples, pairs).peer_connections["PC_0"]))
    seen = [(p.pair_id, p.first_seen_ms, p.last_seen_ms) for p in walk.pairs.values()]
    assert seen == [("A", 1000.0, 10000.0), ("B", 4000.0, 5000.0), ("C", 11000.0, 12000.0)]
    assert walk.switches == 3  # A -> B -> A -> C (B's stale snapshot and the empty id do not count)
    assert walk.final == ["C"]
    assert walk.rtt_times == [t for t, s in zip(TIMES, SELECTIONS, strict=True) if s and t != TIMES[6]]
    assert walk.rtt_values == [
        rtt * 1000.0 for rtt, t in zip(rtts, TIMES, strict=True) if t in walk.rtt_times
    ]


def test_several_transports_take_the_snapshot_walk():
    samples = [(t, {"selectedCandidatePairId": "A"}) for t in TIMES]
    dump = _transport_dump(samples, {"A": _pair_reports(TIMES, [0.01] * len(TIMES))})
    pc = dump.peer_connections["PC_0"]
    for t in TIMES:
        pc.track("T02", "transport").append(t, {"type": "transport", "selectedCandidatePairId": "A"})
    assert metrics_pairs._transport_runs(PcContext.of(pc)) is None
    pcm = compute_metrics(dump).pcs["PC_0"]
    assert [p.pair_id for p in pcm.selected_pairs] == ["A"] and pcm.rtt_samples == len(TIMES)


@pytest.mark.parametrize(
    "values",
    [[], [1.5, -0.0, 2.0], [1e306 * 1000.0, 2.0], [1e308, 1e308, 3.0], [math.nan, 1.0], [-math.inf]],
)
def test_numbers_are_added_as_series_add_all_adds_them(values):
    times = [float(i) for i in range(len(values))]
    expected, added = Series(), Series()
    expected.add_all(times, values)
    _add_numbers(added, times, values)
    assert repr(added) == repr(expected)


def _dtls_per_sample(ctx: PcContext) -> list:
    """dtls_from_stats as it was written, one step per sample."""
    out = []
    for track in ctx.tracks("transport", "googComponent"):
        previous = None
        for t, value in zip(track.times, column(track, "dtlsState"), strict=True):
            if isinstance(value, str) and value != previous:
                out.append((t, value.lower()))
                previous = value
    out.sort(key=lambda item: item[0] or 0.0)
    return out


@pytest.mark.parametrize(
    "states",
    [
        ["new", "connecting", "connected", "connected", "closed"],
        ["connected"] * 12,
        ["connecting", None, "connecting", None, None, "connected", "Connected", "connected"],
        [None, 1, True, {"a": 1}, "new", "", "", "new", 1.0, "failed"],
        [None, None],
    ],
)
def test_dtls_states_by_runs_are_the_per_sample_states(states):
    samples = [(1000.0 * (i + 1), {} if s is None else {"dtlsState": s}) for i, s in enumerate(states)]
    pc = _transport_dump(samples, {}).peer_connections["PC_0"]
    component = pc.track("Channel-audio-1", "googComponent")
    for t, s in samples[::-1][:3]:  # a second track, its times out of order
        component.append(t, {"type": "googComponent", **s})
    ctx = PcContext.of(pc)
    assert repr(dtls_from_stats(ctx)) == repr(_dtls_per_sample(ctx))


def _reference_walk_snapshots(walk: PairWalk) -> None:
    """metrics_pairs._walk_snapshots as a plain loop: a report lookup per id, walk.select per snapshot."""
    chosen = _reference_selections(walk.ctx)
    for t in sorted(chosen):
        selection, ids = chosen[t]
        ids = [i for i in dict.fromkeys(ids) if (report := walk.report(i)) is None or t in report[0]]
        if not ids:
            continue
        walk.select(ids, selection, t, t)
        for pair_id in ids:
            report = walk.report(pair_id)
            if report is None:
                continue
            index, rtt_column, goog, bitrate_column = report
            i = index[t]
            rtt = num(rtt_column[i]) if rtt_column is not None and i < len(rtt_column) else None
            if rtt is not None and not goog:
                rtt *= 1000.0
            if rtt is not None:
                walk.rtt_values.append(rtt)
                walk.rtt_times.append(t)
                walk.goog_rtts += goog
            bitrate = None
            if bitrate_column is not None and i < len(bitrate_column):
                bitrate = num(bitrate_column[i])
            if bitrate is not None:
                walk.available_times.append(t)
                walk.available.append(bitrate / 1000.0)


def _goog_and_pair_dump(rng) -> Dump:
    """One PC whose selections come from candidate-pair `selected` and googActiveConnection values of
    every kind (several pairs selected at once, repeated selections, switches, legacy strings)."""
    dump = Dump(format="rtcstats-v3")
    pc = dump.pc("PC_0")
    flags = [True, False, None, "true", " TRUE ", "false", "", 1, 0]
    for t in TIMES:
        pc.snapshot_times.append(t)
        for pair_id in ("A", "B", "C"):
            props = {"selected": rng.choice(flags), "currentRoundTripTime": rng.choice([0.01, None, "0.2"])}
            pc.track(pair_id, "candidate-pair").append(t, {"type": "candidate-pair", **props})
        for pair_id in ("G1", "G2"):
            props = {"googActiveConnection": rng.choice(flags), "googRtt": rng.choice(["12", 30, None])}
            pc.track(pair_id, "googCandidatePair").append(t, {"type": "googCandidatePair", **props})
    return dump


def _reference_selections(ctx: PcContext) -> dict:
    """metrics_pairs._selections with truthy() called on every value."""
    by_source: list[dict] = [{}, {}, {}]
    for track in ctx.tracks("transport"):
        for t, value in zip(track.times, column(track, "selectedCandidatePairId"), strict=True):
            if isinstance(value, str) and value:
                by_source[0].setdefault(t, []).append(value)
    for track in ctx.tracks("candidate-pair"):
        if track.props.get("selected") is not None:
            for t, value in zip(track.times, column(track, "selected"), strict=True):
                if truthy(value):
                    by_source[1].setdefault(t, []).append(track.id)
    for track in ctx.tracks("googCandidatePair"):
        for t, value in zip(track.times, column(track, "googActiveConnection"), strict=True):
            if truthy(value):
                by_source[2].setdefault(t, []).append(track.id)
    chosen = {}
    for source, name in reversed(list(zip(by_source, metrics_pairs.SELECTIONS, strict=True))):
        chosen.update((t, (name, ids)) for t, ids in source.items())
    return chosen


def test_snapshot_walk_shortcuts_as_the_plain_calls():
    """_selections (its _selected) gives the selections that truthy() of every value gives, and the
    snapshot walk (its report lookups, its _select shortcut) what walk.report and walk.select at every
    snapshot give, on the fixtures and on random selections."""
    rng = random.Random(11)
    pcs = [pc for name in fixture_names() for pc in parse(dump_bytes(name)).peer_connections.values()]
    pcs += [_goog_and_pair_dump(rng).peer_connections["PC_0"] for _ in range(40)]
    fast = []
    several = 0
    for pc in pcs:
        ctx = PcContext.of(pc)
        chosen = metrics_pairs._selections(ctx)
        assert repr(chosen) == repr(_reference_selections(ctx)), pc.id
        several += any(len(ids) > 1 for _, ids in chosen.values())
        walk = PairWalk(ctx)
        metrics_pairs._walk_snapshots(walk)
        fast.append(_facts(walk))
    assert several >= 30  # several pairs selected at once in most random PCs
    for pc, found in zip(pcs, fast, strict=True):
        walk = PairWalk(PcContext.of(pc))
        _reference_walk_snapshots(walk)
        assert found == _facts(walk), pc.id
