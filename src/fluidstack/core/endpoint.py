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
every list of models past ``_LISTING_PAGE``, whose items then share their sets of
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
    _adapter: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def parse(self, content: bytes) -> T:
        """Validate JSON bytes straight into the response type (the fast path)."""
        adapter = self._adapter.get("adapter") or self._build_adapter()
        size = len(content)
        if size < _LISTING_PAGE or not gc.isenabled():
            result: T = adapter.validate_json(content)
            return result
        share = self._adapter["share"]  # share_fields_sets for a listing, else None
        if size < _LARGE_BODY and share is None:
            result = adapter.validate_json(content)
            return result
        # A large body allocates hundreds of thousands of containers, which trigger
        # cyclic collections that can find nothing (parsed models hold no cycles):
        # they cost more than half the parse. Pause the collector for its duration,
        # and for the sharing of a listing's field-name sets, which frees one set per
        # model and so leaves the collector fewer new objects to look at once resumed.
        if share is not None and size >= _LARGE_BODY:
            # A whole listing in one body: its items share their sets as each is made
            # (while it is still in the CPU's cache), not in a pass over thousands of
            # models afterwards, which measured ~10% slower for 10,000 instances.
            adapter = self._adapter.get("items") or self._build_adapter(items=True)
            share = None
        gc.disable()
        try:
            result = adapter.validate_json(content)
            if share is not None:
                share(result)
        finally:
            gc.enable()
        return result

    def _build_adapter(self, items: bool = False) -> Any:
        """The pydantic ``TypeAdapter`` of the response type, built on first use (so that
        ``import fluidstack`` stays light; pydantic's schema for a list of models costs
        tens of milliseconds), and for a list of models the function that lets its items
        share their sets of field names (``share_fields_sets``; ``None`` otherwise).

        With ``items``, the adapter of a listing whose items share their sets as they
        are validated (``share_fields_set``), built only when a body of at least
        ``_LARGE_BODY`` needs it."""
        from typing import get_args, get_origin

        from pydantic import TypeAdapter

        from .models import FluidStackModel, share_fields_set, share_fields_sets

        args = get_args(self.response_type)
        item = args[0] if get_origin(self.response_type) is list and len(args) == 1 else None
        if items:
            from pydantic import AfterValidator
            from typing_extensions import Annotated

            lean = List[Annotated[item, AfterValidator(share_fields_set)]]  # type: ignore[valid-type]
            adapter = self._adapter["items"] = TypeAdapter(lean)
            return adapter
        adapter = TypeAdapter(self.response_type)
        listing = isinstance(item, type) and issubclass(item, FluidStackModel)
        self._adapter["share"] = share_fields_sets if listing else None
        self._adapter["adapter"] = adapter
        return adapter


@dataclass(frozen=True)
class Found(Generic[T]):
    """What a create's recovery lookup returns when it found what a failed attempt made
    (``value``, which may be ``None`` for calls without a response body). A lookup that
    found nothing returns ``None`` instead, and the call may be sent again."""

    value: T
