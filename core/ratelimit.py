"""Rate limits shared by all processes: fixed windows counted in the app's Redis.

The `limits` library parses the notation ("100/second; 5000/minute"), names the keys and owns the
Redis counter (an atomic INCRBY with expiry). On top of it each process *leases* hits: it takes
`core.rate_limit_lease_percent` of a limit (at least 1) from the shared counter in one call and
admits from that lease locally until it is used up. A busy key then costs one Redis round trip per
lease instead of one per request; with a lease of 1 (small limits, or the setting at 0) every hit is
counted in Redis as it happens.

The shared counter includes every leased hit, so all processes together never admit more than the
limit. Near the limit a process may refuse while another still holds unused hits of its lease: at
most (processes x lease) of the limit is lost that way, per window.

Windows are aligned to the clock (`window = now // period`, part of the key): a lease is valid until
its window ends, and Retry-After is the time to the next window, without asking Redis.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage

# flask and core.errors are imported where a request uses them: config schemas import this module
# for validate_limit, and every CLI command validates the config without loading flask.

MAX_TRACKED_KEYS = 100_000  # local leases kept per process before old ones are dropped


def validate_limit(value: str) -> None:
    """Raise ValueError if `value` is not in the limits notation ("100/second; 5000/minute")."""
    parse_many(value)


@functools.lru_cache(maxsize=256)
def _parsed(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


@functools.lru_cache(maxsize=4096)
def _keyed(limit: str, namespace: str, identifiers: tuple[str, ...]) -> tuple[tuple[RateLimitItem, str], ...]:
    """(item, counter key) of each limit in `limit` for these identifiers (keys of busy callers
    are built once, not per request)."""
    return tuple((item, item.key_for(namespace, *identifiers)) for item in _parsed(limit))


@dataclass
class _Lease:
    window: int  # window number (epoch seconds // period) this lease belongs to
    left: int  # hits of the lease not yet admitted; -1: the window's limit is used up
    # One lease request at a time per key and process: callers that run out together wait for that
    # one request instead of each taking a lease (which would strand all but one of them unused).
    # (looked up when a lease is made, not at import: gevent patches threading.Lock in each worker
    # after the master imported this module, and a real lock would block the whole worker)
    refill: threading.Lock = field(default_factory=lambda: threading.Lock())


class LeasedLimiter:
    """Per-process admission from leases on shared fixed-window counters."""

    def __init__(self, storage: RedisStorage, lease_percent: int):
        self.storage = storage
        self.lease_percent = lease_percent
        self.leases: dict[str, _Lease] = {}
        # Guards the leases of gthread or threaded servers. Build the limiter in the serving
        # process (create_app runs in each gunicorn worker, after gevent patched threading: the
        # locks are then cooperative).
        self.lock = threading.Lock()

    def lease_size(self, item: RateLimitItem) -> int:
        return max(1, item.amount * self.lease_percent // 100)

    def hit(self, item: RateLimitItem, key: str, now: float) -> float | None:
        """Admit one hit: None, or the seconds until the window that can admit it begins."""
        period = item.get_expiry()
        window = int(now // period)
        wait = (window + 1) * period - now
        with self.lock:
            lease = self.leases.get(key)
            if lease is None or lease.window != window:
                lease = self.leases[key] = _Lease(window, 0)
                if len(self.leases) > MAX_TRACKED_KEYS:
                    self.leases = {key: lease}
            if lease.left != 0:
                return self._take(lease, wait)
        with lease.refill:
            with self.lock:
                if lease.left != 0:  # refilled (or found used up) while this caller waited
                    return self._take(lease, wait)
            # The lease is used up: take a new one (a Redis round trip, outside self.lock).
            size = self.lease_size(item)
            counted = self.storage.incr(f"{key}/{window}", period + 1, amount=size)
            # The counter already held counted - size hits; only what is left below the limit is ours.
            granted = min(size, item.amount - (counted - size))
            with self.lock:
                lease.left = granted if granted > 0 else -1
                return self._take(lease, wait)

    @staticmethod
    def _take(lease: _Lease, wait: float) -> float | None:
        if lease.left > 0:
            lease.left -= 1
            return None
        return wait


def build_limiter(redis_conn, lease_percent: int) -> LeasedLimiter:
    """The app's limiter. create_app builds it once, so that all threads of a process share its
    leases (built lazily, two threads could each build one and strand each other's leases)."""
    return LeasedLimiter(RedisStorage("redis://", connection_pool=redis_conn.connection_pool), lease_percent)


def _limiter() -> LeasedLimiter:
    from flask import current_app

    return current_app.extensions["mediaplane"].limiter


def enforce(limit: str, namespace: str, *identifiers: str) -> None:
    """Count one hit; raise a 429 Problem with Retry-After when any of the limits is exceeded."""
    limiter = _limiter()
    now = time.time()
    for item, key in _keyed(limit, namespace, identifiers):
        wait = limiter.hit(item, key, now)
        if wait is not None:
            from core.errors import Problem

            retry_after = max(1, math.ceil(wait))
            raise Problem(
                429,
                "Too many requests",
                f"rate limit {item} exceeded; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
