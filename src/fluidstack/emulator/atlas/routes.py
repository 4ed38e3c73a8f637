"""Atlas over HTTP: the OAuth token endpoint, the Management API and every region's API.

A small pure-ASGI dispatcher rather than FastAPI routes, for two reasons: the Atlas specs
answer every input error with 400 ``{"message"}`` (never FastAPI's 422), and a request
should cost a dictionary lookup, not a walk over every route's regular expression.

Layout (one port, next to the platform API)::

    POST /oauth/token                                   OAuth2 client credentials
    /api/v1alpha1/...                                   the Management API
    /regions/<name>/api/v1alpha1/...                    each region's API

The middleware in front has already authenticated the bearer token (leaving the
organization in the scope), applied fault rules, limited the body size and read it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.oauth import (
    AUTHORIZE_PATH,
    NO_STORE,
    TOKEN_PATH,
    OAuthError,
    Page,
    authorize,
    issue_token,
)
from fluidstack.emulator.atlas.state import (
    CLUSTER_TYPES,
    ROLES,
    AtlasState,
    Organization,
    Project,
    Region,
)
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.responses import ApiError, Message, Receive, Scope, Send
from fluidstack.emulator.sshkeys import validate_public_key

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

TAG_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
SIZE = re.compile(r"^[1-9][0-9]{0,8}(?:Gi|Ti|G|T)?$")
PUBLIC_ATLAS_PATHS = frozenset({TOKEN_PATH, AUTHORIZE_PATH})
"""Atlas paths answered without a bearer token (they are how one gets a token)."""


def is_atlas_path(path: str) -> bool:
    """Whether ``path`` belongs to Atlas (and not to the platform API at the root)."""
    if path.startswith(REGIONS_PREFIX) or path.startswith(MANAGEMENT_PREFIX + "/"):
        return True
    return path in (MANAGEMENT_PREFIX, TOKEN_PATH, AUTHORIZE_PATH)


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
    base: str
    region: Optional[Region]
    param: str

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
            data = json.loads(self.body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ApiError(400, "The body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The body must be a JSON object")
        return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _ok(status: int, content: Any) -> Reply:
    return status, dumps(content)


# -- field validation (400 with a message naming the field) ------------------------------


def _string(
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
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ApiError(400, f"'{key}' must not contain control characters")
    return value


def _name(data: Dict[str, Any], key: str = "name") -> str:
    value = _string(data, key, required=True)
    assert value is not None
    return value


def _boolean(data: Dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"'{key}' must be a boolean")
    return value


def _tags(data: Dict[str, Any]) -> Dict[str, str]:
    tags = data.get("tags", {})
    if not isinstance(tags, dict):
        raise ApiError(400, "'tags' must be an object of strings")
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


def _uuid(value: str) -> Optional[str]:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# -- the Management API --------------------------------------------------------------------


def list_regions(call: Call) -> Reply:
    return _ok(
        200,
        [{"name": name, "url": f"{call.base}/regions/{name}"} for name in call.state.regions],
    )


def list_clusters(call: Call) -> Reply:
    return _ok(200, call.state.list_clusters(call.org))


def list_organizations(call: Call) -> Reply:
    return _ok(200, [call.org.view()])


def list_members(call: Call) -> Reply:
    return _ok(200, call.state.list_members(call.org))


def update_member(call: Call) -> Reply:
    data = call.json()
    role = data.get("role")
    if role is not None and role not in ROLES:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    if "role" in data and role is None:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    call.state.update_member(call.org, call.param, role)
    return 200, None


def delete_member(call: Call) -> Reply:
    call.state.delete_member(call.org, call.param)
    return 204, None


def list_invitations(call: Call) -> Reply:
    return _ok(200, call.state.list_invitations(call.org))


def create_invitation(call: Call) -> Reply:
    data = call.json()
    email = _string(data, "email", required=True, max_length=320)
    assert email is not None
    if not EMAIL.match(email):
        raise ApiError(400, "'email' must be an email address")
    role = data.get("role", "viewer")
    if role not in ROLES:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    call.state.invite(call.org, email, str(role))
    return 201, None


def delete_invitation(call: Call) -> Reply:
    call.state.delete_invitation(call.org, call.param)
    return 204, None


def list_all_instances(call: Call) -> Reply:
    header = call.headers.get("x-project-id")
    project_id = None
    if header is not None:
        project_id = _uuid(header.strip())
        if project_id is None:
            return 200, b"[]"
    return 200, call.state.list_all_instances(call.org, project_id)


def get_any_instance(call: Call) -> Reply:
    return _ok(200, call.state.get_any_instance(call.org, call.param))


def list_user_keys(call: Call) -> Reply:
    return _ok(200, call.state.list_user_keys(call.org, call.subject))


def add_user_key(call: Call) -> Reply:
    data = call.json()
    name = _name(data)
    if "/" in name or name != name.strip():
        raise ApiError(400, "'name' must not contain '/' or surrounding spaces")
    key = data.get("key")
    if not isinstance(key, str):
        raise ApiError(400, "'key' is required: an OpenSSH public key line")
    if len(key) > 16384:
        raise ApiError(400, "'key' is too long for a public key")
    try:
        key = validate_public_key(key)
    except ValueError as exc:
        raise ApiError(400, f"'key': {exc}") from None
    call.state.add_user_key(call.org, call.subject, name, key)
    return 200, None


def delete_user_key(call: Call) -> Reply:
    call.state.delete_user_key(call.org, call.subject, call.param)
    return 204, None


# -- a region's API ------------------------------------------------------------------------


def get_capabilities(call: Call) -> Reply:
    return _ok(200, list(call.where().capabilities))


def get_capacity(call: Call) -> Reply:
    call.project()
    return _ok(200, call.state.capacity(call.where()))


def get_instance_types(call: Call) -> Reply:
    return _ok(200, [t.view() for t in call.where().offer.types])


def list_projects(call: Call) -> Reply:
    return _ok(200, call.state.list_projects(call.org))


def create_project(call: Call) -> Reply:
    data = call.json()
    name, tags = _name(data), _tags(data)
    return _ok(201, call.state.create_project(call.org, name, tags))


def get_project(call: Call) -> Reply:
    return _ok(200, call.state.get_project(call.org, call.param))


def delete_project(call: Call) -> Reply:
    call.state.delete_project(call.org, call.param)
    return 204, None


def list_instances(call: Call) -> Reply:
    return 200, call.state.list_instances_json(call.org, call.project(), call.where())


def create_instance(call: Call) -> Reply:
    project, region = call.project(), call.where()
    call.state.require_capability(region, "instances:create")
    data = call.json()
    name = _name(data)
    type_name = _string(data, "type", required=True)
    assert type_name is not None
    image = _string(data, "image", max_length=2048) or "image://ubuntu22.04"
    preemptible, ephemeral = _boolean(data, "preemptible"), _boolean(data, "ephemeral")
    user_data = data.get("userData")
    if user_data is not None:
        if not isinstance(user_data, str):
            raise ApiError(400, "'userData' must be a base64 string or null")
        try:
            base64.b64decode(user_data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ApiError(400, "'userData' is not valid base64") from None
    filesystems = data.get("filesystems", [])
    if not isinstance(filesystems, list) or not all(isinstance(f, str) for f in filesystems):
        raise ApiError(400, "'filesystems' must be a list of filesystem ids")
    normalised: List[str] = []
    for filesystem_id in filesystems:
        parsed = _uuid(filesystem_id)
        if parsed is None:
            raise ApiError(400, f"Filesystem id {filesystem_id[:80]!r} is not a uuid")
        normalised.append(parsed)
    tags = _tags(data)
    view = call.state.create_instance(
        call.org,
        project,
        region,
        name=name,
        type_name=type_name,
        image=image,
        preemptible=preemptible,
        ephemeral=ephemeral,
        user_data=user_data,
        filesystems=normalised,
        tags=tags,
    )
    return _ok(201, view)


def get_instance(call: Call) -> Reply:
    return _ok(200, call.state.get_instance(call.org, call.project(), call.where(), call.param))


def delete_instance(call: Call) -> Reply:
    project, region = call.project(), call.where()
    call.state.require_capability(region, "instances:delete")
    call.state.delete_instance(call.org, project, region, call.param)
    return 204, None


def start_instance(call: Call) -> Reply:
    call.state.start_instance(call.org, call.project(), call.where(), call.param)
    return 202, None


def stop_instance(call: Call) -> Reply:
    call.state.stop_instance(call.org, call.project(), call.where(), call.param)
    return 202, None


def list_filesystems(call: Call) -> Reply:
    return _ok(200, call.state.list_filesystems(call.org, call.project(), call.where()))


def create_filesystem(call: Call) -> Reply:
    project, region = call.project(), call.where()
    data = call.json()
    name = _name(data)
    size = data.get("size")
    if not isinstance(size, str) or not SIZE.match(size):
        raise ApiError(
            400,
            "'size' must be a positive size such as '512Gi' or '1Ti' "
            "(suffix Gi, Ti, G or T; a bare number means GB)",
        )
    return _ok(201, call.state.create_filesystem(call.org, project, region, name, size))


def get_filesystem(call: Call) -> Reply:
    return _ok(200, call.state.get_filesystem(call.org, call.project(), call.where(), call.param))


def delete_filesystem(call: Call) -> Reply:
    call.state.delete_filesystem(call.org, call.project(), call.where(), call.param)
    return 204, None


def _clusters(kind: str) -> Callable[[Call], Reply]:
    def handler(call: Call) -> Reply:
        clusters = call.state.visible_clusters(call.org, call.project(), call.where(), kind)
        return _ok(200, [{"id": c.id, "name": c.name} for c in clusters])

    return handler


def _node_pools(kind: str) -> Callable[[Call], Reply]:
    def handler(call: Call) -> Reply:
        clusters = call.state.visible_clusters(call.org, call.project(), call.where(), kind)
        if not clusters:
            raise ApiError(404, f"No {kind} cluster in this project and region")
        return _ok(200, [dict(p) for c in clusters for p in c.node_pools])

    return handler


assert CLUSTER_TYPES == ("kubernetes", "slurm")

Handler = Callable[[Call], Reply]
Table = Dict[Tuple[str, ...], Dict[str, Handler]]

MANAGEMENT: Table = {
    ("regions",): {"GET": list_regions},
    ("clusters",): {"GET": list_clusters},
    ("organizations",): {"GET": list_organizations},
    ("members",): {"GET": list_members},
    ("members", "{}"): {"PATCH": update_member, "DELETE": delete_member},
    ("invitations",): {"GET": list_invitations, "POST": create_invitation},
    ("invitations", "{}"): {"DELETE": delete_invitation},
    ("instances",): {"GET": list_all_instances},
    ("instances", "{}"): {"GET": get_any_instance},
    ("user", "keys"): {"GET": list_user_keys, "POST": add_user_key},
    ("user", "keys", "{}"): {"DELETE": delete_user_key},
}
REGIONAL: Table = {
    ("capabilities",): {"GET": get_capabilities},
    ("capacity",): {"GET": get_capacity},
    ("instance-types",): {"GET": get_instance_types},
    ("projects",): {"GET": list_projects, "POST": create_project},
    ("projects", "{}"): {"GET": get_project, "DELETE": delete_project},
    ("instances",): {"GET": list_instances, "POST": create_instance},
    ("instances", "{}"): {"GET": get_instance, "DELETE": delete_instance},
    ("instances", "{}", "actions", "start"): {"POST": start_instance},
    ("instances", "{}", "actions", "stop"): {"POST": stop_instance},
    ("filesystems",): {"GET": list_filesystems, "POST": create_filesystem},
    ("filesystems", "{}"): {"GET": get_filesystem, "DELETE": delete_filesystem},
    ("kubernetes", "clusters"): {"GET": _clusters("kubernetes")},
    ("kubernetes", "node-pools"): {"GET": _node_pools("kubernetes")},
    ("slurm", "clusters"): {"GET": _clusters("slurm")},
    ("slurm", "node-pools"): {"GET": _node_pools("slurm")},
}
UUID_PARAMETERS = frozenset({"projects", "instances", "filesystems"})
"""Collections whose ``{id}`` is a uuid in the specs: anything else is a 404 at once."""


def _match(table: Table, parts: Tuple[str, ...]) -> Tuple[Optional[Dict[str, Handler]], str]:
    methods = table.get(parts)
    if methods is not None:
        return methods, ""
    for index in range(1, len(parts)):
        candidate = (*parts[:index], "{}", *parts[index + 1 :])
        methods = table.get(candidate)
        if methods is not None:
            return methods, parts[index]
    return None, ""


def _base_url(scope: Scope, headers: Dict[str, str]) -> str:
    """``scheme://address:port`` the request came in on: the server's own address, never
    the ``Host`` header (a rebound name must not end up in the region URLs)."""
    scheme = scope.get("scheme", "http")
    server = scope.get("server") or ("127.0.0.1", 80)
    name = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
    return f"{scheme}://{name}" + (f":{server[1]}" if server[1] is not None else "")


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
        headers: Dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        extra: List[Tuple[bytes, bytes]] = []
        if scope["path"] == AUTHORIZE_PATH:
            query = scope.get("query_string", b"").decode("latin-1")
            page: Page = authorize(
                self.state,
                scope["method"],
                query,
                headers,
                b"".join(chunks),
                _base_url(scope, headers),
            )
            page_headers = [*page.headers]
            if page.status != 302:
                page_headers.append((b"content-length", str(len(page.body)).encode()))
            await send(
                {"type": "http.response.start", "status": page.status, "headers": page_headers}
            )
            await send({"type": "http.response.body", "body": page.body, "more_body": False})
            return
        try:
            status, body, extra = self._answer(scope, headers, b"".join(chunks))
        except ApiError as exc:
            status, body = exc.status, dumps({"message": exc.message})
            extra = [(k.encode(), v.encode()) for k, v in (exc.headers or {}).items()]
        except OAuthError as exc:
            status = exc.status
            body = dumps({"error": exc.error, "error_description": exc.description})
            extra = list(NO_STORE)
            if exc.status == 401 and "authorization" in headers:
                extra.append((b"www-authenticate", b'Basic realm="atlas"'))
        except Exception:
            logger.exception("internal error on %s %s", scope["method"], scope["path"])
            status, body = 500, dumps({"message": "Internal emulator error"})
        response_headers = list(extra)
        if body is None:
            body = b""
            if status not in (204, 304):
                response_headers.append((b"content-length", b"0"))
        else:
            response_headers.append((b"content-type", b"application/json"))
            response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _answer(
        self, scope: Scope, headers: Dict[str, str], body: bytes
    ) -> Tuple[int, Optional[bytes], List[Tuple[bytes, bytes]]]:
        method: str = scope["method"]
        path: str = scope["path"]
        if path == TOKEN_PATH:
            if method != "POST":
                raise ApiError(405, "Method not allowed", {"allow": "POST"})
            token = issue_token(self.state, headers, body, _base_url(scope, headers))
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
        methods, param = _match(table, rest)
        if methods is None:
            raise ApiError(404, f"No route {path[:200]!r}")
        handler = methods.get(method)
        if handler is None:
            raise ApiError(405, "Method not allowed", {"allow": ", ".join(sorted(methods))})
        if param and table is REGIONAL and rest[0] in UUID_PARAMETERS:
            normalised = _uuid(param)
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
            subject=str(scope.get(ATLAS_SUBJECT_KEY, "")),
            headers=headers,
            body=body,
            base=_base_url(scope, headers),
            region=region,
            param=param,
        )
        status, payload = handler(call)
        return status, payload, []
