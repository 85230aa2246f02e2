"""Control characters in request-derived text never forge or hide log lines: app log lines and
gunicorn's access log escape them (a newline in a decoded path stays on its line as \\n)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from types import SimpleNamespace

import pytest

from core.logsafe import EscapingFormatter, escape_controls

FORGED = "/report/history/a\n2026-12-07 03:00:00,000 ERROR [-] core.auth: admin key leaked"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("nul\x00", "nul\\x00"),
        ("c1\x85next", "c1\\x85next"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tab\tkept? no", "tab\\tkept? no"),
        ("plain /report/history/room-1 é 漢字 😀", "plain /report/history/room-1 é 漢字 😀"),
    ],
)
def test_escape_controls(text, expected):
    assert escape_controls(text) == expected


def test_the_app_handler_escapes_messages_but_keeps_tracebacks(app):
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_mediaplane", False))
    assert isinstance(handler.formatter, EscapingFormatter)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "core.errors", logging.ERROR, __file__, 1, "unhandled error in %s %s", ("GET", FORGED), exc_info
    )
    record.request_id = "abc\x1b[31m"
    for check in handler.filters:
        check.filter(record)
    text = handler.format(record)
    first, *traceback = text.split("\n")
    assert "a\\n2026-12-07" in first and "admin key leaked" in first  # one line, escaped
    assert not any("admin key leaked" in line for line in traceback)
    assert traceback[0].startswith("Traceback") and traceback[-1] == "RuntimeError: boom"


def test_the_gunicorn_access_log_escapes_every_text_atom():
    from gunicorn.config import Config

    from core.server import RedactingLogger

    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/report/history/a%0Ab?token=s3cret",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": FORGED,
        "QUERY_STRING": "token=s3cret&x=\n",
        "HTTP_USER_AGENT": "agent\r\nforged",
    }
    response = SimpleNamespace(status="200 OK", headers=[("X-Request-Id", "id\x1b")], sent=2)
    request = SimpleNamespace(headers=[("USER-AGENT", "agent\r\nforged")])
    atoms = logger.atoms(response, request, environ, dt.timedelta(seconds=0, microseconds=5))
    for value in atoms.values():
        if isinstance(value, str):
            assert not any(ch in value for ch in "\n\r\x1b"), value
    assert atoms["U"] == escape_controls(FORGED)
    assert atoms["q"] == "token=[redacted]&x=\\n"
    assert atoms["a"] == "agent\\r\\nforged"
    assert atoms["{x-request-id}o"] == "id\\x1b"
