"""What an Atlas client is configured with: arguments, then environment, then defaults.

Resolved once when the client is built; nothing here does I/O.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Tuple, Union
from urllib.parse import urlsplit

from ..core.config import Secret, check_base_url, checked_secret, is_loopback, warn_if_plain_http

if TYPE_CHECKING:
    import uuid

__all__ = [
    "API_PREFIX",
    "DEFAULT_AUDIENCE",
    "PRODUCTION_MANAGEMENT_URL",
    "PRODUCTION_TOKEN_URL",
    "AtlasSettings",
    "api_root",
    "browser_login_defaults",
    "canonical_uuid",
    "check_project_id",
    "resolve_settings",
    "resolve_ssh_port",
]

PRODUCTION_MANAGEMENT_URL = "https://api.atlas.fluidstack.io"
"""The Management (global) API, without its ``/api/v1alpha1`` prefix."""
PRODUCTION_TOKEN_URL = "https://oauth.fluidstack.io/oauth/token"
"""FluidStack's OAuth2 token endpoint."""
DEFAULT_AUDIENCE = "https://api.fluidstack.io"
"""The ``audience`` every Atlas access token is requested for."""
PRODUCTION_AUTHORIZE_URL = "https://oauth.fluidstack.io/authorize"
"""Where people log in with a browser (authorization code + PKCE)."""
PRODUCTION_PUBLIC_CLIENT_ID = "diPhN35HH6jVXs615vsafkdIQM4Y5rF8"
"""The public OAuth client FluidStack's own CLI (fluidctl) logs people in with."""
EMULATOR_PUBLIC_CLIENT_ID = "fs-emulator-cli"
"""The emulator's public client for browser logins."""
DEFAULT_SCOPE = "openid profile email offline_access"
"""The scopes FluidStack's own CLI asks for; ``offline_access`` brings a refresh token.
(Here rather than in :mod:`fluidstack.atlas.login`, which re-exports it: the clients'
``start_browser_login`` default needs it, and a client that never logs a person in with
a browser need not import the login flow.)"""
API_PREFIX = "/api/v1alpha1"
"""Appended to the management URL and to every region's URL."""

ENV_CLIENT_ID = "FLUIDSTACK_CLIENT_ID"
ENV_CLIENT_SECRET = "FLUIDSTACK_CLIENT_SECRET"
ENV_TOKEN = "FLUIDSTACK_TOKEN"
ENV_REGION = "FLUIDSTACK_REGION"
ENV_PROJECT_ID = "FLUIDSTACK_PROJECT_ID"
ENV_ATLAS_URL = "FLUIDSTACK_ATLAS_URL"
ENV_TOKEN_URL = "FLUIDSTACK_TOKEN_URL"
ENV_REGION_URL = "FLUIDSTACK_REGION_URL"
ENV_SSH_PORT = "FLUIDSTACK_SSH_PORT"
DEFAULT_SSH_PORT = 22

# A string for uuid.UUID: importing uuid imports `platform` (~5 ms), which neither the
# client nor the CLI needs; annotations only name it.
Id = Union[str, "uuid.UUID"]


@dataclass(frozen=True)
class AtlasSettings:
    """An Atlas client's resolved settings. Secrets show as ``[redacted]``."""

    client_id: Optional[str]
    client_secret: Optional[Secret] = field(repr=False)
    token: Optional[Secret] = field(repr=False)
    refresh_token: Optional[Secret] = field(repr=False)
    region: Optional[str]
    project_id: Optional[str]
    management_api: str
    """The management API's root, ``.../api/v1alpha1``."""
    token_url: str
    region_api: Optional[str]
    """A region API's root (``.../api/v1alpha1``) given directly, skipping discovery."""
    audience: str
    ssh_port: int = DEFAULT_SSH_PORT
    """The port instances answer SSH on (Atlas reports only an address)."""

    @property
    def has_credentials(self) -> bool:
        return any(c is not None for c in (self.token, self.client_secret, self.refresh_token))


def api_root(url: str, what: str) -> str:
    """``url`` with the API's version prefix, which real clients append themselves
    (and which a URL may already end with)."""
    url = check_base_url(url, what)
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def check_project_id(value: Optional[Id], what: str = "project_id") -> Optional[str]:
    """A project id in canonical form; the API takes only UUIDs (``X-PROJECT-ID``)."""
    if value is None:
        return None
    uuid_module = sys.modules.get("uuid")  # a caller holding a UUID has imported it
    if uuid_module is not None and isinstance(value, uuid_module.UUID):
        return str(value)
    try:
        return canonical_uuid(str(value).strip())
    except ValueError:
        raise ValueError(
            f"{what} must be a project's id (a UUID), got {str(value)[:60]!r}; "
            "atlas.projects.list() shows them"
        ) from None


def canonical_uuid(text: str) -> str:
    """``str(uuid.UUID(text))`` without importing :mod:`uuid`: the same parsing as
    ``uuid.UUID``'s (braces, ``urn:uuid:``, hyphens anywhere, 32 hex digits), the same
    ``ValueError`` for anything else, and the same lowercase hyphenated form."""
    digits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(digits) != 32:
        raise ValueError("badly formed hexadecimal UUID string")
    value = f"{int(digits, 16):032x}"
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def _local_root(management_url: str) -> Optional[str]:
    """The root of a management API on this machine (the emulator), else ``None``.

    Such a server has its own OAuth endpoints beside the API: sending its development
    credentials to FluidStack's real OAuth server would never work and must not happen.
    """
    if not is_loopback(urlsplit(management_url).hostname or ""):
        return None
    if management_url.endswith(API_PREFIX):
        return management_url[: -len(API_PREFIX)]
    return management_url


def _default_token_url(management_url: str) -> str:
    root = _local_root(management_url)
    return PRODUCTION_TOKEN_URL if root is None else root + "/oauth/token"


def browser_login_defaults(management_url: str) -> Tuple[str, str]:
    """``(authorize URL, public client id)`` for a browser login against the management
    API at ``management_url`` (FluidStack's, or the emulator's for a local one)."""
    root = _local_root(management_url)
    if root is None:
        return PRODUCTION_AUTHORIZE_URL, PRODUCTION_PUBLIC_CLIENT_ID
    return root + "/authorize", EMULATOR_PUBLIC_CLIENT_ID


def resolve_settings(
    *,
    client_id: Optional[str],
    client_secret: Optional[str],
    token: Optional[str],
    region: Optional[str],
    project_id: Optional[Id],
    management_url: Optional[str],
    token_url: Optional[str],
    region_url: Optional[str],
    audience: str,
    refresh_token: Optional[str] = None,
    use_environment: bool = True,
    ssh_port: Optional[int] = None,
) -> AtlasSettings:
    """Arguments first, then ``FLUIDSTACK_*`` variables (unless ``use_environment`` is
    false), then the production defaults."""

    def _env(name: str) -> Optional[str]:
        return (os.environ.get(name) or None) if use_environment else None

    client_id = (client_id if client_id is not None else _env(ENV_CLIENT_ID)) or None
    if client_id is not None:
        client_id = client_id.strip() or None
    secret = checked_secret(
        client_secret if client_secret is not None else _env(ENV_CLIENT_SECRET),
        "client_secret",
        ENV_CLIENT_SECRET,
    )
    bearer = checked_secret(token if token is not None else _env(ENV_TOKEN), "token", ENV_TOKEN)
    if bearer is not None and bearer.reveal().lower().startswith("bearer "):
        bearer = Secret(bearer.reveal()[len("bearer ") :].strip())
    refresh = checked_secret(refresh_token, "refresh_token", "refresh_token=...")
    if client_id is None and (secret is not None or refresh is not None):
        raise ValueError(
            f"client_id is missing: pass client_id=... or set {ENV_CLIENT_ID} (a client "
            "secret or refresh token is only usable with the client id it belongs to)"
        )
    if client_id is not None and secret is None and refresh is None:
        raise ValueError(
            "client credentials need both client_id and client_secret: pass "
            f"client_secret=... or set {ENV_CLIENT_SECRET}"
        )
    region = (region if region is not None else _env(ENV_REGION)) or None
    if region is not None:
        region = region.strip()
        if not region:
            region = None
    management = api_root(
        management_url or _env(ENV_ATLAS_URL) or PRODUCTION_MANAGEMENT_URL, "management_url"
    )
    tokens = token_url or _env(ENV_TOKEN_URL) or _default_token_url(management)
    tokens = check_base_url(tokens, "token_url")
    direct = region_url or _env(ENV_REGION_URL)
    region_api = api_root(direct, "region_url") if direct else None
    if not audience:
        raise ValueError("audience must be a non-empty string")
    if secret is not None:
        warn_if_plain_http(tokens, "the client secret", stacklevel=4)
    if secret is not None or bearer is not None:
        warn_if_plain_http(management, "the access token", stacklevel=4)
        if region_api is not None:
            warn_if_plain_http(region_api, "the access token", stacklevel=4)
    return AtlasSettings(
        client_id=client_id,
        client_secret=secret,
        token=bearer,
        refresh_token=refresh,
        region=region,
        project_id=check_project_id(project_id if project_id is not None else _env(ENV_PROJECT_ID)),
        management_api=management,
        token_url=tokens,
        region_api=region_api,
        audience=audience,
        ssh_port=resolve_ssh_port(ssh_port, _env(ENV_SSH_PORT)),
    )


def resolve_ssh_port(given: Optional[int], env: Optional[str]) -> int:
    """The port instances answer SSH on: ``given``, else ``env`` (the value of
    ``FLUIDSTACK_SSH_PORT``), else 22. ``ValueError`` for anything but a port number."""
    if given is None:
        if env is None:
            return DEFAULT_SSH_PORT
        try:
            given = int(env)
        except ValueError:
            raise ValueError(f"{ENV_SSH_PORT} must be a port number, got {env!r}") from None
    if not 0 < given <= 65535:
        raise ValueError(f"ssh_port must be between 1 and 65535, got {given}")
    return given
