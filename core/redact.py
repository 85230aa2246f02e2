"""Credentials in URLs (viewer `?token=`, `?api_key=`, ...) are masked before anything is logged."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Query parameters that carry a credential. Matched case-insensitively as whole parameter names,
# in a query string, a request line or a Referer.
SECRET_PARAMS = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "jwt",
    "api_key",
    "apikey",
    "key",
    "secret",
    "signature",
    "password",
    "auth",
    "authorization",
    "code",
)
_SECRET_PARAM_RE = re.compile(
    r"(?P<lead>(?:^|[?&;])(?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#\s\"]*",
    re.IGNORECASE,
)


def redact_query(text: str) -> str:
    """`text` with the values of credential-carrying query parameters replaced by [redacted]."""
    if "=" not in text:  # nearly every log line: no work
        return text
    return _SECRET_PARAM_RE.sub(lambda m: m.group("lead") + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and its arguments before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
