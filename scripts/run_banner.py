"""scripts/run's output filter: copies the server's output and prints the quick-start banner once it serves.

Reads the output of `mediaplane serve --with-worker` on stdin and copies it to stdout. Once GET /readyz
answers 200 and the job worker has printed its start line (or 15 s after readiness), it prints the
banner, so that the banner is the last thing a new user sees. Its settings come from the environment
(MP_URL, MP_COMMAND, MP_ADMIN_KEY) rather than argv, so the admin key is not shown in `ps`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT = 120
WORKER_GRACE = 15
WORKER_LINE = "worker serving queues"


def banner(url: str, command: str, admin_key: str) -> str:
    on_path = shutil.which("mediaplane")
    if on_path and Path(on_path).resolve() == Path(command).resolve():
        where = "(on PATH as mediaplane)"
    else:
        where = "(not on PATH: run it by this path)"
    lines = [
        "",
        "mediaplane is running; stop it with Ctrl-C",
        f"  URL        {url}/",
        f"  API docs   {url}/docs",
    ]
    if admin_key:
        lines += [
            f"  admin key  {admin_key}",
            "             FIRST RUN ONLY: account 'default', all scopes; store it now, it is not shown again",
        ]
    else:
        lines += [
            "  admin key  made on the first run and not shown again; a new one:",
            f"             {command} keys create --account default --scopes '*'",
        ]
    lines += [f"  command    {command} {where}", ""]
    return "\n".join(lines) + "\n"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def main() -> int:
    # Ctrl-C (or a TERM to the process group) reaches this filter too: it keeps copying until the
    # server, stopping, closes its output, so the server's last lines are not lost.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    url, command = os.environ["MP_URL"], os.environ["MP_COMMAND"]
    admin_key = os.environ.get("MP_ADMIN_KEY", "")
    lock = threading.Lock()
    worker_started = threading.Event()
    ended = threading.Event()

    def copy():
        for line in sys.stdin:
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()
            if WORKER_LINE in line:
                worker_started.set()
        ended.set()

    copier = threading.Thread(target=copy, daemon=True)
    copier.start()
    deadline = time.monotonic() + READY_TIMEOUT
    while not ended.is_set() and not answers(f"{url}/readyz"):
        if time.monotonic() > deadline:
            print(f"scripts/run: {url}/readyz did not answer 200 within {READY_TIMEOUT} s", file=sys.stderr)
            break
        time.sleep(0.25)
    else:
        if not ended.is_set():
            worker_started.wait(WORKER_GRACE)
            with lock:
                sys.stdout.write(banner(url, command, admin_key))
                sys.stdout.flush()
    copier.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
