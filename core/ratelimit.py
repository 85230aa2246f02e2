"""Rate limits shared by all processes (the `limits` library on the app's Redis)."""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from core.errors import Problem


def validate_limit(value: str) -> None:
    """Raise ValueError if `value` is not in the limits notation ("100/second; 5000/minute")."""
    parse_many(value)


def _limiter() -> FixedWindowRateLimiter:
    state = current_app.extensions["mediaplane"]
    if state.limiter is None:
        pool = state.redis.connection_pool
        state.limiter = FixedWindowRateLimiter(RedisStorage("redis://", connection_pool=pool))
    return state.limiter


def enforce(limit: str, namespace: str, *identifiers: str) -> None:
    """Count one hit; raise a 429 Problem with Retry-After when any of the limits is exceeded."""
    limiter = _limiter()
    for item in parse_many(limit):
        if not limiter.hit(item, namespace, *identifiers):
            reset_at = limiter.get_window_stats(item, namespace, *identifiers).reset_time
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise Problem(
                429,
                "Too many requests",
                f"rate limit {item} exceeded; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
