# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""``atlas.instances``: create, inspect, start, stop, wait for and delete machine instances,
launch one wherever there is capacity, and keep one only for the length of a block."""

from __future__ import annotations

from typing import Union

from ...core._sync._resource import raw_method
from ...core._sync.remote import RemoteAccess
from ..endpoints import Id
from ..types import Instance
from .instances_launch import InstanceLaunches
from .instances_reads import Filesystems as Filesystems
from .instances_reads import States as States

__all__ = ["InstancesResource", "InstancesResourceWithRawResponse"]


# The methods are written by concern, each class building on the one before:
# instances_reads (list, get, wait), instances_changes (create, start, stop, delete,
# sweep), instances_launch (launch, disposable); SSH comes from RemoteAccess.
class InstancesResource(InstanceLaunches, RemoteAccess[Union[Id, Instance]]):
    """Machine instances of the client's project, in its region."""

    @property
    def with_raw_response(self) -> InstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return InstancesResourceWithRawResponse(self)


class InstancesResourceWithRawResponse:
    """``atlas.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: InstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.get = raw_method(resource.get)
        self.create = raw_method(resource.create)
        self.start = raw_method(resource.start)
        self.stop = raw_method(resource.stop)
        self.delete = raw_method(resource.delete)
