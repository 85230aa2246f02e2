"""gzip-compressed dumps: damage and truncation named as such (not "the file is empty"), members, bombs."""

from __future__ import annotations

import gzip
import random
import tracemalloc

import pytest

from plugins.rtcstats.parsing import DumpFormatError, DumpTooLarge, Limits, parse
from plugins.rtcstats.parsing.gzip_stream import (
    EMPTY_INSIDE,
    STEP,
    check_gzip,
    gunzip,
    gunzip_prefix,
    judge_gzip,
    trailer_size,
)

pytest_plugins = ("tests.plugins.rtcstats.probes",)

DUMP = b'{"PeerConnections": {}, "UserAgent": "Mozilla/5.0"}'
GZ = gzip.compress(DUMP)


def noisy(size: int) -> bytes:
    """A webrtc-internals-shaped body that compresses poorly (so its gzip spans many blocks)."""
    text = random.Random(7).randbytes(size // 2).hex().encode()
    return b'{"PeerConnections": {}, "UserAgent": "' + text + b'"}'


def parse_error(data: bytes) -> str:
    with pytest.raises(DumpFormatError) as caught:
        parse(data)
    return str(caught.value)


@pytest.mark.parametrize(
    "cut",
    [
        3,  # inside the fixed header
        10,  # the header only
        len(GZ) // 2,  # in the deflate data
        len(GZ) - 8,  # the CRC-32 and length trailer missing
        len(GZ) - 1,  # one byte short
    ],
)
def test_truncated_gzip_is_named_truncated(cut):
    message = parse_error(GZ[:cut])
    assert message.startswith("truncated gzip:") and f"after {cut} bytes" in message


def test_truncated_big_gzip_is_truncated_not_a_json_error():
    data = gzip.compress(noisy(3 << 20))
    assert len(data) > 1 << 20  # more than one block of the decoder
    message = parse_error(data[: len(data) - 1000])
    assert message.startswith("truncated gzip:")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (GZ[:10] + b"\xff" * 20, "invalid block type"),
        (GZ[:10] + bytes([GZ[10] ^ 0xFF]) + GZ[11:], "damaged gzip stream"),
        (b"\x1f\x8b\x08garbage", "unknown header flags set"),
        (b"\x1f\x8b\x07" + GZ[3:], "unknown compression method"),
        (GZ[:-8] + b"\0\0\0\0" + GZ[-4:], "CRC-32 mismatch"),
        (GZ[:-4] + b"\xff\0\0\0", "length mismatch"),
        (GZ + b"trailing junk", "not gzip after the end"),
    ],
    ids=["block-type", "flipped-byte", "header-flags", "method", "crc", "length", "trailing-junk"],
)
def test_corrupt_gzip_is_415_material_naming_the_damage(data, reason):
    message = parse_error(data)
    assert message.startswith("damaged gzip stream:") and reason in message
    assert "empty" not in message


@pytest.mark.parametrize("inside", [b"", b" \n\t "])
def test_gzip_of_an_empty_file_says_so(inside):
    assert parse_error(gzip.compress(inside)) == EMPTY_INSIDE


def test_plain_empty_and_truncated_gzip_are_told_apart():
    assert parse_error(b"  \n") == "the file is empty"
    assert parse_error(gzip.compress(b"")[:12]).startswith("truncated gzip")


def test_every_member_is_read():
    # `cat a.gz b.gz` is one valid gzip file: the second half of the dump must not be dropped.
    data = gzip.compress(DUMP[:20]) + gzip.compress(DUMP[20:])
    assert gunzip(data, Limits()) == DUMP
    assert parse(data).bytes_uncompressed == len(DUMP)
    cut = data[:-3]
    assert "in gzip member 2" in parse_error(cut)


def test_nul_padding_after_the_stream_is_ignored():
    assert gunzip(GZ + b"\0" * 512, Limits()) == DUMP
    assert "not gzip" in parse_error(GZ + b"\0" * 10 + b"x")


def test_a_split_second_member_is_read_across_blocks():
    first = gzip.compress(noisy(100_000))
    data = first + gzip.compress(b" ")
    assert gunzip(data, Limits())[-1:] == b" "
    # The second member's magic bytes 1f 8b arrive in two blocks.
    blocks = [data[: len(first) + 1], data[len(first) + 1 :]]
    assert check_gzip(blocks, len(data), Limits()) == len(noisy(100_000)) + 1


def test_bombs_are_too_large_and_the_limit_is_named():
    bomb = gzip.compress(b"[" + b" " * (8 << 20) + b"]")
    with pytest.raises(DumpTooLarge, match="expands beyond 1048576 bytes"):
        parse(bomb, Limits(max_ratio=10))
    with pytest.raises(DumpTooLarge):
        check_gzip([bomb], len(bomb), Limits(max_ratio=10))
    # A bomb that is also cut off is refused for its size first: what it decodes to is already too much.
    with pytest.raises(DumpTooLarge):
        parse(bomb[:-20], Limits(max_ratio=10))
    # Within the limits the same file is fine.
    assert len(gunzip(bomb, Limits(max_ratio=5000))) == (8 << 20) + 2


def test_check_gzip_reads_blocks_and_keeps_nothing():
    data = gzip.compress(noisy(200_000))
    blocks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert check_gzip(blocks, len(data), Limits()) == len(noisy(200_000))
    with pytest.raises(DumpFormatError, match="truncated gzip"):
        check_gzip(blocks[:-1], len(data), Limits())


def test_a_prefix_is_no_truncation_but_damage_is_seen():
    data = gzip.compress(noisy(200_000))
    assert gunzip_prefix(data[:1000], 65536) == noisy(200_000)[: len(gunzip_prefix(data[:1000], 65536))]
    assert len(gunzip_prefix(data, 65536)) == 65536
    with pytest.raises(DumpFormatError, match="damaged gzip stream"):
        gunzip_prefix(GZ[:10] + b"\xff" * 20, 65536)


@pytest.mark.parametrize("size", [STEP - 1, STEP, STEP + 1, 3 * STEP])
def test_output_around_the_step_size_is_complete(size):
    # Output is taken from zlib a step at a time; a full step may leave bytes inside zlib.
    raw = b"[" + b"a" * (size - 2) + b"]"
    data = gzip.compress(raw)
    limits = Limits(max_ratio=10_000)
    assert gunzip(data, limits) == raw
    assert check_gzip([data], len(data), limits) == size
    assert gunzip_prefix(data, size) == raw


def test_checking_keeps_no_output_in_memory():
    size = 64 << 20
    data = gzip.compress(b"\0" * size, compresslevel=1)
    tracemalloc.start()
    try:
        assert check_gzip([data], len(data), Limits(max_ratio=100_000)) == size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * STEP, peak


# -- judging a file cheaply (a web request's budget) -------------------------------------------------

BUDGET = 64 * 1024


def judge(data: bytes, limits: Limits = Limits(), budget: int = BUDGET) -> int | None:
    blocks = (data[i : i + 4096] for i in range(0, len(data), 4096))
    return judge_gzip(blocks, len(data), trailer_size(data[-4:]), limits, budget)


def test_the_trailer_gives_the_size_of_the_last_member_and_nothing_after_padding():
    assert trailer_size(gzip.compress(noisy(100_000))[-4:]) == len(noisy(100_000))
    assert trailer_size(GZ[-2:]) is None  # too short to hold one
    # NUL padding after the last member (a valid file) shifts the bytes read down: an understatement.
    padded = gzip.compress(noisy(100_000)) + b"\0\0"
    assert check_gzip([padded], len(padded), Limits()) == len(noisy(100_000))
    assert trailer_size(padded[-4:]) == len(noisy(100_000)) >> 16
    # Of two members, only the last one's size: a trailer understates a file, never overstates it.
    assert trailer_size((gzip.compress(noisy(100_000)) + gzip.compress(b"x"))[-4:]) == 1


def test_a_file_within_the_budget_is_judged_whole_like_check_gzip(gzip_probe):
    # Its cap (1 MiB at least) is within a budget of 4 MiB: everything is found, whatever the trailer.
    budget = 4 << 20
    data = gzip.compress(noisy(200_000))
    assert judge(data, budget=budget) == len(noisy(200_000))
    with pytest.raises(DumpFormatError, match="truncated gzip"):
        judge(data[:-500], budget=budget)
    bomb = gzip.compress(b" " * (8 << 20))
    with pytest.raises(DumpTooLarge, match="expands beyond 1048576 bytes"):
        judge(bomb, Limits(max_ratio=10), budget=budget)
    assert gzip_probe.decoded <= 2 * len(noisy(200_000)) + (1 << 20)


def test_a_big_file_whose_trailer_says_so_is_not_decoded(gzip_probe):
    data = gzip.compress(noisy(200_000))  # 200 KB, more than the budget, and far below its cap
    assert judge(data) is None
    assert gzip_probe.decoders == []


def test_a_trailer_that_understates_the_file_costs_only_the_budget(gzip_probe):
    # Two members, the last one tiny: the trailer says 1 byte; decoding stops after the budget.
    data = gzip.compress(noisy(200_000)) + gzip.compress(b" ")
    assert judge(data) is None
    assert gzip_probe.decoded <= BUDGET
    # The same with NUL padding (the trailer read shifted down), and with a forged trailer.
    gzip_probe.clear()
    assert judge(gzip.compress(noisy(200_000)) + b"\0\0\0\0") is None
    forged = gzip.compress(noisy(200_000))[:-4] + (100).to_bytes(4, "little")
    assert judge(forged) is None
    assert gzip_probe.decoded <= 2 * BUDGET
    # Whoever analyses such a file checks it whole: the forged trailer is damage.
    with pytest.raises(DumpFormatError, match="length mismatch"):
        check_gzip([forged], len(forged), Limits())


def test_a_file_claiming_more_than_its_cap_is_refused_after_the_budget(gzip_probe):
    bomb = gzip.compress(bytes(64 << 20))  # 64 MiB of zeros in ~65 KB: its cap is 13 MB
    with pytest.raises(DumpTooLarge) as caught:
        judge(bomb)
    cap = Limits().cap(len(bomb))
    assert str(caught.value).startswith(
        f"the gzip file expands beyond {cap} bytes: its trailer gives its size"
    )
    assert str(64 << 20) in str(caught.value)
    assert gzip_probe.decoded <= BUDGET
    # Damage within the budget is named as damage, whatever the trailer claims.
    damaged = bytearray(gzip.compress(noisy(200_000)))
    damaged[10:74] = b"\xff" * 64
    damaged[-4:] = (0xFFFFFFF0).to_bytes(4, "little")
    with pytest.raises(DumpFormatError, match="damaged gzip stream"):
        judge(bytes(damaged))
