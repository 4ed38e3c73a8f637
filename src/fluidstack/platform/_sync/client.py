# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``FluidStack``: the synchronous client."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Mapping, Optional, Type, Union

import httpx

from ...core._sync._io import HttpClient
from ...core._sync.pipeline import Pipeline
from ...core.config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    NOT_GIVEN,
    ClientConfig,
    FluidStackEnvironment,
    NotGiven,
    TimeoutTypes,
    build_config,
    closes_http_client,
    own_http_client,
)
from ...core.events import EventHooks, configure_logging_from_env
from ...core.request_options import RequestOptions

if TYPE_CHECKING:
    from ...core.endpoint import Endpoint
    from ..types.account import HealthCheckOutSchema
    from .account import (
        ApiKeysResource,
        AuthResource,
        PaymentsResource,
        UserResource,
    )
    from .catalog import ConfigurationsResource, TemplatesResource
    from .instances import InstancesResource
    from .spend import SpendGuard
    from .ssh_keys import SshKeysResource

__all__ = ["FluidStack"]


class FluidStack:
    """Synchronous client of the FluidStack API.

    Use it as a context manager, or call :meth:`close` when done::

        with FluidStack() as client:
            instances = client.instances.list()

    Args:
        api_key: Your API key. Default: the ``FLUIDSTACK_API_KEY`` environment variable,
            read now. Calls that need a key fail before sending anything without one.
        base_url: API root. Default: ``FLUIDSTACK_BASE_URL``, else ``environment``.
        environment: A :class:`FluidStackEnvironment` (default: production).
        timeout: Seconds each attempt may take, or an ``httpx.Timeout``; ``None`` for no
            limit. Default: 60, or the timeout of ``httpx_client`` when you pass one.
        max_retries: Retries after a failed attempt (408, 429, 5xx, network errors,
            timeouts), with exponential back-off. Default: 2.
        total_timeout: Seconds a whole call may take, retries and waits included, every
            response's body included. Default: no limit beyond ``timeout`` times the
            attempts.
        max_response_bytes: Largest response body (decoded) a call reads; past it the
            call raises ``ResponseTooLargeError``. Default: 256 MiB, room for a listing
            of 100,000 instances.
        follow_redirects: Follow HTTP redirects (the API key is never sent to another
            host). Default: ``True``.
        httpx_client: Your own ``httpx`` client (proxies, certificates, transports).
            You close it, unless it is a :class:`fluidstack.AioHttpClient` made for
            this client, which closes with it.
        http_client: Same as ``httpx_client`` (the name the vendor's README uses).
        default_headers: Headers sent with every call.
        event_hooks: Callables run on each request, response and retry.
        max_hourly_spend: USD per hour the account's instances may cost together. A
            create, start or launch that would take the hourly burn of every instance
            (from the server's prices, instances on their way to running counted at the
            running price) over it raises :class:`~fluidstack.core.SpendLimitError`
            before the create or start is sent; ``launch`` skips offers over it. Calls of
            this client are checked one at a time; other processes are not coordinated.
            Default: no limit.
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        environment: Union[FluidStackEnvironment, str] = FluidStackEnvironment.DEFAULT,
        timeout: Union[TimeoutTypes, NotGiven] = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        total_timeout: Optional[float] = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        follow_redirects: bool = True,
        httpx_client: Optional[HttpClient] = None,
        http_client: Optional[HttpClient] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        event_hooks: Optional[EventHooks] = None,
        max_hourly_spend: Union[Decimal, int, float, str, None] = None,
    ) -> None:
        limit = None
        if max_hourly_spend is not None:  # the spend rules (dataclasses) load only for a limit
            from ...core.spend import spend_limit

            limit = spend_limit(max_hourly_spend)
        custom, timeout = own_http_client(httpx_client, http_client, HttpClient, timeout)
        configure_logging_from_env()
        self._config: ClientConfig = build_config(
            api_key=api_key,
            base_url=base_url,
            environment=environment,
            timeout=timeout,
            max_retries=max_retries,
            total_timeout=total_timeout,
            follow_redirects=follow_redirects,
            default_headers=default_headers,
            hooks=event_hooks,
            max_response_bytes=max_response_bytes,
        )
        self._owns_http = closes_http_client(custom)
        self._pipeline = Pipeline.on(self._config, custom)
        self._spend: Optional[SpendGuard] = None
        if limit is not None:
            from .spend import SpendGuard

            self._spend = SpendGuard(limit)

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._config.base_url

    @property
    def max_hourly_spend(self) -> Optional[Decimal]:
        """The spend limit in USD per hour (``None``: no limit)."""
        return None if self._spend is None else self._spend.limit

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        return self._config.timeout

    def __repr__(self) -> str:
        key = "set" if self._config.api_key else "missing"
        return f"<{type(self).__name__} base_url={self.base_url!r} api_key={key}>"

    # Resource groups are built on first use, which keeps the client cheap to create.

    @functools.cached_property
    def instances(self) -> InstancesResource:
        """GPU instances: list, create, get, stop, start, rename, delete."""
        from .instances import InstancesResource

        return InstancesResource(self._pipeline, self._spend)

    @functools.cached_property
    def ssh_keys(self) -> SshKeysResource:
        """SSH keys, addressed by name."""
        from .ssh_keys import SshKeysResource

        return SshKeysResource(self._pipeline)

    @functools.cached_property
    def configurations(self) -> ConfigurationsResource:
        """The catalog of GPU configurations and prices."""
        from .catalog import ConfigurationsResource

        return ConfigurationsResource(self._pipeline)

    @functools.cached_property
    def templates(self) -> TemplatesResource:
        """Operating-system templates."""
        from .catalog import TemplatesResource

        return TemplatesResource(self._pipeline)

    @functools.cached_property
    def user(self) -> UserResource:
        """Company details and balance."""
        from .account import UserResource

        return UserResource(self._pipeline)

    @functools.cached_property
    def api_keys(self) -> ApiKeysResource:
        """API keys."""
        from .account import ApiKeysResource

        return ApiKeysResource(self._pipeline)

    @functools.cached_property
    def auth(self) -> AuthResource:
        """The browser login flow (``wos_session`` cookie)."""
        from .account import AuthResource

        return AuthResource(self._pipeline)

    @functools.cached_property
    def payments(self) -> PaymentsResource:
        """Payment intents."""
        from .account import PaymentsResource

        return PaymentsResource(self._pipeline)

    @functools.cached_property
    def _healthcheck_endpoint(self) -> Endpoint[HealthCheckOutSchema]:
        # Imported on first use (importing the client must not load the models), once per
        # client: a function-level import on every call was ~3% of a healthcheck.
        from ..endpoints import HEALTHCHECK

        return HEALTHCHECK

    def healthcheck(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> HealthCheckOutSchema:
        """Check that the API is up. Needs no API key."""
        return self._pipeline.call(self._healthcheck_endpoint, request_options=request_options)

    def server_time(self) -> dt.datetime:
        """The current time by the API server's clock, in UTC: the ``Date`` of its latest
        answer plus the time elapsed since (this machine's time before any answer).

        Measure an instance's age and cost with it, not with this machine's clock, which
        may differ (the emulator's runs ahead on purpose)::

            instance = client.instances.get(instance_id)
            cost = fluidstack.cost.instance_cost(instance, now=client.server_time())
        """
        return self._pipeline.server_time()

    def close(self) -> None:
        """Close the connections this client opened (never a client you passed in)."""
        if self._owns_http:
            self._pipeline.http.close()

    def __enter__(self) -> FluidStack:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
