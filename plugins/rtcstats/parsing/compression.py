"""RTCStatsDump v3 compression: the static tables, the getStats delta decoder and SDP restoration.

The tables are those of rtcstats-shared `compression.js` (rtcstats-dumps.md, Appendix A). Their numbers
never change; unknown method ids, property keys and stats types pass through unchanged.

getStats delta compression (rtcstats-dumps.md §2.2), decoded per peer connection against the previous
*full* snapshot (`base`):

* numeric property keys and numeric `type` values are decoded with the tables (a report's own `"t"` key
  is its `timestamp`);
* the top-level `"t"` is the collapsed timestamp T of the snapshot;
* a report id mapped to `null` was removed; a report id that is absent is unchanged (carried forward);
* a present report is merged over its base report property by property (plain objects are merged key
  by key, arrays are replaced whole);
* every report without its own timestamp gets T.

Lines of Chrome's own writer carry complete reports (no top-level `"t"`, every report has `type` and
`timestamp`): `StatsDeltaDecoder` takes those as they are, so a stat that disappeared is not carried
forward with its old timestamp (the stale-report caveat at the end of §2.2).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "METHODS",
    "STATS_PROPERTIES",
    "STATS_TYPES",
    "StatsDeltaDecoder",
    "StatsDeltaError",
    "decode_method",
    "decode_report",
    "decode_stats_type",
    "decompress_stats",
    "restore_description",
]

# Compressed method id -> method name. "g" is what rtcstats-js writes for getStats; 1 is accepted too.
METHODS: dict[str, str] = {
    "g": "getStats",
    "1": "getStats",
    "2": "createOffer",
    "3": "createOfferOnSuccess",
    "12": "createOfferOnFailure",
    "4": "createAnswer",
    "5": "createAnswerOnSuccess",
    "13": "createAnswerOnFailure",
    "6": "setLocalDescription",
    "7": "setLocalDescriptionOnSuccess",
    "14": "setLocalDescriptionOnFailure",
    "8": "setRemoteDescription",
    "9": "setRemoteDescriptionOnSuccess",
    "15": "setRemoteDescriptionOnFailure",
    "10": "addIceCandidate",
    "11": "addIceCandidateOnSuccess",
    "16": "addIceCandidateOnFailure",
    "20": "onicecandidate",
    "21": "onicecandidateerror",
    "22": "ontrack",
    "23": "onsignalingstatechange",
    "24": "oniceconnectionstatechange",
    "25": "onconnectionstatechange",
    "26": "onicegatheringstatechange",
    "27": "onnegotiationneeded",
    "28": "ondatachannel",
    "30": "addTrack",
    "31": "addTrackOnSuccess",
    "32": "addTransceiver",
    "33": "addTransceiverOnSuccess",
    "34": "removeTrack",
    "35": "createDataChannel",
    "36": "close",
    "37": "restartIce",
    "38": "setConfiguration",
    "39": "create",
    "40": "constraints",
    "41": "setCodecPreferences",
    "42": "setHeaderExtensionsToNegotiate",
    "50": "setParameters",
    "51": "replaceTrack",
    "60": "navigator.mediaDevices.getUserMedia",
    "61": "navigator.mediaDevices.getUserMediaOnSuccess",
    # 62 is unused: released clients have always written getUserMediaOnFailure as 65.
    "65": "navigator.mediaDevices.getUserMediaOnFailure",
    "63": "navigator.mediaDevices.getDisplayMedia",
    "64": "navigator.mediaDevices.getDisplayMediaOnSuccess",
    "68": "navigator.mediaDevices.getDisplayMediaOnFailure",
    "66": "navigator.mediaDevices.enumerateDevices",
    "67": "navigator.mediaDevices.ondevicechange",
    "70": "MediaStreamTrack.stop",
    "71": "MediaStreamTrack.applyConstraints",
    "72": "MediaStreamTrack.onended",
    "73": "MediaStreamTrack.onmute",
    "74": "MediaStreamTrack.onunmute",
    "80": "HTMLMediaElement.resize",
}

STATS_TYPES: dict[str, str] = {
    "1": "inbound-rtp",
    "2": "outbound-rtp",
    "3": "remote-inbound-rtp",
    "4": "remote-outbound-rtp",
    "5": "transport",
    "6": "candidate-pair",
    "7": "local-candidate",
    "8": "remote-candidate",
    "9": "data-channel",
    "10": "peer-connection",
    "11": "certificate",
    "12": "media-source",
    "13": "media-playout",
    "14": "codec",
}

# Compressed property key -> property name (`type` and `id` are never compressed). Unassigned:
# 13 (mediaType), 146 (isRemote), 147 (ip), 162 (writable): removed by the compressor, never sent.
# 167-176 are decode-only in rtcstats-shared (not yet written by released clients).
STATS_PROPERTIES: dict[str, str] = {
    "t": "timestamp",
    "4": "payloadType",
    "5": "transportId",
    "6": "mimeType",
    "7": "clockRate",
    "8": "channels",
    "9": "sdpFmtpLine",
    "10": "ssrc",
    "11": "kind",
    "12": "codecId",
    "14": "packetsReceived",
    "15": "packetsLost",
    "16": "jitter",
    "17": "trackIdentifier",
    "18": "mid",
    "19": "remoteId",
    "20": "framesDecoded",
    "21": "keyFramesDecoded",
    "22": "framesDropped",
    "23": "frameWidth",
    "24": "frameHeight",
    "25": "framesPerSecond",
    "26": "qpSum",
    "27": "totalDecodeTime",
    "28": "totalInterFrameDelay",
    "29": "totalSquaredInterFrameDelay",
    "30": "pauseCount",
    "31": "totalPausesDuration",
    "32": "freezeCount",
    "33": "totalFreezesDuration",
    "34": "lastPacketReceivedTimestamp",
    "35": "headerBytesReceived",
    "36": "packetsDiscarded",
    "37": "fecPacketsReceived",
    "38": "fecPacketsDiscarded",
    "39": "fecBytesReceived",
    "40": "fecSsrc",
    "41": "bytesReceived",
    "42": "nackCount",
    "43": "firCount",
    "44": "pliCount",
    "45": "totalProcessingDelay",
    "46": "estimatedPlayoutTimestamp",
    "47": "jitterBufferDelay",
    "48": "jitterBufferTargetDelay",
    "49": "jitterBufferEmittedCount",
    "50": "jitterBufferMinimumDelay",
    "51": "totalSamplesReceived",
    "52": "concealedSamples",
    "53": "silentConcealedSamples",
    "54": "concealmentEvents",
    "55": "insertedSamplesForDeceleration",
    "56": "removedSamplesForAcceleration",
    "57": "audioLevel",
    "58": "totalAudioEnergy",
    "59": "totalSamplesDuration",
    "60": "framesReceived",
    "61": "decoderImplementation",
    "62": "playoutId",
    "63": "powerEfficientDecoder",
    "64": "framesAssembledFromMultiplePackets",
    "65": "totalAssemblyTime",
    "66": "contentType",
    "67": "googTimingFrameInfo",
    "68": "retransmittedPacketsReceived",
    "69": "retransmittedBytesReceived",
    "70": "rtxSsrc",
    "71": "totalCorruptionProbability",
    "72": "totalSquaredCorruptionProbability",
    "73": "corruptionMeasurements",
    "74": "localId",
    "75": "roundTripTime",
    "76": "totalRoundTripTime",
    "77": "fractionLost",
    "78": "roundTripTimeMeasurements",
    "79": "packetsSent",
    "80": "bytesSent",
    "81": "mediaSourceId",
    "82": "rid",
    "83": "encodingIndex",
    "84": "headerBytesSent",
    "85": "retransmittedPacketsSent",
    "86": "retransmittedBytesSent",
    "87": "targetBitrate",
    "88": "totalEncodedBytesTarget",
    "89": "framesSent",
    "90": "hugeFramesSent",
    "91": "framesEncoded",
    "92": "keyFramesEncoded",
    "93": "totalEncodeTime",
    "94": "totalPacketSendDelay",
    "95": "qualityLimitationReason",
    "96": "qualityLimitationDurations",
    "97": "qualityLimitationResolutionChanges",
    "98": "encoderImplementation",
    "99": "powerEfficientEncoder",
    "100": "active",
    "101": "scalabilityMode",
    "102": "remoteTimestamp",
    "103": "reportsSent",
    "104": "echoReturnLoss",
    "105": "echoReturnLossEnhancement",
    "106": "width",
    "107": "height",
    "108": "frames",
    "109": "synthesizedSamplesDuration",
    "110": "synthesizedSamplesEvents",
    "111": "totalPlayoutDelay",
    "112": "totalSamplesCount",
    "113": "dataChannelsOpened",
    "114": "dataChannelsClosed",
    "115": "label",
    "116": "protocol",
    "117": "dataChannelIdentifier",
    "118": "state",
    "119": "messagesSent",
    "120": "messagesReceived",
    "121": "iceRole",
    "122": "iceLocalUsernameFragment",
    "123": "dtlsState",
    "124": "iceState",
    "125": "selectedCandidatePairId",
    "126": "localCertificateId",
    "127": "remoteCertificateId",
    "128": "tlsVersion",
    "129": "dtlsCipher",
    "130": "dtlsRole",
    "131": "srtpCipher",
    "132": "selectedCandidatePairChanges",
    "133": "rtcpTransportStatsId",
    "134": "address",
    "135": "port",
    "136": "candidateType",
    "137": "priority",
    "138": "url",
    "139": "relayProtocol",
    "140": "foundation",
    "141": "relatedAddress",
    "142": "relatedPort",
    "143": "usernameFragment",
    "144": "tcpType",
    "145": "networkType",
    "148": "localCandidateId",
    "149": "remoteCandidateId",
    "150": "nominated",
    "151": "lastPacketSentTimestamp",
    "152": "currentRoundTripTime",
    "153": "availableOutgoingBitrate",
    "154": "availableIncomingBitrate",
    "155": "requestsReceived",
    "156": "requestsSent",
    "157": "responsesReceived",
    "158": "responsesSent",
    "159": "consentRequestsSent",
    "160": "packetsDiscardedOnSend",
    "161": "bytesDiscardedOnSend",
    "163": "fingerprint",
    "164": "fingerprintAlgorithm",
    "165": "base64Certificate",
    "166": "issuerCertificateId",
    "167": "psnrMeasurements",
    "168": "psnrSum",
    "169": "packetsReceivedWithEct1",
    "170": "packetsReceivedWithCe",
    "171": "packetsReportedAsLost",
    "172": "packetsReportedAsLostButRecovered",
    "173": "packetsWithBleachedEct1Marking",
    "174": "packetsSentWithEct1",
    "175": "ccfbMessagesSent",
    "176": "ccfbMessagesReceived",
}


class StatsDeltaError(ValueError):
    """A getStats value that cannot be decoded (the parser adds the line number)."""


def _table_key(value: Any) -> str | None:
    """The table key of a compressed value: JS looks numbers up by their string form ("60", "g")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return None


def decode_method(method: Any) -> Any:
    """60 -> "navigator.mediaDevices.getUserMedia", "g" -> "getStats"; unknown values are returned as-is."""
    key = _table_key(method)
    return METHODS.get(key, method) if key is not None else method


def decode_stats_type(value: Any) -> Any:
    """1 -> "inbound-rtp"; unknown values are returned as-is."""
    key = _table_key(value)
    return STATS_TYPES.get(key, value) if key is not None else value


def decode_report(report: dict) -> dict:
    """A new report with numeric property keys (and a numeric `type`) decoded; names pass through."""
    out = {}
    for key, value in report.items():
        name = STATS_PROPERTIES.get(key, key)
        out[name] = decode_stats_type(value) if name == "type" else value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decode_delta(delta: dict) -> tuple[dict[str, dict | None], float | None]:
    """Split a getStats value into its decoded reports (None = removed) and the top-level timestamp T."""
    if not isinstance(delta, dict):
        raise StatsDeltaError(f"the getStats value must be an object, not {type(delta).__name__}")
    stamp = None
    reports: dict[str, dict | None] = {}
    for stat_id, report in delta.items():
        if stat_id == "t":
            if not _is_number(report):
                raise StatsDeltaError(f'the getStats timestamp "t" must be a number, not {report!r:.40}')
            stamp = report
        elif report is None:
            reports[stat_id] = None
        elif isinstance(report, dict):
            reports[stat_id] = decode_report(report)
        else:
            raise StatsDeltaError(f"stats report {stat_id!r:.60} must be an object or null")
    return reports, stamp


def _merge(base: dict[str, dict], reports: dict[str, dict | None], stamp: float | None) -> dict[str, dict]:
    """The reference decompression (§2.2) over already decoded reports; `base` is not modified."""
    full: dict[str, dict] = {}
    for stat_id, old in base.items():
        if stat_id in reports:
            new = reports[stat_id]
            if new is None:  # removed
                continue
            own_stamp = "timestamp" in new
            merged = dict(new)
            for name, value in old.items():
                if name not in merged:
                    merged[name] = value
                elif isinstance(value, dict) and isinstance(merged[name], dict):
                    merged[name] = {**value, **merged[name]}
                # else: the new value replaces the old one (arrays are always sent whole)
        else:  # unchanged: carried forward
            own_stamp = False
            merged = dict(old)
        if stamp is not None and not own_stamp:
            merged["timestamp"] = stamp
        full[stat_id] = merged
    for stat_id, new in reports.items():
        # New reports. A null for an id we never saw removes nothing: it is dropped (rtcstats-shared keeps
        # a null there, which then turns into an empty report on the next line).
        if stat_id in base or new is None:
            continue
        if stamp is not None and "timestamp" not in new:
            new = {**new, "timestamp": stamp}
        full[stat_id] = new
    return full


def decompress_stats(base: dict[str, dict], delta: dict) -> dict[str, dict]:
    """Decode one v3 getStats value against the previous full snapshot `base` of the same peer connection.

    Returns the full snapshot {stat id: report} (decoded property names and types). `base` and `delta` are
    not modified; unchanged reports are shallow copies of the base ones (nested values are shared).

    :raises StatsDeltaError: the value is not an object, a report is neither an object nor null, or the
        top-level "t" is not a number.
    """
    reports, stamp = _decode_delta(delta)
    return _merge(base, reports, stamp)


class StatsDeltaDecoder:
    """Decodes the getStats lines of a dump in file order; keeps only the last full snapshot per PC."""

    def __init__(self) -> None:
        self._base: dict[Any, dict[str, dict]] = {}
        self.complete_lines = 0  # lines taken as complete reports (Chrome's writer)
        self.delta_lines = 0  # lines decoded as deltas (rtcstats-js)

    def decode(self, pc_id: Any, value: Any) -> dict[str, dict]:
        """The full snapshot of `pc_id` after the getStats value `value`; becomes that PC's new base.

        A value without a top-level "t" whose reports all carry `type` and `timestamp` is a complete report
        set (Chrome's native writer) and is taken as it is: stats missing from it are gone, not carried.

        :raises StatsDeltaError: see `decompress_stats`.
        """
        reports, stamp = _decode_delta(value)
        if (
            stamp is None
            and reports
            and all(r is not None and "type" in r and "timestamp" in r for r in reports.values())
        ):
            full: dict[str, dict] = reports  # type: ignore[assignment]
            self.complete_lines += 1
        else:
            full = _merge(self._base.get(pc_id, {}), reports, stamp)
            self.delta_lines += 1
        self._base[pc_id] = full
        return full


def _sdp_sections(sdp: str) -> list[str]:
    parts = sdp.split("\nm=")
    return [(part if index == 0 else "m=" + part).strip() for index, part in enumerate(parts)]


def restore_description(base: Any, description: Any) -> tuple[Any, bool]:
    """Undo rtcstats-js SDP compression: sections written as a bare `v=` (session part) or `m=` (media
    section i) are taken from the `base` description of the same type.

    Returns (description, restored). A description with no compressed section is returned unchanged; one
    that is compressed but has no usable base is returned unchanged with restored False.
    """
    if not isinstance(description, dict) or not isinstance(description.get("sdp"), str):
        return description, True
    sections = _sdp_sections(description["sdp"])
    compressed = [i for i, s in enumerate(sections) if s == ("v=" if i == 0 else "m=")]
    if not compressed:
        return description, True
    if not (
        isinstance(base, dict)
        and isinstance(base.get("sdp"), str)
        and base.get("type") == description.get("type")
    ):
        return description, False
    base_sections = _sdp_sections(base["sdp"])
    if compressed[-1] >= len(base_sections):
        return description, False
    for index in compressed:
        sections[index] = base_sections[index]
    return {**description, "sdp": "\r\n".join(sections).strip() + "\r\n"}, True
