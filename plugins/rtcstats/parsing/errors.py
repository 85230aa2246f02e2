"""Errors of dump parsing: the API turns them into 415 (format) and 413 (size)."""


class DumpFormatError(Exception):
    """The bytes are not a dump we can read; the message names the problem and where (line or key)."""

    def __init__(self, message: str, *, line: int | None = None, key: str | None = None):
        where = f" (line {line})" if line is not None else f" (key {key})" if key else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.key = key


class DumpTooLarge(Exception):
    """The dump (or what it decompresses to) exceeds a configured limit."""
