"""Group calls: many requests in flight in one process share one round trip to a database or Redis.

Under gevent a worker holds dozens of requests at once. When each of them writes on its own, the
worker pays a statement, a commit and a network round trip per request. A `GroupCall` lets the first
caller do the work for everyone who arrived while the previous round was running ("group commit"):

    caller A: takes the round lock, flushes [A]            -> returns
    caller B, C, D arrive during A's flush, queue up       -> B takes the lock, flushes [B, C, D]
    C and D then find their work done                      -> return B's results for them

Every caller still waits until its own item has been flushed, so an answer is only sent after the
write it reports has happened. There is no background thread: a caller that finds nobody else
waiting flushes alone at once, which is also what happens in tests and single-threaded servers.

Locks are made at construction with whatever `threading` is then, so build a GroupCall inside the
process that uses it (under gunicorn's gevent worker: after the worker patched threading, e.g. in
`create_app` or lazily on first use), never at import time in the master.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["GroupCall"]


class _Pending:
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item: Any):
        self.item = item
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCall:
    """Calls `flush(items) -> results` (one result per item, same order) for batches of waiting calls.

    If a batch of several items fails, each of its items is flushed again on its own, so that one
    bad item fails only its own caller. `max_batch` bounds the size of one flush.
    """

    def __init__(self, flush: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 256):
        self._flush = flush
        self._max_batch = max_batch
        self._round_lock = threading.Lock()  # one flush at a time per process
        # Callers append at the end; only the holder of the round lock takes from the front. Each
        # list operation is atomic, so taking the first n and deleting them needs no other lock:
        # items appended in between stay behind the first n.
        self._pending: list[_Pending] = []

    def __call__(self, item: Any) -> Any:
        mine = _Pending(item)
        self._pending.append(mine)
        while not mine.done:
            with self._round_lock:
                if mine.done:  # an earlier round flushed it while this caller waited for the lock
                    break
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
                self._run(batch)
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _run(self, batch: list[_Pending]) -> None:
        try:
            results = self._flush([p.item for p in batch])
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # The flushing caller was killed or timed out mid-flush: settle every item (its
                # outcome is unknown), or the others would wait for an item nobody will flush.
                interrupted = RuntimeError("the grouped call was interrupted; its outcome is unknown")
                for pending in batch:
                    self._settle(pending, error=interrupted)
                raise
            if len(batch) == 1:
                self._settle(batch[0], error=exc)
                return
            for pending in batch:  # find the culprit: only its caller sees the error
                try:
                    (result,) = self._flush([pending.item])
                except Exception as single_exc:
                    self._settle(pending, error=single_exc)
                else:
                    self._settle(pending, result=result)
            return
        for pending, result in zip(batch, results, strict=True):
            self._settle(pending, result=result)

    @staticmethod
    def _settle(pending: _Pending, result: Any = None, error: BaseException | None = None) -> None:
        pending.result, pending.error, pending.done = result, error, True
