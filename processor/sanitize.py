"""Make text valid Unicode where it enters, and metric label values safe to export.

Protobuf strings are valid UTF-8 already, but JSON text can spell a lone UTF-16 surrogate as an
escape (`"\\ud83d"`), and `json.loads` returns it as is: a `str` that cannot be encoded, so the first
`.encode()` (a protobuf setter, a `/metrics` scrape, `print`) raises far from where it came in. Every
JSON document evalstream reads goes through `json_value`, which replaces each lone surrogate with
U+FFFD once, on the way in.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape that may decode to a surrogate: only then can the decoded value hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# C0/C1 controls (newline, tab, escape...) make a label value unreadable in any dashboard.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def valid_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (a valid pair was joined by the decoder)."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): _clean(v) for k, v in value.items()}
    return value


def json_value(value: Any, raw: str) -> Any:
    """`value`, decoded from the JSON text `raw`, with lone surrogates replaced in every string and key.

    Walks the value only when `raw` holds a surrogate escape or a surrogate itself, so the common
    case costs one regex scan of the text.
    """
    if not _SURROGATE_ESCAPE.search(raw) and (raw.isascii() or not _SURROGATE.search(raw)):
        return value
    return _clean(value)


def label_value(value: str, max_length: int) -> str:
    """A metric label value: valid Unicode, control characters as spaces, at most `max_length` chars."""
    value = valid_text(value[: max_length + 1])
    if not value.isprintable():
        value = _CONTROL.sub(" ", value)
    return value if len(value) <= max_length else value[: max_length - 1] + "…"
