"""core.ratelimit: fixed windows counted in real Redis, admitted from per-process leases."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import redis
from limits.storage import RedisStorage

from core import ratelimit
from core.errors import Problem
from core.ratelimit import LeasedLimiter, _parsed, enforce

T0 = 1_800_000_000.0  # the start of a minute window (divisible by 60)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Windows are aligned to the clock: tests that go through enforce() run at the start of one."""
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: T0 + 1))


@pytest.fixture
def storage(redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    return RedisStorage(redis_url)


def admitted(limiter, limit, key, hits, now=T0):
    item = _parsed(limit)[0]
    return [limiter.hit(item, key, now) is None for _ in range(hits)]


def counter(storage, key, now=T0, period=60):
    return int(storage.get(f"{key}/{int(now // period)}"))


def test_lease_of_one_counts_every_hit_in_redis(storage):
    limiter = LeasedLimiter(storage, lease_percent=1)  # 1 % of 3 rounds up to a lease of 1
    assert admitted(limiter, "3/minute", "k", 5) == [True, True, True, False, False]
    assert counter(storage, "k") == 4  # three admitted, one refused lease; then refused locally


def test_a_busy_key_costs_one_redis_call_per_lease(storage):
    limiter = LeasedLimiter(storage, lease_percent=10)  # lease 10 of 100
    assert all(admitted(limiter, "100/minute", "k", 10))
    assert counter(storage, "k") == 10
    assert all(admitted(limiter, "100/minute", "k", 1))
    assert counter(storage, "k") == 20  # the 11th hit took the second lease


def test_processes_together_never_admit_more_than_the_limit(storage):
    one, two = LeasedLimiter(storage, 25), LeasedLimiter(storage, 25)  # leases of 5 of 20
    results = []
    for _ in range(10):
        results += admitted(one, "20/minute", "k", 3) + admitted(two, "20/minute", "k", 3)
    assert sum(results) == 20


def test_unused_leases_of_other_processes_are_the_only_loss(storage):
    holder, busy = LeasedLimiter(storage, 50), LeasedLimiter(storage, 50)  # leases of 10 of 20
    assert admitted(holder, "20/minute", "k", 1) == [True]
    assert admitted(busy, "20/minute", "k", 11) == [True] * 10 + [False]
    assert admitted(holder, "20/minute", "k", 10) == [True] * 9 + [False]  # its lease, not more


def test_a_new_window_admits_again_and_retry_after_points_at_it(storage):
    limiter = LeasedLimiter(storage, 1)
    item = _parsed("2/minute")[0]
    assert limiter.hit(item, "k", T0 + 10) is None
    assert limiter.hit(item, "k", T0 + 10) is None
    assert limiter.hit(item, "k", T0 + 15) == pytest.approx(45)
    assert limiter.hit(item, "k", T0 + 60) is None


def test_several_limits_on_one_key_all_apply(make_app):
    app = make_app()
    with app.app_context():
        enforce("2/second; 3/minute", "test", "k")
        enforce("2/second; 3/minute", "test", "k")
        with pytest.raises(Problem) as refused:
            enforce("2/second; 3/minute", "test", "k")
    assert refused.value.status == 429
    assert 1 <= int(refused.value.extra_headers["Retry-After"]) <= 60


@pytest.mark.parametrize("lease_percent", [0, 50])
def test_concurrent_hits_admit_at_most_the_limit(make_app, lease_percent):
    app = make_app({"core": {"rate_limit_lease_percent": lease_percent}})
    outcomes = []

    def hit():
        with app.app_context():
            try:
                enforce("7/minute", "test-threads", "k")
                outcomes.append(200)
            except Problem as problem:
                outcomes.append(problem.status)

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # One process asks Redis for one lease at a time per key, so none of its leases is stranded:
    # exactly the limit is admitted, with leases of 1 as with leases of 3.
    assert sorted(outcomes) == [200] * 7 + [429] * 13
