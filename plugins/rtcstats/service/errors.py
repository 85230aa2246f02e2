"""Domain errors of the rtcstats service; plugin.problem_from_exception maps them to HTTP statuses."""

from __future__ import annotations


class RtcstatsError(Exception):
    """Base of the rtcstats plugin's domain errors."""


class InvalidRequest(RtcstatsError):
    """Bad input; the message names the field."""


class NotFound(RtcstatsError):
    """No such session for this account."""


class AnalysisPending(RtcstatsError):
    """The session's first analysis has not finished yet."""


class AnalysisFailed(RtcstatsError):
    """The session's dump could not be analysed (the message says why); its credit was given back."""


class ReprocessFailed(RtcstatsError):
    """Re-analysing a stored dump with the current analyzer failed."""
