"""Parser of RTCStatsDump version 3 files (rtcstats-js + rtcstats-server, and Chrome's own writer).

File layout (rtcstats-dumps.md §2.2)::

    RTCStatsDump
    {"fileFormat": 3, "url": ..., "origin": ..., "userAgent": ..., "startTime": ..., ...}
    [method, pcId, value, ...extra, timeDelta]
    ...

* Line 1 is `RTCStatsDump`; line 2 a JSON object with the integer `fileFormat` 3. Blank lines before the
  header are tolerated (format detection allows leading whitespace); anything else is a DumpFormatError
  naming the line.
* Every further non-blank line is a JSON array of at least 4 elements. The last element is the time
  delta in ms to the previous line, the first one being absolute (epoch ms): line time = running sum.
  The metadata line carries no time and is not an event (dump-facts.md D3).
* Methods are decoded with the compression table (unknown ids pass through). Client-level events (null
  pcId, or navigator.* / MediaStreamTrack.* / HTMLMediaElement.* whatever the pcId) go to
  `Dump.client_events`; everything else to its peer connection (so only ids with at least one non-client
  event become PCs, D2).
* getStats lines are not stored as events: each one is a snapshot (`pc.snapshot_times` gets the line
  time) and every report of the decoded full snapshot is appended to its StatTrack (compression.py:
  delta decoding per PC, complete reports of Chrome's writer taken as they are).
* SDP sections compressed by rtcstats-js (`v=` / `m=` placeholders) are restored from the description
  they were compressed against (the last local/remote description of the PC, or the last created
  offer/answer before the first setLocalDescription).
* A line without a time (3 elements ``[method, pcId, value]`` whose last is not a number, or a null last
  element) has no sample time: it is skipped, counted in `format_detail["lines_without_time"]` and named
  in one warning; it never makes the file unreadable.
* A final line cut off mid-JSON is skipped with a warning (lines.read_json_lines); every other defect
  raises DumpFormatError naming the line.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from plugins.rtcstats.parsed_dump import Dump
from plugins.rtcstats.parsing.compression import (
    StatsDeltaDecoder,
    StatsDeltaError,
    decode_method,
    restore_description,
)
from plugins.rtcstats.parsing.errors import DumpFormatError
from plugins.rtcstats.parsing.lines import add_event, as_number, is_client_method, make_event, read_json_lines

__all__ = ["parse_v3"]

HEADER = b"RTCStatsDump"
FILE_FORMAT = 3
# Earliest plausible absolute first time (2001-09-09); below it the first delta was not an epoch time.
_EPOCH_MS_MIN = 1e12

_METADATA_STRINGS = ("url", "origin", "userAgent", "clientProtocol")
_TOKEN_PARAM = re.compile(r"([?&]rtcstats-token=)([^&#]*)")
# Model key -> keys that may hold it (rtcstats-server's JWT `rtcStats` object has user/session/conference).
_IDENTITY_KEYS = (
    ("userId", ("user", "userId")),
    ("sessionId", ("session", "sessionId")),
    ("conferenceId", ("conference", "conferenceId")),
)


def parse_v3(raw: bytes) -> Dump:
    """Parse an uncompressed RTCStatsDump v3 file into the model.

    :raises DumpFormatError: the bytes are not a readable v3 dump; the message and `.line` name the line.
    """
    dump = Dump(format="rtcstats-v3")
    metadata, pos, line_no = _read_head(raw)
    dump.format_detail = {"metadata_keys": sorted(str(k) for k in metadata), "file_format": FILE_FORMAT}
    dump.metadata = _client_metadata(metadata)
    if isinstance(metadata.get("userAgent"), str):
        dump.user_agent = metadata["userAgent"]
    _Reader(dump).read(raw, pos, line_no)
    return dump


def _read_head(raw: bytes) -> tuple[dict, int, int]:
    """The metadata object, the byte offset after the metadata line and the number of the next line."""
    pos, line_no = 0, 1
    while True:  # skip blank lines before the header
        end = raw.find(b"\n", pos)
        end = len(raw) if end == -1 else end
        line = raw[pos:end].strip()
        if line or end >= len(raw):
            break
        pos, line_no = end + 1, line_no + 1
    if line.removeprefix(b"\xef\xbb\xbf") != HEADER:
        raise DumpFormatError('not an RTCStatsDump file: the first line must be "RTCStatsDump"', line=line_no)
    pos, line_no = end + 1, line_no + 1
    if pos >= len(raw):
        raise DumpFormatError("the metadata line is missing", line=line_no)
    end = raw.find(b"\n", pos)
    end = len(raw) if end == -1 else end
    try:
        metadata = json.loads(raw[pos:end].decode("utf-8"))
    except (ValueError, RecursionError):
        raise DumpFormatError("the metadata line is not valid JSON", line=line_no) from None
    if not isinstance(metadata, dict):
        raise DumpFormatError("the metadata line must be a JSON object", line=line_no)
    file_format = metadata.get("fileFormat")
    if not isinstance(file_format, int) or isinstance(file_format, bool):
        raise DumpFormatError("the metadata has no integer fileFormat", line=line_no)
    if file_format != FILE_FORMAT:
        raise DumpFormatError(f"unsupported fileFormat {file_format} (only {FILE_FORMAT} is)", line=line_no)
    return metadata, end + 1, line_no + 1


def _client_metadata(meta: dict) -> dict:
    """url (rtcstats-token redacted), origin, userAgent, startTime, clientProtocol and the JWT-derived
    userId / sessionId / conferenceId. Other server keys (remoteAddresses, locations: client IP data;
    authData: all token claims) are deliberately not kept; format_detail lists every key."""
    out: dict[str, Any] = {k: meta[k] for k in _METADATA_STRINGS if isinstance(meta.get(k), str)}
    if as_number(meta.get("startTime")) is not None:
        out["startTime"] = meta["startTime"]
    token = None
    if "url" in out:
        found = _TOKEN_PARAM.search(out["url"])
        token = found.group(2) if found else None
        out["url"] = _TOKEN_PARAM.sub(r"\1redacted", out["url"])
    out.update(_identity(meta, token))
    return out


def _jwt_claims(token: str | None) -> dict | None:
    """The (unverified) claims of a JWT; None when `token` is not one (e.g. the server obfuscated it)."""
    if not token or len(token) > 16384:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _identity(meta: dict, token: str | None) -> dict:
    """userId / sessionId / conferenceId from the first source that has them.

    rtcstats-server takes them from the `rtcStats` object of the connection's JWT (`user`, `session`,
    `conference`). Sources, in order: the decoded claims the server stored as `authData`, the
    `rtcstats-token` in the metadata url (not verified: the whole file is client data anyway), and keys of
    the metadata object itself.
    """
    sources = [meta.get("authData"), _jwt_claims(token), meta]
    scopes: list[dict] = []
    for source in sources:
        if isinstance(source, dict):
            scopes += [s for s in (source.get("rtcStats"), source.get("rtcstats")) if isinstance(s, dict)]
            scopes.append(source)
    out: dict[str, str] = {}
    for target, keys in _IDENTITY_KEYS:
        for scope in scopes:
            value = next((scope[k] for k in keys if k in scope), None)
            if (isinstance(value, str) and value) or (isinstance(value, int) and not isinstance(value, bool)):
                out[target] = str(value)
                break
    return out


class _Descriptions:
    """The session descriptions of one PC, as far as needed to restore compressed SDP."""

    __slots__ = ("local", "remote", "pending_local", "pending_remote", "implicit_base", "created")

    def __init__(self) -> None:
        self.local: Any = None
        self.remote: Any = None
        self.pending_local: Any = None
        self.pending_remote: Any = None
        self.implicit_base: Any = None
        self.created: dict = {}  # type -> created offer/answer before the first local description

    def restore(self, method: str, value: Any) -> tuple[Any, bool]:
        """`value` with its SDP restored, and whether that worked (True when nothing was compressed)."""
        ok = True
        if method in ("createOfferOnSuccess", "createAnswerOnSuccess"):
            value, ok = restore_description(self.local, value)
            if self.local is None and isinstance(value, dict):
                self.created[value.get("type")] = value
        elif method == "setLocalDescription":
            if isinstance(value, dict):
                base = self.local or self.created.get(value.get("type"))
                value, ok = restore_description(base, value)
                self.pending_local = value
                self.created.clear()
            else:  # implicit description: the OnSuccess line carries it
                self.pending_local, self.implicit_base = None, self.local
        elif method == "setLocalDescriptionOnSuccess":
            if isinstance(value, dict):
                value, ok = restore_description(self.implicit_base, value)
                self.local = value
            elif self.pending_local is not None:
                self.local = self.pending_local
            self.pending_local = None
        elif method == "setRemoteDescription":
            value, ok = restore_description(self.remote, value)
            self.pending_remote = value
        elif method == "setRemoteDescriptionOnSuccess":
            if self.pending_remote is not None:
                self.remote = self.pending_remote
            self.pending_remote = None
        elif method == "setLocalDescriptionOnFailure":
            self.pending_local = None
        elif method == "setRemoteDescriptionOnFailure":
            self.pending_remote = None
        return value, ok


_SDP_METHODS = frozenset(
    {
        "createOfferOnSuccess",
        "createAnswerOnSuccess",
        "setLocalDescription",
        "setLocalDescriptionOnSuccess",
        "setLocalDescriptionOnFailure",
        "setRemoteDescription",
        "setRemoteDescriptionOnSuccess",
        "setRemoteDescriptionOnFailure",
    }
)


class _Reader:
    """Reads the event lines of one file into `dump`."""

    def __init__(self, dump: Dump) -> None:
        self.dump = dump
        self.decoder = StatsDeltaDecoder()
        self.descriptions: dict[str, _Descriptions] = {}
        self.time: float | None = None
        self.warned: set[str] = set()
        self.untimed_first: int | None = None  # the first line without a time, for the warning

    def warn_once(self, kind: str, message: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            self.dump.warnings.append(message)

    def read(self, raw: bytes, pos: int, line_no: int) -> None:
        lines = 0
        for number, record in read_json_lines(raw, self.dump.warnings, start=pos, first_line_no=line_no):
            lines += 1
            try:
                self.line(number, record)
            except StatsDeltaError as err:
                raise DumpFormatError(str(err), line=number) from None
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as err:
                # Defensive: whatever the content, the caller only ever sees DumpFormatError.
                raise DumpFormatError(f"unreadable line ({type(err).__name__}: {err})", line=number) from None
        skipped = self.dump.format_detail.get("lines_without_time", 0)
        if skipped:
            self.dump.warnings.append(
                f"line {self.untimed_first}: a line without a timestamp was skipped"
                + (f" ({skipped} lines)" if skipped > 1 else "")
            )
        self.dump.format_detail.update(
            event_lines=lines - skipped,
            getstats_lines_complete=self.decoder.complete_lines,
            getstats_lines_delta=self.decoder.delta_lines,
        )

    def line(self, number: int, record: Any) -> None:
        if not isinstance(record, list):
            raise DumpFormatError(
                "the line must be a JSON array [method, pcId, value, ..., timeDelta]", line=number
            )
        if (len(record) == 3 and as_number(record[-1]) is None) or (len(record) > 3 and record[-1] is None):
            self.untimed(number)
            return
        if len(record) < 4:
            raise DumpFormatError(
                f"the line has {len(record)} elements; [method, pcId, value, ..., timeDelta] needs 4",
                line=number,
            )
        delta = as_number(record[-1])
        if delta is None:
            raise DumpFormatError(
                f"the time delta (last element) is not a number: {record[-1]!r:.60}", line=number
            )
        if self.time is None:
            self.time = delta
            if delta < _EPOCH_MS_MIN:
                self.warn_once("epoch", f"line {number}: the first time ({delta}) is not an epoch time in ms")
        else:
            self.time += delta
            if not math.isfinite(self.time):
                raise DumpFormatError("the running time overflows", line=number)
            if delta < 0:
                self.warn_once("backwards", f"line {number}: the time goes backwards ({delta} ms)")
        method = decode_method(record[0])
        if isinstance(method, int) and not isinstance(method, bool):
            method = str(method)  # an unknown numeric method id passes through as its number
        elif not isinstance(method, str):
            raise DumpFormatError(
                f"the method must be a string or a number, not {record[0]!r:.60}", line=number
            )
        pc_id = record[1]
        if isinstance(pc_id, int) and not isinstance(pc_id, bool):
            pc_id = str(pc_id)
        elif pc_id is not None and not isinstance(pc_id, str):
            raise DumpFormatError(f"the pcId must be a string or null, not {pc_id!r:.60}", line=number)
        value, extra = record[2], record[3:-1]

        if method.lower() == "getstats":
            self.stats(number, pc_id, value, extra)
            return
        if pc_id is not None and method in _SDP_METHODS:
            value, restored = self.descriptions.setdefault(pc_id, _Descriptions()).restore(method, value)
            if not restored:
                self.warn_once("sdp", f"line {number}: a compressed SDP could not be restored (no base)")
        event = make_event(method, value, extra, self.time)
        add_event(self.dump, pc_id, event)
        if pc_id is not None and event.name == "create" and not is_client_method(method):
            pc = self.dump.peer_connections[pc_id]
            if pc.url is None:
                # Chrome's writer puts the page url after the value of `create`.
                pc.url = next((x for x in extra if isinstance(x, str) and "://" in x), None)

    def untimed(self, number: int) -> None:
        """A line without a time delta (``[method, pcId, value]``, or a null last element) has no sample
        time: skipped and counted in the parse report, the running time unchanged."""
        detail = self.dump.format_detail
        detail["lines_without_time"] = detail.get("lines_without_time", 0) + 1
        self.untimed_first = self.untimed_first or number

    def stats(self, number: int, pc_id: str | None, value: Any, extra: list) -> None:
        if pc_id is None:
            self.warn_once("stats-pc", f"line {number}: getStats without a peer connection id was ignored")
            add_event(self.dump, None, make_event("getStats", None, extra, self.time))
            return
        full = self.decoder.decode(pc_id, value)
        pc = self.dump.pc(pc_id)
        time = self.time
        pc.snapshot_times.append(time)
        for stat_id, report in full.items():
            stat_type = report.get("type")
            pc.track(stat_id, stat_type if isinstance(stat_type, str) else None).append(time, report)
