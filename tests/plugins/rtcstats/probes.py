"""A probe that shows how much gzip output a piece of code decoded (to check a web request's budget)."""

from __future__ import annotations

import pytest

from plugins.rtcstats.parsing import gzip_stream


class DecoderProbe:
    """Records every whole-file GzipDecoder made while it is installed (not the prefix decoders that
    sniff a format from the first 64 KiB), so a test can say how much a request decoded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.decoders: list[gzip_stream.GzipDecoder] = []
        real_init = gzip_stream.GzipDecoder.__init__
        probe = self

        def init(decoder, cap: int, *, prefix: bool = False):
            real_init(decoder, cap, prefix=prefix)
            if not prefix:
                probe.decoders.append(decoder)

        monkeypatch.setattr(gzip_stream.GzipDecoder, "__init__", init)

    @property
    def decoded(self) -> int:
        """Output bytes of all whole-file decoders since the last clear()."""
        return sum(decoder.bytes_out for decoder in self.decoders)

    def clear(self) -> None:
        self.decoders.clear()


@pytest.fixture
def gzip_probe(monkeypatch) -> DecoderProbe:
    return DecoderProbe(monkeypatch)
