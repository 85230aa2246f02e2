"""A live dump on disk: the v3 file an rtcstats-server writes, one line per message as it arrives.

Layout (the reference collector's, so that parsing/rtcstats_v3.py and the dump-importer read it)::

    RTCStatsDump
    {"url": ..., "origin": ..., "userAgent": ..., "startTime": ..., "remoteAddresses": [...],
     "clientProtocol": ..., "fileFormat": 3}
    <every accepted message, as sent>
    ["close", null, <close code>, <ms since the last message>]

Nothing of the dump is kept in memory: each line is handed to the operating system when it arrives
(the file is unbuffered: no user-space buffer to flush, and none of 4 kB held per open socket), so
the spool file has it even if the worker dies before the socket closes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson

HEADER = b"RTCStatsDump\n"
FILE_FORMAT = 3


def message_line(message: str | bytes) -> bytes | None:
    """The dump line of one client message, or None when it is not a JSON array (such a message is
    dropped: a line the parser cannot read would make the whole dump unreadable).

    A message is written as sent; one whose JSON spans several lines is written compacted.
    """
    parsed = parsed_line(message)
    return parsed[0] if parsed is not None else None


def parsed_line(message: str | bytes) -> tuple[bytes, list] | None:
    """(message_line, the array it holds), or None when the message is not a JSON array."""
    data = message.encode() if isinstance(message, str) else message
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, list):
        return None
    if b"\n" in data or b"\r" in data:
        return orjson.dumps(value) + b"\n", value
    return data + b"\n", value


class DumpWriter:
    """Appends lines to one spool file; `size` and `messages` count what was written."""

    def __init__(self, path: Path, metadata: dict):
        self.path = path
        self.file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by finish()
        head = self.head(metadata)
        self._write_all(head)
        self.size = len(head)
        self.messages = 0
        self.last_message = time.time()

    def head(self, metadata: dict) -> bytes:
        """The lines before the first message (a jitsi dump has its own: collector_jitsi.py)."""
        return HEADER + json.dumps(metadata, separators=(",", ":")).encode() + b"\n"

    def fits(self, line: bytes, limit: int) -> bool:
        return self.size + len(line) <= limit

    def _write_all(self, data: bytes) -> None:
        """An unbuffered write may take less than all of it (a full disk, a signal): write the rest."""
        view = memoryview(data)
        while view:
            view = view[self.file.write(view) :]

    def write(self, line: bytes) -> None:
        self._write_all(line)
        self.size += len(line)
        self.messages += 1
        self.last_message = time.time()

    def finish(self, code: int) -> None:
        """Write the close line (no newline after it, as the reference server) and close the file."""
        delta = round((time.time() - self.last_message) * 1000)
        line = json.dumps(["close", None, code, delta]).encode()
        self._write_all(line)
        self.file.close()
        self.size += len(line)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        self.path.unlink(missing_ok=True)
