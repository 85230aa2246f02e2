"""Observation rules about the client: getUserMedia constraints and errors, CPU pressure.

Each rule is a small function registered with its catalogue entry (see observations.rule). Thresholds:
docs/rtcstats-scoring.md, sources rtcstats-dumps.md 4.3.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from plugins.rtcstats.analysis.metrics_model import CallMetrics
from plugins.rtcstats.analysis.observations import device_source, finite, make, rule

PRESSURE_STATES = ("serious", "critical")

# JS-ish constraint text (old Chrome dumps): echoCancellation: false / {exact: false} / {ideal: false}.
_AEC_OFF_TEXT = re.compile(
    r"echoCancellation['\"]?\s*:\s*(?:\{\s*['\"]?(?:exact|ideal)['\"]?\s*:\s*)?['\"]?false\b", re.I
)


def _falsy(value: Any) -> bool:
    if value is False:
        return True
    if isinstance(value, str):
        return value.strip().strip("'\"").lower() == "false"
    if isinstance(value, dict):
        return any(_falsy(value.get(k)) for k in ("exact", "ideal") if k in value)
    return False


def echo_cancellation_off(constraint: Any) -> bool:
    """True when an audio constraint (dict, list, or raw text) sets echoCancellation to false."""
    if isinstance(constraint, dict):
        for key, value in constraint.items():
            if str(key).lower() in ("echocancellation", "googechocancellation") and _falsy(value):
                return True
            if isinstance(value, dict | list) and echo_cancellation_off(value):
                return True
        return False
    if isinstance(constraint, list):
        return any(echo_cancellation_off(item) for item in constraint)
    if isinstance(constraint, str):
        return bool(_AEC_OFF_TEXT.search(constraint))
    return False


def _audio_constraint(constraints: Any) -> Any:
    if isinstance(constraints, dict):
        return constraints.get("audio")
    return constraints  # raw text: search it whole


def _requested_kinds(constraints: Any) -> list[str]:
    if isinstance(constraints, dict):
        return [k for k in ("audio", "video") if constraints.get(k) not in (None, False)]
    text = str(constraints or "").lower()
    return [k for k in ("audio", "video") if k in text]


def _track_label(request: dict, kind: str) -> str | None:
    for track in request.get("tracks") or []:
        if isinstance(track, dict) and track.get("kind") == kind and track.get("label"):
            return str(track["label"])
    return None


def _failed(request: dict) -> bool:
    return request.get("success") is False or bool(request.get("error"))


@rule(
    "aecDisabled",
    title="AEC intentionally disabled",
    category="devices",
    severities=("medium",),
    tags=("peripheral", "audio", "configuration", "outbound"),
    meaning="The application asked for the microphone with echo cancellation turned off: without "
    "headphones, the other participants hear their own voice echoed back.",
    threshold="a getUserMedia audio constraint sets echoCancellation to false (plain, exact or ideal)",
    advice="Keep echoCancellation enabled unless the app handles music/studio audio with headphones.",
    reason="Medium: echo makes conversation tiring for everyone else in the call.",
)
def aec_disabled(metrics: CallMetrics) -> Iterator[dict]:
    hits = [
        (i, r)
        for i, r in enumerate(metrics.client.media_requests)
        if r.get("kind", "getUserMedia") == "getUserMedia"
        and echo_cancellation_off(_audio_constraint(r.get("constraints")))
    ]
    if not hits:
        return
    index, request = hits[0]
    yield make(
        "aecDisabled",
        "medium",
        source=device_source(index, request.get("time"), _track_label(request, "audio")),
        tags=("peripheral", "audio", "configuration", "outbound"),
        first_seen=request.get("time"),
        valueInCount=len(hits),
        property="echoCancellation",
    )


@rule(
    "getUserMediaError",
    title="getUserMedia error",
    category="devices",
    severities=("high", "low"),
    tags=("peripheral", "behavior", "audio", "video"),
    meaning="Access to the microphone or camera failed (permission denied, device busy or missing).",
    threshold="a getUserMedia/getDisplayMedia request failed; one observation per failed request",
    advice="NotAllowedError: guide the user through permissions; NotReadableError: another app holds the "
    "device; NotFoundError/OverconstrainedError: check device selection and constraints.",
    reason="High when no later request of the same kind succeeded (the user sent no media); low when a "
    "retry succeeded.",
)
def get_user_media_error(metrics: CallMetrics) -> Iterator[dict]:
    requests = metrics.client.media_requests
    for index, request in enumerate(requests):
        if not _failed(request):
            continue
        kind = request.get("kind") or "getUserMedia"
        recovered = any(
            later.get("success") is True and (later.get("kind") or "getUserMedia") == kind
            for later in requests[index + 1 :]
        )
        error = str(request.get("error") or "unknown error").strip()
        name = error.split(":", 1)[0].strip() or "Error"
        message = str(request.get("error_message") or "").strip()
        if message and message not in error:
            error = f"{error}: {message}"
        media = _requested_kinds(request.get("constraints"))
        tags = ["peripheral", *media]
        if name == "NotAllowedError":
            tags.append("behavior")
        yield make(
            "getUserMediaError",
            "low" if recovered else "high",
            source=device_source(index, request.get("time")),
            tags=tags,
            first_seen=request.get("time"),
            property=name,
            meaning=f"{kind} for {' and '.join(media) or 'media'} failed with {error[:200]}"
            + ("; a later request succeeded." if recovered else "; no later request succeeded."),
        )


@rule(
    "cpuPressure",
    title="CPU pressure",
    category="devices",
    severities=("high", "medium"),
    tags=("cpu",),
    meaning="The browser's Compute Pressure API reported the device's CPU under serious or critical "
    "pressure: audio/video processing may have been throttled.",
    threshold="any compute-pressure sample 'serious' (medium) or 'critical' (high)",
    advice="Close other applications or tabs, lower video resolution, or use a more capable device.",
    reason="Critical pressure means the system is throttling; serious is a warning.",
)
def cpu_pressure(metrics: CallMetrics) -> Iterator[dict]:
    samples = [(t, str(s).lower()) for t, s in metrics.client.compute_pressure]
    bad = [(t, s) for t, s in samples if s in PRESSURE_STATES]
    if not bad:
        return
    critical = any(s == "critical" for _, s in bad)
    times = [t for t, _ in bad if finite(t)]
    first = min(times) if times else None
    yield make(
        "cpuPressure",
        "high" if critical else "medium",
        source={"timestamp": device_source(0, first)["timestamp"]},
        tags=("cpu",),
        first_seen=first,
        valueInCount=len(bad),
        durationInPercent=len(bad) / len(samples) * 100,
        property="cpuState",
        meaning=f"The device reported {'critical' if critical else 'serious'} CPU pressure in "
        f"{len(bad)} of {len(samples)} samples: media processing may have been throttled.",
    )
