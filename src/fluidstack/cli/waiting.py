"""The live status line shown while the CLI waits for an instance.

On a terminal it is a spinner on stderr with the status and the elapsed time, redrawn
in place; elsewhere (a pipe, a CI log) one line is printed each time the status changes.
Nothing is written to stdout, so ``-o json`` output stays one clean document.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Type

from .state import CliState, _isatty

if TYPE_CHECKING:
    from rich.status import Status
    from rich.text import Text

    from fluidstack.types.instances import InstanceResponse

__all__ = ["WaitDisplay", "elapsed_text"]


def elapsed_text(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class _Line:
    """The spinner's text, re-rendered on every refresh so the clock keeps ticking."""

    def __init__(self, display: WaitDisplay) -> None:
        self._display = display

    def __rich__(self) -> Text:
        from rich.text import Text

        from .render import STATUS_STYLES

        display = self._display
        status = display.status or "…"
        return Text.assemble(
            f"Waiting for {display.instance_id} to be {display.until}: ",
            (status, STATUS_STYLES.get(status, "")),
            f" · {elapsed_text(display.elapsed)}",
        )


class WaitDisplay:
    """Context manager; pass :meth:`on_poll` to ``client.instances.wait``."""

    def __init__(self, state: CliState, instance_id: str, until: str) -> None:
        self.state = state
        self.instance_id = instance_id
        self.until = until
        self.status: Optional[str] = None
        self.last: Optional[InstanceResponse] = None
        self._started = time.monotonic()
        self._live: Optional[Status] = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def __enter__(self) -> WaitDisplay:
        self._started = time.monotonic()
        if not self.state.quiet and _isatty(sys.stderr):
            self._live = self.state.stderr.status(_Line(self), spinner="dots")
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def on_poll(self, instance: Any) -> None:
        """Record the polled instance; print a line when its status changes (no terminal)."""
        self.last = instance
        status = str(instance.status)
        changed = status != self.status
        self.status = status
        if changed and self._live is None:
            self.state.info(f"{self.instance_id}: {status} ({elapsed_text(self.elapsed)})")
