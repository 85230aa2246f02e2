"""gzip-compressed dumps: decoded incrementally, every member, bounded against bombs, damage named.

zlib on its own reports a truncated stream as success (it simply produces less output), so a cut-off
upload used to reach the format detector as "the file is empty" or as a JSON error in the middle of a
line. The decoder here checks that the last member reached its end marker (which also verifies its
CRC-32 and length) and says so when it did not.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from plugins.rtcstats.parsing.errors import DumpFormatError, DumpTooLarge

__all__ = [
    "EMPTY_INSIDE",
    "GZIP_MAGIC",
    "TRAILER_BYTES",
    "GzipDecoder",
    "Limits",
    "check_gzip",
    "gunzip",
    "gunzip_prefix",
    "judge_gzip",
    "trailer_size",
]

GZIP_MAGIC = b"\x1f\x8b"
# Said apart from an empty upload: the gzip stream is fine, the file that was compressed is not.
EMPTY_INSIDE = "the gzip stream is intact but the file inside it is empty"
BLOCK = 1 << 20  # compressed bytes fed at a time
STEP = 1 << 20  # most output bytes taken from zlib at a time
MIN_CAP = 1024 * 1024  # tiny files may expand more than the ratio allows without being a bomb
TRAILER_BYTES = 4  # ISIZE, the last field of a gzip member


@dataclass(frozen=True)
class Limits:
    max_uncompressed_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200  # uncompressed / compressed above this is treated as a decompression bomb

    def cap(self, compressed_bytes: int) -> int:
        """The most a gzip file of `compressed_bytes` may expand to."""
        return min(self.max_uncompressed_bytes, max(compressed_bytes * self.max_ratio, MIN_CAP))


# zlib's words for a failed trailer check, in terms of what the client can do about it.
TRAILER_REASONS = {
    "incorrect data check": "CRC-32 mismatch, the decompressed content is corrupt",
    "incorrect length check": "length mismatch, the decompressed content is incomplete or corrupt",
}


def _reason(err: zlib.error) -> str:
    # "Error -3 while decompressing data: invalid block type" -> "invalid block type"
    text = str(err)
    text = text.split(": ", 1)[1] if ": " in text else text
    return TRAILER_REASONS.get(text, text)


class GzipDecoder:
    """Decodes a gzip file fed in pieces. Members follow each other (as `cat a.gz b.gz` makes, and as
    gzip(1) reads them); NUL padding after the last member is ignored, as gzip(1) does.

    `cap` bounds the output: beyond it `feed` raises DumpTooLarge, or, with `prefix=True`, stops and
    sets `full` (for sniffing the first bytes of a file).
    """

    def __init__(self, cap: int, *, prefix: bool = False):
        self.cap = cap
        self.prefix = prefix
        self.full = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.members = 1
        self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._between = False  # the last member ended; what follows must be another one or padding
        self._pending = b""  # the start of what follows a member, too short to tell what it is
        self._padding = False

    def _damaged(self, reason: str) -> DumpFormatError:
        # zlib reports no position, and the block fed is up to 1 MiB: only the member is worth naming.
        where = f" (in gzip member {self.members})" if self.members > 1 else ""
        return DumpFormatError(f"damaged gzip stream: {reason}{where}")

    def _next_member(self, data: bytes) -> bytes | None:
        """`data` after a member's end: the bytes of the next member, or None when there is none (yet)."""
        data = self._pending + data
        self._pending = b""
        if self._padding or data[:1] == b"\0":
            if data.strip(b"\0"):
                raise self._damaged("data that is not gzip after the end of the compressed file")
            self._padding = True
            return None
        if len(data) < len(GZIP_MAGIC) and GZIP_MAGIC.startswith(data):
            self._pending = data
            return None
        if not data.startswith(GZIP_MAGIC):
            raise self._damaged("data that is not gzip after the end of the compressed file")
        self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._between = False
        self.members += 1
        return data

    def feed(self, data: bytes, *, keep: bool = True) -> bytes:
        """The output of the next piece of compressed data (b"" without `keep`: only counted).

        :raises DumpFormatError: the data is not valid gzip.
        :raises DumpTooLarge: the output would exceed the cap (not with prefix=True).
        """
        out = bytearray()
        self.bytes_in += len(data)
        more = bool(data)
        while more and not self.full:
            if self._between:
                data = self._next_member(data)
                if data is None:
                    break
            # At most STEP bytes per call, so that checking a file needs no memory for its output.
            step = min(self.cap + 1 - self.bytes_out, STEP)
            try:
                piece = self._member.decompress(data, step)
            except zlib.error as err:
                raise self._damaged(_reason(err)) from None
            if self.bytes_out + len(piece) > self.cap:
                if not self.prefix:
                    raise DumpTooLarge(f"the gzip file expands beyond {self.cap} bytes")
                self.full = True
                piece = piece[: self.cap - self.bytes_out]
            self.bytes_out += len(piece)
            if keep:
                out += piece
            if self._member.eof:
                data = self._member.unused_data
                self._between = True
                more = bool(data)
            else:
                # A full step may leave output inside zlib even when all input was taken: ask again.
                data = self._member.unconsumed_tail
                more = bool(data) or len(piece) == step
        return bytes(out)

    def finish(self) -> None:
        """Check that the file ended where gzip says it does.

        :raises DumpFormatError: the last member is cut off (truncated gzip) or a stray byte follows it.
        """
        if self._pending:
            raise self._damaged("data that is not gzip after the end of the compressed file")
        if not self._between:
            where = f" in gzip member {self.members}" if self.members > 1 else ""
            raise DumpFormatError(
                f"truncated gzip: the compressed data ends after {self.bytes_in} bytes{where}, before the "
                f"end of the gzip stream ({self.bytes_out} bytes decoded); the file was cut off"
            )


def gunzip(data: bytes, limits: Limits) -> bytes:
    """Decompress a whole gzip file, refusing to produce more than the limits allow.

    :raises DumpFormatError: damaged or truncated gzip. :raises DumpTooLarge: expands beyond the limits.
    """
    decoder = GzipDecoder(limits.cap(len(data)))
    out = bytearray()
    view = memoryview(data)
    for start in range(0, len(view), BLOCK):
        out += decoder.feed(view[start : start + BLOCK])
    decoder.finish()
    return bytes(out)


def check_gzip(blocks: Iterable[bytes], compressed_bytes: int, limits: Limits) -> int:
    """Decode a gzip file given as blocks without keeping its output; the size it expands to.

    :raises DumpFormatError: damaged or truncated gzip. :raises DumpTooLarge: expands beyond the limits.
    """
    decoder = GzipDecoder(limits.cap(compressed_bytes))
    for block in blocks:
        decoder.feed(block, keep=False)
    decoder.finish()
    return decoder.bytes_out


def gunzip_prefix(head: bytes, max_bytes: int) -> bytes:
    """The first `max_bytes` (at most) that the gzip data `head` decodes to. `head` is usually only the
    start of a file, so a stream that stops early is no error here (check_gzip judges whole files).

    :raises DumpFormatError: damaged gzip.
    """
    return GzipDecoder(max_bytes, prefix=True).feed(head)


def trailer_size(tail: bytes) -> int | None:
    """The size the gzip trailer at the end of a file gives for its last member (ISIZE: `tail`, the
    file's last 4 bytes, little-endian), or None when the file is shorter than that.

    A hint, never a proof that a file is small: ISIZE is the size modulo 2**32, of the last member
    only; NUL padding after the last member (which gzip(1) and GzipDecoder accept) shifts it down;
    and a forged one is found out only when zlib reaches the member's end. Each of these understates,
    none overstates: a file that decodes to its end expands to at least this much (its last member to
    ISIZE plus a multiple of 2**32, which zlib checks), so a file that claims more than it holds is
    damaged.
    """
    if len(tail) < TRAILER_BYTES:
        return None
    return int.from_bytes(tail[-TRAILER_BYTES:], "little")


def judge_gzip(
    blocks: Iterable[bytes], compressed_bytes: int, claimed: int | None, limits: Limits, budget: int
) -> int | None:
    """The size a gzip file expands to, judged from cheap facts with at most `budget` bytes of output
    decoded (and counted, never kept), for a web request that must not spend more on a file.

    `claimed` is the file's trailer_size. The cap (limits.cap of the compressed size) bounds what the
    file may expand to, whatever its trailer says:

    - cap <= budget: the file is decoded whole, exactly as check_gzip does;
    - budget < claimed <= cap: nothing is decoded; None (a big file, as its trailer says);
    - otherwise (no claim, a claim within the budget, or one beyond the cap) the file is decoded up to
      `budget` bytes: if it ends there, its exact size; if not, None, except that a file claiming
      more than the cap is then refused: decoded to its end it is a bomb, and if it is not, it is
      damaged past the first `budget` bytes.

    None means "more than `budget`, not judged": neither a bomb nor damage further on is ruled out;
    whoever analyses the file must check it whole first (check_gzip).

    :raises DumpFormatError: damaged or truncated gzip, found within the budget.
    :raises DumpTooLarge: expands beyond the cap (found within the budget, or claimed as said above).
    """
    cap = limits.cap(compressed_bytes)
    if claimed is not None and budget < claimed <= cap:
        return None
    decoder = GzipDecoder(min(cap, budget))
    try:
        for block in blocks:
            decoder.feed(block, keep=False)
    except DumpTooLarge:
        if cap <= budget:
            raise
        if claimed is not None and claimed > cap:
            raise DumpTooLarge(
                f"the gzip file expands beyond {cap} bytes: its trailer gives its size as {claimed} "
                f"bytes (a file cut off or damaged after its first {budget} decoded bytes may also end "
                "so: send it whole)"
            ) from None
        return None
    decoder.finish()
    return decoder.bytes_out
