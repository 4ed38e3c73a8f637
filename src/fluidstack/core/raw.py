"""Raw responses (``client.<group>.with_raw_response``): the response as received, its
body parsed on demand, and the context slot through which the pipeline hands it back."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Generic, Iterator, List, Optional, TypeVar

import httpx

from .endpoint import Endpoint
from .response import decode_body, parse_response

__all__ = ["RawResponse", "claim_raw_slot", "side_calls"]

T = TypeVar("T")


class RawResponse(Generic[T]):
    """A response as received, with its body parsed only when you ask for it.

    Returned by ``client.<group>.with_raw_response.<method>(...)``.
    """

    __slots__ = ("_endpoint", "_parsed", "http_response", "retries_taken")

    def __init__(
        self, endpoint: Endpoint[T], http_response: httpx.Response, retries_taken: int
    ) -> None:
        self._endpoint = endpoint
        self._parsed: List[T] = []
        self.http_response = http_response
        """The underlying ``httpx.Response``."""
        self.retries_taken = retries_taken
        """How many retries the call needed (0 when the first attempt succeeded)."""

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def elapsed(self) -> float:
        """Seconds the last attempt took."""
        return self.http_response.elapsed.total_seconds()

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty body)."""
        return decode_body(self.http_response)

    def parse(self) -> T:
        """The body parsed into the method's usual return type (cached)."""
        if not self._parsed:
            self._parsed.append(parse_response(self._endpoint, self.http_response))
        return self._parsed[0]

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {self._endpoint.operation}>"


# Set by `with_raw_response` wrappers: the pipeline then hands back the raw response
# instead of parsing. A context variable works for threads and asyncio tasks alike.
_raw_slot: contextvars.ContextVar[Optional[List[RawResponse[Any]]]] = contextvars.ContextVar(
    "fluidstack_raw_slot", default=None
)


def claim_raw_slot() -> Optional[List[RawResponse[Any]]]:
    """Take the raw-response slot for this call, so nested calls parse normally."""
    slot = _raw_slot.get()
    if slot is not None:
        _raw_slot.set(None)
    return slot


@contextmanager
def side_calls() -> Iterator[None]:
    """Calls made inside this block (a lookup a method needs before its own request, such
    as region discovery) parse normally and leave the raw-response slot to the method's
    own request."""
    token = _raw_slot.set(None)
    try:
        yield
    finally:
        _raw_slot.reset(token)
