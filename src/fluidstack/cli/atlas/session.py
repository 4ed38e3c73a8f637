"""Which Atlas credentials, URLs, region and project a command uses, and its client.

Settings come from, highest first: the ``atlas`` group's ``--region``/``--project``; the
profile chosen with ``--profile``; the ``FLUIDSTACK_*`` environment variables (as in the
SDK); the profile's ``atlas`` table in the config file (written by ``atlas login`` and
``atlas use``). Credentials are taken whole from one place: the environment (a client id
and secret, or a token) or the profile, never half from each.

Tokens obtained with the profile's credentials are written back to it (mode 0600), so the
next command reuses the access token and, after a browser login, the newest refresh
token.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import click

from ..config import ATLAS_CREDENTIAL_KEYS
from ..state import CliState, InputError

if TYPE_CHECKING:
    from fluidstack.atlas import Atlas, IssuedToken

__all__ = ["AtlasSettings", "atlas_client", "resolve_atlas", "save_atlas", "unauthenticated"]

ENV_CLIENT_ID = "FLUIDSTACK_CLIENT_ID"
ENV_CLIENT_SECRET = "FLUIDSTACK_CLIENT_SECRET"
ENV_TOKEN = "FLUIDSTACK_TOKEN"
ENV_REGION = "FLUIDSTACK_REGION"
ENV_PROJECT = "FLUIDSTACK_PROJECT_ID"
ENV_URL = "FLUIDSTACK_ATLAS_URL"
ENV_TOKEN_URL = "FLUIDSTACK_TOKEN_URL"
ENV_REGION_URL = "FLUIDSTACK_REGION_URL"

CREDENTIAL_KEYS = ATLAS_CREDENTIAL_KEYS

_STALE_MARGIN = 5.0
"""A stored access token this close to its expiry is not reused (one that expires during
the command anyway is answered 401 and replaced)."""


@dataclass(frozen=True)
class AtlasSettings:
    """Where an Atlas command's settings come from. Never shows a secret."""

    profile: str
    profile_source: str
    path: Path
    stored: Dict[str, Any] = field(repr=False)
    """The profile's ``atlas`` table as read (secrets included)."""
    credentials: Dict[str, Any] = field(repr=False)
    """``client_id``/``client_secret``/``token``/``refresh_token`` for the client."""
    credentials_source: Optional[str]
    """``env``, ``file`` or ``None`` (no credentials anywhere)."""
    login: Optional[str]
    """How the credentials were obtained: ``client_credentials``, ``token``, ``browser``."""
    management_url: Optional[str]
    token_url: Optional[str]
    region_url: Optional[str]
    region: Optional[str]
    region_source: Optional[str]
    project: Optional[str]
    """A project id, or a name to look up."""
    project_source: Optional[str]
    file_refused: Optional[str] = None
    url_sources: Dict[str, str] = field(default_factory=dict)
    """Per URL setting given (``management_url``...), the environment variable it came
    from, or ``file``."""


def resolve_atlas(
    state: CliState, environ: Optional[Mapping[str, str]] = None, creating: bool = False
) -> AtlasSettings:
    """Work out the Atlas settings of this command (see the module's docstring).

    A profile named with ``--profile`` or ``FLUIDSTACK_PROFILE`` must exist in the file
    (with platform or Atlas settings), unless ``creating``: ``atlas login`` makes an
    Atlas-only profile, which needs no platform API key."""
    from ..config import ConfigError, load_config

    env = os.environ if environ is None else environ
    platform = state.resolve(require_profile=False)  # the profile, its source, the path
    config = platform.config  # the file as that read it: parsed once per command
    if config is None:
        try:
            config = load_config(platform.path)
        except ConfigError as exc:
            raise InputError(str(exc)) from exc
    named = platform.profile_source != "default" and config.refused is None
    if named and not creating and platform.profile not in {*config.profiles, *config.atlas}:
        known = ", ".join(sorted({*config.profiles, *config.atlas})) or "none"
        raise InputError(
            f"profile {platform.profile!r} is not in {platform.path} (profiles: {known}); "
            f"create it with `fluidstack --profile {platform.profile} atlas login` (Atlas) "
            f"or `fluidstack --profile {platform.profile} configure` (platform API key)"
        )
    stored: Dict[str, Any] = dict(config.atlas.get(platform.profile, {}))
    explicit = platform.profile_source == "flag"

    def pick(key: str, env_name: str) -> tuple[Optional[str], Optional[str]]:
        value = stored.get(key)
        if explicit and value:
            return str(value), "file"
        if env.get(env_name):
            return env[env_name], "env"
        if value:
            return str(value), "file"
        return None, None

    env_credentials: Dict[str, Any] = {}
    if env.get(ENV_CLIENT_ID) and env.get(ENV_CLIENT_SECRET):
        env_credentials = {"client_id": env[ENV_CLIENT_ID], "client_secret": env[ENV_CLIENT_SECRET]}
    elif env.get(ENV_TOKEN):
        env_credentials = {"token": env[ENV_TOKEN]}
    file_credentials = _stored_credentials(stored)
    credentials: Dict[str, Any]
    source: Optional[str]
    login: Optional[str]
    if env_credentials and not (explicit and file_credentials):
        credentials, source, login = env_credentials, "env", "environment"
    elif file_credentials:
        credentials, source, login = file_credentials, "file", str(stored.get("login") or "")
    else:
        credentials, source, login = {}, None, None

    urls: Dict[str, str] = {}
    url_sources: Dict[str, str] = {}
    for key, env_name in (
        ("management_url", ENV_URL),
        ("token_url", ENV_TOKEN_URL),
        ("region_url", ENV_REGION_URL),
    ):
        url, url_source = pick(key, env_name)
        if url is not None:
            urls[key] = url
            url_sources[key] = env_name if url_source == "env" else "file"
    region, region_source = pick("region", ENV_REGION)
    if state.atlas_region:
        region, region_source = state.atlas_region, "flag"
    project, project_source = pick("project_id", ENV_PROJECT)
    if state.atlas_project:
        project, project_source = state.atlas_project, "flag"
    return AtlasSettings(
        profile=platform.profile,
        profile_source=platform.profile_source,
        path=platform.path,
        stored=stored,
        credentials=credentials,
        credentials_source=source,
        login=login,
        management_url=urls.get("management_url"),
        token_url=urls.get("token_url"),
        region_url=urls.get("region_url") if not state.atlas_region else None,
        region=region,
        region_source=region_source,
        project=project,
        project_source=project_source,
        file_refused=config.refused,
        url_sources=url_sources,
    )


def _stored_credentials(stored: Mapping[str, Any]) -> Dict[str, Any]:
    """The client's credentials from a profile's ``atlas`` table."""
    credentials: Dict[str, Any] = {}
    if stored.get("client_id") and stored.get("client_secret"):
        credentials = {"client_id": stored["client_id"], "client_secret": stored["client_secret"]}
    elif stored.get("client_id") and stored.get("refresh_token"):
        credentials = {"client_id": stored["client_id"], "refresh_token": stored["refresh_token"]}
    token = stored.get("token")
    expires = stored.get("token_expires_at")
    fresh = not isinstance(expires, (int, float)) or expires > time.time() + _STALE_MARGIN
    if token and (fresh or not credentials):
        # A cached access token saves a token request; a lone one is used as given.
        credentials["token"] = token
    return credentials


def save_atlas(settings: AtlasSettings, values: Mapping[str, Any], replace: bool = False) -> None:
    """Write ``values`` into the profile's ``atlas`` table (0600, atomically)."""
    from ..config import save_profile

    save_profile(settings.path, settings.profile, values, section="atlas", replace=replace)


def _persist(state: CliState, settings: AtlasSettings) -> Any:
    """An ``on_token`` that keeps what the profile's credentials obtained."""

    def keep(issued: IssuedToken) -> None:
        values: Dict[str, Any] = {
            "token": issued.access_token.reveal(),
            "token_expires_at": issued.expires_at,
        }
        if issued.refresh_token is not None and settings.login == "browser":
            values["refresh_token"] = issued.refresh_token.reveal()
        try:
            save_atlas(settings, values)
        except OSError as exc:
            state.warn(f"could not keep the new token in {settings.path}: {exc.strerror or exc}")

    return keep


def _read_from(settings: AtlasSettings) -> str:
    return settings.management_url or "default"


def _kept_regions(settings: AtlasSettings) -> Optional[Dict[str, str]]:
    """The region URLs kept in the profile, if read from this management URL."""
    kept = settings.stored.get("region_urls")
    if not isinstance(kept, dict) or settings.stored.get("region_urls_for") != _read_from(settings):
        return None
    return {str(k): v for k, v in kept.items() if isinstance(v, str)}


def _persist_regions(state: CliState, settings: AtlasSettings) -> Any:
    """An ``on_regions`` that keeps the region URLs beside the token (0600), so that the
    next command goes straight to its region (issue 24: one request, not two)."""

    def keep(urls: Dict[str, str]) -> None:
        if urls == _kept_regions(settings):
            return
        try:
            save_atlas(settings, {"region_urls": urls, "region_urls_for": _read_from(settings)})
        except OSError as exc:
            state.warn(f"could not keep the region URLs in {settings.path}: {exc.strerror or exc}")

    return keep


def _build(state: CliState, settings: AtlasSettings, **overrides: Any) -> Atlas:
    from fluidstack.atlas import Atlas

    kwargs: Dict[str, Any] = {
        **settings.credentials,
        "management_url": settings.management_url,
        "token_url": settings.token_url,
        "region": settings.region,
        "region_url": settings.region_url,
        "project_id": settings.project if _is_uuid(settings.project) else None,
        # The profile's spend limit and price table (Atlas publishes no prices).
        "max_hourly_spend": settings.stored.get("max_hourly_spend"),
        "prices": settings.stored.get("prices"),
    }
    kwargs.update(overrides)
    if settings.credentials_source == "file" and settings.file_refused is None:
        kwargs.setdefault("on_token", _persist(state, settings))
        kwargs.setdefault("on_regions", _persist_regions(state, settings))
        kwargs.setdefault("region_urls", _kept_regions(settings))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            client = Atlas(event_hooks=state.debug_hooks(), use_environment=False, **kwargs)
        except (ValueError, TypeError) as exc:  # a bad setting, e.g. the profile's prices
            where = f"profile {settings.profile!r}, atlas table"
            for key, source in settings.url_sources.items():
                if str(exc).startswith(key) and source != "file":
                    where = source  # the environment variable the URL came from
            raise InputError(f"{exc} ({where})") from exc
    for warning in caught:
        state.warn(str(warning.message))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(client.close)
    return client


def atlas_client(state: CliState) -> Atlas:
    """The command's Atlas client: the profile's (or the environment's) credentials,
    region and project, a project given by name looked up. Built once per command."""
    if state._atlas is not None:
        client: Atlas = state._atlas
        return client
    settings = resolve_atlas(state)
    if settings.credentials_source is None:
        raise InputError(
            "not logged in to Atlas: run `fluidstack atlas login` (or set "
            f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}, or {ENV_TOKEN})"
        )
    if state.debug:
        state.debug_line(
            f"atlas: profile {settings.profile} ({settings.profile_source}), credentials from "
            f"{settings.credentials_source} ({settings.login}), region {settings.region} "
            f"({settings.region_source}), project {settings.project} ({settings.project_source})"
        )
    client = _build(state, settings)
    if settings.project and not _is_uuid(settings.project):
        client = client.with_options(project_id=_project_by_name(client, settings.project))
    state._atlas = client
    return client


def unauthenticated(state: CliState, settings: AtlasSettings, **overrides: Any) -> Atlas:
    """A client with the command's URLs but only the credentials in ``overrides`` (for
    ``atlas login``), and nothing written back to the profile."""
    bare = AtlasSettings(
        profile=settings.profile,
        profile_source=settings.profile_source,
        path=settings.path,
        stored=settings.stored,
        credentials={},
        credentials_source=None,
        login=None,
        management_url=settings.management_url,
        token_url=settings.token_url,
        region_url=settings.region_url,
        region=settings.region,
        region_source=settings.region_source,
        project=settings.project,
        project_source=settings.project_source,
    )
    return _build(state, bare, **overrides)


def _is_uuid(value: Optional[str]) -> bool:
    if not value:
        return False
    from fluidstack.atlas.settings import canonical_uuid  # uuid would import `platform`

    try:
        canonical_uuid(value)
    except ValueError:
        return False
    return True


def _project_by_name(client: Atlas, name: str) -> str:
    """The id of the one project named ``name``."""
    found = [p for p in client.projects.list() if p.name == name]
    if len(found) == 1:
        return found[0].id
    if not found:
        raise InputError(
            f"no project named {name!r}: see `fluidstack atlas projects list` (or pass its id)"
        )
    ids = ", ".join(p.id for p in found)
    raise InputError(f"{len(found)} projects are named {name!r} ({ids}): pass its id instead")
