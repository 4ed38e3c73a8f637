"""JSON on the wire: one encoder for every answer the emulator gives."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps", "encode_string", "has_lone_surrogate"]

# Made once: json.dumps() with any non-default option builds a new encoder per call
# (profiled: a tenth of an Atlas create's JSON time).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ESCAPED = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# The C encoder _COMPACT.encode() makes on every call, made once, without the check for
# circular references (answers are built fresh from records, never circular): a third
# of a small answer's encoding time (issue 24). The same text.
_C_COMPACT = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _COMPACT.default, json.encoder.encode_basestring, None, ":", ",", False, False,
        False,
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)  # fmt: skip


encode_string = json.encoder.encode_basestring
"""A string as :func:`dumps` writes it (quoted, escaped; non-ASCII kept): the function
its encoder is given."""


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused, as strict JSON requires.

    A string that is not valid Unicode (a lone surrogate from JSON's ``"\\ud800"``) is
    written as an escape rather than failing to encode: an answer must never turn into
    a 500 because of what it echoes.
    """
    text = "".join(_C_COMPACT(content, 0)) if _C_COMPACT is not None else _COMPACT.encode(content)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ESCAPED.encode(content).encode()


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON body holds a string (or key) that is not valid Unicode: a lone
    surrogate such as ``"\\ud800"`` (valid JSON syntax, but no text). Cheap when the body
    has no surrogate escape at all."""
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        data = json.loads(body)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError, TypeError):
        return False  # not JSON at all: the handlers refuse it on their own terms
    return False
