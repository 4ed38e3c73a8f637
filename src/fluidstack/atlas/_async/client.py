"""``AsyncAtlas``: the asynchronous client of FluidStack Atlas."""

from __future__ import annotations

import functools
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Type, Union

import httpx

from ...core._async._io import HttpClient
from ...core._async.pipeline import AsyncPipeline
from ...core.config import (
    DEFAULT_MAX_RETRIES,
    NOT_GIVEN,
    NotGiven,
    TimeoutTypes,
    closes_http_client,
    finish_config,
    own_http_client,
)
from ...core.events import EventHooks, configure_logging_from_env
from ..settings import (
    DEFAULT_AUDIENCE,
    DEFAULT_SCOPE,
    AtlasSettings,
    Id,
    api_root,
    browser_login_defaults,
    check_project_id,
    resolve_settings,
)
from ..tokens import IssuedToken
from .auth import AsyncTokenAuth
from .scope import AsyncRegionDirectory, AsyncScope

if TYPE_CHECKING:
    from ..login import AuthorizationCodeLogin
    from ..spend import Prices
    from .catalog import (
        AsyncCapabilitiesResource,
        AsyncCapacityResource,
        AsyncInstanceTypesResource,
    )
    from .instances import AsyncInstancesResource
    from .management import (
        AsyncClustersResource,
        AsyncInvitationsResource,
        AsyncMembersResource,
        AsyncOrganizationsResource,
        AsyncRegionsResource,
        AsyncUserKeysResource,
    )
    from .orchestrators import AsyncKubernetesResource, AsyncSlurmResource
    from .projects import AsyncFilesystemsResource, AsyncProjectsResource

__all__ = ["AsyncAtlas"]


class AsyncAtlas:
    """Asynchronous client of FluidStack Atlas: the management API and every region's API.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with AsyncAtlas(region="eu-north-1", project_id="...") as atlas:
            instances = await atlas.instances.list()

    Calls about instances, filesystems, capacity and clusters go to the client's
    ``region`` and ``project_id``; :meth:`with_options` gives a view on another region or
    project that shares this client's connections and token.

    Args:
        client_id: OAuth client id for the client-credentials grant. Default:
            ``FLUIDSTACK_CLIENT_ID``.
        client_secret: Its secret. Default: ``FLUIDSTACK_CLIENT_SECRET``.
        token: A ready bearer token, sent as given (default: ``FLUIDSTACK_TOKEN``). With
            client credentials or a refresh token as well, it is replaced once it expires.
        refresh_token: The refresh token of a browser login (authorization code + PKCE),
            with the ``client_id`` it was issued to: access tokens are obtained with it,
            and a rotated one replaces it (see ``on_token``).
        region: Region name, one of ``atlas.regions.list()`` (default:
            ``FLUIDSTACK_REGION``). Its URL is found through the management API.
        project_id: Project for project-scoped calls (``X-PROJECT-ID``). Default:
            ``FLUIDSTACK_PROJECT_ID``.
        management_url: The management API (default: ``FLUIDSTACK_ATLAS_URL``, else
            ``https://api.atlas.fluidstack.io``); ``/api/v1alpha1`` is added for you.
        token_url: The OAuth token endpoint (default: ``FLUIDSTACK_TOKEN_URL``, else
            FluidStack's; for a management URL on this machine, such as the emulator,
            the ``/oauth/token`` beside it).
        region_url: Talk to this region's API directly, skipping discovery (default:
            ``FLUIDSTACK_REGION_URL``).
        audience: The audience tokens are requested for (default FluidStack's API).
        timeout: Seconds each attempt may take, or an ``httpx.Timeout``; ``None`` for no
            limit. Default: 60, or the timeout of ``httpx_client`` when you pass one.
        max_retries: Retries after a failed attempt (408, 429, 5xx, network errors,
            timeouts), with exponential back-off. Default: 2.
        total_timeout: Seconds a whole call may take, retries and waits included.
        follow_redirects: Follow HTTP redirects (the token never goes to another host).
        httpx_client: Your own ``httpx.AsyncClient``. You close it, unless it is a
            :class:`fluidstack.AioHttpClient` made for this client, which closes with it.
        http_client: Same as ``httpx_client``.
        default_headers: Headers sent with every call.
        event_hooks: Callables run on each request, response and retry.
        on_token: Called with an :class:`~fluidstack.atlas.tokens.IssuedToken` whenever
            the client obtains a token, e.g. to keep the newest refresh token.
        region_urls: Region URLs by name, kept from an earlier process (what
            ``on_regions`` was given): a region found here needs no ``GET /regions``.
            A region not in it, or a 404 from its URL, makes the client ask again.
        on_regions: Called with ``{name: url}`` of every region list the client reads,
            to keep beside the token for the next process.
        use_environment: Read the ``FLUIDSTACK_*`` variables for settings not given
            (default ``True``); ``False`` uses only the arguments and the defaults.
        ssh_port: The port instances answer SSH on, for ``instances.exec``, ``upload``,
            ``download`` and ``wait(until="ssh")`` (default: ``FLUIDSTACK_SSH_PORT``,
            else 22; the emulator's is 2222).
        max_hourly_spend: USD per hour the organization's instances may cost together.
            A create, start or launch that would take the hourly burn (every instance in
            every region and project, priced from ``prices``) over it raises
            :class:`~fluidstack.core.SpendLimitError` before it is sent. Atlas publishes
            no prices, so this needs ``prices``. Default: no limit.
        prices: USD per hour of one instance, by instance type
            (``{"h100-hgx-80gb.8x": 24.0}``): what the spend limit and the costs a sweep
            shows are worked out from. An instance of a type not in it makes the limit
            uncheckable (``SpendLimitError``), rather than guessed.
    """

    def __init__(
        self,
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        token: Optional[str] = None,
        refresh_token: Optional[str] = None,
        region: Optional[str] = None,
        project_id: Optional[Id] = None,
        management_url: Optional[str] = None,
        token_url: Optional[str] = None,
        region_url: Optional[str] = None,
        audience: str = DEFAULT_AUDIENCE,
        timeout: Union[TimeoutTypes, NotGiven] = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        total_timeout: Optional[float] = None,
        follow_redirects: bool = True,
        httpx_client: Optional[HttpClient] = None,
        http_client: Optional[HttpClient] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        event_hooks: Optional[EventHooks] = None,
        on_token: Optional[Callable[[IssuedToken], object]] = None,
        region_urls: Optional[Mapping[str, str]] = None,
        on_regions: Optional[Callable[[Dict[str, str]], object]] = None,
        use_environment: bool = True,
        ssh_port: Optional[int] = None,
        max_hourly_spend: Union[Decimal, int, float, str, None] = None,
        prices: Optional[Prices] = None,
    ) -> None:
        limit: Optional[Decimal] = None
        table: Optional[Dict[str, Decimal]] = None
        if max_hourly_spend is not None or prices is not None:
            from ..spend import spend_settings  # the spend rules load only when asked for

            limit, table = spend_settings(max_hourly_spend, prices)
        custom, timeout = own_http_client(httpx_client, http_client, HttpClient, timeout)
        configure_logging_from_env()
        settings = resolve_settings(
            client_id=client_id,
            client_secret=client_secret,
            token=token,
            region=region,
            project_id=project_id,
            management_url=management_url,
            token_url=token_url,
            region_url=region_url,
            audience=audience,
            refresh_token=refresh_token,
            use_environment=use_environment,
            ssh_port=ssh_port,
        )
        config = finish_config(
            base_url=settings.management_api,
            api_key=None,
            timeout=timeout,
            max_retries=max_retries,
            total_timeout=total_timeout,
            follow_redirects=follow_redirects,
            default_headers=default_headers,
            hooks=event_hooks,
            uses_api_key=False,
        )
        pipeline = AsyncPipeline.on(config, custom)
        self._auth = AsyncTokenAuth(pipeline, settings, on_token=on_token)
        pipeline.auth = self._auth
        self._settings = settings
        self._owns_http = closes_http_client(custom)
        self._scope = AsyncScope(
            pipeline,
            AsyncRegionDirectory(pipeline, region_urls, on_regions),
            region=settings.region,
            project_id=settings.project_id,
            region_api=settings.region_api,
            ssh_port=settings.ssh_port,
            prices=table,
        )
        if limit is not None and table is not None:
            from .spend import AsyncAtlasSpendGuard

            self._scope.spend = AsyncAtlasSpendGuard(limit, table)

    def with_options(
        self,
        *,
        region: Union[str, NotGiven, None] = NOT_GIVEN,
        project_id: Union[Id, NotGiven, None] = NOT_GIVEN,
        region_url: Union[str, NotGiven, None] = NOT_GIVEN,
        ssh_port: Union[int, NotGiven] = NOT_GIVEN,
    ) -> AsyncAtlas:
        """A view of this client on another region and/or project (or SSH port).

        The view shares this client's connections, token and region list, so it costs
        nothing to make; closing it does nothing (close the client you built). A new
        ``region`` replaces a ``region_url`` the client had, unless you pass one too.
        """
        scope = self._scope
        new_region = scope.region if isinstance(region, NotGiven) else region
        if isinstance(region_url, NotGiven):
            new_root = None if not isinstance(region, NotGiven) else scope.region_api
        else:
            new_root = None if region_url is None else api_root(region_url, "region_url")
        new_project = (
            scope.project_id if isinstance(project_id, NotGiven) else check_project_id(project_id)
        )
        view = object.__new__(type(self))
        view._auth = self._auth
        view._settings = self._settings
        view._owns_http = False
        view._scope = scope.derive(region=new_region, project_id=new_project, region_api=new_root)
        if not isinstance(ssh_port, NotGiven):
            if not 0 < ssh_port <= 65535:
                raise ValueError(f"ssh_port must be between 1 and 65535, got {ssh_port}")
            view._scope.ssh_port = ssh_port
        return view

    @property
    def ssh_port(self) -> int:
        """The port instances answer SSH on (``ssh_port=``, ``FLUIDSTACK_SSH_PORT``, 22)."""
        return self._scope.ssh_port

    @property
    def region(self) -> Optional[str]:
        """The region project-scoped calls go to (``None`` when given only by URL)."""
        return self._scope.region

    @property
    def project_id(self) -> Optional[str]:
        """The project sent as ``X-PROJECT-ID``."""
        return self._scope.project_id

    @property
    def max_hourly_spend(self) -> Optional[Decimal]:
        """The spend limit in USD per hour (``None``: no limit)."""
        spend = self._scope.spend
        return None if spend is None else spend.limit

    @property
    def management_url(self) -> str:
        """The management API's root (``.../api/v1alpha1``)."""
        return self._settings.management_api

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return self._settings.token_url

    @property
    def max_retries(self) -> int:
        return self._pipeline.config.max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        return self._pipeline.config.timeout

    @property
    def _pipeline(self) -> AsyncPipeline:
        return self._scope.pipeline

    def __repr__(self) -> str:
        settings: AtlasSettings = self._settings
        if settings.client_secret is not None:
            credentials = "client credentials"
        elif settings.refresh_token is not None:
            credentials = "refresh token"
        elif settings.token is not None:
            credentials = "token"
        else:
            credentials = "missing"
        return (
            f"<{type(self).__name__} region={self._scope.region_label!r} "
            f"project_id={self._scope.project_id!r} credentials={credentials}>"
        )

    # Resource groups are built on first use, which keeps the client cheap to create.

    @functools.cached_property
    def regions(self) -> AsyncRegionsResource:
        """The regions and their API URLs (management API)."""
        from .management import AsyncRegionsResource

        return AsyncRegionsResource(self._scope)

    @functools.cached_property
    def organizations(self) -> AsyncOrganizationsResource:
        """Your organizations (management API)."""
        from .management import AsyncOrganizationsResource

        return AsyncOrganizationsResource(self._scope)

    @functools.cached_property
    def members(self) -> AsyncMembersResource:
        """Members of your organization: list, update (role), delete (management API)."""
        from .management import AsyncMembersResource

        return AsyncMembersResource(self._scope)

    @functools.cached_property
    def invitations(self) -> AsyncInvitationsResource:
        """Invitations to your organization: list, create, delete (management API)."""
        from .management import AsyncInvitationsResource

        return AsyncInvitationsResource(self._scope)

    @functools.cached_property
    def user_keys(self) -> AsyncUserKeysResource:
        """Your public SSH keys: list, create, delete (management API)."""
        from .management import AsyncUserKeysResource

        return AsyncUserKeysResource(self._scope)

    @functools.cached_property
    def clusters(self) -> AsyncClustersResource:
        """Managed Kubernetes and Slurm clusters in every region (management API)."""
        from .management import AsyncClustersResource

        return AsyncClustersResource(self._scope)

    @functools.cached_property
    def projects(self) -> AsyncProjectsResource:
        """Projects: list, create, get, delete."""
        from .projects import AsyncProjectsResource

        return AsyncProjectsResource(self._scope)

    @functools.cached_property
    def instances(self) -> AsyncInstancesResource:
        """Machine instances: list, create, get, start, stop, delete, wait, launch."""
        from .instances import AsyncInstancesResource

        return AsyncInstancesResource(self._scope)

    @functools.cached_property
    def filesystems(self) -> AsyncFilesystemsResource:
        """Shared filesystems: list, create, get, delete."""
        from .projects import AsyncFilesystemsResource

        return AsyncFilesystemsResource(self._scope)

    @functools.cached_property
    def instance_types(self) -> AsyncInstanceTypesResource:
        """The region's instance types."""
        from .catalog import AsyncInstanceTypesResource

        return AsyncInstanceTypesResource(self._scope)

    @functools.cached_property
    def capacity(self) -> AsyncCapacityResource:
        """The region's available capacity by instance type."""
        from .catalog import AsyncCapacityResource

        return AsyncCapacityResource(self._scope)

    @functools.cached_property
    def capabilities(self) -> AsyncCapabilitiesResource:
        """What the region supports."""
        from .catalog import AsyncCapabilitiesResource

        return AsyncCapabilitiesResource(self._scope)

    @functools.cached_property
    def kubernetes(self) -> AsyncKubernetesResource:
        """Managed Kubernetes: ``clusters`` and ``node_pools`` of the project."""
        from .orchestrators import AsyncKubernetesResource

        return AsyncKubernetesResource(self._scope)

    @functools.cached_property
    def slurm(self) -> AsyncSlurmResource:
        """Managed Slurm: ``clusters`` and ``node_pools`` of the project."""
        from .orchestrators import AsyncSlurmResource

        return AsyncSlurmResource(self._scope)

    def start_browser_login(
        self,
        *,
        redirect_uri: str,
        client_id: Optional[str] = None,
        authorize_url: Optional[str] = None,
        scope: str = DEFAULT_SCOPE,
    ) -> AuthorizationCodeLogin:
        """Begin logging a person in with a browser (authorization code + PKCE).

        Open ``.url`` of the result in a browser; the person's browser is then sent to
        ``redirect_uri`` (a loopback address you listen on) with a code, which
        :meth:`finish_browser_login` turns into tokens. Nothing is sent yet.

        Args:
            redirect_uri: Where the browser comes back, e.g. ``http://localhost:5173``.
            client_id: The public OAuth client (default: FluidStack's CLI client, or the
                emulator's for a management URL on this machine).
            authorize_url: The login page (default: FluidStack's, or the emulator's).
            scope: What to ask for (default includes ``offline_access``: a refresh token).
        """
        from ..login import AuthorizationCodeLogin  # the login flow loads when first used

        default_url, default_client = browser_login_defaults(self._settings.management_api)
        return AuthorizationCodeLogin(
            client_id=client_id or default_client,
            redirect_uri=redirect_uri,
            authorize_url=authorize_url or default_url,
            token_url=self._settings.token_url,
            audience=self._settings.audience,
            scope=scope,
        )

    async def finish_browser_login(
        self, login: AuthorizationCodeLogin, query: Mapping[str, str]
    ) -> IssuedToken:
        """Turn the query of the browser's redirect (``code``, ``state``) into tokens.

        Checks the state, exchanges the code (with the PKCE verifier) at the token
        endpoint, and from then on this client (and its views) uses the tokens: the
        access token, then new ones from the refresh token. ``on_token`` gets them too.

        Raises:
            TokenError: The login was refused, the state does not match, or the token
                endpoint refused the code.
        """
        code = login.code_from(query)
        return await self._auth.exchange(login.client_id, login.token_form(code))

    @property
    def token_expires_at(self) -> Optional[float]:
        """When the access token in use expires (epoch seconds), if known."""
        return self._auth.expires_at()

    @property
    def token_claims(self) -> Dict[str, Any]:
        """The claims of the access token in use (``sub``, ``exp``, the organization, ...),
        read without verifying it; ``{}`` before the first call or for a token that is not
        a JWT. The token itself is never exposed."""
        return self._auth.claims()

    async def aclose(self) -> None:
        """Close the connections this client opened (never a client you passed in, and
        nothing for a view made by :meth:`with_options`)."""
        if self._owns_http:
            await self._pipeline.http.aclose()

    async def __aenter__(self) -> AsyncAtlas:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()
