"""``client.instances``: create, inspect, stop, start, rename and delete GPU instances."""

from __future__ import annotations

from typing import Union

from ...core._async._resource import raw_method
from ...core._async.remote import AsyncRemoteAccess
from ..types.instances import InstanceResponse
from .instances_launch import AsyncInstanceLaunches
from .instances_reads import AsyncInstancePager, Statuses, Volumes

__all__ = [
    "AsyncInstancePager",
    "AsyncInstancesResource",
    "AsyncInstancesResourceWithRawResponse",
    "Statuses",
    "Volumes",
]


# The methods are written by concern, each class building on the one before:
# instances_reads (list, get, wait), instances_changes (create, stop, start, rename,
# delete, sweep), instances_launch (launch, ephemeral); SSH comes from AsyncRemoteAccess.
class AsyncInstancesResource(
    AsyncInstanceLaunches, AsyncRemoteAccess[Union[str, InstanceResponse]]
):
    """Operations on GPU instances."""

    @property
    def with_raw_response(self) -> AsyncInstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncInstancesResourceWithRawResponse(self)


class AsyncInstancesResourceWithRawResponse:
    """``client.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: AsyncInstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.get = raw_method(resource.get)
        self.delete = raw_method(resource.delete)
        self.stop = raw_method(resource.stop)
        self.start = raw_method(resource.start)
        self.rename = raw_method(resource.rename)
