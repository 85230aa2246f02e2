"""Transcript renderings (plain text, SRT, WebVTT) with exact expected output."""

from plugins.transcription import formats

SEGMENTS = [
    {"start": 0.0, "end": 2.91, "text": "안녕하세요 여러분", "speaker": "Alice"},
    {"start": 4.2346, "end": 7.05, "text": "a <b> & c", "speaker": None},
    {"start": 3725.5, "end": 3727.0016, "text": "late\n\nline", "speaker": "Bob <x>"},
]


def test_text_has_times_from_the_start_of_the_recording_and_speaker_labels():
    assert formats.text(SEGMENTS) == (
        "[00:00:00] Alice: 안녕하세요 여러분\n[00:00:04] a <b> & c\n[01:02:05] Bob <x>: late line\n"
    )


def test_srt_numbers_cues_with_comma_milliseconds():
    assert formats.srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,910\nAlice: 안녕하세요 여러분\n"
        "\n"
        "2\n00:00:04,235 --> 00:00:07,050\na <b> & c\n"
        "\n"
        "3\n01:02:05,500 --> 01:02:07,002\nBob <x>: late line\n"
    )


def test_vtt_has_header_voice_spans_and_escapes_markup():
    assert formats.vtt(SEGMENTS) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.910\n<v Alice>안녕하세요 여러분\n"
        "\n"
        "00:00:04.235 --> 00:00:07.050\na &lt;b&gt; &amp; c\n"
        "\n"
        "01:02:05.500 --> 01:02:07.002\n<v Bob &lt;x&gt;>late line\n"
    )


def test_empty_transcript():
    assert formats.text([]) == ""
    assert formats.srt([]) == ""
    assert formats.vtt([]) == "WEBVTT\n"
