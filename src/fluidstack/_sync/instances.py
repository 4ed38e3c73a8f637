# Generated from fluidstack/_async by scripts/unasync.py: do not edit by hand.
"""``client.instances``: create, inspect, stop, start, rename and delete GPU instances."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Union

from ..core.request_options import RequestOptions, option
from ..resources import instances as api
from ..types.enums import GPUType, Region, SupportedOperatingSystem
from ..types.instances import (
    CreateInstanceResponse,
    InstanceResponse,
    ListInstanceResponse,
    VolumeInstanceRequest,
)
from ._resource import Resource, raw_method

__all__ = ["InstancesResource", "InstancesResourceWithRawResponse"]


class InstancesResource(Resource):
    """Operations on GPU instances."""

    @property
    def with_raw_response(self) -> InstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return InstancesResourceWithRawResponse(self)

    def list(
        self,
        *,
        page: Optional[int] = None,
        include_failed_instances: Optional[bool] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> List[ListInstanceResponse]:
        """List one page of the account's instances.

        Args:
            page: Page number, from 1 (the server's default is the first page).
            include_failed_instances: Also list instances whose provisioning failed.
            request_options: Per-call options (timeout, retries, extra headers, ...).
        """
        if page is not None and page < 1:
            raise ValueError("page starts at 1")
        return self._pipeline.call(
            api.LIST,
            query={"page": page, "include_failed_instances": include_failed_instances},
            request_options=request_options,
        )

    def create(
        self,
        *,
        gpu_type: Union[GPUType, str],
        ssh_key: str,
        name: Optional[str] = None,
        gpu_count: Optional[int] = None,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = None,
        region: Union[Region, str, None] = None,
        volumes: Optional[Sequence[Union[VolumeInstanceRequest, Mapping[str, Any]]]] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> CreateInstanceResponse:
        """Create a GPU instance. It starts ``pending``; poll ``get`` or use ``wait``.

        Safe to retry: the request carries an ``Idempotency-Key``, and if an attempt
        fails after the server may have acted on it (a 5xx, a timeout, a dropped
        connection), the SDK looks for the instance that attempt made and returns it
        instead of creating a second one. For that, every create has a name: when you
        give none, a unique one (``fs-`` and 12 hex digits) is generated.

        Args:
            gpu_type: GPU model, e.g. ``"RTX_A5000_24GB"`` (see ``configurations.list``).
            ssh_key: Name of an SSH key in your account, installed on the instance.
            name: Name of the instance (default: generated, see above).
            gpu_count: Number of GPUs (server default: 1).
            operating_system_label: OS image (server default: ``ubuntu_20_04_lts_nvidia``).
            region: Region to create it in (default: any with capacity).
            volumes: Volumes to attach.
            request_options: Per-call options; ``idempotency_key`` sets the header.
        """
        instance_name = name if name is not None else api.generated_name()
        body = api.create_body(
            gpu_type=gpu_type,
            ssh_key=ssh_key,
            name=instance_name,
            gpu_count=gpu_count,
            operating_system_label=operating_system_label,
            region=region,
            volumes=volumes,
        )
        key = option(request_options, "idempotency_key") or api.idempotency_key()

        def recover() -> Optional[CreateInstanceResponse]:
            found = api.find_created(self._all_instances(), instance_name)
            return None if found is None else api.as_create_response(found, gpu_type)

        return self._pipeline.call(
            api.CREATE,
            body=body,
            headers={"idempotency-key": key},
            request_options=request_options,
            recover=recover,
        )

    def get(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> InstanceResponse:
        """Get one instance. A pending instance is answered with 202: that is not an error."""
        return self._pipeline.call(
            api.GET, path_params={"instance_id": instance_id}, request_options=request_options
        )

    def delete(self, instance_id: str, *, request_options: Optional[RequestOptions] = None) -> None:
        """Terminate an instance. Billing stops; the instance ends ``terminated``."""
        self._pipeline.call(
            api.DELETE, path_params={"instance_id": instance_id}, request_options=request_options
        )

    def stop(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Stop a ``running`` instance (it then bills the stopped price)."""
        return self._pipeline.call(
            api.STOP, path_params={"instance_id": instance_id}, request_options=request_options
        )

    def start(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Start a ``stopped`` instance."""
        return self._pipeline.call(
            api.START, path_params={"instance_id": instance_id}, request_options=request_options
        )

    def rename(
        self, instance_id: str, name: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Give an instance a new name."""
        if not name:
            raise ValueError("name must be a non-empty string")
        return self._pipeline.call(
            api.RENAME,
            path_params={"instance_id": instance_id},
            body={"new_instance_name": name},
            request_options=request_options,
        )

    def _all_instances(self) -> List[ListInstanceResponse]:
        found: List[ListInstanceResponse] = []
        for instance in self.iter(include_failed_instances=True):
            found.append(instance)
        return found

    def iter(
        self,
        *,
        include_failed_instances: Optional[bool] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> InstancePager:
        """Every instance of the account, page after page, fetched lazily::

        for instance in client.instances.iter():
            ...
        """
        return InstancePager(self, include_failed_instances, request_options)


class InstancePager:
    """Iterates over all pages of ``instances.list``; stops at an empty or repeated page."""

    def __init__(
        self,
        resource: InstancesResource,
        include_failed_instances: Optional[bool],
        request_options: Optional[RequestOptions],
    ) -> None:
        self._resource = resource
        self._include_failed = include_failed_instances
        self._options = request_options
        self._page = 0
        self._buffer: List[ListInstanceResponse] = []
        self._seen: set[str] = set()
        self._done = False

    def __iter__(self) -> InstancePager:
        return self

    def __next__(self) -> ListInstanceResponse:
        while not self._buffer:
            if self._done:
                raise StopIteration
            self._page += 1
            page = self._resource.list(
                page=self._page,
                include_failed_instances=self._include_failed,
                request_options=self._options,
            )
            fresh = [i for i in page if i.id not in self._seen]
            # A server that ignores `page` repeats itself: stop rather than loop forever.
            if not fresh:
                self._done = True
                raise StopIteration
            self._seen.update(i.id for i in fresh)
            self._buffer = fresh[::-1]
        return self._buffer.pop()


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
