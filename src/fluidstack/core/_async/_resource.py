"""What every resource class of the asynchronous client shares."""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, Generic, List, TypeVar

from typing_extensions import ParamSpec

from ..errors import ApiError
from ..raw import RawResponse, _raw_slot
from .pipeline import AsyncPipeline

__all__ = ["AsyncRawListing", "AsyncResource", "raw_method"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncResource:
    """A group of API operations bound to one client's pipeline."""

    def __init__(self, pipeline: AsyncPipeline) -> None:
        self._pipeline = pipeline


def raw_method(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """Wrap a resource method so that it returns the :class:`RawResponse` instead."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        slot: List[RawResponse[Any]] = []
        token = _raw_slot.set(slot)
        try:
            await method(*args, **kwargs)
        finally:
            _raw_slot.reset(token)
        if not slot:
            # Only a create recovered after an ambiguous failure has no response of its own.
            raise ApiError("no raw response: the result was recovered from a later listing")
        return slot[0]

    return wrapper


class AsyncRawListing(Generic[T]):
    """``with_raw_response`` of a resource whose one method is ``list``."""

    def __init__(self, list_method: Callable[..., Awaitable[T]]) -> None:
        self.list: Callable[..., Awaitable[RawResponse[T]]] = raw_method(list_method)
