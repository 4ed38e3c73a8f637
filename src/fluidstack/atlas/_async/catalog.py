"""What a region offers: instance types, capacity now, and its capabilities."""

from __future__ import annotations

from typing import List, Optional

from ...core._async._resource import AsyncRawListing
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import Capability, Capacity, InstanceType
from ._resource import AsyncAtlasResource

__all__ = ["AsyncCapabilitiesResource", "AsyncCapacityResource", "AsyncInstanceTypesResource"]


class AsyncInstanceTypesResource(AsyncAtlasResource):
    """The instance types of the client's region."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[InstanceType]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[InstanceType]:
        """List the region's instance types (CPUs, memory, GPU model and count)."""
        return await self._scope.regional(
            api.INSTANCE_TYPES, project=False, request_options=request_options
        )


class AsyncCapacityResource(AsyncAtlasResource):
    """How many instances of each type the client's region can create now."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[Capacity]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Capacity]:
        """List the available capacity by instance type (needs a project)."""
        return await self._scope.regional(
            api.CAPACITY, project=True, request_options=request_options
        )


class AsyncCapabilitiesResource(AsyncAtlasResource):
    """What the client's region supports, e.g. ``instances:create``."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[Capability]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Capability]:
        """List the region's capabilities (:class:`~fluidstack.atlas.Capability`, which
        compare equal to their strings). An operation whose capability is missing raises
        :class:`~fluidstack.core.NotSupportedError` (501)."""
        return await self._scope.regional(
            api.CAPABILITIES, project=False, request_options=request_options
        )
