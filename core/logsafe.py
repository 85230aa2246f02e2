"""Control characters in logged text are escaped, so that request data cannot forge or hide log lines."""

from __future__ import annotations

import logging
import re

# C0 and C1 controls and DEL (a newline forges a line, \r or ESC sequences hide text on a terminal),
# plus the Unicode line and paragraph separators that some log viewers break lines at.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str) -> str:
    """`text` with control characters written as escapes: "a\\nb" stays on one line as a\\\\nb."""
    return _CONTROL.sub(_escaped, text)


class EscapingFormatter(logging.Formatter):
    """Escapes control characters in the formatted line (message, request id, every field), but not
    in an exception's traceback, which is appended after it and is ours, not the client's."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))


def escape_atoms(atoms: dict) -> dict:
    """gunicorn access-log atoms with every text value escaped (the path, query, headers, ...)."""
    return {name: escape_controls(v) if isinstance(v, str) else v for name, v in atoms.items()}
