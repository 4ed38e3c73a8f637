"""The endpoint table's type: :class:`Endpoint`, one API operation described as data
(method, path, response type, whether it may be repeated), which parses its own
response body; and :class:`Found`, what a create's recovery lookup returns.

Each API's ``endpoints.py`` (``fluidstack.platform.endpoints``,
``fluidstack.atlas.endpoints``) is a table of these. A call flows through the pipeline
(``core/_async/pipeline.py``) in one direction: ``request`` builds it, ``budget`` times
and retries it, ``redirects`` follows it, ``response`` reads the answer, ``raw`` hands it
back unparsed when asked.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any, Dict, Generic, List, Optional, TypeVar

__all__ = ["Endpoint", "Found"]

T = TypeVar("T")

_LARGE_BODY = 256 * 1024
"""Bodies at least this large (bytes) are parsed with the cyclic collector paused; so is
every list of models past ``_LISTING_PAGE``, whose items also share their sets of
field names."""

_LISTING_PAGE = 16 * 1024
"""A list of models at least this large takes the lean path too: a page of a listing
(100 instances are ~61 KB) is read page by page, and the pages add up (issue 24). Below
it sharing is not worth its small cost per item."""


@dataclass(frozen=True)
class Endpoint(Generic[T]):
    """A declarative description of one API operation.

    Attributes:
        operation: The SDK method name, e.g. ``"instances.get"`` (used in logs and hooks).
        method: The HTTP method.
        path: The path template, e.g. ``"/instances/{instance_id}"``.
        response_type: What a successful body parses into; ``None`` when the body is
            ignored (deletes answer 200 with JSON or 204 with nothing).
        authenticated: Whether the call needs credentials (the API key, a bearer token).
        idempotent: Whether repeating the request after the server may have acted on it
            is harmless. Creates are not: see :class:`~fluidstack.core.retries.Outcome`.
        sends_idempotency_key: Whether a non-idempotent call carries an
            ``Idempotency-Key`` header (the platform API honours it; Atlas has none, and
            its creates are made safe by a client-token tag instead).
        capability: What a server lacking this operation is missing, for the message of
            a 501 (:class:`~fluidstack.core.errors.NotSupportedError`), e.g.
            ``"instances:create"``. Default: the operation's name.
        body_optional: Whether a success with an empty body (202, 204) is a valid answer,
            parsed as ``None``, besides a body of ``response_type``.
    """

    operation: str
    method: str
    path: str
    response_type: Any
    authenticated: bool = True
    idempotent: bool = True
    sends_idempotency_key: bool = True
    capability: Optional[str] = None
    body_optional: bool = False
    _adapter: Dict[bool, Any] = field(default_factory=dict, repr=False, compare=False)

    def parse(self, content: bytes) -> T:
        """Validate JSON bytes straight into the response type (the fast path)."""
        size = len(content)
        if (
            size < _LISTING_PAGE
            or not gc.isenabled()
            or (size < _LARGE_BODY and not self._is_listing())
        ):
            adapter = self._adapter.get(False)
            if adapter is None and content == b"[]" and True in self._adapter:
                # The empty page that ends a listing: the lean adapter, already built
                # for the pages before, gives the same empty list; building the plain
                # one for it cost a CLI listing tens of milliseconds.
                adapter = self._adapter[True]
            result: T = (adapter or self._adapters(large=False)).validate_json(content)
            return result
        # A large listing allocates hundreds of thousands of containers, which trigger
        # cyclic collections that can find nothing (parsed models hold no cycles):
        # they cost more than half the parse. Pause the collector for its duration.
        adapter = self._adapters(large=True)
        gc.disable()
        try:
            result = adapter.validate_json(content)
        finally:
            gc.enable()
        return result

    def _is_listing(self) -> bool:
        """Whether the response type is a list of models (see ``_LISTING_PAGE``)."""
        lean = self._adapters(large=True)  # built anyway: a listing is parsed with it
        return self._adapter.get(False) is not lean  # a non-listing's two are one

    def _adapters(self, large: bool) -> Any:
        """The pydantic ``TypeAdapter`` for bodies of this size, built on first use (so
        that ``import fluidstack`` stays light): for a large one, a listing's items
        share their sets of field names (see ``_lean``). Each is built only when a body
        needs it: a CLI listing one page never builds the plain one (pydantic's schema
        for a list of models costs tens of milliseconds)."""
        adapter = self._adapter.get(large)
        if adapter is None:
            from pydantic import TypeAdapter

            lean_type = _lean(self.response_type)
            if lean_type is self.response_type:  # not a listing: one adapter serves both
                adapter = self._adapter.get(not large) or TypeAdapter(lean_type)
                self._adapter[True] = self._adapter[False] = adapter
            else:
                adapter = TypeAdapter(lean_type if large else self.response_type)
                self._adapter[large] = adapter
        return adapter


def _lean(response_type: Any) -> Any:
    """The type to validate ``response_type`` as: a list of models has each item share
    its set of field names with the items before it (see ``share_fields_set``), which
    makes a large listing much cheaper to hold; anything else as it is."""
    from typing import get_args, get_origin

    from pydantic import AfterValidator
    from typing_extensions import Annotated

    from .models import FluidStackModel, share_fields_set

    args = get_args(response_type)
    if get_origin(response_type) is list and len(args) == 1:
        item = args[0]
        if isinstance(item, type) and issubclass(item, FluidStackModel):
            return List[Annotated[item, AfterValidator(share_fields_set)]]  # type: ignore[valid-type]
    return response_type


@dataclass(frozen=True)
class Found(Generic[T]):
    """What a create's recovery lookup returns when it found what a failed attempt made
    (``value``, which may be ``None`` for calls without a response body). A lookup that
    found nothing returns ``None`` instead, and the call may be sent again."""

    value: T
