"""Stat tracks of legacy getstats lines built from the deltas: work per value written, not per value held.

A legacy getstats line holds only what changed since the PC's previous line (rtcstats-dumps.md 2.3, D5):
a report the line leaves out is carried forward unchanged (v1) or removed (v2), a report in the line
updates the properties it names. Appending every merged report to its StatTrack after every line (what
the generic ``StatTrack.append`` does) costs a Python step per property per sample, five to ten times the
values in the file. Here each value of the file is noted once, as a change at its sample index (a
report's first delta is kept as written: most of its properties are never sent again), and the columns
are written when the PC is complete with C-speed list fills between the changes.

The result is the StatTrack that appending the merged reports one by one would give, exactly: the same
times, report times, column values and column lengths (a column ends at the last sample that had the
property; see ``StatTrack._column``), the same track and property order.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

from plugins.rtcstats.parsed_dump import PeerConnection, StatTrack

__all__ = ["LegacyStats"]

# object.__new__ of a class: an instance without running its __init__ (see LegacyStats._other)
_new_track = object.__new__

# A property the merged report no longer has (the report was removed, then sent again without it).
_ABSENT = object()


class _Stat:
    """One report id of one PC while its lines are read."""

    __slots__ = (
        "track",
        "alive_from",
        "offset",
        "runs",
        "first",
        "first_index",
        "changes",
        "stamp",
        "stamps",
        "sent_again",
    )

    def __init__(self, track):
        self.track = track
        self.alive_from = -1  # snapshot index where the current run of samples began; -1 while removed
        self.offset = 0  # sample index = offset + snapshot index, in the current run
        self.runs: list[tuple[int, int]] = []  # [start, end) snapshot indexes of the ended runs
        # The first delta's properties, values as written (most are never sent again: ids, codec lines,
        # flags), at sample index first_index; None until the first delta, and once all are in `changes`.
        self.first: dict | None = None
        self.first_index = 0
        # property -> [index, value, index, value, ...]: the properties sent again, and the new ones
        self.changes: dict[str, list] = {}
        self.stamp: Any = _ABSENT  # the merged report's `timestamp` as written (none yet)
        self.stamps: list = []  # report time changes: [index, float | None, ...]
        self.sent_again = False  # removed and sent again: its columns may have absent runs

    def samples(self, snapshot: int) -> int:
        """The number of samples before snapshot index `snapshot` (while alive), or in all (removed)."""
        if self.alive_from >= 0:
            return self.offset + snapshot
        total = 0  # a loop, not sum() of a generator: the compiled method may hold no closure
        for start, stop in self.runs:
            total += stop - start
        return total


class LegacyStats:
    """The stat tracks of one peer connection, fed one getstats line at a time, written by finish()."""

    def __init__(self, pc: PeerConnection, count: Callable[[str, int], None], decide: Callable[[], bool]):
        self.pc = pc
        self.count = count  # notes a counted warning: (text, line number)
        self.decide = decide  # whether absent reports are removed (v2), when add was told -1 (not known)
        self.stats: dict[str, _Stat] = {}
        self.alive: dict[str, _Stat] = {}

    @staticmethod
    def _remove(stat: _Stat, snapshot: int) -> None:
        stat.runs.append((stat.alive_from, snapshot))
        stat.alive_from = -1

    def add(self, lineno: int, value: dict, time: float, stamp: float, remove_absent: int) -> None:
        """One getstats line: `value` maps report ids to deltas; `stamp` replaces a report timestamp 0.

        `remove_absent`: 1 the v2 convention (a report the line leaves out is removed), 0 v1 (it is
        carried), -1 not known yet: `decide()` is asked when the line leaves out a report (only then do the
        conventions differ).
        """
        snapshot = len(self.pc.snapshot_times)
        alive = self.alive
        alive_before = len(alive)
        found = 0  # reports of the line that were alive before it
        # boxed once per line: the reports whose timestamp 0 means the line's share one float object
        stamp_time = float(stamp)
        # orjson hands out one cached str object per repeated key: once a "timestamp" key was compared
        # equal, the next ones are that same object (any other object is still compared in full).
        timestamp_key = "timestamp"
        for stat_id, report in value.items():
            stat = alive.get(stat_id)
            if stat is not None:
                found += 1
            known = stat is not None and type(report) is dict  # the usual case: a known report's delta
            if not known:
                if stat_id == "timestamp":
                    continue
                stat, written = self._other(lineno, stat_id, report, stamp, snapshot)
                if stat is None:
                    continue
            delta = report  # a JSON object (exactly a dict): compiled, a C-typed dict iterated in C
            index = stat.offset + snapshot
            # One pass over the delta: its own timestamp, a type, and the property changes. The three keys
            # that are not columns are told apart by their lengths first (compiled: C compares; a string
            # comparison only at equal lengths), not by a set lookup per key, nor three lookups per delta.
            own = None
            if not known and stat.first is None and not stat.changes:
                # a new report (or one sent again that never had a column): every key is a new column
                stat.first = _first_values(stat.track, delta)
                stat.first_index = index
            else:
                changes_of = stat.changes
                for key, prop_value in delta.items():
                    if key is timestamp_key:  # the decoder's cached "timestamp": no string comparison
                        own = prop_value
                        continue
                    size = len(key)
                    if size == 9 and key == "timestamp":
                        own = prop_value
                        timestamp_key = key
                    elif size == 4 and key == "type":
                        if (
                            prop_value is not None
                        ):  # a delta seldom names its type: the track is read only then
                            track = stat.track
                            if track.type is None:
                                track.type = str(prop_value)
                    elif size != 2 or key != "id":
                        changes = changes_of.get(key)
                        if changes is None:
                            first = stat.first
                            before = _ABSENT if first is None else first.get(key, _ABSENT)
                            if before is _ABSENT:  # a new property
                                changes_of[key] = [index, prop_value]
                            else:  # a property of the first delta sent again: its changes from there
                                changes_of[key] = [stat.first_index, before, index, prop_value]
                        else:
                            changes.append(index)
                            changes.append(prop_value)
            if known:
                # JavaScript's number 0 (the only JSON values == 0 are 0, 0.0 and false)
                if own == 0 and own is not False:
                    written = stamp
                elif own is None:  # absent (or null): the report keeps its previous timestamp
                    written = stat.stamp
                else:
                    written = own
            if written is not stat.stamp:
                if written is stamp:
                    report_time = stamp_time
                else:
                    report_time = float(written) if isinstance(written, (int, float)) else None
                stamps = stat.stamps
                if not stamps or stamps[-1] != report_time:
                    # two appends, not += of a tuple: no tuple per change (compiled, C-speed appends)
                    stamps.append(index)
                    stamps.append(report_time)
                stat.stamp = written
        if found < alive_before and remove_absent != 0 and (remove_absent > 0 or self.decide()):
            # v2: the reports alive before the line and absent from it are removed. Done after the line,
            # and only when some are absent (a v2 line names every report it keeps, so most lines none):
            # no lookup per report of the line. Those still alive and not in the line are exactly them.
            for stat_id in [s for s in alive if s not in value]:
                self._remove(alive.pop(stat_id), snapshot)
        self.pc.snapshot_times.append(time)

    def _other(self, lineno: int, stat_id: str, report: Any, stamp: float, snapshot: int) -> tuple:
        """A tombstone, a report that is not an object, or a new report (or one sent again after it was
        removed): (the stat, its written timestamp), or (None, None) when nothing is sampled."""
        alive = self.alive
        if report is None:  # an explicit tombstone (v3 style); harmless in legacy files
            gone = alive.pop(stat_id, None)
            if gone is not None:
                self._remove(gone, snapshot)
            return None, None
        if not isinstance(report, dict):
            self.count("a getstats report that is not an object was skipped", lineno)
            return None, None
        fields = report  # a JSON object, exactly a dict: compiled, its lookups are C calls, not method calls
        stat = self.stats.get(stat_id)
        if stat is None:
            tracks = self.pc.stats
            track = tracks.get(stat_id)
            if track is None:  # what PeerConnection.track does, without a Python call per new report
                kind = fields.get("type")
                # Made without StatTrack.__init__: its empty times, report times and props would only be
                # replaced by finish(), which sets all three for every stat. Until then they are unset.
                track = tracks[stat_id] = _new_track(StatTrack)
                track.id = stat_id
                track.type = kind if isinstance(kind, str) else None
            stat = self.stats[stat_id] = _Stat(track)
            stat.offset = -snapshot  # its first sample is this snapshot's
        else:
            stat.sent_again = True
            index = stat.samples(snapshot)
            if stat.first is not None:
                _merge_first(stat)
            for prop, changes in stat.changes.items():
                if prop not in fields:
                    changes += (index, _ABSENT)
            stat.offset = index - snapshot
        stat.alive_from = snapshot
        alive[stat_id] = stat
        own = fields.get("timestamp")
        return stat, stamp if own is None or (own == 0 and own is not False) else own

    def finish(self) -> None:
        """Write every track's times, report times and columns."""
        snapshots = self.pc.snapshot_times
        end = len(snapshots)
        for stat in self.stats.values():
            runs = stat.runs
            if stat.alive_from >= 0:
                runs = [*runs, (stat.alive_from, end)]
            total = stat.samples(end)
            track = stat.track
            if len(runs) == 1:
                track.times = snapshots[runs[0][0] : runs[0][1]]
            else:
                times: list[float] = []
                for start, stop in runs:
                    times += snapshots[start:stop]
                track.times = times
            # report times are never absent (a stat's first sample notes one), so the C-speed paths apply:
            # in v2 files most reports are sent, with a new timestamp, in every line
            track.report_times = _fill_present(stat.stamps, total)
            # The first delta's dict (else the changes dict) becomes the track's props: each column replaces
            # its value in place, so no dict is built and grown key by key, and the order of the properties
            # is the same. Replacing values keeps the dict's size, which is all its iteration checks.
            if stat.sent_again:
                if stat.first is not None:  # sent again before it had any column, then had some
                    _merge_first(stat)
                props = stat.changes
                track.props = props
                for prop, changes in props.items():
                    props[prop] = _fill(changes, total)
                continue
            changes_of = stat.changes
            props = stat.first  # a stat never sent again had its first delta from its first sample
            track.props = props
            first = stat.first_index
            for prop, value in props.items():
                changes = changes_of.get(prop) if changes_of else None
                if changes is None:  # written once: most columns (ids, types, codec details, flags)
                    column = [value] * (total - first)
                    props[prop] = [None] * first + column if first else column
                else:
                    props[prop] = _fill_present(changes, total)
            # the properties new after the first delta, in the order they came (after the first's)
            for prop, changes in changes_of.items():
                if prop not in props:
                    props[prop] = _fill_present(changes, total)
        self.stats = {}
        self.alive = {}


def _first_values(track: StatTrack, delta: dict) -> dict:
    """The properties of a stat's first delta: a copy of it (the same keys in the same order, copied whole
    rather than grown key by key) without the timestamp, type and id, which are no columns (a type names
    the track's type, as in add)."""
    columns = delta.copy()
    for key, value in delta.items():
        size = len(key)
        if size == 9 and key == "timestamp":
            del columns[key]
        elif size == 4 and key == "type":
            del columns[key]
            if value is not None and track.type is None:
                track.type = str(value)
        elif size == 2 and key == "id":
            del columns[key]
    return columns


def _merge_first(stat: _Stat) -> None:
    """Make the first delta's properties changes like the others (before a report sent again notes its
    absent properties): one changes dict, the first's properties first, then the new ones, as they came."""
    first = stat.first
    index = stat.first_index
    changes_of = stat.changes
    merged: dict = {}
    for prop, value in first.items():
        changes = changes_of.get(prop)
        merged[prop] = [index, value] if changes is None else changes
    for prop, changes in changes_of.items():
        if prop not in merged:
            merged[prop] = changes
    stat.changes = merged
    stat.first = None


def _fill_present(changes: list, total: int) -> list:
    """_fill without absent runs, with C-speed paths for the usual columns: set once (ids, types, codec
    lines) or changed at every sample from its first (counters of a busy stream)."""
    first = changes[0]
    count = len(changes) // 2
    if count == 1:
        return [None] * first + [changes[1]] * (total - first)
    last = changes[-2]
    if last - first == count - 1:  # indexes only grow, so this means one change per sample
        # from the first sample (most report times, busy counters): the values themselves, no concatenation
        column = [None] * first + changes[1::2] if first else changes[1::2]
        if last < total - 1:
            column += repeat(changes[-1], total - 1 - last)
        return column
    return _fill(changes, total)


def _fill(changes: list, total: int) -> list:
    """A column of `total` samples from [index, value, ...] changes: None before the first, each value held
    until the next change. Trailing absent runs are cut off: StatTrack.append leaves such a column ending
    at the last sample that had the property."""
    count = len(changes)
    while count > 2 and changes[count - 1] is _ABSENT:
        count -= 2
        total = changes[count]
    # One list of Nones, then each run written in place: compiled, a C loop of pointer stores with no
    # object per run (an `itertools.repeat` per run cost more than the few samples most runs hold).
    column: list = [None] * total
    for position in range(0, count, 2):
        value = changes[position + 1]
        if value is _ABSENT:
            continue  # an absent run reads None, as the column already holds
        stop = changes[position + 2] if position + 2 < count else total
        for sample in range(changes[position], stop):
            column[sample] = value
    return column
