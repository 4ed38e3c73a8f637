"""``atlas.instances``: create, inspect, start, stop, wait for and delete machine instances,
launch one wherever there is capacity, and keep one only for the length of a block."""

from __future__ import annotations

from typing import Union

from ...core._async._resource import raw_method
from ...core._async.remote import AsyncRemoteAccess
from ..endpoints import Id
from ..types import Instance
from .instances_launch import AsyncInstanceLaunches
from .instances_reads import Filesystems as Filesystems
from .instances_reads import States as States

__all__ = ["AsyncInstancesResource", "AsyncInstancesResourceWithRawResponse"]


# The methods are written by concern, each class building on the one before:
# instances_reads (list, get, wait), instances_changes (create, start, stop, delete,
# sweep), instances_launch (launch, disposable); SSH comes from AsyncRemoteAccess.
class AsyncInstancesResource(AsyncInstanceLaunches, AsyncRemoteAccess[Union[Id, Instance]]):
    """Machine instances of the client's project, in its region."""

    @property
    def with_raw_response(self) -> AsyncInstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncInstancesResourceWithRawResponse(self)


class AsyncInstancesResourceWithRawResponse:
    """``atlas.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: AsyncInstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.get = raw_method(resource.get)
        self.create = raw_method(resource.create)
        self.start = raw_method(resource.start)
        self.stop = raw_method(resource.stop)
        self.delete = raw_method(resource.delete)
