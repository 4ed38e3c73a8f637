"""Throttling of credential guesses: a lock-out after repeated failed logins.

Real identity providers stop answering a client (or an address) that keeps sending
wrong secrets: Auth0's brute-force protection, Okta's lock-out, Keycloak's
"brute force detection" all answer 429 with ``Retry-After`` for a while. Without it the
emulator let a script try 1,278 client secrets a second at ``/oauth/token`` and 178
passwords a second at ``/authorize`` (issue 23, item 6).

:class:`GuessThrottle` counts failures per *name* (the client id or login e-mail that
was tried) and per *remote address*, in a sliding window of real seconds (not the
simulated clock: an attacker's time is real). ``limit`` failures of one name within
``window`` seconds lock that name for ``window`` seconds; an address is allowed
``ADDRESS_FACTOR`` times as many failures (one address may hold many accounts, and every
test and script on one machine shares 127.0.0.1). While a key is locked every attempt is
refused, the right secret included: otherwise the lock-out would still tell a guesser
which guess was right. A success does not unlock a key early, for the same reason.
At most ``max_keys`` keys are tracked (the least recently failed are forgotten first),
so a spray of made-up names cannot grow memory without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Deque, Optional, Tuple

__all__ = [
    "ADDRESS_FACTOR",
    "DEFAULT_LIMIT",
    "DEFAULT_WINDOW",
    "MAX_KEYS",
    "GuessThrottle",
    "Throttled",
    "parse_attempts",
]

DEFAULT_LIMIT = 10
"""Failed attempts of one name allowed per window (``--auth-attempts 10/60``)."""
DEFAULT_WINDOW = 60.0
"""The window, and the length of a lock-out, in real seconds."""
ADDRESS_FACTOR = 10
"""An address may fail this many times more often than one name before it is locked."""
MAX_KEYS = 10_000
"""Most names and addresses tracked at once."""

_NAME_CHARS = 256
"""Longer names are cut: they are keys, and an attacker chooses them."""


class Throttled(Exception):
    """Refused: too many failed attempts. ``retry_after`` is in real seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed attempts; retry in {math.ceil(retry_after)} s")
        self.retry_after = retry_after

    @property
    def header(self) -> Tuple[bytes, bytes]:
        """The ``Retry-After`` header: whole seconds, at least 1 (RFC 9110 section 10.2.3)."""
        return b"retry-after", str(max(1, math.ceil(self.retry_after))).encode()


@dataclass
class _Key:
    failures: Deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


def parse_attempts(text: str) -> Tuple[int, float]:
    """``"N/SECONDS"`` (or ``"0"``: off) as ``(limit, window)``; raises ``ValueError``."""
    text = text.strip()
    if text in ("0", "off"):
        return 0, DEFAULT_WINDOW
    count, sep, seconds = text.partition("/")
    try:
        limit = int(count)
        window = float(seconds) if sep else DEFAULT_WINDOW
    except ValueError:
        raise ValueError(f"expected N/SECONDS (e.g. 10/60) or 0, got {text!r}") from None
    if limit < 0 or not (0 < window < 1e9):
        raise ValueError(f"expected N >= 0 and 0 < SECONDS, got {text!r}")
    return limit, window


class GuessThrottle:
    """Failure counts per name and per address; see the module's docstring.

    ``limit`` 0 turns throttling off. Thread-safe; every call is O(1) amortised.
    """

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[Tuple[str, str], _Key] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _pairs(self, name: str, address: str) -> Tuple[Tuple[Tuple[str, str], int], ...]:
        pairs = [(("name", name[:_NAME_CHARS]), self.limit)]
        if address:
            pairs.append((("address", address), self.limit * ADDRESS_FACTOR))
        return tuple(pairs)

    def check(self, name: str, address: str) -> None:
        """Raise :class:`Throttled` if the name or the address is locked out."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            wait = 0.0
            for key, _ in self._pairs(name, address):
                entry = self._keys.get(key)
                if entry is not None and entry.locked_until > now:
                    wait = max(wait, entry.locked_until - now)
        if wait > 0:
            raise Throttled(wait)

    def failed(self, name: str, address: str) -> None:
        """Count one failed attempt of ``name`` from ``address``."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            for key, limit in self._pairs(name, address):
                entry = self._keys.get(key)
                if entry is None:
                    if len(self._keys) >= self.max_keys:
                        self._keys.popitem(last=False)
                    entry = self._keys[key] = _Key()
                else:
                    self._keys.move_to_end(key)
                failures = entry.failures
                failures.append(now)
                while failures and failures[0] <= now - self.window:
                    failures.popleft()
                if len(failures) >= limit:
                    entry.locked_until = now + self.window
                    failures.clear()

    def tracked(self) -> int:
        """How many names and addresses are tracked (for tests of the bound)."""
        with self._lock:
            return len(self._keys)

    def reset(self) -> None:
        """Forget every failure and lock-out (the control API's reset)."""
        with self._lock:
            self._keys.clear()


def remote_address(client: Optional[Tuple[str, int]]) -> str:
    """The host of an ASGI ``scope["client"]`` (``""`` when the server does not say)."""
    return str(client[0]) if client else ""
