"""JSON on the wire: one encoder for every answer the emulator gives."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps"]


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused, as strict JSON requires."""
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
