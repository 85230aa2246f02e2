"""Credentials in URLs never reach a log: gunicorn's access log and the app's own log lines."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from core.redact import RedactingFilter, redact_query
from tests.core.test_server import MEDIAPLANE, free_port, wait_healthy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/v/s1?token=abc.def-1", "/v/s1?token=[redacted]"),
        ("GET /v/s1?x=1&TOKEN=abc&y=2 HTTP/1.1", "GET /v/s1?x=1&TOKEN=[redacted]&y=2 HTTP/1.1"),
        (
            "token=abc&api_key=k1;access_token=t2#frag",
            "token=[redacted]&api_key=[redacted];access_token=[redacted]#frag",
        ),
        ('"http://h/v?token=abc"', '"http://h/v?token=[redacted]"'),
        # names that merely contain a secret's name are kept
        ("/x?tokens=5&mytoken=1&keyword=a", "/x?tokens=5&mytoken=1&keyword=a"),
        ("no query at all", "no query at all"),
    ],
)
def test_redact_query(text, expected):
    assert redact_query(text) == expected


def test_app_log_lines_are_redacted():
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "fetching %s for %s", ("/v?token=s3cret", "a"), None
    )
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "fetching /v?token=[redacted] for a"
    plain = logging.LogRecord("t", logging.INFO, __file__, 1, "%d rows", (5,), None)
    RedactingFilter().filter(plain)
    assert (plain.msg, plain.args) == ("%d rows", (5,))  # untouched when there is nothing to hide


def test_access_log_of_a_real_server_never_shows_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAPLANE")}
    env["MEDIAPLANE__CORE__DATA_DIR"] = str(tmp_path / "data")
    env["MEDIAPLANE__CORE__LOG_LEVEL"] = "DEBUG"  # the access log is on at DEBUG
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [MEDIAPLANE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(base, time.time() + 30), log_path.read_text()
        request = urllib.request.Request(
            f"{base}/healthz?token=SECRETQUERY1&view=1",
            headers={"Referer": f"{base}/api/rtcstats/v1.0/viewer/x?token=SECRETREFERER2"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        deadline = time.time() + 10
        while "view=1" not in log_path.read_text() and time.time() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=40)
    text = log_path.read_text()
    line = next(line for line in text.splitlines() if "view=1" in line)  # the access log line
    assert "/healthz?token=[redacted]&view=1" in line
    assert "?token=[redacted]" in line.split('"')[-4]  # the Referer field
    assert "SECRETQUERY1" not in text and "SECRETREFERER2" not in text
