"""What counts as printable text in names and ids, as a check and as an OpenAPI pattern."""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1) are no one's name (NUL above all: PostgreSQL text refuses it), and
# lone surrogates cannot be stored as UTF-8. Everything else is accepted, Unicode spaces (U+00A0,
# U+3000) and format characters (the zero-width joiner of emoji sequences) included. Stated as one
# pattern so that the OpenAPI document declares exactly the rule the code applies.
_NOT_PRINTABLE = "\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff"
PRINTABLE_PATTERN = f"^[^{_NOT_PRINTABLE}]*$"
# ... and not only spaces (ids such as an upload's fileId).
NON_BLANK_PRINTABLE_PATTERN = f"^[^{_NOT_PRINTABLE}]*[^\\s{_NOT_PRINTABLE}][^{_NOT_PRINTABLE}]*$"
_NOT_PRINTABLE_RE = re.compile(f"[{_NOT_PRINTABLE}]")


def is_printable(text: str) -> bool:
    return _NOT_PRINTABLE_RE.search(text) is None


def printable_only(text: str) -> str:
    """`text` without the characters that are not printable."""
    return _NOT_PRINTABLE_RE.sub("", text)
