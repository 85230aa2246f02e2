"""The walk over a peer connection's selected candidate pairs (D6): which pair(s) each snapshot selects,
when each was first and last selected, how often the selection changed, and the selected pair's RTT
(D7) and available outgoing bitrate at each snapshot. metrics_pc.selected_pairs turns the result into
PcMetrics.

Two walks give the same result. The general one goes snapshot by snapshot through every source of
selections. The usual dump has one transport that names the selected pair (bundled media, standard
stats) and keeps the same pair for a long time: that walk goes run by run (a run is a stretch of
snapshots naming one pair), with the per-snapshot work done by C-level list operations; a long call
has thousands of snapshots per PC.
"""

from __future__ import annotations

import operator
from itertools import compress, groupby, islice, repeat
from typing import Any

from plugins.rtcstats.analysis.metrics_model import Candidate, SelectedPair
from plugins.rtcstats.analysis.metrics_streams import PcContext
from plugins.rtcstats.analysis.metrics_values import column, num, nums, stat_type, truthy

__all__ = ["SELECTIONS", "PairWalk", "walk_selected_pairs"]

# The sources of a selection, in D6 precedence: the first one that names a pair at a snapshot wins.
SELECTIONS = ("transport.selectedCandidatePairId", "candidate-pair.selected", "googActiveConnection")
_TRANSPORT = SELECTIONS[0]
_first = operator.itemgetter(0)
_second = operator.itemgetter(1)

# (snapshot time -> sample, RTT column, RTT is legacy googRtt in ms, availableOutgoingBitrate column)
PairReport = tuple[dict[float, int], list | None, bool, list | None]


class PairWalk:
    """What the walk collects: the selected pairs (by id, in order of first selection), the last
    selection, the number of changes, and the RTT (ms) and available bitrate (kbps) samples in time
    order (of several pairs selected at once, in their order)."""

    __slots__ = (
        "ctx",
        "reports",
        "pairs",
        "previous",
        "final",
        "switches",
        "rtt_times",
        "rtt_values",
        "goog_rtts",
        "available_times",
        "available",
    )

    def __init__(self, ctx: PcContext):
        self.ctx = ctx
        self.reports: dict[str, PairReport | None] = {}
        self.pairs: dict[str, SelectedPair] = {}
        self.previous: tuple[str, ...] = ()
        self.final: list[str] = []
        self.switches = 0
        self.rtt_times: list[float] = []
        self.rtt_values: list[float] = []
        self.goog_rtts = 0  # how many RTT values came from legacy googRtt (the others: currentRoundTripTime)
        self.available_times: list[float] = []
        self.available: list[float] = []

    def report(self, pair_id: str) -> PairReport | None:
        """The columns of pair `pair_id` the walk reads, looked up once; None when it has no report."""
        try:
            return self.reports[pair_id]
        except KeyError:
            pass
        track = self.ctx.pc.stats.get(pair_id)
        found = None
        if track is not None:
            goog = stat_type(track) == "googCandidatePair"
            rtt_column = track.props.get("googRtt" if goog else "currentRoundTripTime")
            found = (self.ctx.index(track), rtt_column, goog, track.props.get("availableOutgoingBitrate"))
        self.reports[pair_id] = found
        return found

    def select(self, ids: list[str], selection: str, first: float, last: float) -> None:
        """`ids` are selected at every snapshot from `first` to `last` (one snapshot, or one run)."""
        if self.previous and tuple(ids) != self.previous:
            self.switches += 1
        self.previous = tuple(ids)
        self.final = ids
        for pair_id in ids:
            found = self.pairs.get(pair_id)
            if found is None:
                found = self.pairs[pair_id] = _make_pair(pair_id, selection, first)
            found.last_seen_ms = last


def _make_pair(pair_id: str, selection: str, t: float) -> SelectedPair:
    """A newly selected pair; its candidates are filled in once its last selected sample is known."""
    unknown = Candidate(id="", type=None)
    return SelectedPair(pair_id, selection, unknown, unknown, t, t)


def walk_selected_pairs(ctx: PcContext) -> PairWalk:
    walk = PairWalk(ctx)
    runs = _transport_runs(ctx)
    if runs is None:
        _walk_snapshots(walk)
    else:
        _walk_runs(walk, runs)
    return walk


# -- snapshot by snapshot ---------------------------------------------------------------------------


def _selections(ctx: PcContext) -> dict[float, tuple[str, list[str]]]:
    """snapshot time -> (selection, ids it names) of the source that wins there (D6 precedence)."""
    by_source: list[dict[float, list[str]]] = [{}, {}, {}]
    for track in ctx.tracks("transport"):
        for t, value in zip(track.times, column(track, "selectedCandidatePairId"), strict=True):
            if isinstance(value, str) and value:
                by_source[0].setdefault(t, []).append(value)
    for track in ctx.tracks("candidate-pair"):
        if track.props.get("selected") is None:
            continue
        for t, value in zip(track.times, column(track, "selected"), strict=True):
            if _selected(value):
                by_source[1].setdefault(t, []).append(track.id)
    for track in ctx.tracks("googCandidatePair"):
        for t, value in zip(track.times, column(track, "googActiveConnection"), strict=True):
            if _selected(value):
                by_source[2].setdefault(t, []).append(track.id)
    # the sources are written from the last to the first, so that the first one present wins
    chosen: dict[float, tuple[str, list[str]]] = {}
    for source, name in reversed(list(zip(by_source, SELECTIONS, strict=True))):
        chosen.update((t, (name, ids)) for t, ids in source.items())
    return chosen


def _selected(value: Any) -> bool:
    """truthy(value), without calling it for the values of almost every sample: True, False, None and
    legacy goog stats' "true" and "false"."""
    if value is True or value == "true":
        return True
    if value is None or value is False or value == "false":
        return False
    return truthy(value)


def _walk_snapshots(walk: PairWalk) -> None:
    chosen = _selections(walk.ctx)
    # every named pair's report looked up once, then read from the dict (no method call per snapshot)
    for _, named in chosen.values():
        for pair_id in named:
            walk.report(pair_id)
    reports = walk.reports
    rtt_values, rtt_times = walk.rtt_values, walk.rtt_times
    available, available_times = walk.available, walk.available_times
    for t in sorted(chosen):
        selection, ids = chosen[t]
        # A selected id whose candidate-pair report is absent from this snapshot is stale: delta
        # compression cannot express a removed property, so a transport keeps naming a pair that was
        # removed (jitsi_legacy_undefined-ice-candidate, 3rd getstats line). Pairs never reported at
        # all are kept (nothing better is known).
        ids = [i for i in dict.fromkeys(ids) if (report := reports[i]) is None or t in report[0]]
        if not ids:
            continue
        _select(walk, ids, selection, t)
        for pair_id in ids:
            report = reports[pair_id]
            if report is None:
                continue
            index, rtt_column, goog, bitrate_column = report
            i = index[t]  # present: stale ids were dropped above
            rtt = num(rtt_column[i]) if rtt_column is not None and i < len(rtt_column) else None
            if rtt is not None and not goog:
                rtt *= 1000.0  # currentRoundTripTime is in seconds
            if rtt is not None:
                rtt_values.append(rtt)
                rtt_times.append(t)
                walk.goog_rtts += goog
            bitrate = None
            if bitrate_column is not None and i < len(bitrate_column):
                bitrate = num(bitrate_column[i])
            if bitrate is not None:
                available_times.append(t)
                available.append(bitrate / 1000.0)


def _select(walk: PairWalk, ids: list[str], selection: str, t: float) -> None:
    """walk.select(ids, selection, t, t); when the snapshot selects what the one before it did (most
    do), only the pairs' last times move."""
    if walk.previous and len(ids) == len(walk.previous) and tuple(ids) == walk.previous:
        walk.final = ids
        pairs = walk.pairs
        for pair_id in ids:
            pairs[pair_id].last_seen_ms = t
    else:
        walk.select(ids, selection, t, t)


# -- run by run ------------------------------------------------------------------------------------


def _transport_runs(ctx: PcContext) -> list[tuple[str, list[float]]] | None:
    """(pair id, snapshot times) of each run of snapshots whose transport names one pair, in time order,
    when a single transport is the only source of selections and its snapshot times increase (then
    each snapshot selects at most that one id). None otherwise: the snapshot walk decides."""
    transports = ctx.tracks("transport")
    if len(transports) != 1 or ctx.tracks("googCandidatePair"):
        return None
    if any(track.props.get("selected") is not None for track in ctx.tracks("candidate-pair")):
        return None
    track = transports[0]
    times = track.times
    if not all(map(operator.lt, times, islice(times, 1, None))):
        return None
    ids = column(track, "selectedCandidatePairId")
    if ids.count(ids[0]) == len(ids):  # one pair for the whole call
        runs = [(ids[0], times)]
    else:  # groupby compares with ==: a str only ever equals a str
        runs = [
            (pair_id, list(map(_first, points)))
            for pair_id, points in groupby(zip(times, ids, strict=True), key=_second)
        ]
    return [(pair_id, run) for pair_id, run in runs if isinstance(pair_id, str) and pair_id]


def _walk_runs(walk: PairWalk, runs: list[tuple[str, list[float]]]) -> None:
    for pair_id, times in runs:
        report = walk.report(pair_id)
        if report is not None:  # stale snapshots dropped, as in _walk_snapshots
            times = list(compress(times, map(report[0].__contains__, times)))
            if not times:
                continue
        walk.select([pair_id], _TRANSPORT, times[0], times[-1])
        if report is not None:
            _run_samples(walk, report, times)


def _run_samples(walk: PairWalk, report: PairReport, times: list[float]) -> None:
    """The RTT and available bitrate samples of one pair selected at each of `times`."""
    index, rtt_column, goog, bitrate_column = report
    rows = list(map(index.__getitem__, times))
    rtts = _numbers_at(rtt_column, rows)
    if rtts is not None:
        present = list(map(operator.is_not, rtts, repeat(None)))
        values = list(compress(rtts, present))
        if not goog:
            values = [rtt * 1000.0 for rtt in values]  # currentRoundTripTime is in seconds
        walk.rtt_values += values
        walk.rtt_times += compress(times, present)
        walk.goog_rtts += goog * len(values)
    bitrates = _numbers_at(bitrate_column, rows)
    if bitrates is not None:
        present = list(map(operator.is_not, bitrates, repeat(None)))
        walk.available += [bitrate / 1000.0 for bitrate in compress(bitrates, present)]
        walk.available_times += compress(times, present)


def _numbers_at(values: list | None, rows: list[int]) -> list[float | None] | None:
    """num() of the column's value at each row (None past its end); None without the column."""
    if values is None:
        return None
    size = len(values)
    if max(rows) < size:
        return nums(list(map(values.__getitem__, rows)))
    return nums([values[i] if i < size else None for i in rows])
