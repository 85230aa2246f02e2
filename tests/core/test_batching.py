"""core.batching.GroupCall: calls in flight together share one flush; each caller gets its own result.

Real OS threads stand in for gevent greenlets: GroupCall only uses `threading` locks, which gevent
patches into cooperative ones in a server worker.
"""

from __future__ import annotations

import threading
import time

from core.batching import GroupCall


class SlowFlush:
    """Records each batch; the first flush blocks until released, so that callers pile up behind it."""

    def __init__(self):
        self.batches: list[list] = []
        self.release = threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            assert self.release.wait(10)
        if any(item == "bad" for item in items):
            raise ValueError("bad item")
        return [f"stored {item}" for item in items]


def call_in_threads(group: GroupCall, items: list):
    """Call `group` with each item in a thread of its own; results maps item -> result or exception."""
    results: dict = {}

    def one(item):
        try:
            results[item] = group(item)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each caller got
            results[item] = exc

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, results


def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_a_lone_call_is_flushed_at_once():
    batches = []
    group = GroupCall(lambda items: batches.append(list(items)) or [i * 2 for i in items])
    assert group(21) == 42
    assert batches == [[21]]


def test_calls_arriving_during_a_flush_share_the_next_one():
    flush = SlowFlush()
    group = GroupCall(flush)
    first, first_results = call_in_threads(group, ["a"])
    wait_until(lambda: len(flush.batches) == 1)  # "a" is being flushed and blocks
    others, results = call_in_threads(group, ["b", "c", "d", "e"])
    wait_until(lambda: len(group._pending) == 4)
    flush.release.set()
    for thread in first + others:
        thread.join(10)
    assert flush.batches[0] == ["a"]
    assert sorted(flush.batches[1]) == ["b", "c", "d", "e"] and len(flush.batches) == 2
    assert first_results == {"a": "stored a"}
    assert results == {item: f"stored {item}" for item in "bcde"}


def test_a_failing_item_fails_only_its_own_caller():
    flush = SlowFlush()
    group = GroupCall(flush)
    first, _ = call_in_threads(group, ["a"])
    wait_until(lambda: len(flush.batches) == 1)
    others, results = call_in_threads(group, ["b", "bad", "c"])
    wait_until(lambda: len(group._pending) == 3)
    flush.release.set()
    for thread in first + others:
        thread.join(10)
    assert isinstance(results["bad"], ValueError)
    assert results["b"] == "stored b" and results["c"] == "stored c"
    # the failed batch of three was retried item by item
    assert sorted(map(tuple, flush.batches[1:])) == [("b",), ("b", "bad", "c"), ("bad",), ("c",)]


def test_max_batch_bounds_one_flush():
    flush = SlowFlush()
    group = GroupCall(flush, max_batch=2)
    first, _ = call_in_threads(group, ["a"])
    wait_until(lambda: len(flush.batches) == 1)
    others, results = call_in_threads(group, ["b", "c", "d", "e", "f"])
    wait_until(lambda: len(group._pending) == 5)
    flush.release.set()
    for thread in first + others:
        thread.join(10)
    assert all(len(batch) <= 2 for batch in flush.batches)
    assert results == {item: f"stored {item}" for item in "bcdef"}


def test_an_interrupted_flush_settles_every_waiting_caller():
    """A flush killed by a BaseException (gevent Timeout, GreenletExit) must not strand its batch."""

    class Killed(BaseException):
        pass

    gate = threading.Event()
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 1:
            assert gate.wait(10)
            return ["ok"]
        if len(calls) == 2:
            raise Killed()
        return [f"stored {item}" for item in items]

    group = GroupCall(flush)
    first, _ = call_in_threads(group, ["a"])
    wait_until(lambda: len(calls) == 1)
    threads, results = call_in_threads(group, ["b", "c"])
    wait_until(lambda: len(group._pending) == 2)
    gate.set()
    for thread in first + threads:
        thread.join(10)
        assert not thread.is_alive()
    kinds = sorted(type(result).__name__ for result in results.values())
    # the leader re-raises; the other caller learns that the outcome is unknown
    assert kinds == ["Killed", "RuntimeError"]
    assert group("d") == "stored d"  # the group still works afterwards


def test_group_call_is_reusable_after_many_rounds():
    group = GroupCall(lambda items: [i + 1 for i in items])
    assert [group(i) for i in range(100)] == list(range(1, 101))
