"""What every Atlas handler is given and returns, and the checks of its input.

A handler (in :mod:`~fluidstack.emulator.atlas.management` or
:mod:`~fluidstack.emulator.atlas.regional`) takes one :class:`Call` (the authenticated
request) and answers a :data:`Reply`; :mod:`~fluidstack.emulator.atlas.routes` finds the
handler and writes the reply. Input errors are 400 ``{"message"}`` naming the field, as
the Atlas specs answer them (never FastAPI's 422).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.limits import check_tag_bounds
from fluidstack.emulator.atlas.records import parse_uuid
from fluidstack.emulator.atlas.state import AtlasState, Organization, Project, Region
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.responses import ApiError, Scope

__all__ = [
    "EMAIL",
    "SIZE",
    "TAG_KEY",
    "Call",
    "Handler",
    "Reply",
    "Table",
    "base_url",
    "field_boolean",
    "field_name",
    "field_string",
    "field_tags",
    "ok",
    "parse_uuid",
]

TAG_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
SIZE = re.compile(r"^[1-9][0-9]{0,8}(?:Gi|Ti|G|T)?$")
_CONTROL = re.compile("[\x00-\x1f\x7f]")

"""A status and a JSON body (``None``: no body at all)."""


Reply = Tuple[int, Optional[bytes]]
"""A status and a JSON body (``None``: no body at all)."""


@dataclass
class Call:
    """One authenticated Atlas request, as the handlers see it."""

    state: AtlasState
    org: Organization
    subject: str
    headers: Dict[str, str]
    body: bytes
    scope: Scope
    """The ASGI scope (for :attr:`base`, made only when a handler asks: issue 24)."""
    region: Optional[Region]
    param: str
    params: Tuple[str, ...] = ()
    """Every path parameter in order (``param`` is the first), e.g. a cluster's and a
    node pool's id."""
    response_headers: List[Tuple[bytes, bytes]] = field(default_factory=list)
    """Headers a handler adds to its answer; its own ``content-type`` replaces JSON's."""

    @property
    def base(self) -> str:
        """``scheme://address:port`` the request came in on (the region URLs' base)."""
        return base_url(self.scope)

    def project(self) -> Project:
        """The project of the required ``X-PROJECT-ID`` header."""
        return self.state.project_for_header(self.org, self.headers.get("x-project-id"))

    def where(self) -> Region:
        assert self.region is not None
        return self.region

    def json(self) -> Dict[str, Any]:
        """The body as a JSON object, or a 400."""
        if not self.body.strip():
            raise ApiError(400, "A JSON object body is required")
        try:
            # What json.loads does with bytes, on a decoder made once (json.loads makes
            # one per call when given parse_constant).
            body = self.body
            # A body that opens an object with a non-NUL byte next is UTF-8 by
            # detect_encoding's own rules (no BOM starts with "{"): the usual body skips it.
            plain = body[:1] == b"{" and body[1:2] != b"\x00"
            text = body.decode("utf-8" if plain else json.detect_encoding(body), "surrogatepass")
            # JSONDecoder.decode's steps, without its two Python frames: skip white space,
            # scan one value, allow only white space after it.
            data, end = _SCAN(text, _SPACE.match(text).end())  # type: ignore[union-attr]
            if _SPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
                raise ValueError("extra data")
        except (ValueError, RecursionError, StopIteration):
            # (StopIteration: the scanner found no value, which decode calls an error.)
            raise ApiError(400, "The body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The body must be a JSON object")
        return data


_BASE_URLS: Dict[Tuple[Any, Any], str] = {}
""":func:`base_url` per (scheme, server): one per listening address, so a handful."""


def base_url(scope: Scope) -> str:
    """``scheme://address:port`` the request came in on: the server's own address, never
    the ``Host`` header (a rebound name must not end up in the region URLs). Cached:
    every Atlas request built it (issue 24)."""
    server = scope.get("server")
    key = (scope.get("scheme", "http"), None if server is None else tuple(server))
    url = _BASE_URLS.get(key)
    if url is None:
        scheme, server = key[0], key[1] or ("127.0.0.1", 80)
        name = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        url = f"{scheme}://{name}" + (f":{server[1]}" if server[1] is not None else "")
        if len(_BASE_URLS) < 64:  # bounded, whatever a caller's scope holds
            _BASE_URLS[key] = url
    return url


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")
"""``json.decoder.WHITESPACE``: what ``JSONDecoder.decode`` skips around the value (it
always matches, if only the empty string)."""


def ok(status: int, content: Any) -> Reply:
    return status, dumps(content)


Handler = Callable[[Call], Reply]
Table = Dict[Tuple[str, ...], Dict[str, Handler]]
"""Path parts after the API prefix (``"{}"`` for the one parameter) -> method -> handler."""


# -- field validation (400 with a message naming the field) ------------------------------


def field_string(
    data: Dict[str, Any], key: str, *, required: bool = False, max_length: int = 255
) -> Optional[str]:
    if key not in data:
        if required:
            raise ApiError(400, f"'{key}' is required")
        return None
    value = data[key]
    if not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string")
    if not value.strip():
        raise ApiError(400, f"'{key}' must not be empty")
    if len(value) > max_length:
        raise ApiError(400, f"'{key}' must be at most {max_length} characters")
    if _CONTROL.search(value):
        raise ApiError(400, f"'{key}' must not contain control characters")
    return value


def field_name(data: Dict[str, Any], key: str = "name") -> str:
    value = field_string(data, key, required=True)
    assert value is not None
    return value


def field_boolean(data: Dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"'{key}' must be a boolean")
    return value


def field_tags(data: Dict[str, Any]) -> Dict[str, str]:
    tags = data.get("tags")
    if tags is None and "tags" not in data:
        return {}  # (what the checks below make of the default, an empty object)
    if not isinstance(tags, dict):
        raise ApiError(400, "'tags' must be an object of strings")
    check_tag_bounds(tags)
    for key, value in tags.items():
        if not TAG_KEY.match(key):
            raise ApiError(
                400,
                f"Invalid tag key {key[:80]!r}: 1-63 characters, starting and ending with a "
                "letter or digit, and only letters, digits, '-', '_' and '.'",
            )
        if not isinstance(value, str):
            raise ApiError(400, f"Tag {key!r} must have a string value")
    return dict(tags)
