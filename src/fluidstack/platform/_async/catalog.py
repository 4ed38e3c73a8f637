"""``client.configurations`` and ``client.templates``: what can be created."""

from __future__ import annotations

from typing import List, Optional

from ...core._async._resource import AsyncResource, raw_method
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types.instances import ConfigurationResponse, OperatingSystemResponse

__all__ = [
    "AsyncConfigurationsResource",
    "AsyncConfigurationsResourceWithRawResponse",
    "AsyncTemplatesResource",
    "AsyncTemplatesResourceWithRawResponse",
]


class AsyncConfigurationsResource(AsyncResource):
    """The catalog of GPU configurations, with prices and regions."""

    @property
    def with_raw_response(self) -> AsyncConfigurationsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncConfigurationsResourceWithRawResponse(self)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[ConfigurationResponse]:
        """List the available configurations (GPU type, counts, regions, prices)."""
        return await self._pipeline.call(api.CONFIGURATIONS, request_options=request_options)


class AsyncTemplatesResource(AsyncResource):
    """Operating-system templates."""

    @property
    def with_raw_response(self) -> AsyncTemplatesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncTemplatesResourceWithRawResponse(self)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[OperatingSystemResponse]:
        """List the operating systems instances can be created with."""
        return await self._pipeline.call(api.TEMPLATES, request_options=request_options)


class AsyncConfigurationsResourceWithRawResponse:
    """``client.configurations.with_raw_response``."""

    def __init__(self, resource: AsyncConfigurationsResource) -> None:
        self.list = raw_method(resource.list)


class AsyncTemplatesResourceWithRawResponse:
    """``client.templates.with_raw_response``."""

    def __init__(self, resource: AsyncTemplatesResource) -> None:
        self.list = raw_method(resource.list)
