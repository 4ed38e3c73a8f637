"""``client.instances``, reading: list, get and page through instances, wait for one, and
the SSH address its remote commands use."""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ...core._async._resource import AsyncResource
from ...core._async.polling import SSH_GOAL, poll_until, with_ssh_goal
from ...core.addresses import refuse_documentation_address
from ...core.request_options import RequestOptions
from ...core.ssh import SshError, SshTarget
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, WaitPolicy, wait_goals
from .. import endpoints as api
from ..types.enums import InstanceStatus
from ..types.instances import InstanceResponse, ListInstanceResponse, VolumeInstanceRequest

__all__ = ["AsyncInstancePager", "AsyncInstanceReads", "Statuses", "Volumes"]

_ID = attrgetter("id")

Statuses = Union[InstanceStatus, str, Iterable[Union[InstanceStatus, str]]]


Volumes = Optional[Sequence[Union[VolumeInstanceRequest, Mapping[str, Any]]]]


class AsyncInstanceReads(AsyncResource):
    """Reading instances and waiting for them (the base of :class:`AsyncInstancesResource`)."""

    _page_size: Optional[int] = None
    """The server's page size of ``GET /instances``, once a listing has shown it (a page
    followed by a non-empty one was full): a shorter page is then the last."""

    async def list(
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
        return await self._pipeline.call(
            api.INSTANCES,
            query={"page": page, "include_failed_instances": include_failed_instances},
            request_options=request_options,
        )

    async def get(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> InstanceResponse:
        """Get one instance. A pending instance is answered with 202: that is not an error."""
        return await self._pipeline.call(
            api.INSTANCE, path_params={"instance_id": instance_id}, request_options=request_options
        )

    async def _all_instances(
        self, request_options: Optional[RequestOptions] = None
    ) -> List[ListInstanceResponse]:
        found: List[ListInstanceResponse] = []
        async for instance in self.iter(
            include_failed_instances=True, request_options=request_options
        ):
            found.append(instance)
        return found

    def iter(
        self,
        *,
        include_failed_instances: Optional[bool] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> AsyncInstancePager:
        """Every instance of the account, page after page, fetched lazily::

        async for instance in client.instances.iter():
            ...
        """
        return AsyncInstancePager(self, include_failed_instances, request_options)

    async def wait(
        self,
        instance_id: str,
        *,
        until: Statuses = InstanceStatus.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: Optional[float] = None,
        on_poll: Optional[Callable[[InstanceResponse], object]] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> InstanceResponse:
        """Poll an instance until it reaches ``until``, and return it.

        Polls every ``poll_interval`` seconds at first, then less often (up to
        ``max_poll_interval``, default 30 s). No single request may outlive the deadline.

        Args:
            instance_id: The instance to watch.
            until: The status (or statuses) to wait for, or ``"ssh"``: running *and*
                its SSH server answers (sshd often starts after the status says
                ``running``). Default: ``running``.
            timeout: Seconds to wait in all (default 900); ``None`` waits forever.
            poll_interval: Seconds between the first polls (default 5).
            max_poll_interval: Longest pause between polls (default 30).
            on_poll: Called with the instance after every poll (progress displays).
            request_options: Per-call options for each poll.

        Raises:
            ValueError: ``until`` is a string naming no state this SDK knows (a typo);
                pass a member of the enumeration for a state it does not list yet.
            InstanceFailedError: The instance reached ``failed`` or ``terminated``
                while waiting for another status.
            WaitTimeoutError: The deadline passed; ``.instance`` is the last state seen.
        """
        goals = wait_goals(until, InstanceStatus, SSH_GOAL)

        async def fetch(options: Optional[RequestOptions]) -> InstanceResponse:
            return await self.get(instance_id, request_options=options)

        if SSH_GOAL not in goals:
            policy = WaitPolicy.build(goals, timeout, poll_interval, max_poll_interval)
            return await poll_until(
                self._pipeline, policy, fetch, request_options=request_options, on_poll=on_poll
            )
        knock, status_of = with_ssh_goal(fetch, lambda i: str(i.status), _ssh_address)
        policy = WaitPolicy.build(
            goals, timeout, poll_interval, max_poll_interval, status_of=status_of
        )
        return await poll_until(
            self._pipeline, policy, knock, request_options=request_options, on_poll=on_poll
        )

    async def _ssh_target(self, instance: Union[str, InstanceResponse]) -> SshTarget:
        found = await self.get(instance) if isinstance(instance, str) else instance
        address = _ssh_address(found)
        if address is None:
            raise SshError(
                f"instance {found.id} is {found.status}: it can be reached once running "
                f"(client.instances.wait({found.id!r}, until='ssh'))",
                instance_id=found.id,
            )
        host, port = address
        return SshTarget(host, port, found.username or "ubuntu", found.id)


def _ssh_address(instance: InstanceResponse) -> Optional[Tuple[str, int]]:
    """Where a running instance answers SSH (``None`` when it does not yet)."""
    if str(instance.status) != "running" or not instance.ip_address:
        return None
    refuse_documentation_address(instance.ip_address, instance.id)  # no packet to RFC 5737
    try:
        port = int(instance.ssh_port or 22)
    except ValueError:
        port = 22
    return instance.ip_address, port


class AsyncInstancePager:
    """Iterates over all pages of ``instances.list``; stops at an empty or repeated page,
    or after a page shorter than the server's page size once that is known.

    The API does not say its page size, so it is learned: a page followed by a non-empty
    page was full. A listing of several pages then needs no request for an empty page
    after its short last one, and later listings of the same client know the size from
    the start. (A single short first page cannot be told from a full one: guessing a
    size would silently drop instances on a server whose pages are smaller.)"""

    def __init__(
        self,
        resource: AsyncInstanceReads,
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
        self._last_size = 0

    def __aiter__(self) -> AsyncInstancePager:
        return self

    async def __anext__(self) -> ListInstanceResponse:
        buffer = self._buffer
        if buffer:  # the common case first: one call per instance
            return buffer.pop()
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            self._page += 1
            page = await self._resource.list(
                page=self._page,
                include_failed_instances=self._include_failed,
                request_options=self._options,
            )
            seen = self._seen
            ids = list(map(_ID, page))
            if seen.isdisjoint(ids):  # the usual page: every instance new (no loop per item)
                fresh = page
            else:
                fresh = [i for i, id_ in zip(page, ids) if id_ not in seen]
            # A server that ignores `page` repeats itself: stop rather than loop forever.
            if not fresh:
                self._done = True
                raise StopAsyncIteration
            seen.update(ids)
            self._buffer = fresh[::-1]
            resource = self._resource
            if self._last_size:  # the previous page was followed by this one: it was full
                resource._page_size = max(resource._page_size or 0, self._last_size)
            self._last_size = len(page)
            if resource._page_size is not None and len(page) < resource._page_size:
                self._done = True  # a short page is the last: no request for an empty one
        return self._buffer.pop()
