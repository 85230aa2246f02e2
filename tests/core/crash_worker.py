"""`mediaplane worker` with a test plugin `holder` whose job blocks on its first run (crash tests).

Run as `python -m tests.core.crash_worker`; enable the plugin with MEDIAPLANE__PLUGINS__HOLDER__ENABLED.
"""

from __future__ import annotations

import os
import sys
import time

from tests.core import plugin_modules


def hold(name: str) -> int:
    """Counts its runs in Redis; the first run blocks (until its worker is killed), later ones finish."""
    from core.queue import redis_connection

    redis = redis_connection()
    run = redis.incr(f"hold:{name}:runs")
    redis.rpush(f"hold:{name}:pids", os.getpid())
    if run == 1:
        time.sleep(3600)
    redis.set(f"hold:{name}:done", run)
    return run


@plugin_modules.hookimpl
def register_jobs():
    return {"hold": hold}


MODULE = plugin_modules.plugin_module("holder", register_jobs=register_jobs)


def install_holder() -> None:
    import core.plugins

    point = plugin_modules.FakeEntryPoint(MODULE)
    core.plugins.entry_points = lambda group: [point] if group == "mediaplane.plugins" else []


if __name__ == "__main__":
    install_holder()
    from core.cli import main

    sys.argv = ["mediaplane", "worker"]
    main()
