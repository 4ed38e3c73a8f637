# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""What a region offers: instance types, capacity now, and its capabilities."""

from __future__ import annotations

from typing import List, Optional

from ...core._sync._resource import RawListing
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import Capability, Capacity, InstanceType
from ._resource import AtlasResource

__all__ = ["CapabilitiesResource", "CapacityResource", "InstanceTypesResource"]


class InstanceTypesResource(AtlasResource):
    """The instance types of the client's region."""

    @property
    def with_raw_response(self) -> RawListing[List[InstanceType]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[InstanceType]:
        """List the region's instance types (CPUs, memory, GPU model and count)."""
        return self._scope.regional(
            api.INSTANCE_TYPES, project=False, request_options=request_options
        )


class CapacityResource(AtlasResource):
    """How many instances of each type the client's region can create now."""

    @property
    def with_raw_response(self) -> RawListing[List[Capacity]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Capacity]:
        """List the available capacity by instance type (needs a project)."""
        return self._scope.regional(api.CAPACITY, project=True, request_options=request_options)


class CapabilitiesResource(AtlasResource):
    """What the client's region supports, e.g. ``instances:create``."""

    @property
    def with_raw_response(self) -> RawListing[List[Capability]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Capability]:
        """List the region's capabilities (:class:`~fluidstack.atlas.Capability`, which
        compare equal to their strings). An operation whose capability is missing raises
        :class:`~fluidstack.core.NotSupportedError` (501)."""
        return self._scope.regional(
            api.CAPABILITIES, project=False, request_options=request_options
        )
