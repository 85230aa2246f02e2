"""The per-track path of live transcription on real speech: frames in, partial and final segments out.

Two speakers on two tracks (espeak-ng Korean): Alice's track arrives as 16 kHz mono, Bob's as 48 kHz
stereo (what LiveKit decodes Opus to), so the resampler is on the path. Phrase hints make the words
exact; times are checked against the audible speech measured on the PCM.
"""

from __future__ import annotations

import pytest

from plugins.transcription import engine
from plugins.transcription.live_recognizer import SegmentUpdate, StreamingResampler, TrackRecognizer
from tests.plugins.transcription.live_speech import ALICE, BOB, PHRASES, frames, pcm, speakers
from tests.plugins.transcription.speech import require_model

TIME_TOLERANCE = 0.25  # as the post-call engine tests
FORMATS = {"alice": (16000, 1), "bob": (48000, 2)}


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speakers(tmp_path_factory.mktemp("live-speech"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return engine.load_model(require_model(), tmp_path_factory.mktemp("models"))


def run_track(model, name, speech, phrases=PHRASES, partial_interval=0.3):
    rate, channels = FORMATS[name]
    recognizer = TrackRecognizer(
        model, track_sid=f"TR_{name}", speaker_id=name, phrases=phrases, partial_interval=partial_interval
    )
    updates = []
    for frame in frames(pcm(speech[name].path, rate, channels), rate, channels):
        updates += recognizer.push(frame, rate, channels)
    return updates + recognizer.finish(), recognizer


@pytest.mark.parametrize("name, said", [("alice", ALICE), ("bob", BOB)])
def test_each_track_gives_its_speakers_final_segments_with_exact_words_and_times(model, speech, name, said):
    updates, recognizer = run_track(model, name, speech)
    finals = [u for u in updates if isinstance(u, SegmentUpdate) and u.final]
    assert [f.text for f in finals] == said
    assert {f.speaker_id for f in finals} == {name} and {f.track_sid for f in finals} == {f"TR_{name}"}
    assert recognizer.ignored_words == []
    for final, (start, end) in zip(finals, speech[name].spoken, strict=True):
        assert abs(final.start - start) <= TIME_TOLERANCE, (final, start)
        assert abs(final.end - end) <= TIME_TOLERANCE, (final, end)
        assert [w["word"] for w in final.words] == final.text.split()
        assert final.words[0]["start"] == final.start and final.words[-1]["end"] == final.end
        assert 0.5 <= final.confidence <= 1.0
    # one key per utterance: the final replaces its partial, and utterances do not share keys
    assert len({f.key for f in finals}) == len(finals)


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_partials_come_before_each_final_and_grow_into_it(model, speech, name):
    updates, _ = run_track(model, name, speech)
    for final in (u for u in updates if isinstance(u, SegmentUpdate) and u.final):
        before = updates[: updates.index(final)]
        partials = [u for u in before if isinstance(u, SegmentUpdate) and not u.final and u.key == final.key]
        assert partials, f"no partial before {final.text!r}"
        assert all(p.speaker_id == name and p.confidence is None for p in partials)
        # each partial is a start of the final sentence (a grammar keeps partials on its phrases)
        for partial in partials:
            assert final.text.startswith(partial.text), (partial.text, final.text)
            assert abs(partial.start - final.start) <= TIME_TOLERANCE
        # at most one partial per interval of audio, and only when the words changed
        texts = [p.text for p in partials]
        assert len(texts) == len(set(texts))


def test_no_partials_more_often_than_the_interval(model, speech):
    often, _ = run_track(model, "alice", speech, partial_interval=0.1)
    rarely, _ = run_track(model, "alice", speech, partial_interval=2.0)
    count = lambda ups: sum(1 for u in ups if isinstance(u, SegmentUpdate) and not u.final)  # noqa: E731
    assert count(often) > count(rarely) >= 0
    assert [u.text for u in often if u.final] == [u.text for u in rarely if u.final] == ALICE


def test_free_recognition_gives_segments_at_the_spoken_times(model, speech):
    updates, _ = run_track(model, "bob", speech, phrases=None)
    finals = [u for u in updates if isinstance(u, SegmentUpdate) and u.final]
    assert len(finals) == len(BOB), [(f.start, f.end, f.text) for f in finals]
    for final, (start, end) in zip(finals, speech["bob"].spoken, strict=True):
        assert abs(final.start - start) <= TIME_TOLERANCE and abs(final.end - end) <= TIME_TOLERANCE


def test_the_resampler_keeps_length_and_a_tone():
    """48 kHz stereo -> 16 kHz mono in uneven frames: a third of the samples, the tone kept, no
    discontinuity at frame boundaries."""
    import numpy as np

    seconds, rate = 1.0, 48000
    t = np.arange(int(seconds * rate)) / rate
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    stereo = np.repeat(tone, 2).tobytes()
    resampler = StreamingResampler(rate, 2)
    out = b"".join(resampler.push(stereo[at : at + 1924]) for at in range(0, len(stereo), 1924))
    samples = np.frombuffer(out, dtype="<i2").astype(float)
    assert abs(len(samples) - 16000) <= 2
    expected = 8000 * np.sin(2 * np.pi * 440 * (np.arange(len(samples)) / 16000))
    # the filter delays by (taps-1)/2 input samples; compare after aligning on it
    delay = (StreamingResampler.TAPS - 1) / 2 / rate
    expected = 8000 * np.sin(2 * np.pi * 440 * (np.arange(len(samples)) / 16000 - delay))
    middle = slice(100, len(samples) - 100)
    assert np.max(np.abs(samples[middle] - expected[middle])) < 400


def test_a_high_tone_is_filtered_out_before_decimation():
    import numpy as np

    rate = 48000
    t = np.arange(rate) / rate
    high = (8000 * np.sin(2 * np.pi * 15000 * t)).astype("<i2").tobytes()  # above 8 kHz: would alias
    out = np.frombuffer(StreamingResampler(rate, 1).push(high), dtype="<i2").astype(float)
    assert np.sqrt(np.mean(out[100:] ** 2)) < 200
