"""Waiting for an instance at the terminal: the ``--timeout``/``--poll-interval`` options
and the live status line, for both APIs' commands.

On a terminal it is a spinner on stderr with the status and the elapsed time, redrawn
in place; elsewhere (a pipe, a CI log) one line is printed each time the status changes.
Nothing is written to stdout, so ``-o json`` output stays one clean document.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Type

import click

from .state import CliState, _isatty

if TYPE_CHECKING:
    from rich.status import Status
    from rich.text import Text

    from fluidstack.platform.types.instances import InstanceResponse

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_WAIT_TIMEOUT",
    "WaitDisplay",
    "elapsed_text",
    "wait_for",
    "wait_options",
]

DEFAULT_WAIT_TIMEOUT = 900.0
DEFAULT_POLL_INTERVAL = 1.0
"""Start fast (a short step is not missed), then back off 1.5x per poll up to 30 s."""


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value <= 0:
        raise click.BadParameter("must be more than 0 seconds")
    return value


def wait_options(func: Any) -> Any:
    """``--timeout`` and ``--poll-interval`` for the commands that can wait."""
    func = click.option(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        show_default=True,
        metavar="S",
        callback=_positive_seconds,
        help="Seconds between the first status polls (polling slows down gradually).",
    )(func)
    func = click.option(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT,
        show_default=True,
        metavar="S",
        callback=_positive_seconds,
        help="Give up waiting after this many seconds (the instance is left alone).",
    )(func)
    return func


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

    def __init__(
        self,
        state: CliState,
        instance_id: str,
        until: str,
        status_of: Callable[[Any], str] = lambda instance: str(instance.status),
    ) -> None:
        self.state = state
        self.instance_id = instance_id
        self.until = until
        self.status_of = status_of
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
        status = self.status_of(instance)
        changed = status != self.status
        self.status = status
        if changed and self._live is None:
            self.state.info(f"{self.instance_id}: {status} ({elapsed_text(self.elapsed)})")


def wait_for(
    state: CliState,
    instance_id: str,
    until: str,
    wait: Callable[[Callable[[Any], None]], Any],
    commands: str,
    status_of: Callable[[Any], str] = lambda instance: str(instance.status),
) -> Any:
    """Run ``wait(on_poll)`` with a live status line on stderr, and return its result.

    Ctrl-C leaves the instance alone, says how to keep waiting or delete it (with the
    ``commands`` prefix, e.g. ``fluidstack atlas instances``) and exits 130; a wait that
    times out or ends in a failed state says the same before its error is reported.
    """
    from fluidstack.core.errors import InstanceFailedError, WaitTimeoutError

    display = WaitDisplay(state, instance_id, until, status_of=status_of)
    keep = f"{commands} wait {instance_id}"
    delete = f"{commands} delete {instance_id}"
    try:
        with display:
            result = wait(display.on_poll)
    except KeyboardInterrupt:
        now = f" (status: {display.status})" if display.status else ""
        click.echo(
            f"\nStopped waiting after {elapsed_text(display.elapsed)}. "
            f"Instance {instance_id} was left as it is{now}.\n"
            f"  Keep waiting: {keep}\n"
            f"  Delete it:    {delete}",
            err=True,
        )
        click.get_current_context().exit(130)
    except (WaitTimeoutError, InstanceFailedError):
        state.info(
            f"Instance {instance_id} was left as it is. "
            f"Keep waiting with `{keep}` or delete it with `{delete}`."
        )
        raise
    state.info(f"Instance {instance_id} is {until} after {elapsed_text(display.elapsed)}.")
    return result
