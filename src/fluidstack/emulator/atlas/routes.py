"""Atlas over HTTP: the OAuth token endpoint, the Management API and every region's API.

A small pure-ASGI dispatcher rather than FastAPI routes, for two reasons: the Atlas specs
answer every input error with 400 ``{"message"}`` (never FastAPI's 422), and a request
should cost a dictionary lookup, not a walk over every route's regular expression.

Layout (one port, next to the platform API)::

    POST /oauth/token                                   OAuth2 client credentials
    /api/v1alpha1/...                                   the Management API
    /regions/<name>/api/v1alpha1/...                    each region's API

Handlers live in :mod:`~fluidstack.emulator.atlas.management` and
:mod:`~fluidstack.emulator.atlas.regional` (one table each), on the request and input
checks of :mod:`~fluidstack.emulator.atlas.call`; this module finds the handler and
writes its answer. The middleware in front has already authenticated the bearer token
(leaving the organization in the scope), applied fault rules, limited the body size and
read it.
"""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.call import Call, Handler, Table, base_url, parse_uuid
from fluidstack.emulator.atlas.capabilities import capability_for
from fluidstack.emulator.atlas.management import MANAGEMENT
from fluidstack.emulator.atlas.oauth import (
    AUTHORIZE_PATH,
    NO_STORE,
    TOKEN_PATH,
    OAuthError,
    Page,
    authorize,
    issue_token,
)
from fluidstack.emulator.atlas.regional import REGIONAL, UUID_PARAMETERS
from fluidstack.emulator.atlas.roles import check_role, role_of
from fluidstack.emulator.atlas.state import AtlasState, Organization, Region
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.responses import ApiError, Message, Receive, Scope, Send
from fluidstack.emulator.throttle import Throttled, remote_address

__all__ = [
    "ATLAS_ORG_KEY",
    "ATLAS_SUBJECT_KEY",
    "AUTHORIZE_PATH",
    "MANAGEMENT_PREFIX",
    "PUBLIC_ATLAS_PATHS",
    "REGIONS_PREFIX",
    "TOKEN_PATH",
    "AtlasApp",
    "is_atlas_path",
]

logger = logging.getLogger("fluidstack.emulator")

MANAGEMENT_PREFIX = "/api/v1alpha1"
REGIONS_PREFIX = "/regions/"
API_SUFFIX = ("api", "v1alpha1")
ATLAS_ORG_KEY = "fluidstack.atlas.org"
"""Scope key under which the middleware leaves the authenticated organization."""
ATLAS_SUBJECT_KEY = "fluidstack.atlas.subject"

PUBLIC_ATLAS_PATHS = frozenset({TOKEN_PATH, AUTHORIZE_PATH})
"""Atlas paths answered without a bearer token (they are how one gets a token)."""


def is_atlas_path(path: str) -> bool:
    """Whether ``path`` belongs to Atlas (and not to the platform API at the root)."""
    if path.startswith(REGIONS_PREFIX) or path.startswith(MANAGEMENT_PREFIX + "/"):
        return True
    return path in (MANAGEMENT_PREFIX, TOKEN_PATH, AUTHORIZE_PATH)


def _match(
    table: Table, parts: Tuple[str, ...]
) -> Tuple[Optional[Dict[str, Handler]], Tuple[str, ...]]:
    """The methods of the route ``parts`` names, and its path parameters (``"{}"``
    parts; one or two, e.g. a cluster's and its node pool's ids)."""
    methods = table.get(parts)
    if methods is not None:
        return methods, ()
    for index in range(1, len(parts)):
        candidate = (*parts[:index], "{}", *parts[index + 1 :])
        methods = table.get(candidate)
        if methods is not None:
            return methods, (parts[index],)
    for first in range(1, len(parts)):
        for second in range(first + 2, len(parts)):
            candidate = (
                *parts[:first], "{}", *parts[first + 1 : second], "{}", *parts[second + 1 :]
            )  # fmt: skip
            methods = table.get(candidate)
            if methods is not None:
                return methods, (parts[first], parts[second])
    return None, ()


_ROUTE_CAPABILITY: Dict[Tuple[str, Tuple[str, ...]], Optional[str]] = {}
""":func:`capability_for` of each (method, route) without a path parameter: both come
from the handler tables, so a handful (issue 24)."""


class AtlasApp:
    """The ASGI app serving every Atlas path (see :func:`is_atlas_path`)."""

    def __init__(self, state: AtlasState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: List[bytes] = []
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.serve(scope, b"".join(chunks), send)

    async def serve(self, scope: Scope, body: bytes, send: Send) -> None:
        """Answer the request whose whole ``body`` has been read: what the middleware
        calls (it has read the body already; a replaying ``receive`` and a second read
        loop per request were ~2 % of an Atlas create, issue 24)."""
        headers: Dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        extra: List[Tuple[bytes, bytes]]
        if scope["path"] == AUTHORIZE_PATH:
            query = scope.get("query_string", b"").decode("latin-1")
            page: Page = authorize(
                self.state,
                scope["method"],
                query,
                headers,
                body,
                base_url(scope),
                remote_address(scope.get("client")),
            )
            page_headers = [*page.headers]
            if page.status != 302:
                page_headers.append((b"content-length", str(len(page.body)).encode()))
            await send(
                {"type": "http.response.start", "status": page.status, "headers": page_headers}
            )
            await send({"type": "http.response.body", "body": page.body, "more_body": False})
            return
        answer: Optional[bytes]
        try:
            status, answer, extra = self._answer(scope, headers, body)
        except ApiError as exc:
            status, answer = exc.status, dumps({"message": exc.message})
            extra = [(k.encode(), v.encode()) for k, v in (exc.headers or {}).items()]
        except Throttled as exc:
            status, extra = 429, [*NO_STORE, exc.header]
            answer = dumps({"error": "too_many_attempts", "error_description": str(exc)})
        except OAuthError as exc:
            status = exc.status
            answer = dumps({"error": exc.error, "error_description": exc.description})
            extra = list(NO_STORE)
            if exc.status == 401 and "authorization" in headers:
                extra.append((b"www-authenticate", b'Basic realm="atlas"'))
        except Exception:
            logger.exception("internal error on %s %s", scope["method"], scope["path"])
            status, answer, extra = 500, dumps({"message": "Internal emulator error"}), []
        # ``extra`` is a list of this request's own (every branch above makes a new one),
        # so the answer's headers are appended to it rather than to a copy.
        if answer is None:
            answer = b""
            if status not in (204, 304):
                extra.append((b"content-length", b"0"))
        else:
            if not extra or not any(name == b"content-type" for name, _ in extra):
                extra.append((b"content-type", b"application/json"))
            extra.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": answer, "more_body": False})

    def _answer(
        self, scope: Scope, headers: Dict[str, str], body: bytes
    ) -> Tuple[int, Optional[bytes], List[Tuple[bytes, bytes]]]:
        method: str = scope["method"]
        path: str = scope["path"]
        if path == TOKEN_PATH:
            if method != "POST":
                raise ApiError(405, "Method not allowed", {"allow": "POST"})
            token = issue_token(
                self.state,
                headers,
                body,
                base_url(scope),
                remote_address(scope.get("client")),
            )
            return 200, token, list(NO_STORE)
        org = scope.get(ATLAS_ORG_KEY)
        if not isinstance(org, Organization):  # the middleware answers 401 before this
            raise ApiError(401, "Missing bearer token")
        org_header = headers.get("x-org-id")
        if org_header is not None and org_header.strip() != org.id:
            raise ApiError(403, "X-ORG-ID is not the organization of the access token")
        parts = tuple(path.split("/"))
        region: Optional[Region] = None
        if path.startswith(REGIONS_PREFIX):
            # ('', 'regions', name, 'api', 'v1alpha1', *rest)
            if len(parts) < 6 or parts[3:5] != API_SUFFIX:
                raise ApiError(404, f"No route {path[:200]!r}")
            region = self.state.region(parts[2])
            table, rest = REGIONAL, parts[5:]
        else:
            table, rest = MANAGEMENT, parts[3:]
        methods, params = _match(table, rest)
        param = params[0] if params else ""
        if methods is None:
            raise ApiError(404, f"No route {path[:200]!r}")
        handler = methods.get(method)
        if handler is None:
            raise ApiError(405, "Method not allowed", {"allow": ", ".join(sorted(methods))})
        subject = str(scope.get(ATLAS_SUBJECT_KEY, ""))
        # One check for every route, before its handler runs, so a refusal changes nothing.
        check_role(role_of(org, subject, self.state.members), method, region is None, rest)
        if region is not None:  # a withheld capability: 501 before anything is read
            if params:
                capability = capability_for(method, rest)
            else:  # a fixed route (a table key): its capability, worked out once
                key = (method, rest)
                capability = _ROUTE_CAPABILITY.get(key, "")
                if capability == "":
                    capability = _ROUTE_CAPABILITY[key] = capability_for(method, rest)
            if capability is not None and capability not in region.capabilities:
                raise ApiError(501, f"{capability} is not available in region {region.name}")
        if param and table is REGIONAL and rest[0] in UUID_PARAMETERS:
            normalised = parse_uuid(param)
            if normalised is None:
                # Checked after the project header, as for any other unknown id.
                if rest[0] != "projects":
                    self.state.project_for_header(org, headers.get("x-project-id"))
                noun = rest[0][:-1].capitalize()
                raise ApiError(404, f"{noun} {param[:100]!r} not found")
            param = normalised
        call = Call(
            state=self.state,
            org=org,
            subject=subject,
            headers=headers,
            body=body,
            scope=scope,
            region=region,
            param=param,
            params=(param, *params[1:]) if params else (),
        )
        status, payload = handler(call)
        return status, payload, call.response_headers
