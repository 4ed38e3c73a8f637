# Generated from fluidstack/core/_async by scripts/unasync.py: do not edit by hand.
"""Deletes that are confirmed, not assumed: the loop behind ``delete(..., wait=True)`` of
both APIs, and the deleting half of a sweep."""

from __future__ import annotations

from typing import Callable, FrozenSet, Optional, TypeVar

from ..errors import (
    ApiError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    NotSupportedError,
    TokenError,
    WaitTimeoutError,
)
from ..raw import side_calls
from ..request_options import RequestOptions, for_lookups, with_deadline
from ..spend import SweepFailure, SweepResult
from ..waiters import WaitPolicy
from .pipeline import Pipeline

__all__ = ["DELETE_RESENDS", "delete_matches", "delete_until_gone", "is_transient"]

T = TypeVar("T")

DELETE_RESENDS = 3
"""How many times a delete is sent again to an instance that is still live after the
server accepted (or refused, for now) the previous one."""


def is_transient(error: ApiError) -> bool:
    """Whether trying again later may succeed: no answer, 408, 429 or a 5xx (not 501,
    which says the operation is not offered)."""
    if isinstance(error, (ConfigurationError, TokenError, NotSupportedError)):
        return False
    code = error.status_code
    return code is None or code in (408, 429) or code >= 500


def delete_until_gone(
    pipeline: Pipeline,
    instance_id: str,
    *,
    send: Callable[[Optional[RequestOptions]], object],
    get: Callable[..., T],
    status_of: Callable[[T], str],
    gone: FrozenSet[str],
    going: FrozenSet[str],
    timeout: Optional[float],
    poll_interval: float,
    max_poll_interval: Optional[float] = None,
    resends: int = DELETE_RESENDS,
    request_options: Optional[RequestOptions] = None,
) -> None:
    """Send a delete and return only once ``look`` finds the instance gone.

    ``get`` is the API's ``instances.get``; an instance it answers 404 for is gone, and
    one in a ``gone`` status (platform: ``terminated``) counts as gone too, and
    one in a ``going`` status (Atlas: ``deleting``) is on its way. A delete refused
    with a transient error (after the pipeline's own retries), or accepted while the
    instance stays live, is sent again, up to ``resends`` more times; polls back off
    like a wait's.

    Raises:
        WaitTimeoutError: Still there at the deadline; ``.instance`` is the last state
            seen, and the message says how many deletes were sent.
        ApiError: A delete or a look failed for good (401, 403, ...).
    """
    what = f"instance {instance_id}"

    def look(options: Optional[RequestOptions]) -> Optional[T]:
        try:
            return get(instance_id, request_options=options)
        except NotFoundError:
            return None

    policy = WaitPolicy.build("gone", timeout, poll_interval, max_poll_interval)
    clock = pipeline.clock
    deadline = None if timeout is None else clock() + timeout
    lookups = for_lookups(request_options)
    sends = 0
    send_now = True
    polls = 0
    last: Optional[T] = None
    status = "unknown"
    last_error: Optional[ApiError] = None

    def timed_out() -> WaitTimeoutError:
        trouble = f"; the last answer was {last_error}" if last_error is not None else ""
        return WaitTimeoutError(
            f"{what} is still {status} after {sends} delete request"
            f"{'s' if sends != 1 else ''} and {timeout:g}s{trouble}",
            instance=last,
        )

    while True:
        if send_now:
            options = request_options
            if deadline is not None:
                left = deadline - clock()
                if left <= 0:
                    raise timed_out()
                options = with_deadline(request_options, left)
            sends += 1
            try:
                send(options)
            except NotFoundError:
                return
            except ConflictError as exc:  # e.g. already terminated or deleting: look
                last_error = exc
            except ApiError as exc:
                if not is_transient(exc):
                    raise
                last_error = exc
        options = lookups
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise timed_out()
            options = with_deadline(lookups, left)
        try:
            with side_calls():
                last = look(options)
        except ApiError as exc:
            if not is_transient(exc):
                raise
            last_error, status = exc, "unknown"
        else:
            if last is None:
                return
            status = status_of(last)
            if status in gone:
                return
        polls += 1
        # Live after a delete the server took or refused for now: send it again (a
        # delete is idempotent), a bounded number of times.
        send_now = status not in going and sends <= resends
        delay = policy.interval(polls)
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise timed_out()
            delay = min(delay, left)
        pipeline.sleep(delay)


def delete_matches(
    result: SweepResult[T],
    delete: Callable[..., None],
    *,
    wait: bool,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> SweepResult[T]:
    """Delete each instance a sweep selected, in turn, with the API's
    ``instances.delete`` (confirmed with ``wait``; without, one already gone is what the
    sweep wanted); one failure does not stop the others. Nothing for a dry run."""
    if result.dry_run:
        return result
    for match in result.matched:
        try:
            try:
                delete(
                    match.id,
                    wait=wait,
                    timeout=timeout,
                    poll_interval=poll_interval,
                    request_options=request_options,
                )
            except NotFoundError:  # deleted meanwhile
                pass
        except ApiError as exc:
            result.failed.append(SweepFailure(match, exc))
        else:
            result.deleted.append(match)
    return result
