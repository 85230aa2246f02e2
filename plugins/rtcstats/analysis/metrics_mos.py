"""Audio MOS estimate per stats interval (E-model, rtcstats-dumps.md section 4.4 item 1)."""

from __future__ import annotations

import math

__all__ = ["AUDIO_DEFAULTS", "audio_mos", "r_to_mos"]

# Values assumed when an input was not measured (the defaults of the rtcscore E-model).
AUDIO_DEFAULTS = {"rtt_ms": 50.0, "buffer_delay_ms": 50.0, "loss_pct": 0.0}

MOS_MAX = 4.5
MOS_UNUSABLE = 0.0


def r_to_mos(r: float) -> float:
    """ITU-T G.107 R-factor -> MOS: 1 for R < 0, 4.5 for R > 100, else 1 + 0.035R + 7e-6 R(R-60)(100-R)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return MOS_MAX
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def audio_mos(
    *,
    bitrate_bps: float | None,
    loss_pct: float | None = None,
    rtt_ms: float | None = None,
    buffer_delay_ms: float | None = None,
    dtx: bool = False,
    fec: bool = True,
) -> float:
    """Estimated audio MOS (0-4.5) of one stats interval, by a simplified ITU-T G.107 E-model.

    Inputs (None -> default): `bitrate_bps` audio bitrate of the interval in bit/s; `loss_pct` packet
    loss of the interval in percent (default 0); `rtt_ms` round-trip time (default 50);
    `buffer_delay_ms` jitter-buffer delay (default 50); `dtx` / `fec` from the Opus fmtp line
    (`usedtx=1` / `useinbandfec=1`; FEC is assumed on when unknown, as Opus in WebRTC uses it).

        one-way delay  d   = 20 (packetisation) + buffer_delay + rtt / 2                    [ms]
        equipment      Ie  = 8 if dtx, else clamp(55 - 4.6 ln(bitrate_bps), 0, 30), else 6 without bitrate
        loss           Ipl = Ie + (100 - Ie) * pl / (pl + Bpl),  Bpl = 20 with FEC, 10 without
        delay          Id  = 0.03 d + (0.1 (d - 150) if d > 150 else 0)
        R = 100 - Ipl - Id;   MOS = r_to_mos(R) (G.107 mapping, 1..4.5), rounded to 0.01

    One deliberate difference from the published rtcscore code (reference 4.4 item 1): its delay term
    squares (d - 150), which puts every interval with a one-way delay above about 190 ms at MOS 1 (for
    example a 150 ms jitter buffer and 100 ms RTT). ITU-T G.107's own simplified delay impairment is
    linear above its knee (0.024 d + 0.11 (d - 177.3) for d > 177.3 ms), and G.114 rates up to 150 ms
    one-way as fine and up to 400 ms as acceptable, so the term is linear here: 0.1 (d - 150).

    An interval in which every expected packet was lost (loss 100 %) is an unusable transport and
    scores 0 (the API's "0 means unusable transport").
    """
    loss = AUDIO_DEFAULTS["loss_pct"] if loss_pct is None else min(max(loss_pct, 0.0), 100.0)
    if loss >= 100.0:
        return MOS_UNUSABLE
    rtt = AUDIO_DEFAULTS["rtt_ms"] if rtt_ms is None else max(rtt_ms, 0.0)
    buffer_delay = AUDIO_DEFAULTS["buffer_delay_ms"] if buffer_delay_ms is None else max(buffer_delay_ms, 0.0)
    delay = 20.0 + buffer_delay + rtt / 2.0
    if dtx:
        equipment = 8.0
    elif bitrate_bps is not None and bitrate_bps > 0:
        equipment = min(max(55.0 - 4.6 * math.log(bitrate_bps), 0.0), 30.0)
    else:
        equipment = 6.0
    robustness = 20.0 if fec else 10.0
    loss_impairment = equipment + (100.0 - equipment) * (loss / (loss + robustness))
    delay_impairment = 0.03 * delay + (0.1 * (delay - 150.0) if delay > 150.0 else 0.0)
    r = 100.0 - loss_impairment - delay_impairment
    return round(r_to_mos(r), 2)
