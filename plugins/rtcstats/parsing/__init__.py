"""Detect a dump's format (after a bomb-guarded gunzip) and parse it into the model."""

from __future__ import annotations

from plugins.rtcstats.parsed_dump import Dump
from plugins.rtcstats.parsing.errors import DumpFormatError, DumpTooLarge
from plugins.rtcstats.parsing.gzip_stream import EMPTY_INSIDE, GZIP_MAGIC, Limits, gunzip

__all__ = ["DumpFormatError", "DumpTooLarge", "GZIP_MAGIC", "Limits", "detect", "parse", "gunzip"]

V3_HEADER = b"RTCStatsDump"


def detect(raw: bytes) -> str:
    """The format of uncompressed bytes; raises DumpFormatError for anything else."""
    head = raw[:4096].lstrip()
    if head.startswith(V3_HEADER):
        return "rtcstats-v3"
    if head.startswith(b"{"):
        return "webrtc-internals"
    if head.startswith(b"["):
        return "rtcstats-legacy"
    if not head:
        raise DumpFormatError("the file is empty")
    raise DumpFormatError(
        "not a webrtc-internals dump (JSON object) or an rtcstats file (RTCStatsDump or JSON lines)", line=1
    )


def parse(data: bytes, limits: Limits = Limits()) -> Dump:
    """Parse any supported dump.

    :raises DumpFormatError: unreadable or unsupported content (names the line or key), damaged or
        truncated gzip.
    :raises DumpTooLarge: over the limits (also for gzip bombs).
    """
    compressed = data[:2] == GZIP_MAGIC
    raw = gunzip(data, limits) if compressed else data
    if len(raw) > limits.max_uncompressed_bytes:
        raise DumpTooLarge(f"the dump has {len(raw)} bytes; the limit is {limits.max_uncompressed_bytes}")
    if compressed and not raw[:4096].strip():
        raise DumpFormatError(EMPTY_INSIDE)
    fmt = detect(raw)
    if fmt == "webrtc-internals":
        from plugins.rtcstats.parsing.internals import parse_internals as parser
    elif fmt == "rtcstats-v3":
        from plugins.rtcstats.parsing.rtcstats_v3 import parse_v3 as parser
    else:
        from plugins.rtcstats.parsing.legacy import parse_legacy as parser
    dump = parser(raw)
    dump.gzip = compressed
    dump.bytes_uncompressed = len(raw)
    return dump
