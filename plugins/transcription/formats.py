"""Transcript renderings: plain text, SubRip (SRT) and WebVTT, from stored segments.

Segments are dicts with `start` and `end` (seconds from the start of the recording), `text` and
`speaker` (or None). Times are rounded to the millisecond, as both subtitle formats write them.
"""

from __future__ import annotations

from collections.abc import Iterable


def _millis(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def _clock(seconds: float, separator: str) -> str:
    ms = _millis(seconds)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _one_line(text: str) -> str:
    # A blank line ends a cue in both subtitle formats: recognised text never holds one, but keep
    # the rendering valid whatever is stored.
    return " ".join(text.split())


def text(segments: Iterable[dict]) -> str:
    """One line per segment, `[HH:MM:SS] speaker: text`, times from the start of the recording (not
    wall-clock epoch hours, a bug of the reference implementation); no speaker, no `speaker: `."""
    lines = []
    for segment in segments:
        clock = _clock(segment["start"], ".")[:8]
        speaker = segment.get("speaker")
        label = f"{speaker}: " if speaker else ""
        lines.append(f"[{clock}] {label}{_one_line(segment['text'])}")
    return "".join(line + "\n" for line in lines)


def srt(segments: Iterable[dict]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    cues = []
    for number, segment in enumerate(segments, start=1):
        speaker = segment.get("speaker")
        body = f"{speaker}: {_one_line(segment['text'])}" if speaker else _one_line(segment["text"])
        cues.append(f"{number}\n{_clock(segment['start'], ',')} --> {_clock(segment['end'], ',')}\n{body}\n")
    return "\n".join(cues)


def _vtt_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(segments: Iterable[dict]) -> str:
    """WebVTT: the header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`; a speaker is a voice span
    (`<v Alice>`), which players show as the speaker's name."""
    cues = ["WEBVTT\n"]
    for segment in segments:
        speaker = segment.get("speaker")
        body = _vtt_escape(_one_line(segment["text"]))
        if speaker:
            body = f"<v {_vtt_escape(_one_line(speaker))}>{body}"
        cues.append(f"{_clock(segment['start'], '.')} --> {_clock(segment['end'], '.')}\n{body}\n")
    return "\n".join(cues)


RENDERERS = {
    "text": (text, "text/plain; charset=utf-8"),
    "srt": (srt, "application/x-subrip; charset=utf-8"),
    "vtt": (vtt, "text/vtt; charset=utf-8"),
}
