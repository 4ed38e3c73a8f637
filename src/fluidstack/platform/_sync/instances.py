# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``client.instances``: create, inspect, stop, start, rename and delete GPU instances."""

from __future__ import annotations

from typing import Union

from ...core._sync._resource import raw_method
from ...core._sync.remote import RemoteAccess
from ..types.instances import InstanceResponse
from .instances_launch import InstanceLaunches
from .instances_reads import InstancePager, Statuses, Volumes

__all__ = [
    "InstancePager",
    "InstancesResource",
    "InstancesResourceWithRawResponse",
    "Statuses",
    "Volumes",
]


# The methods are written by concern, each class building on the one before:
# instances_reads (list, get, wait), instances_changes (create, stop, start, rename,
# delete, sweep), instances_launch (launch, ephemeral); SSH comes from RemoteAccess.
class InstancesResource(InstanceLaunches, RemoteAccess[Union[str, InstanceResponse]]):
    """Operations on GPU instances."""

    @property
    def with_raw_response(self) -> InstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return InstancesResourceWithRawResponse(self)


class InstancesResourceWithRawResponse:
    """``client.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: InstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.get = raw_method(resource.get)
        self.delete = raw_method(resource.delete)
        self.stop = raw_method(resource.stop)
        self.start = raw_method(resource.start)
        self.rename = raw_method(resource.rename)
