"""Detect a dump's format (after a bomb-guarded gunzip) and parse it into the model."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from plugins.rtcstats.model import Dump
from plugins.rtcstats.parsing.errors import DumpFormatError, DumpTooLarge

__all__ = ["DumpFormatError", "DumpTooLarge", "Limits", "detect", "parse", "gunzip"]

GZIP_MAGIC = b"\x1f\x8b"
V3_HEADER = b"RTCStatsDump"


@dataclass(frozen=True)
class Limits:
    max_uncompressed_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200  # uncompressed / compressed above this is treated as a decompression bomb


def gunzip(data: bytes, limits: Limits) -> bytes:
    """Decompress gzip incrementally, refusing to produce more than the limits allow."""
    cap = min(limits.max_uncompressed_bytes, max(len(data) * limits.max_ratio, 1024 * 1024))
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        view = memoryview(data)
        for start in range(0, len(view), 1 << 20):
            out += inflater.decompress(view[start : start + (1 << 20)], cap + 1 - len(out))
            if len(out) > cap or inflater.unconsumed_tail:
                raise DumpTooLarge(f"the gzip file expands beyond {cap} bytes")
        out += inflater.flush()
    except zlib.error as err:
        raise DumpFormatError(f"corrupt gzip data: {err}") from None
    if len(out) > cap:
        raise DumpTooLarge(f"the gzip file expands beyond {cap} bytes")
    return bytes(out)


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

    :raises DumpFormatError: unreadable or unsupported content (names the line or key).
    :raises DumpTooLarge: over the limits (also for gzip bombs).
    """
    compressed = data[:2] == GZIP_MAGIC
    raw = gunzip(data, limits) if compressed else data
    if len(raw) > limits.max_uncompressed_bytes:
        raise DumpTooLarge(f"the dump has {len(raw)} bytes; the limit is {limits.max_uncompressed_bytes}")
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
