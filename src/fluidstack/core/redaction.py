"""Taking secrets out of text before it is logged or raised: one rule for errors
(:mod:`fluidstack.core.errors`) and log records (:mod:`fluidstack.core.events`)."""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

__all__ = ["PROSE_SAFE_LENGTH", "redact", "redact_all", "redact_value"]

_REDACTED = "[redacted]"

PROSE_SAFE_LENGTH = 8
"""Secrets shorter than this (``wrong``, ``test``) are words a server's prose may use:
they are replaced only where they stand as a value, not in every sentence."""


def redact(text: str, secret: Optional[str]) -> str:
    """``text`` with ``secret`` replaced; used before anything is logged or raised.

    A secret of :data:`PROSE_SAFE_LENGTH` characters or more is replaced wherever it
    occurs (a real credential is that long, and never a word). A shorter one is replaced
    where it stands as a value: the whole text, or right after ``=``, ``:`` or a quote,
    or right before a quote, so ``client_secret=wrong`` and ``"wrong"`` lose it while
    "Unknown client or wrong client secret" stays readable."""
    if not secret or secret not in text:
        return text
    if len(secret) >= PROSE_SAFE_LENGTH or text.strip() == secret:
        return text.replace(secret, _REDACTED)
    escaped = re.escape(secret)
    value = (
        rf"(?<=[=:'\"`])\s?{escaped}|(?<=Bearer ){escaped}|(?<=Basic ){escaped}"
        rf"|{escaped}(?=['\"`])"
    )
    return re.sub(value, lambda m: m.group(0).replace(secret, _REDACTED), text)


def redact_all(text: str, secrets: Sequence[Optional[str]]) -> str:
    """``text`` with every one of ``secrets`` replaced."""
    for secret in secrets:
        text = redact(text, secret)
    return text


def redact_value(value: Any, secrets: Sequence[Optional[str]]) -> Any:
    """A decoded body (or any JSON-like value) with every secret replaced in its strings."""
    if not any(secrets):
        return value
    if isinstance(value, str):
        return redact_all(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, secrets) for v in value]
    return value
