"""What counts as printable text in names and ids, as a check and as an OpenAPI pattern."""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1) are no one's name (NUL above all: PostgreSQL text refuses it).
# Everything else is accepted, Unicode spaces (U+00A0, U+3000) and format characters (the zero-width
# joiner of emoji sequences) included. Stated as one pattern so that the OpenAPI document declares
# the rule the code applies.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
PRINTABLE_PATTERN = f"^[^{_CONTROL}]*$"
# ... and not only spaces (ids such as an upload's fileId).
NON_BLANK_PRINTABLE_PATTERN = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"
# Lone surrogates (possible in JSON strings) cannot be stored as UTF-8 either. They stay out of the
# documented pattern: no client produces them from real text, and generators of test data (Hypothesis,
# schemathesis) drop a pattern with a surrogate range altogether.
_NOT_PRINTABLE_RE = re.compile(f"[{_CONTROL}\\ud800-\\udfff]")


def is_printable(text: str) -> bool:
    return _NOT_PRINTABLE_RE.search(text) is None


def printable_only(text: str) -> str:
    """`text` without the characters that are not printable."""
    return _NOT_PRINTABLE_RE.sub("", text)
