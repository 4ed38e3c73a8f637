"""Per-call options, passed as ``request_options={...}`` to any method."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from typing_extensions import TypedDict

__all__ = ["RequestOptions"]


class RequestOptions(TypedDict, total=False):
    """Options that change one call without changing the client.

    Every key is optional::

        client.instances.list(request_options={"timeout_in_seconds": 20, "max_retries": 1})
    """

    timeout_in_seconds: float
    """Timeout for each attempt of this call, in seconds (default: the client's)."""

    total_timeout_in_seconds: float
    """Deadline for the whole call, retries and back-off included, in seconds."""

    max_retries: int
    """How many times this call may be retried (default: the client's ``max_retries``)."""

    additional_headers: Dict[str, str]
    """Headers added to (or overriding) the ones the SDK sends."""

    additional_query_parameters: Dict[str, Any]
    """Query parameters added to the ones the SDK sends."""

    additional_body_parameters: Dict[str, Any]
    """Fields merged into the JSON body (only for calls that send one)."""

    idempotency_key: str
    """``Idempotency-Key`` header for a create; generated when not given."""

    max_response_bytes: int
    """Largest response body (decoded) this call reads (default: the client's)."""

    create_grace_period_in_seconds: float
    """For a create whose attempt got no answer: how long to keep looking for what it made
    before sending it again (default 10 s; 0 sends it again after one lookup)."""


def option(options: Optional[Mapping[str, Any]], key: str) -> Any:
    """Read one option, treating a missing ``request_options`` like an empty one."""
    return options.get(key) if options else None


def with_deadline(options: Optional[RequestOptions], seconds: float) -> RequestOptions:
    """A copy of ``options`` whose total timeout is at most ``seconds``."""
    merged: RequestOptions = {**options} if options else {}
    current = merged.get("total_timeout_in_seconds")
    merged["total_timeout_in_seconds"] = seconds if current is None else min(current, seconds)
    return merged


def without_idempotency_key(options: Optional[RequestOptions]) -> Optional[RequestOptions]:
    """A copy of ``options`` without ``idempotency_key`` (for a different request body)."""
    if not options or "idempotency_key" not in options:
        return options
    trimmed: RequestOptions = {**options}
    del trimmed["idempotency_key"]
    return trimmed


def for_lookups(options: Optional[RequestOptions]) -> Optional[RequestOptions]:
    """The part of a call's ``options`` that also applies to the reads it makes on the
    side (a create's recovery lookup, a wait's polls): timeouts, retries, headers.
    Extra query and body parameters and the idempotency key belong to the call itself."""
    if not options:
        return options
    kept: RequestOptions = {}
    if "timeout_in_seconds" in options:
        kept["timeout_in_seconds"] = options["timeout_in_seconds"]
    if "total_timeout_in_seconds" in options:
        kept["total_timeout_in_seconds"] = options["total_timeout_in_seconds"]
    if "max_retries" in options:
        kept["max_retries"] = options["max_retries"]
    if "additional_headers" in options:
        kept["additional_headers"] = options["additional_headers"]
    if "max_response_bytes" in options:
        kept["max_response_bytes"] = options["max_response_bytes"]
    return kept
